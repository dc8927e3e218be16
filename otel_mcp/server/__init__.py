"""The MCP surface: tools, prompts and instructions over one Runtime.

Thin by design: validate, call the core, shape the answer.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from mcp.server._otel import OpenTelemetryMiddleware
from mcp.server.mcpserver import MCPServer

from otel_mcp import __version__
from otel_mcp.runtime import Runtime
from otel_mcp.server import claims, gates, prompts, tasks
from otel_mcp.server.apps import AppsVisibility, swarm_apps
from otel_mcp.server.argument_errors import ArgumentErrors
from otel_mcp.server.audit import AuditMiddleware, SdkSpansBesideAudit
from otel_mcp.server.http_log import CallRecorder
from otel_mcp.server.roots import ClientRoots
from otel_mcp.server.store_guard import StoreGuard

__all__ = ["INSTRUCTIONS", "create_server"]

INSTRUCTIONS = """\
otel-mcp: agents coordinate through shared OpenTelemetry spans instead of messages.
Every record you make is a span every other agent sees at once.
- Before work: find_completed (reuse others' results) and check_prerequisites(task_id).
- During: record_task(task_id, task_type, status='planned'|'started'|'complete'|'failed'|'blocked',
  attributes={...facts...}); tasks form trees via parent_task_id and order via depends_on.
- Evidence rule: gates accept only span_ids that tools returned, whose attributes prove the claim.
  Never state a result you have not recorded; cite span_ids instead.
- get_trace shows who did what; query_spans runs read-only SQL over the 'spans' view.
The prompt 'coordinate' explains the protocol in full."""


def _audit_middleware(runtime: Runtime) -> AuditMiddleware:
    if runtime.store.blocking_io:
        # Each write is a network insert (a new part on ClickHouse): batch audit spans for a second,
        # written from a worker thread. The embedded store writes them 50 ms after the answer.
        return AuditMiddleware(runtime.telemetry, flush_delay_s=1.0, offload=True)
    return AuditMiddleware(runtime.telemetry)


def create_server(
    runtime: Runtime, *, prompts_dir: Path | None = None, client_roots: bool = False
) -> MCPServer[Runtime]:
    """An MCPServer bound to `runtime`; the caller owns the runtime and closes it.

    `client_roots`: without a workspace, adopt the MCP root a client offers (see `server.roots`).
    Only for stdio: there the client runs beside the server on one machine; over HTTP a root names
    a path on the client's machine, and one client would choose the workspace of every other.
    """

    @asynccontextmanager
    async def lifespan(_: MCPServer[Runtime]) -> AsyncIterator[Runtime]:
        yield runtime

    server: MCPServer[Runtime] = MCPServer(
        name="otel-mcp",
        title="otel-mcp: coordination through telemetry",
        version=__version__,
        instructions=INSTRUCTIONS,
        lifespan=lifespan,
        # Outermost first: the HTTP request log notes every call's outcome; a call the store cannot
        # serve is answered with the reason before it is audited (the audit could not be stored); the
        # audit span records the answer as the client gets it, argument errors included.
        middleware=[
            CallRecorder(),
            *([ClientRoots(runtime)] if client_roots else []),
            StoreGuard(runtime),
            _audit_middleware(runtime),
            ArgumentErrors(),
            AppsVisibility(),
        ],
        log_level="WARNING",
        tools=[*tasks.tools(), *gates.tools(), *claims.tools()],
        # The swarm view for hosts that render MCP Apps; others see no trace of it (AppsVisibility).
        extensions=[swarm_apps()],
    )
    # One span per tool call: the audit span takes the place of the SDK's own (see server/audit.py).
    chain = server.middleware
    for i, middleware in enumerate(chain):
        if isinstance(middleware, OpenTelemetryMiddleware):
            chain[i] = SdkSpansBesideAudit(middleware)
    prompts.register(server, prompts_dir)
    return server
