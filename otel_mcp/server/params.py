"""Reusable argument types: one description per concept, written for the model that reads it."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from otel_mcp.core.arguments import (
    MAX_AGENT_ID,
    MAX_BRANCH,
    MAX_COMMITS,
    MAX_DEPENDS,
    MAX_IDEMPOTENCY_KEY,
    MAX_LIMIT,
    MAX_SINCE,
    MAX_TASK_TYPE,
    MAX_WHERE,
)
from otel_mcp.model import MAX_ATTRS, MAX_TASK_ID

__all__ = [
    "MAX_ID_TEXT",
    "AgentIdArg",
    "AttributesArg",
    "BranchArg",
    "CommitsArg",
    "DependsOnArg",
    "IdempotencyKeyArg",
    "LimitArg",
    "OptionalTaskIdArg",
    "OptionalTaskTypeArg",
    "SinceArg",
    "SpanIdArg",
    "StatusArg",
    "TaskIdArg",
    "TaskTypeArg",
    "WhereArg",
]

# Every string argument has a maxLength in the schema: the SDK then refuses an oversized value
# before any of our code runs, with a message that quotes only a prefix of it. Ids are 16 or 32
# characters; the looser bound lets the core explain a near miss (uppercase, a '0x' prefix) itself.
MAX_ID_TEXT = 64

TaskIdArg = Annotated[
    str,
    Field(
        description="Stable task identifier shared by all agents, path-like: 'auth/refactor-login'. "
        "Letters, digits and _ . : / @ # + = - only.",
        min_length=1,
        max_length=MAX_TASK_ID,
    ),
]
OptionalTaskIdArg = Annotated[
    str | None, Field(description="A task id such as 'auth/refactor-login'", max_length=MAX_TASK_ID, default=None)
]
TaskTypeArg = Annotated[
    str,
    Field(
        description="Kind of work, lowercase: 'code_generation', 'test', 'security_scan', 'review', 'plan'...",
        min_length=1,
        max_length=MAX_TASK_TYPE,
    ),
]
OptionalTaskTypeArg = Annotated[
    str | None, Field(description="Only this kind of work, e.g. 'test'", max_length=MAX_TASK_TYPE)
]
AgentIdArg = Annotated[str | None, Field(description="Only records by this agent id", max_length=MAX_AGENT_ID)]
SinceArg = Annotated[
    str | None,
    Field(description="Only records newer than this: '30m', '24h', '7d' or an ISO-8601 time", max_length=MAX_SINCE),
]
StatusArg = Annotated[
    Literal["planned", "started", "complete", "failed", "blocked"],
    Field(description="planned (declared, not begun) | started | complete | failed | blocked"),
]
AttributesArg = Annotated[
    dict[str, Any] | None,
    Field(
        description="Facts about the result as flat OpenTelemetry attributes: dotted names to strings, numbers, "
        "booleans or flat lists, e.g. {'tests.passed': 42, 'tests.failed': 0, 'quality.score': 0.93, "
        "'files.changed': ['a.py']}. 'quality.score' is 0..1. 'otel_mcp.*' names are reserved.",
        max_length=MAX_ATTRS,
    ),
]
DependsOnArg = Annotated[
    list[Annotated[str, Field(max_length=MAX_TASK_ID)]] | None,
    Field(description="Task ids that must be complete before this task can start", max_length=MAX_DEPENDS),
]
IdempotencyKeyArg = Annotated[
    str | None,
    Field(
        description="Optional: a key you choose for this call (a UUID). If the answer is lost and you retry with the "
        "same key, you get the first answer back instead of a second record. A new record needs a new key.",
        max_length=MAX_IDEMPOTENCY_KEY,
    ),
]
CommitsArg = Annotated[
    list[Annotated[str, Field(max_length=64)]] | None,
    Field(
        description="Optional: the commit id(s) this work produced, as `git rev-parse HEAD` prints them. A commit "
        "can also name its task in a trailer line 'Task: <task_id>'.",
        max_length=MAX_COMMITS,
    ),
]
BranchArg = Annotated[
    str | None,
    Field(description="Optional: the git branch the work is on, e.g. 'feature/login'", max_length=MAX_BRANCH),
]
WhereArg = Annotated[
    dict[str, Any] | None,
    Field(
        description="Attribute conditions, all must hold: a value means equality, or a string '<op> value' with "
        "== != < <= > >= (numbers compare as numbers), 'in [a, b]', 'exists'. "
        "Example: {'quality.score': '>= 0.9', 'tests.failed': 0}. An 'in' list holds at most 100 values.",
        max_length=MAX_WHERE,
    ),
]
LimitArg = Annotated[int, Field(description=f"Maximum number of records to return (1-{MAX_LIMIT})", ge=1, le=MAX_LIMIT)]
SpanIdArg = Annotated[
    str,
    Field(description="A span id exactly as a tool returned it: 16 lowercase hex characters", max_length=MAX_ID_TEXT),
]
