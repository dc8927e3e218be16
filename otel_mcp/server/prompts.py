"""Agent-facing prompt texts, served as MCP prompts from `prompts/*.md`.

A prompt file is Markdown with a small YAML header (`description`, optional `arguments`);
`{{name}}` in the body is replaced by the argument's value.
"""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.prompts.base import Prompt, PromptArgument

from otel_mcp._resources import bundled

__all__ = ["PromptText", "load_prompts", "register"]

_FRONT = re.compile(r"\A---\n(.*?)\n---\n(.*)\Z", re.S)
_PLACEHOLDER = re.compile(r"\{\{\s*([a-z_]+)\s*\}\}")


@dataclass(frozen=True, slots=True)
class PromptText:
    name: str
    description: str
    arguments: list[PromptArgument]
    body: str

    def render(self, values: dict[str, Any]) -> str:
        def fill(match: re.Match[str]) -> str:
            value = values.get(match.group(1))
            return str(value) if value else f"<{match.group(1)}>"

        return _PLACEHOLDER.sub(fill, self.body)


def _parse(name: str, text: str) -> PromptText:
    match = _FRONT.match(text)
    header: dict[str, Any] = {}
    body = text
    if match:
        header = yaml.safe_load(match.group(1)) or {}
        body = match.group(2)
    arguments = [
        PromptArgument(
            name=a["name"],
            description=inspect.cleandoc(str(a["description"])) if a.get("description") else None,
            required=bool(a.get("required", False)),
        )
        for a in header.get("arguments") or []
    ]
    # cleandoc: a YAML block scalar keeps its indentation, which a model would read as part of the text.
    return PromptText(name, inspect.cleandoc(str(header.get("description", ""))), arguments, body.strip() + "\n")


def load_prompts(directory: Path | None = None) -> list[PromptText]:
    """Prompts from a directory, or those shipped in the package (the repo's `prompts/`)."""
    if directory is not None:
        files = [(p.stem, p.read_text(encoding="utf-8")) for p in sorted(directory.glob("*.md"))]
    else:
        root = bundled("prompts")
        files = [
            (entry.name.removesuffix(".md"), entry.read_text(encoding="utf-8"))
            for entry in sorted(root.iterdir(), key=lambda e: e.name)
            if entry.name.endswith(".md")
        ]
    return [_parse(name, text) for name, text in files]


def _renderer(prompt: PromptText) -> Any:
    async def render(**values: Any) -> str:
        return prompt.render(values)

    return render


def register(server: MCPServer, directory: Path | None = None) -> None:
    for prompt in load_prompts(directory):
        server.add_prompt(
            Prompt(
                name=prompt.name,
                title=None,
                description=prompt.description,
                arguments=prompt.arguments,
                fn=_renderer(prompt),
                context_kwarg=None,
            )
        )
