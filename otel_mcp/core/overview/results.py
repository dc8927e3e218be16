"""What the overview answers: pydantic models, so the web page and MCP App views read one JSON shape.

Instants travel as milliseconds since the epoch (a float keeps microseconds; nanoseconds would not
fit a JavaScript number) beside the store's UTC text.
"""

from __future__ import annotations

from pydantic import Field

from otel_mcp.core.results import Result

__all__ = [
    "AgentNow",
    "ChangeMark",
    "DecisionRow",
    "EvidenceRef",
    "GateMark",
    "GateSummary",
    "GatesView",
    "GraphView",
    "HeldTask",
    "Lane",
    "NowView",
    "RateBucket",
    "ReasonCount",
    "TaskGroup",
    "TaskNode",
    "TimelineSpan",
    "TimelineView",
]


class GateMark(Result):
    """A gate a task waits on (or passed): its latest decision for the task, if any."""

    gate: str
    decision: str = Field(description="pass | fail | none (no decision yet)")
    attempt: int | None = None
    span_id: str | None = None
    other_definition: bool = Field(default=False, description="decided under another definition than the one in force")


class HeldTask(Result):
    task_id: str
    status: str | None = Field(default=None, description="the task's latest recorded status")
    task_type: str | None = None
    since_ms: float | None = Field(default=None, description="when its latest status record was written")
    lease_until_ms: float | None = Field(default=None, description="when this agent's claim lapses, if it holds one")
    lease_until: str | None = None
    paths: list[str] = Field(default_factory=list, description="paths reserved with the claim")
    gates: list[GateMark] = Field(default_factory=list, description="gates guarding its completion")


class AgentNow(Result):
    agent_id: str
    state: str = Field(description="working | stuck (work in hand, nothing recorded for a while) | idle")
    tasks: list[HeldTask] = Field(description="tasks it holds a claim on or last recorded as started")
    paths: list[str] = Field(description="every path it reserves now")
    last_span_ms: float | None = None
    last_span_age_s: float | None = None
    last_span_name: str | None = None
    waiting_on: list[str] = Field(description="'gate for task' pairs that do not stand passed yet")
    completed: int = Field(description="tasks whose latest record it wrote as complete")


class NowView(Result):
    now_ms: float
    stuck_after_s: float
    agents: list[AgentNow]


class TaskNode(Result):
    task_id: str
    task_type: str | None = None
    status: str
    agent_id: str | None = Field(default=None, description="who wrote its latest status record")
    updated_ms: float
    depends_on: list[str]
    blocked_by: list[str] = Field(description="dependencies that are not complete")
    blocking: list[str] = Field(description="tasks that wait for this one to complete")
    holder: str | None = Field(default=None, description="the agent holding a live claim on it")
    lease_until_ms: float | None = None
    gates: list[GateMark] = Field(default_factory=list, description="gates guarding its completion")


class TaskGroup(Result):
    """Tasks sharing a prefix, drawn as one node when the graph is too large to draw task by task."""

    prefix: str
    tasks: int
    by_status: dict[str, int]
    depends_on: list[str] = Field(description="other groups some task here depends on")


class GraphView(Result):
    total: int = Field(description="tasks matching the filter")
    collapsed: bool = Field(description="too many tasks to draw one by one: `groups` holds them by prefix")
    tasks: list[TaskNode]
    groups: list[TaskGroup]
    missing: list[str] = Field(description="tasks named in depends_on that have no record")


class TimelineSpan(Result):
    span_id: str
    trace_id: str
    parent_span_id: str | None = None
    name: str
    kind: str = Field(description="task | check | gate | claim | tool | external | other")
    label: str
    task_id: str | None = None
    status_code: str
    start_ms: float
    end_ms: float
    decision: str | None = Field(default=None, description="gate decisions: pass | fail")


class Lane(Result):
    agent_id: str
    spans: list[TimelineSpan]


class TimelineView(Result):
    since_ms: float
    until_ms: float
    lanes: list[Lane]
    count: int
    truncated: bool = Field(description="the window holds more spans than were read: narrow it")


class RateBucket(Result):
    start_ms: float
    first_attempts: int
    first_attempt_passes: int


class ReasonCount(Result):
    reason: str
    count: int


class GateSummary(Result):
    gate: str
    first_attempts: int
    first_attempt_passes: int
    first_attempt_pass_rate: float | None
    decisions: int
    passes: int
    other_definition: int
    over_time: list[RateBucket]
    failure_reasons: list[ReasonCount]


class EvidenceRef(Result):
    span_id: str
    found: bool
    name: str | None = None
    check: str | None = None
    exit_code: int | None = None
    output_sha256: str | None = None
    code_digest: str | None = None
    start_ms: float | None = None


class DecisionRow(Result):
    gate: str
    task_id: str | None
    agent_id: str | None
    decision: str
    attempt: int | None
    at_ms: float
    at: str
    span_id: str
    trace_id: str
    reasons: list[str]
    failed_requirements: list[str]
    evidence: list[EvidenceRef]
    code_digest: str | None = None
    code_head: str | None = None
    other_definition: bool = Field(description="taken under another definition of the gate than the one in force now")


class GatesView(Result):
    gates: list[GateSummary]
    decisions: list[DecisionRow] = Field(description="newest first")
    partial: bool = Field(description="more decisions in the window than were read")


class ChangeMark(Result):
    """What a page polls: it changes whenever a span is recorded."""

    mark: str
    count: int = Field(description="spans in the store")
