"""What the gate tools take and return: pydantic models, so clients get schemas and structured output."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, SerializerFunctionWrapHandler, model_serializer

from otel_mcp.core.results import Result

__all__ = [
    "CheckInfo",
    "CheckRun",
    "Citation",
    "GateDecision",
    "GateInfo",
    "GateList",
    "RequirementInfo",
    "RequirementResult",
    "clip",
]


def clip(text: str, limit: int = 500) -> str:
    """`text` cut to `limit` characters, marked with "...": what a span attribute or a reason may hold."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


class Citation(Result):
    """One cited span; `requirement` says which requirement it is for (optional)."""

    requirement: str | None = Field(
        default=None, max_length=64, description="The requirement name from list_gates; omit to let the gate match it"
    )
    span_id: str = Field(max_length=200, description="A span id exactly as a tool returned it (16 hex characters)")


class RequirementInfo(Result):
    name: str
    span_name: str
    expects: str = Field(description="The requirement in words")
    check: str | None = Field(default=None, description="run_check(check, task_id) produces this evidence")


class GateInfo(Result):
    name: str
    description: str = ""
    requires_gates: list[str] = Field(default_factory=list)
    requirements: list[RequirementInfo] = Field(default_factory=list)
    file: str


class CheckInfo(Result):
    name: str
    description: str = ""
    span_name: str
    command: list[str]
    timeout_seconds: float
    attributes: dict[str, str] = Field(default_factory=dict, description="attribute -> where its value comes from")


class GateList(Result):
    gates: list[GateInfo]
    checks: list[CheckInfo]
    problems: list[str] = Field(
        default_factory=list, description="Definition errors an admin must fix; the gates listed still work"
    )
    note: str = ""
    source: str = Field(
        default="directory",
        description="where the gates in force come from: commit (a git HEAD), directory, bundled (the examples) or "
        "none",
    )
    directory: str = ""
    commit: str = Field(default="", description="the commit the gates were read from, when source is commit")
    ref: str = Field(
        default="",
        description="the git ref whose committed gates are in force (OTEL_MCP_GATES_REF, default: the default "
        "branch), and why",
    )
    uncommitted: list[str] = Field(
        default_factory=list,
        description="edits to gate files that are pending, not in force until committed on that ref",
    )


class RequirementResult(Result):
    requirement: str
    passed: bool
    # Plain strings rather than optional ones: clients validate every result against this schema,
    # and `anyOf` branches make that measurably slower on the hot path of submit_gate_evidence.
    span_id: str = Field(default="", description="The cited span that met it, or the one examined ('' if none)")
    reasons: list[str] = Field(default_factory=list, description="Why the cited evidence does not meet it")
    expects: str = Field(default="", description="What it needs, in words (only when not met)")

    @model_serializer(mode="wrap")
    def _drop_empty(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # A met requirement needs no reasons or explanation: fewer bytes for every client to parse.
        data: dict[str, Any] = handler(self)
        for key in ("reasons", "expects"):
            if not data.get(key):
                data.pop(key, None)
        return data


class GateDecision(Result):
    gate: str
    task_id: str
    decision: Literal["pass", "fail"]
    decision_span_id: str = Field(description="The recorded decision (source=gate); part of the audit trail")
    attempt: int = Field(description="1 for the first submission for this gate and task")
    requirements: list[RequirementResult]
    reasons: list[str] = Field(default_factory=list, description="Every reason the gate failed, in one list")
    next_step: str
    notes: list[str] = Field(
        default_factory=list,
        description="About the gates in force, e.g. edits to gate files not in force until committed",
    )


class CheckRun(Result):
    check: str
    task_id: str
    span_id: str = Field(description="Cite this id as evidence in submit_gate_evidence")
    trace_id: str
    span_name: str
    exit_code: int
    ok: bool = Field(description="exit code accepted and every attribute read; the span's status is Ok")
    timed_out: bool = False
    duration_ms: float
    attributes: dict[str, Any] = Field(default_factory=dict, description="What the output proved")
    errors: list[str] = Field(default_factory=list)
    output_tail: str = Field(default="", description="The end of the command's output, to find what to fix")
    code_digest: str = Field(
        default="", description="The code state the check examined; gates that need current code compare it"
    )
    files_examined: int | None = Field(default=None, description="How many files the check was given")
