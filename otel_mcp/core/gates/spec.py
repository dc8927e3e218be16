"""Gate and check definitions: the YAML admins write under `gates/`, validated with pydantic.

Two gate formats load side by side:

* the original one, a top-level `gate_requirements:` list whose items name a span and list
  `required_attributes` as `"key: value"` strings (one requirement per gate);
* the rich one, a top-level `gates:` list with `requirements`, each adding predicates, status,
  scope, freshness, provenance and attestation rules, plus `requires_gates` for gate order.

A top-level `checks:` map defines commands the server may run (`run_check`) to produce attested
evidence. Validation is per item: a broken gate or check is reported with its file, line and
field, and every other gate keeps working.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from otel_mcp.errors import InvalidArgument
from otel_mcp.model import (
    ATTR_KEY_PATTERN,
    ATTR_TASK_ID,
    ATTR_TASK_STATUS,
    ATTR_TASK_TYPE,
    RESERVED_PREFIX,
    parse_duration,
)
from otel_mcp.store.predicates import Predicate, parse_predicate, parse_where

__all__ = [
    "EVIDENCE_SOURCES",
    "PLACEHOLDERS",
    "AttributeSource",
    "Check",
    "Extractor",
    "FileSpec",
    "Gate",
    "LegacyGate",
    "Problem",
    "Requirement",
    "parse_file",
]

EVIDENCE_SOURCES = ("agent", "runner", "external")
# Substituted in a check's argv, never from tool arguments: an agent cannot point a scan elsewhere.
PLACEHOLDERS = ("target", "python")
_PLACEHOLDER = re.compile(r"\{(" + "|".join(PLACEHOLDERS) + r")\}")
MAX_CHECK_ATTRIBUTES = 64
# Attributes a runner span sets itself; a check's extraction may not overwrite them.
_RUNNER_RESERVED = {"process.exit.code", "process.command_args", ATTR_TASK_ID, ATTR_TASK_STATUS, ATTR_TASK_TYPE}

Name = Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$", description="letters, digits, _ . -")]
SpanName = Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_.:/ -]{0,127}$")]


def _value_error(exc: InvalidArgument) -> ValueError:
    return ValueError(str(exc))


def _parse_required(value: list[str]) -> list[str]:
    try:
        parse_where(value)
    except InvalidArgument as exc:
        raise _value_error(exc) from None
    return value


# The original format's `"key: value"` strings, checked as predicates when the file loads.
RequiredAttributes = Annotated[list[str], AfterValidator(_parse_required)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Requirement(_Strict):
    """One piece of evidence a gate needs: a span with this name for which every rule holds."""

    name: Name
    description: str = ""
    span_name: SpanName
    where: dict[str, Any] = Field(default_factory=dict)
    required_attributes: RequiredAttributes = Field(default_factory=list)
    status: Literal["ok", "not_error", "any"] = "not_error"
    same_task: bool = True
    max_age: str | None = None
    newer_than: SpanName | None = None
    sources: list[Literal["agent", "runner", "external"]] | None = None
    attested: bool = False
    check: Name | None = None

    _predicates: list[Predicate] = PrivateAttr(default_factory=list)
    _max_age_s: float | None = PrivateAttr(default=None)

    @field_validator("status", mode="before")
    @classmethod
    def _lower_status(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("where")
    @classmethod
    def _check_where(cls, value: dict[str, Any]) -> dict[str, Any]:
        for key, spec in value.items():
            if not ATTR_KEY_PATTERN.fullmatch(key):
                raise ValueError(f"{key!r} is not an attribute name (e.g. 'tests.failed')")
            try:
                parse_predicate(key, spec)
            except InvalidArgument as exc:
                raise _value_error(exc) from None
        return value

    @field_validator("max_age")
    @classmethod
    def _check_age(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                parse_duration(str(value))
            except InvalidArgument as exc:
                raise _value_error(exc) from None
        return value

    @field_validator("sources")
    @classmethod
    def _check_sources(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and not value:
            raise ValueError("sources must list at least one of agent, runner, external (or be left out)")
        return value

    def model_post_init(self, __context: Any) -> None:
        self._predicates = parse_where(self.where) + parse_where(self.required_attributes)
        self._max_age_s = parse_duration(self.max_age) if self.max_age else None

    @property
    def predicates(self) -> list[Predicate]:
        return self._predicates

    @property
    def max_age_seconds(self) -> float | None:
        return self._max_age_s

    def describe(self) -> str:
        """The requirement in words, as an agent should read it."""
        parts = [f"a span named '{self.span_name}'"]
        parts.append("recorded for this task" if self.same_task else "recorded for any task")
        if self.status == "ok":
            parts.append("with status Ok")
        elif self.status == "not_error":
            parts.append("whose status is not Error")
        if self._predicates:
            parts.append("where " + " and ".join(p.describe() for p in self._predicates))
        if self.sources:
            parts.append("written by " + " or ".join(_SOURCE_WORDS[s] for s in self.sources))
        if self.check:
            parts.append(f"produced by run_check('{self.check}')")
        if self.attested:
            parts.append("carrying a valid attestation")
        if self.max_age:
            parts.append(f"at most {self.max_age} old")
        if self.newer_than:
            parts.append(f"started after the task's latest '{self.newer_than}' span")
        return ", ".join(parts)


_SOURCE_WORDS = {
    "agent": "an agent (record_task)",
    "runner": "the server's check runner (run_check)",
    "external": "an external tool or CI (OTLP)",
}


class Gate(_Strict):
    """A named checkpoint: every requirement met, every required gate passed for the task."""

    name: Name
    description: str = ""
    requires_gates: list[Name] = Field(default_factory=list)
    requirements: list[Requirement] = Field(default_factory=list)

    @model_validator(mode="after")
    def _check_shape(self) -> Gate:
        if not self.requirements and not self.requires_gates:
            raise ValueError("a gate needs at least one requirement or one entry in requires_gates")
        names = [r.name for r in self.requirements]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"requirement names must be unique within a gate; repeated: {', '.join(duplicates)}")
        if self.name in self.requires_gates:
            raise ValueError("a gate cannot require itself in requires_gates")
        return self

    _digest: str = PrivateAttr(default="")

    def digest(self) -> str:
        """Which version of the definition decided: recorded on every decision span."""
        if not self._digest:
            text = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
            self._digest = hashlib.sha256(text.encode()).hexdigest()[:16]
        return self._digest


class LegacyGate(_Strict):
    """An item of the original `gate_requirements:` list; becomes a one-requirement gate."""

    name: Name
    description: str = ""
    evidence_type: Literal["telemetry_span"]
    span_name: SpanName
    required_attributes: RequiredAttributes = Field(default_factory=list)

    def to_gate(self) -> Gate:
        requirement = Requirement(
            name=self.name, span_name=self.span_name, required_attributes=list(self.required_attributes)
        )
        return Gate(name=self.name, description=self.description, requirements=[requirement])


class AttributeSource(_Strict):
    """Long form of a check attribute: where the value comes from, and a value when it is absent."""

    from_: str = Field(alias="from")
    default: str | int | float | bool | None = None


@dataclass(frozen=True, slots=True)
class Extractor:
    """How one attribute is read from a check's output."""

    attribute: str
    kind: Literal["json", "count", "regex"]
    pointer: str = ""
    filters: tuple[tuple[str, str], ...] = ()
    pattern: re.Pattern[str] | None = None
    default: str | int | float | bool | None = None

    def describe(self) -> str:
        if self.kind == "regex":
            assert self.pattern is not None
            return f"regex {self.pattern.pattern!r} over the output"
        where = " where " + " and ".join(f"{k} == {v}" for k, v in self.filters) if self.filters else ""
        at = self.pointer or "(the whole JSON output)"
        return f"{'number of items at' if self.kind == 'count' else 'JSON value at'} {at}{where}"


