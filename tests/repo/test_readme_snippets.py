"""What a new user copies from the README works: host configs are valid and name real commands, flags and variables.

The Claude Code and Cursor hook snippets have their own tests beside the hooks; this file covers
every snippet at once: each JSON block parses, each `otel-mcp` command line parses with the real
argument parser, and every flag and `OTEL_MCP_*` variable the README names exists.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from otel_mcp.cli import build_parser
from otel_mcp.hooks.gatecheck import options_help, parse_options
from tests.conftest import REPO

README = (REPO / "README.md").read_text(encoding="utf-8")
SOURCES = "\n".join(p.read_text(encoding="utf-8") for p in (REPO / "otel_mcp").rglob("*.py"))
DOCUMENTED_ENV = set(re.findall(r"^\| `((?:OTEL_MCP|OTEL_EXPORTER_OTLP)_[A-Z_]+)`", README, re.M))

# Flags of other programs the README shows (git, pip, docker compose, claude, uvx, bandit, ruff).
FOREIGN_FLAGS = {
    "--build", "--cached", "--env", "--from", "--git-path", "--header", "--ignore-noqa", "--ignore-nosec",
    "--ini", "--isolated", "--name-only", "--no-deps", "--no-renames", "--no-verify", "--trailer", "--worktree",
}  # fmt: skip
# Named in the README, read elsewhere: docker-compose.yml's host-side variable; an OTel SDK variable.
NOT_IN_THE_TABLE = {"OTEL_MCP_TOKENS_HOST_FILE", "OTEL_EXPORTER_OTLP_PROTOCOL"}
# Set on a host (Claude Code) for its own exporter, read by the host, not by otel-mcp.
HOST_SIDE = {"OTEL_EXPORTER_OTLP_HEADERS"}


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, re.S)


def _parses(words: list[str]) -> argparse.Namespace:
    """The namespace `otel-mcp WORDS` parses to; fails the test with argparse's own message otherwise."""
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            return build_parser().parse_args(words)
    except SystemExit:
        pytest.fail(f"`otel-mcp {' '.join(words)}` does not parse: {err.getvalue().strip()}")


def _mcp_servers() -> list[dict[str, Any]]:
    return [server for block in _blocks("json") for server in json.loads(block).get("mcpServers", {}).values()]


def test_every_json_block_parses() -> None:
    blocks = _blocks("json")
    assert len(blocks) >= 6
    for block in blocks:
        json.loads(block)


def test_every_stdio_host_config_runs_otel_mcp_serve_and_only_a_desktop_app_names_a_fixed_workspace() -> None:
    stdio = [s for s in _mcp_servers() if Path(s.get("command", "")).name == "otel-mcp"]
    assert len(stdio) == 3  # Claude Code's shared .mcp.json, Cursor, Claude Desktop
    for server in stdio:
        assert _parses(server["args"]).command == "serve"
        assert "OTEL_MCP_AGENT_ID" in server["env"] and set(server["env"]) <= DOCUMENTED_ENV
    # A config shared by every worktree names no path: the host supplies the project (or its folder variable).
    fixed = [s["env"]["OTEL_MCP_WORKSPACE"] for s in stdio if "${" not in s["env"].get("OTEL_MCP_WORKSPACE", "${")]
    assert fixed == ["/path/to/project"]  # Claude Desktop only: it starts servers in / and names no project
    assert "$PWD" not in README.split("## Connect your agents")[1].split("## Tools")[0]


def test_every_http_host_config_sends_a_bearer_token_to_the_mcp_path() -> None:
    direct = [s for s in _mcp_servers() if "url" in s]
    bridged = [s for s in _mcp_servers() if s.get("command") == "npx"]
    assert direct and bridged
    for server in direct:
        assert server["url"].endswith("/mcp") and server["headers"]["Authorization"].startswith("Bearer ")
    for server in bridged:  # mcp-remote: the header from an environment variable, as its docs advise
        args = server["args"]
        assert "mcp-remote" in args and any(a.endswith("/mcp") for a in args)
        header = args[args.index("--header") + 1]
        assert header == "Authorization:${AUTH_HEADER}" and server["env"]["AUTH_HEADER"].startswith("Bearer ")


def _command_lines() -> list[list[str]]:
    """Each shell command of the bash blocks, continuation lines joined, comments dropped."""
    lines = []
    for block in _blocks("bash"):
        for line in block.replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            for part in " ".join(shlex.quote(w) for w in words).split(" '&&' "):
                if part.strip():
                    lines.append(shlex.split(part))
    return lines


