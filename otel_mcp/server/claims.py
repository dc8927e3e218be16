"""MCP tools for safe hand-offs between agents: claim_task, release_task, find_ready.

Who claims is always the server's configured agent id (OTEL_MCP_AGENT_ID), never an argument: an
agent cannot claim or release on another agent's behalf.
"""

from __future__ import annotations

from typing import Annotated

from mcp.server.mcpserver.tools import Tool
from mcp.types import ToolAnnotations
from pydantic import Field

from otel_mcp.core.claims.fold import DEFAULT_LEASE_S, MAX_LEASE_S
from otel_mcp.core.claims.globs import MAX_GLOB, MAX_PATHS
from otel_mcp.core.claims.results import ClaimResult, ReadyTasks, ReleaseResult
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
    paths: Annotated[
        list[Annotated[str, Field(max_length=MAX_GLOB)]] | None,
        Field(
            description="Files you will edit, reserved with the lease so no other agent's claim can take them: "
            "globs relative to the repository root, e.g. ['src/auth/**', 'docs/*.md', 'README.md'] "
            "(* within a name, ** across folders; a folder name reserves its contents). On a renewal, omit to "
            "keep what you hold, or give the full new set ([] frees them).",
            max_length=MAX_PATHS,
        ),
    ] = None,
    shared: Annotated[
        bool,
        Field(
            description="Reserve the paths shared (others may share them too, nobody exclusively). Default: exclusive"
        ),
    ] = False,
) -> ClaimResult:
    """Claim a task so no other agent starts it: exactly one agent holds a task at a time.

    Call before starting work that another agent might also pick up (e.g. one find_ready returned).
    'granted' true means it is yours until 'expires_at'; claim again to renew. If 'granted' is false,
    'holder' has it or 'conflicts' names the agents whose reserved paths yours overlap: choose another
    task. Reserved paths also stop other agents' git commits that touch them. Every claim is a span.
    """
    rt = ctx.request_context.lifespan_context
    return await core_call(rt, rt.claims.claim, task_id, lease_seconds, paths, shared)


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

    Oldest plan first. Claim one with claim_task before starting it (with its 'paths'); tasks you
    already hold are marked held_by_you. A task whose declared paths (attribute 'task.paths' on its
    planned record) overlap another agent's live reservation is listed last with 'conflicts_with'.
    A dependency cycle among planned tasks is reported as an error naming it.
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
