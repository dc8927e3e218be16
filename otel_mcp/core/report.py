"""What people read about what the agents did: one trace as a tree, and a report over the store.

Pure data (pydantic models) so the CLI, the demo and tests share it; `otel_mcp.commands.trace` and
`otel_mcp.commands.report` only format it. Works on any Store: reads go through `find_spans`,
`task_index` and `get_trace`, so attribute values may arrive as strings (ClickHouse keeps them so).
"""

from __future__ import annotations

import json
import re
import statistics
from collections import Counter, defaultdict
from collections.abc import Mapping
from typing import Any

from pydantic import Field

from otel_mcp.core.results import Result, TraceResult
from otel_mcp.core.tasks import Coordinator
from otel_mcp.errors import InvalidArgument, NotFound
from otel_mcp.model import SpanRecord, format_time
from otel_mcp.store.base import SpanFilter, Store

__all__ = [
    "ATTR_CHECK",
    "ATTR_EXIT_CODE",
    "ATTR_GATE",
    "ATTR_GATE_ATTEMPT",
    "ATTR_GATE_DECISION",
    "ATTR_GATE_DEFINITION",
    "ATTR_GATE_REASONS",
    "GATE_DECISION_SPAN",
    "REPORT_LIMIT",
    "AgentActivity",
    "FailedCheck",
    "GateStats",
    "OtherDefinition",
    "Report",
    "as_int",
    "as_list",
    "build_report",
    "load_trace",
]

# The gate and runner vocabulary (written by otel_mcp.core.gates and run_check / `otel-mcp run`).
GATE_DECISION_SPAN = "gate_decision"
ATTR_GATE = "otel_mcp.gate"
ATTR_GATE_DECISION = "otel_mcp.gate.decision"
ATTR_GATE_ATTEMPT = "otel_mcp.gate.attempt"
ATTR_GATE_REASONS = "otel_mcp.gate.reasons"
ATTR_GATE_DEFINITION = "otel_mcp.gate.definition"
ATTR_CHECK = "otel_mcp.check"
ATTR_EXIT_CODE = "process.exit.code"

# Per query; a report over more than this many spans of one kind says it is partial.
REPORT_LIMIT = 200_000
_TRACE_ID = re.compile(r"[0-9a-f]{32}")


def as_int(value: Any) -> int | None:
    """An attribute as an integer, whether it arrived as a number or as text."""
    if value is None or isinstance(value, bool | tuple | list):
        return None
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return None


def as_list(value: Any) -> list[str]:
    """A list attribute, whether a tuple (SQLite) or its JSON text (ClickHouse)."""
    if value is None:
        return []
    if isinstance(value, tuple | list):
        return [str(v) for v in value]
    text = str(value)
    if text.startswith("["):
        try:
            return [str(v) for v in json.loads(text)]
        except ValueError:
            pass
    return [text] if text else []


def load_trace(coordinator: Coordinator, ref: str) -> TraceResult:
    """The tree for a task id or a trace id (32 hex characters; tried as a task id if no such trace)."""
    if not isinstance(ref, str) or not ref.strip():
        raise InvalidArgument("give a task id (e.g. 'auth/login') or a trace id (32 hex characters)")
    ref = ref.strip()
    if _TRACE_ID.fullmatch(ref):
        try:
            return coordinator.get_trace(trace_id=ref)
        except NotFound:
            pass  # a task may be named like a trace id
    return coordinator.get_trace(task_id=ref)


# -- report ------------------------------------------------------------------------------------


class GateStats(Result):
    gate: str
    first_attempts: int = Field(description="decisions with attempt 1 (one per gate and task)")
    first_attempt_passes: int
    first_attempt_pass_rate: float | None = Field(description="0..1; null when no first attempts")
    decisions: int = Field(description="all decisions, retries included")
    passes: int
    other_definition: int = Field(
        default=0,
        description="decisions taken under another definition of the gate than the one in force now (edited since, "
        "or decided from other gate files)",
    )


class AgentActivity(Result):
    agent_id: str
    tasks: int = Field(description="tasks whose latest record this agent wrote")
    by_status: dict[str, int]


class FailedCheck(Result):
    check: str
    task_id: str | None = None
    agent_id: str | None = None
    exit_code: int | None = None
    message: str = ""
    span_id: str
    start_time: str


class OtherDefinition(Result):
    """A decision that speaks for a definition of its gate other than the one in force now."""

    gate: str
    task_id: str | None
    span_id: str
    start_time: str
    decision: str


class Report(Result):
    since: str | None = Field(default=None, description="UTC; only spans from then on, when set")
    tasks: int
    tasks_by_status: dict[str, int]
    agents: list[AgentActivity]
    gates: list[GateStats]
    failed_checks: list[FailedCheck]
    median_task_duration_s: float | None = Field(
        description="median over tasks of first 'started' record to the first 'complete' record after it"
    )
    timed_tasks: int = Field(description="tasks that have both a 'started' and a later 'complete' record")
    partial: bool = Field(default=False, description=f"some query hit its {REPORT_LIMIT} span cap")
    other_definitions: list[OtherDefinition] = Field(
        default_factory=list, description="the latest decisions of each gate and task taken under another definition"
    )