def _parse_source(attribute: str, spec: str | AttributeSource) -> Extractor:
    text, default = (spec, None) if isinstance(spec, str) else (spec.from_, spec.default)
    kind, sep, rest = text.partition(":")
    if not sep or kind not in ("json", "count", "regex"):
        raise ValueError(
            f"attribute {attribute!r}: {text!r} must start with 'json:<JSON Pointer>', 'count:<JSON Pointer>' "
            "or 'regex:<pattern with one group>'"
        )
    if kind == "regex":
        try:
            pattern = re.compile(rest, re.M)
        except re.error as exc:
            raise ValueError(f"attribute {attribute!r}: the regex does not compile: {exc}") from None
        if pattern.groups != 1:
            raise ValueError(
                f"attribute {attribute!r}: the regex must have exactly one (group); it has {pattern.groups}"
            )
        return Extractor(attribute, "regex", pattern=pattern, default=default)
    pointer, _, query = rest.partition("?")
    if pointer and not pointer.startswith("/"):
        raise ValueError(
            f"attribute {attribute!r}: a JSON Pointer is empty or starts with '/', e.g. '/metrics/_totals'"
        )
    filters: list[tuple[str, str]] = []
    if query:
        if kind != "count":
            raise ValueError(f"attribute {attribute!r}: '?field=value' filters only apply to count:")
        for clause in query.split("&"):
            key, eq, value = clause.partition("=")
            if not eq or not key:
                raise ValueError(f"attribute {attribute!r}: filter {clause!r} must read 'field=value'")
            filters.append((key, value))
    return Extractor(attribute, kind, pointer=pointer, filters=tuple(filters), default=default)  # type: ignore[arg-type]


