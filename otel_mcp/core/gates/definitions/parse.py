"""Reading one gate file: bounded YAML, each gate and check validated on its own, problems located.

Validation is per item: a broken gate or check is reported with its file, line and field, and
every other gate keeps working.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from otel_mcp.core.gates.definitions._yaml import YamlProblem, load_bounded
from otel_mcp.core.gates.definitions.checkspec import Check
from otel_mcp.core.gates.definitions.spec import Gate, LegacyGate, Requirement

__all__ = ["FileSpec", "Problem", "parse_file"]


@dataclass(frozen=True, slots=True)
class Problem:
    """Something wrong in a gate file, located well enough to fix it."""

    file: str
    line: int | None
    message: str

    def __str__(self) -> str:
        return f"{self.file}{f':{self.line}' if self.line else ''}: {self.message}"


@dataclass(slots=True)
class FileSpec:
    """What one file contributes: its valid gates and checks, and its problems."""

    gates: list[tuple[Gate, int | None]] = field(default_factory=list)
    checks: list[tuple[Check, int | None]] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    broken_names: dict[str, str] = field(default_factory=dict)  # gate/check name -> why it did not load


_TOP_KEYS = ("gates", "gate_requirements", "checks")
_FIELDS = {
    "gate": ", ".join(Gate.model_fields),
    "legacy": ", ".join(LegacyGate.model_fields),
    "requirement": ", ".join(Requirement.model_fields),
    "check": ", ".join(n if n != "from_" else "from" for n in Check.model_fields if n != "name"),
}


def _node_line(root: yaml.Node | None, path: Sequence[str | int]) -> int | None:
    """1-based line of the deepest YAML node along `path` (best effort)."""
    node = root
    line = node.start_mark.line + 1 if node is not None else None
    for part in path:
        if isinstance(node, yaml.MappingNode):
            node = next((v for k, v in node.value if k.value == str(part)), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
            node = node.value[part]
        else:
            node = None
        if node is None:
            break
        line = node.start_mark.line + 1
    return line


def _error_text(error: Mapping[str, Any], kind: str) -> str:
    loc = [
        p for p in error["loc"] if p not in ("str", "AttributeSource", "function-after[_check_command(), list[str]]")
    ]
    where = ""
    for part in loc:
        where += f"[{part}]" if isinstance(part, int) else (f".{part}" if where else str(part))
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        holder = "requirement" if "requirements" in loc else kind
        message = f"unknown field {str(loc[-1])!r}; the fields are: {_FIELDS[holder]}"
    elif error["type"] == "missing":
        message = "required field is missing"
    elif error["type"] == "string_pattern_mismatch":
        message = f"{error.get('input')!r} is not a valid name (start with a letter; letters, digits, _ . -)"
    return f"{where}: {message}" if where else message


def _validate(
    spec: FileSpec,
    file: str,
    root: yaml.Node | None,
    path: list[str | int],
    kind: str,
    item: Any,
) -> BaseModel | None:
    label = f"{path[0]}[{path[1]}]" if isinstance(path[1], int) else f"{path[0]}.{path[1]}"
    name = item.get("name") if isinstance(item, dict) else None
    if isinstance(name, str) and kind != "check":
        label += f" ({name})"
    if not isinstance(item, dict):
        spec.problems.append(Problem(file, _node_line(root, path), f"{label}: must be a mapping of fields"))
        return None
    models: dict[str, type[BaseModel]] = {"gate": Gate, "legacy": LegacyGate, "check": Check}
    model = models[kind]
    try:
        return model.model_validate(item)
    except ValidationError as exc:
        for error in exc.errors():
            loc = [p for p in error["loc"] if isinstance(p, int | str)]
            spec.problems.append(
                Problem(file, _node_line(root, [*path, *loc]), f"{label} → {_error_text(error, kind)}")
            )
        if isinstance(name, str):
            spec.broken_names[name] = str(spec.problems[-1])
        return None


def parse_file(file: str, text: str) -> FileSpec:
    """Validate one YAML file; never raises for bad content, reports problems instead."""
    spec = FileSpec()
    try:
        data, root = load_bounded(text)
    except YamlProblem as exc:
        spec.problems.append(Problem(file, exc.line, str(exc)))
        return spec
    if data is None:
        return spec
    if not isinstance(data, dict):
        spec.problems.append(
            Problem(file, 1, "the top level must be a mapping with gates:, gate_requirements: or checks:")
        )
        return spec
    for key in data:
        if key not in _TOP_KEYS:
            spec.problems.append(
                Problem(file, _node_line(root, [key]), f"unknown top-level key {key!r}; use {', '.join(_TOP_KEYS)}")
            )
    for key, kind in (("gates", "gate"), ("gate_requirements", "legacy")):
        items = data.get(key)
        if items is None:
            continue
        if not isinstance(items, list):
            spec.problems.append(Problem(file, _node_line(root, [key]), f"{key}: must be a list of gates"))
            continue
        for index, item in enumerate(items):
            model = _validate(spec, file, root, [key, index], kind, item)
            if isinstance(model, LegacyGate):
                model = model.to_gate()
            if isinstance(model, Gate):
                spec.gates.append((model, _node_line(root, [key, index])))
    checks = data.get("checks")
    if checks is not None:
        if not isinstance(checks, dict):
            spec.problems.append(Problem(file, _node_line(root, ["checks"]), "checks: must map check names to checks"))
        else:
            for name, item in checks.items():
                body = {"name": name, **item} if isinstance(item, dict) else item
                model = _validate(spec, file, root, ["checks", str(name)], "check", body)
                if isinstance(model, Check):
                    spec.checks.append((model, _node_line(root, ["checks", str(name)])))
    return spec