def _spans(store: Store, flt: SpanFilter) -> tuple[list[SpanRecord], bool]:
    found = store.find_spans(flt)
    return found, len(found) >= flt.limit


def build_report(store: Store, since_ns: int | None = None, definitions: Mapping[str, str] | None = None) -> Report:
    """The report over the store; with `definitions` (gate -> digest in force), decisions under others are flagged."""
    partial = False

    # Tasks per agent and status: each task counted once, by its latest record.
    states = [t for t in store.task_index() if since_ns is None or t.start_ns >= since_ns]
    by_status = Counter(t.status for t in states)
    per_agent: dict[str, Counter[str]] = defaultdict(Counter)
    for t in states:
        per_agent[t.agent_id or "unknown"][t.status] += 1
    agents = [
        AgentActivity(agent_id=agent, tasks=sum(counts.values()), by_status=dict(sorted(counts.items())))
        for agent, counts in sorted(per_agent.items(), key=lambda kv: (-sum(kv[1].values()), kv[0]))
    ]

    # Gates: the first attempt is what shows whether agents bring the right evidence unprompted.
    decisions, hit = _spans(
        store, SpanFilter(name=GATE_DECISION_SPAN, source="gate", since_ns=since_ns, limit=REPORT_LIMIT)
    )
    partial |= hit
    gate_counts: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0])  # first, first passes, all, passes, other
    others: dict[tuple[str, str | None], OtherDefinition] = {}
    for span in decisions:
        gate = str(span.attributes.get(ATTR_GATE) or "unknown")
        passed = str(span.attributes.get(ATTR_GATE_DECISION, "")).lower() == "pass"
        counts = gate_counts[gate]
        counts[2] += 1
        counts[3] += passed
        decided = span.attributes.get(ATTR_GATE_DEFINITION)
        if definitions is not None and decided != definitions.get(gate):
            counts[4] += 1
            # Newest first: the first seen per gate and task is the latest decision, the one that stands.
            others.setdefault(
                (gate, span.task_id),
                OtherDefinition(
                    gate=gate,
                    task_id=span.task_id,
                    span_id=span.span_id,
                    start_time=span.start_time,
                    decision="pass" if passed else "fail",
                ),
            )
        if as_int(span.attributes.get(ATTR_GATE_ATTEMPT)) == 1:
            counts[0] += 1
            counts[1] += passed
    gates = [
        GateStats(
            gate=gate,
            first_attempts=c[0],
            first_attempt_passes=c[1],
            first_attempt_pass_rate=round(c[1] / c[0], 4) if c[0] else None,
            decisions=c[2],
            passes=c[3],
            other_definition=c[4],
        )
        for gate, c in sorted(gate_counts.items())
    ]

    # Checks the server ran that failed: an error status, i.e. an exit code the check does not accept
    # (bandit, pytest and ruff exit 1 when they report findings; the findings are the gates' business),
    # a timeout, or output the check could not read. Spans from `otel-mcp run -- CMD` accept only 0.
    runs, hit = _spans(store, SpanFilter(source="runner", since_ns=since_ns, limit=REPORT_LIMIT))
    partial |= hit
    failed_checks = []
    for span in runs:
        code = as_int(span.attributes.get(ATTR_EXIT_CODE))
        if span.status_code == "Error":
            failed_checks.append(
                FailedCheck(
                    check=str(span.attributes.get(ATTR_CHECK) or span.name),
                    task_id=span.task_id,
                    agent_id=span.agent_id,
                    exit_code=code,
                    message=span.status_message[:300],
                    span_id=span.span_id,
                    start_time=span.start_time,
                )
            )

    # Duration: first 'started' to the first 'complete' after it, per task.
    started, hit = _spans(
        store, SpanFilter(task_status="started", since_ns=since_ns, oldest_first=True, limit=REPORT_LIMIT)
    )
    partial |= hit
    completed, hit = _spans(
        store, SpanFilter(task_status="complete", since_ns=since_ns, oldest_first=True, limit=REPORT_LIMIT)
    )
    partial |= hit
    first_start: dict[str, int] = {}
    for span in started:
        if span.task_id is not None:
            first_start.setdefault(span.task_id, span.start_ns)
    durations: dict[str, float] = {}
    for span in completed:
        begun = first_start.get(span.task_id or "")
        if begun is not None and span.task_id not in durations and span.start_ns >= begun:
            durations[span.task_id] = (span.start_ns - begun) / 1e9  # type: ignore[index]
    median = round(statistics.median(durations.values()), 3) if durations else None

    return Report(
        since=format_time(since_ns) if since_ns is not None else None,
        tasks=len(states),
        tasks_by_status=dict(sorted(by_status.items())),
        agents=agents,
        gates=gates,
        failed_checks=failed_checks,
        median_task_duration_s=median,
        timed_tasks=len(durations),
        partial=partial,
        other_definitions=list(others.values())[:50],
    )
