"""MCP tools over task records: record, find, check, trace, query.

Plain async functions so they stay importable and testable; `tools()` makes them MCP tools.
The agent's identity always comes from the server's configuration, never from an argument.
"""

from __future__ import annotations

import time
from typing import Annotated

from mcp.server.mcpserver.tools import Tool
from mcp.types import ToolAnnotations
from pydantic import Field

from otel_mcp.core.arguments import MAX_SUMMARY
from otel_mcp.core.results import Prerequisites, QueryResult, RecordedTask, SpanList, TraceResult
from otel_mcp.core.tasks import SQL_MAX_CHARS, SQL_MAX_ROWS
from otel_mcp.server._core import RuntimeContext, core_call, core_call_in_thread
from otel_mcp.server._tools import build_tool
from otel_mcp.server.params import (
    MAX_ID_TEXT,
    AgentIdArg,
    AttributesArg,
    BranchArg,
    CommitsArg,
    DependsOnArg,
    IdempotencyKeyArg,
    LimitArg,
    OptionalTaskIdArg,
    OptionalTaskTypeArg,
    SinceArg,
    StatusArg,
    TaskIdArg,
    TaskTypeArg,
    WhereArg,
)

__all__ = ["check_prerequisites", "find_completed", "get_trace", "query_spans", "record_task", "tools"]


async def record_task(
    ctx: RuntimeContext,
    task_id: TaskIdArg,
    task_type: TaskTypeArg,
    status: StatusArg,
    attributes: AttributesArg = None,
    parent_task_id: OptionalTaskIdArg = None,
    depends_on: DependsOnArg = None,
    summary: Annotated[
        str | None, Field(description="One or two sentences on what was done", max_length=MAX_SUMMARY)
    ] = None,
    idempotency_key: IdempotencyKeyArg = None,
    commits: CommitsArg = None,
    branch: BranchArg = None,
) -> RecordedTask:
    """Record a step of your work as a telemetry span that every other agent can see at once.

    Call it when you plan a task (status 'planned', with depends_on), start it ('started'),
    finish it ('complete', with result attributes) or fail ('failed', with a summary). Returns the
    span_id: cite it later as evidence. The span is named '<task_type>_<status>'. Pass an
    idempotency_key to make a retry after a lost answer safe, and the commits (or branch) the work
    produced. A transition a gate guards (e.g. completing code_generation) is refused until that
    gate has passed for the task on the current code: the error says which gate and what to do.
    """
    rt = ctx.request_context.lifespan_context
    if rt.judge.guarding(task_type, status) and not rt.decisions.ready("seal"):
        # The verdict needs the code state proven by a full stat seal and the gate files: off the loop.
        await core_call_in_thread(rt.decisions.refresh, "seal")
    return await core_call(
        rt,
        rt.coordinator.record_task,
        task_id,
        task_type,
        status,
        attributes,
        parent_task_id,
        depends_on,
        summary,
        idempotency_key,
        commits,
        branch,
    )


async def find_completed(
    ctx: RuntimeContext,
    task_type: OptionalTaskTypeArg = None,
    parent_task_id: OptionalTaskIdArg = None,
    agent_id: AgentIdArg = None,
    since: SinceArg = None,
    where: WhereArg = None,
    limit: LimitArg = 50,
) -> SpanList:
    """Find work other agents (or you) have completed, newest first: the latest 'complete' record of each task.

    Use it before starting work, to reuse results instead of redoing them, e.g.
    find_completed(task_type='security_scan', where={'vulnerabilities.critical': 0}).
    """
    rt = ctx.request_context.lifespan_context
    args = (task_type, parent_task_id, agent_id, since, where, limit)
    if where:
        # Attribute conditions are checked row by row, possibly over much of the store: off the event
        # loop, so one agent's broad query does not stall every other client of an HTTP server.
        return await core_call_in_thread(rt.coordinator.find_completed, *args)
    return await core_call(rt, rt.coordinator.find_completed, *args)


async def check_prerequisites(ctx: RuntimeContext, task_id: TaskIdArg) -> Prerequisites:
    """Is this task ready? Lists each depends_on task and each recorded subtask as complete, pending or failed.

    Call it before starting a task that others feed into; 'ready' is true only when all are complete.
    """
    rt = ctx.request_context.lifespan_context
    return await core_call(rt, rt.coordinator.check_prerequisites, task_id)


async def get_trace(
    ctx: RuntimeContext,
    task_id: OptionalTaskIdArg = None,
    trace_id: Annotated[str | None, Field(description="32 hex characters", max_length=MAX_ID_TEXT)] = None,
    span_id: Annotated[str | None, Field(description="16 hex characters", max_length=MAX_ID_TEXT)] = None,
) -> TraceResult:
    """The span tree of a task, trace or span (give exactly one): who did what, when, with which result.

    Depth-first, parents before children, at most 500 spans.
    """
    rt = ctx.request_context.lifespan_context
    return await core_call(rt, rt.coordinator.get_trace, task_id, trace_id, span_id)


async def query_spans(
    ctx: RuntimeContext,
    sql: Annotated[
        str,
        Field(
            description="One read-only SELECT over the view 'spans' (columns: span_id, trace_id, parent_span_id, "
            "name, agent_id, task_id, task_type, task_status, task_parent_id, quality_score, source, status_code, "
            "start_time, end_time, duration_ms, attributes as JSON). Example: SELECT task_status, quality_score "
            "FROM spans WHERE task_parent_id = 'T1' AND task_status = 'complete'",
            max_length=SQL_MAX_CHARS,
        ),
    ],
    limit: Annotated[int, Field(description=f"Maximum rows returned (1-{SQL_MAX_ROWS})", ge=1, le=SQL_MAX_ROWS)] = 100,
) -> QueryResult:
    """Ask any question of the shared telemetry in SQL; read-only, capped at 2 s, `limit` rows and 256 KB.

    Attributes are JSON: json_extract(attributes, '$."tests.failed"'). Times are UTC text that sort correctly.
    """
    started = time.monotonic()  # the 2 s cap counts from here: waiting for a thread or a query slot included
    coordinator = ctx.request_context.lifespan_context.coordinator
    # Up to 2 s of engine time on any store: off the event loop, so other HTTP clients are not stalled.
    return await core_call_in_thread(coordinator.query_spans, sql, limit, started=started)


_READ_ONLY = ToolAnnotations(read_only_hint=True, idempotent_hint=True, open_world_hint=False)


def tools() -> list[Tool]:
    writes = ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=False)
    return [
        build_tool(record_task, writes),
        *(build_tool(fn, _READ_ONLY) for fn in (find_completed, check_prerequisites, get_trace, query_spans)),
    ]