def test_every_otel_mcp_command_in_a_bash_block_parses() -> None:
    checked = 0
    for words in _command_lines():
        if words[:3] == ["claude", "mcp", "add"]:
            if "--" in words:  # stdio: the server command after --; its --env names are ours
                assert _parses(words[words.index("--") + 2 :]).command == "serve"
                env = {w.split("=")[0] for w, flag in zip(words[1:], words, strict=False) if flag == "--env"}
                assert {"OTEL_MCP_WORKSPACE", "OTEL_MCP_AGENT_ID"} <= env <= DOCUMENTED_ENV
            else:
                assert words[words.index("--transport") + 1] == "http" and words[6].endswith("/mcp")
            checked += 1
        elif "otel-mcp" in words:
            _parses(words[words.index("otel-mcp") + 1 :])
            checked += 1
    assert checked >= 6


def test_every_hook_command_in_a_host_config_parses_with_the_hooks_own_options() -> None:
    commands = [
        handler["command"]
        for block in _blocks("json")
        for entries in json.loads(block).get("hooks", {}).values()
        for entry in entries
        for handler in entry.get("hooks", [entry])
    ]
    assert len(commands) == 5  # three Claude Code events, two Cursor ones
    for command in commands:
        words = shlex.split(command)
        assert words[0] == "otel-mcp"
        parsed = _parses(words[1:])
        assert (parsed.command, parsed.hooks_action) == ("hooks", "run") and parsed.host in ("claude-code", "cursor")
        assert parse_options(f"otel-mcp hooks run {parsed.host}", parsed.args, {}).agent_id


def _sub_commands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    found = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(found[0].choices) if found else {}


@pytest.mark.parametrize("where", ["README.md", "otel_mcp/"])
def test_every_command_named_in_passing_exists(where: str) -> None:
    # The package's own texts too: its errors, help and docstrings tell people what to run.
    text = README if where == "README.md" else SOURCES
    named = set(re.findall(r"`otel-mcp (?:-v\s+)?([a-z][a-z-]*)(?: ([a-z][a-z-]*))?", text))
    assert len(named) > 10
    commands = _sub_commands(build_parser())
    unknown = set()
    for command, action in named:
        if command not in commands:
            unknown.add(f"otel-mcp {command}")
        elif action and _sub_commands(commands[command]) and action not in _sub_commands(commands[command]):
            unknown.add(f"otel-mcp {command} {action}")
    assert not unknown, f"{where} names commands that do not exist: {sorted(unknown)}"


def test_every_flag_the_readme_names_is_a_flag_of_otel_mcp_or_of_the_tool_it_belongs_to() -> None:
    ours: set[str] = set()

    def collect(parser: argparse.ArgumentParser) -> None:
        for action in parser._actions:
            ours.update(action.option_strings)
            if isinstance(action, argparse._SubParsersAction):
                for sub in action.choices.values():
                    collect(sub)

    collect(build_parser())
    ours.update(re.findall(r"--[a-z][a-z-]*", options_help("otel-mcp hooks run claude-code", "")))
    named = set(re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*)", README))
    assert named - ours - FOREIGN_FLAGS == set()


def test_every_variable_the_readme_names_is_documented_and_read_by_the_code() -> None:
    named = set(re.findall(r"\b((?:OTEL_MCP|OTEL_EXPORTER_OTLP)_[A-Z_]+[A-Z])\b", README))
    assert named - DOCUMENTED_ENV - NOT_IN_THE_TABLE - HOST_SIDE == set()
    unread = {
        n for n in named - HOST_SIDE - {"OTEL_MCP_TOKENS_HOST_FILE", "OTEL_EXPORTER_OTLP_PROTOCOL"} if n not in SOURCES
    }
    assert unread == set()
    compose = (REPO / "docker-compose.yml").read_text(encoding="utf-8")
    assert "OTEL_MCP_TOKENS_HOST_FILE" in compose


def test_every_variable_the_code_reads_is_in_the_configuration_table() -> None:
    read = set(re.findall(r"\b(OTEL_MCP_[A-Z_]+[A-Z])\b", SOURCES))
    assert len(read) > 15
    assert read - DOCUMENTED_ENV == set()


@pytest.mark.anyio
async def test_the_tools_table_lists_every_tool_with_exactly_its_arguments(client: Client) -> None:
    section = README.split("\n## Tools\n", 1)[1].split("\n## ", 1)[0]
    documented: dict[str, set[str]] = {}
    for row in re.findall(r"^\| (`.+?`) \|", section, re.M):
        for name, arguments in re.findall(r"`(\w+)\(([^`]*)\)`", row):
            documented[name] = {a.split("=")[0].strip() for a in re.split(r",\s*(?![^\[{]*[\]}])", arguments) if a}
    tools = {t.name: set(t.input_schema["properties"]) for t in (await client.list_tools()).tools}
    assert documented == tools