class Check(_Strict):
    """A command the server may run (argv, no shell) whose output becomes an attested runner span."""

    name: Name
    description: str = ""
    span_name: SpanName
    command: list[str]
    target: str | None = None
    timeout_seconds: float = Field(default=300, gt=0, le=3600)
    ok_exit_codes: list[int] = Field(default_factory=lambda: [0])
    max_output_bytes: int = Field(default=8 * 1024 * 1024, ge=1024, le=64 * 1024 * 1024)
    attributes: dict[str, str | AttributeSource] = Field(default_factory=dict)

    _extractors: list[Extractor] = PrivateAttr(default_factory=list)

    @field_validator("command", mode="before")
    @classmethod
    def _argv_only(cls, value: Any) -> Any:
        if isinstance(value, str):
            raise ValueError(
                "command must be an argv list such as ['bandit', '-f', 'json', '-r', '{target}'], never a shell "
                "string: otel-mcp runs it without a shell"
            )
        return value

    @field_validator("command")
    @classmethod
    def _check_command(cls, value: list[str]) -> list[str]:
        if not value or not value[0].strip():
            raise ValueError("command needs at least the program to run, e.g. ['ruff', 'check', '.']")
        if len(value) > 200:
            raise ValueError("command has more than 200 arguments")
        return value

    @field_validator("attributes")
    @classmethod
    def _check_attributes(cls, value: dict[str, str | AttributeSource]) -> dict[str, str | AttributeSource]:
        if len(value) > MAX_CHECK_ATTRIBUTES:
            raise ValueError(f"a check may extract at most {MAX_CHECK_ATTRIBUTES} attributes")
        for key, spec in value.items():
            if not ATTR_KEY_PATTERN.fullmatch(key) or len(key) > 128:
                raise ValueError(f"{key!r} is not an attribute name (e.g. 'vulnerabilities.high')")
            if key.startswith(RESERVED_PREFIX) or key in _RUNNER_RESERVED:
                raise ValueError(f"attribute {key!r} is set by the runner itself and cannot be extracted")
            _parse_source(key, spec)
        return value

    @model_validator(mode="after")
    def _check_placeholders(self) -> Check:
        if self.name == "adhoc":
            raise ValueError("'adhoc' is reserved for `otel-mcp run --span`; pick another check name")
        uses_target = any("{target}" in arg for arg in self.command)
        if uses_target and not self.target:
            raise ValueError("command uses {target} but the check sets no target (e.g. target: '.')")
        bad = sorted({c for c in self.ok_exit_codes if not 0 <= c <= 255})
        if bad:
            raise ValueError(f"ok_exit_codes must be between 0 and 255; got {bad}")
        return self

    def model_post_init(self, __context: Any) -> None:
        self._extractors = [_parse_source(k, v) for k, v in self.attributes.items()]

    @property
    def extractors(self) -> list[Extractor]:
        return self._extractors

    def argv(self, python: str) -> list[str]:
        """The command with `{target}` (from the YAML) and `{python}` (the server's interpreter) filled in."""
        values = {"target": self.target or "", "python": python}
        return [_PLACEHOLDER.sub(lambda m: values[m.group(1)], arg) for arg in self.command]


# -- files -------------------------------------------------------------------------------------


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
        data = yaml.safe_load(text)
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        reason = getattr(exc, "problem", None) or str(exc)
        spec.problems.append(Problem(file, mark.line + 1 if mark else None, f"not valid YAML: {reason}"))
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
