"""What the tools return: pydantic models, so MCP clients get structured output and a schema."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from otel_mcp.model import (
    ATTR_AGENT_ID,
    ATTR_AGENT_NAME,
    ATTR_DEPENDS_ON,
    ATTR_PARENT_ID,
    ATTR_SOURCE,
    ATTR_TASK_ID,
    ATTR_TASK_STATUS,
    ATTR_TASK_TYPE,
    SpanRecord,
)

__all__ = [
    "CompletedRecord",
    "DependencyState",
    "Prerequisites",
    "QueryResult",
    "RecordedTask",
    "Result",
    "SpanList",
    "SpanSummary",
    "TraceResult",
    "TraceSpan",
]

# Shown as fields of their own; repeating them inside `attributes` would only cost tokens.
_PROMOTED = {
    ATTR_TASK_ID,
    ATTR_TASK_TYPE,
    ATTR_TASK_STATUS,
    ATTR_PARENT_ID,
    ATTR_AGENT_ID,
    ATTR_AGENT_NAME,
    ATTR_SOURCE,
}
_MAX_TEXT = 1000


def _clip(value: Any) -> Any:
    if isinstance(value, str) and len(value) > _MAX_TEXT:
        return value[:_MAX_TEXT] + f"... ({len(value)} characters)"
    if isinstance(value, tuple | list):
        return [_clip(v) for v in value]
    return value


def _compact_schema(schema: dict[str, Any]) -> None:
    """`anyOf: [{type: X}, {type: null}]` -> `type: [X, null]`: same meaning, far cheaper to validate.

    Clients re-validate every structured result against the output schema (the official Python
    client with jsonschema), and each `anyOf` branch costs them a sub-validator per field.
    """
    for prop in schema.get("properties", {}).values():
        options = prop.get("anyOf")
        if isinstance(options, list) and len(options) == 2 and {"type": "null"} in options:
            other = next(o for o in options if o != {"type": "null"})
            if set(other) == {"type"} and isinstance(other["type"], str):
                del prop["anyOf"]
                prop["type"] = [other["type"], "null"]


class Result(BaseModel):
    """Base for tool results: compact output schemas."""

    model_config = ConfigDict(json_schema_extra=_compact_schema)


class RecordedTask(Result):
    span_id: str = Field(description="Cite this id as evidence; 16 hex characters")
    trace_id: str
    task_id: str
    status: str
    name: str = Field(description="The span name (task_type + '_' + status), what gates match on")
    parent_span_id: str | None = None
    replayed: bool = Field(
        default=False,
        description="True when this answers a retry: the idempotency_key was recorded before, nothing new was written",
    )


class SpanSummary(Result):
    span_id: str
    trace_id: str
    parent_span_id: str | None = None
    name: str
    task_id: str | None = None
    task_type: str | None = None
    task_status: str | None = None
    task_parent_id: str | None = None
    depends_on: list[str] = Field(default_factory=list)
    agent_id: str | None = None
    source: str
    status_code: str
    start_time: str = Field(description="UTC, 'YYYY-MM-DD HH:MM:SS.ffffff'")
    duration_ms: float
    attributes: dict[str, Any] = Field(default_factory=dict)

    @classmethod
    def of(cls, record: SpanRecord) -> SpanSummary:
        return cls(
            span_id=record.span_id,
            trace_id=record.trace_id,
            parent_span_id=record.parent_span_id,
            name=record.name,
            task_id=record.task_id,
            task_type=record.task_type,
            task_status=record.task_status,
            task_parent_id=record.task_parent_id,
            depends_on=list(record.depends_on),
            agent_id=record.agent_id,
            source=record.source,
            status_code=record.status_code,
            start_time=record.start_time,
            duration_ms=round(record.duration_ms, 3),
            attributes={
                k: _clip(v) for k, v in record.attributes.items() if k not in _PROMOTED and k != ATTR_DEPENDS_ON
            },
        )


class CompletedRecord(Result):
    """A completed task as find_completed shows it: the facts, and the span id to cite."""

    task_id: str
    span_id: str = Field(description="Cite this id as evidence")
    task_type: str | None = None
    task_parent_id: str | None = None
    agent_id: str | None = None
    source: str = Field(description="agent (record_task) or external (sent by CI or tools over OTLP)")
    completed_at: str = Field(description="UTC, 'YYYY-MM-DD HH:MM:SS.ffffff'")
    attributes: dict[str, Any] = Field(default_factory=dict)

    @classmethod
    def of(cls, record: SpanRecord) -> CompletedRecord:
        return cls(
            task_id=record.task_id or "",
            span_id=record.span_id,
            task_type=record.task_type,
            task_parent_id=record.task_parent_id,
            agent_id=record.agent_id,
            source=record.source,
            completed_at=record.start_time,
            attributes={k: _clip(v) for k, v in record.attributes.items() if k not in _PROMOTED},
        )


class SpanList(Result):
    records: list[CompletedRecord]
    count: int


class DependencyState(Result):
    task_id: str
    state: str = Field(description="complete | pending | failed | missing (never recorded)")
    status: str | None = Field(default=None, description="the task's latest recorded status")
    span_id: str | None = None
    agent_id: str | None = None


class Prerequisites(Result):
    task_id: str
    ready: bool = Field(description="every depends_on task and every recorded subtask is complete")
    depends_on: list[DependencyState]
    subtasks: list[DependencyState]
    complete: list[str]
    pending: list[str]
    failed: list[str]
    reason: str


class TraceSpan(SpanSummary):
    depth: int = 0


class TraceResult(Result):
    trace_id: str
    spans: list[TraceSpan] = Field(description="depth-first: each span follows its parent")
    truncated: bool = False


class QueryResult(Result):
    columns: list[str]
    rows: list[list[Any]]
    row_count: int
    truncated: bool = False
    note: str = ""
