"""Gate and check definitions: the YAML admins write under `gates/`, validated with pydantic.

Two gate formats load side by side:

* the original one, a top-level `gate_requirements:` list whose items name a span and list
  `required_attributes` as `"key: value"` strings (one requirement per gate);
* the rich one, a top-level `gates:` list with `requirements`, each adding predicates, status,
  scope, freshness, provenance and attestation rules, plus `requires_gates` for gate order.

Checks (`checks:`, commands the server may run) are defined in `checkspec`; files are read and
validated per item in `parse`.
"""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from otel_mcp.errors import InvalidArgument
from otel_mcp.model import ATTR_KEY_PATTERN, parse_duration
from otel_mcp.store.predicates import Predicate, parse_predicate, parse_where

__all__ = [
    "EVIDENCE_SOURCES",
    "RUNNERS",
    "Gate",
    "Guard",
    "LegacyGate",
    "Name",
    "RequiredAttributes",
    "Requirement",
    "SpanName",
    "Strict",
]

EVIDENCE_SOURCES = ("agent", "runner", "external")
# Who ran a check: the MCP server (run_check), the command line (`otel-mcp run`), or the CLI in CI.
RUNNERS = ("server", "cli", "ci")

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


class Strict(BaseModel):
    """Unknown fields are errors: a typo in a gate must not silently weaken it."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Requirement(Strict):
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
    # 'current': the evidence must have examined the code as it is at decision time. Unset: current
    # for evidence from a check (the only spans that record what they examined), any otherwise.
    code: Literal["current", "any"] | None = None
    runners: list[Literal["server", "cli", "ci"]] | None = None

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

    @field_validator("runners")
    @classmethod
    def _check_runners(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and not value:
            raise ValueError("runners must list at least one of server, cli, ci (or be left out)")
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

    @property
    def code_current(self) -> bool:
        return self.code == "current" or (self.code is None and self.check is not None)

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
            parts.append(f"produced by run_check('{self.check}') as the check is defined now")
        if self.runners:
            parts.append("run by " + " or ".join(_RUNNER_WORDS[r] for r in self.runners))
        if self.code_current:
            parts.append("examining the code as it is now (any edit since means: run it again)")
        if self.attested:
            parts.append("carrying a valid attestation")
        if self.max_age:
            parts.append(f"at most {self.max_age} old")
        if self.newer_than:
            parts.append(f"started after the task's latest '{self.newer_than}' span")
        return ", ".join(parts)


_RUNNER_WORDS = {"server": "the MCP server", "cli": "the otel-mcp command line", "ci": "CI"}
_SOURCE_WORDS = {
    "agent": "an agent (record_task)",
    "runner": "the server's check runner (run_check)",
    "external": "an external tool or CI (OTLP)",
}


_TaskType = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_.-]{0,63}$")]


class Guard(Strict):
    """Which task transitions a gate guards: record_task of one is refused until the gate stands passed."""

    task_types: list[_TaskType] = Field(min_length=1, max_length=64)
    status: Literal["planned", "started", "complete", "failed", "blocked"] = "complete"

    def covers(self, task_type: str, status: str) -> bool:
        return status == self.status and task_type in self.task_types


class Gate(Strict):
    """A named checkpoint: every requirement met, every required gate passed for the task."""

    name: Name
    description: str = ""
    requires_gates: list[Name] = Field(default_factory=list)
    requirements: list[Requirement] = Field(default_factory=list)
    guards: Guard | None = None

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


class LegacyGate(Strict):
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
