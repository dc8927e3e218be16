"""MCP tools for safe hand-offs between agents: claim_task, release_task, find_ready.

Who claims is always the server's configured agent id (OTEL_MCP_AGENT_ID), never an argument: an
agent cannot claim or release on another agent's behalf.
"""

from __future__ import annotations

from typing import Annotated

from mcp.server.mcpserver.tools import Tool
from mcp.types import ToolAnnotations
from pydantic import Field

from otel_mcp.core.claims import DEFAULT_LEASE_S, MAX_LEASE_S, ClaimResult, ReadyTasks, ReleaseResult
from otel_mcp.server._core import RuntimeContext, core_call
from otel_mcp.server._tools import build_tool
from otel_mcp.server.params import LimitArg, OptionalTaskTypeArg, TaskIdArg

__all__ = ["claim_task", "find_ready", "release_task", "tools"]


async def claim_task(
    ctx: RuntimeContext,
    task_id: TaskIdArg,
    lease_seconds: Annotated[
        int,
        Field(
            description=f"How long the claim lasts unless renewed, in whole seconds (1-{MAX_LEASE_S}). "
            "Renew by calling claim_task again before it lapses.",
        ),
    ] = DEFAULT_LEASE_S,
) -> ClaimResult:
    """Claim a task so no other agent starts it: exactly one agent holds a task at a time.

    Call before starting work that another agent might also pick up (e.g. one find_ready returned).
    'granted' true means it is yours until 'expires_at'; claim again to renew. If 'granted' is false,
    'holder' has it: choose another task. Every claim is a span, so the history is in the trace.
    """
    rt = ctx.request_context.lifespan_context
    return await core_call(rt, rt.claims.claim, task_id, lease_seconds)


async def release_task(ctx: RuntimeContext, task_id: TaskIdArg) -> ReleaseResult:
    """Give up your claim on a task (after recording it complete or failed) so others need not wait for it to lapse.

    Only the current holder can release; anyone else's release is refused with the reason.
    """
    rt = ctx.request_context.lifespan_context
    return await core_call(rt, rt.claims.release, task_id)


async def find_ready(
    ctx: RuntimeContext,
    task_type: OptionalTaskTypeArg = None,
    limit: LimitArg = 50,
) -> ReadyTasks:
    """What can be done next: planned tasks whose depends_on are all complete and that no other agent holds.

    Oldest plan first. Claim one with claim_task before starting it; tasks you already hold are
    marked held_by_you. A dependency cycle among planned tasks is reported as an error naming it.
    """
    rt = ctx.request_context.lifespan_context
    return await core_call(rt, rt.claims.find_ready, task_type, limit)


def tools() -> list[Tool]:
    writes = ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=False)
    return [
        build_tool(claim_task, writes),
        build_tool(release_task, writes),
        build_tool(find_ready, ToolAnnotations(read_only_hint=True, idempotent_hint=True, open_world_hint=False)),
    ]
