"""MCP tools for gates: list them, run checks that produce attested evidence, submit evidence.

Thin by design: the core's catalog loader, check runner and gate decisions do the work; these
functions shape arguments and turn core errors into tool errors. A failed gate is not a tool
error: it is a recorded decision with reasons, returned as a normal result so the agent can read them and try again.
"""

from __future__ import annotations

from typing import Annotated

from mcp.server.mcpserver.tools import Tool
from mcp.types import ToolAnnotations
from pydantic import Field

from otel_mcp.core.gates.definitions.listing import describe
from otel_mcp.core.gates.results import CheckRun, Citation, GateDecision, GateList
from otel_mcp.server._core import RuntimeContext, core_await, core_call, core_call_in_thread
from otel_mcp.server._tools import build_tool
from otel_mcp.server.params import TaskIdArg

__all__ = ["CheckArg", "EvidenceArg", "GateArg", "list_gates", "run_check", "submit_gate_evidence", "tools"]

GateArg = Annotated[str, Field(description="Gate name as list_gates shows it, e.g. 'security'", max_length=64)]
CheckArg = Annotated[str, Field(description="Check name as list_gates shows it, e.g. 'bandit'", max_length=64)]
# A bare span id (16 hex characters); the looser bound lets the gate explain a near miss itself.
_CitedSpanId = Annotated[str, Field(max_length=200)]
EvidenceArg = Annotated[
    list[Citation | _CitedSpanId],
    Field(
        description="The spans that prove the gate's requirements: [{'requirement': 'scan', 'span_id': "
        "'00f067aa0ba902b7'}, ...]. Use span ids exactly as run_check / record_task returned them; "
        "'requirement' may be omitted to let the gate match each span to a requirement.",
        max_length=50,
    ),
]


async def list_gates(ctx: RuntimeContext) -> GateList:
    """The gates and checks defined in the workspace's gates/ directory, each requirement in words.

    Read this before submitting evidence: it says which span each requirement needs, and which
    check (run_check) produces it.
    """
    rt = ctx.request_context.lifespan_context
    if not rt.catalog_loader.fresh():
        await core_call_in_thread(rt.catalog_loader.catalog)
    return await core_call(rt, lambda: describe(rt.catalog_loader.catalog()))


async def run_check(ctx: RuntimeContext, check: CheckArg, task_id: TaskIdArg) -> CheckRun:
    """Run a check defined in gates/ (e.g. bandit, pytest, ruff) and record its result as attested evidence.

    The server runs the admin-defined command in the workspace, reads counts from its output and
    records a 'runner' span signed by the server. Cite the returned span_id in submit_gate_evidence.
    Sends progress while it runs; time and output size are capped by the check's definition.
    """
    runtime = ctx.request_context.lifespan_context

    async def progress(done: float, total: float | None, message: str) -> None:
        await ctx.report_progress(done, total, message)

    return await core_await(runtime.runner.run_check(check, task_id, progress=progress))


async def submit_gate_evidence(
    ctx: RuntimeContext, gate: GateArg, task_id: TaskIdArg, evidence: EvidenceArg
) -> GateDecision:
    """Ask a gate to let task_id through, citing the span ids that prove each requirement.

    Every cited span is verified against the store (exists, right name, this task, status,
    predicates, freshness, provenance, attestation). The decision ('pass' or 'fail', with a reason
    for every miss) is recorded as a span and returned. On 'fail', fix what the reasons say,
    produce new evidence and submit again.
    """
    rt = ctx.request_context.lifespan_context
    if not rt.decisions.ready():
        # A changed gate file to parse, a changed tree to digest or many held files to probe can take
        # a while: not on the event loop. Otherwise the decision is taken here, on the proof ready() took.
        await core_call_in_thread(rt.decisions.refresh)
    return await core_call(rt, rt.decisions.submit, gate, task_id, evidence)


def tools() -> list[Tool]:
    writes = ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=False)
    return [
        build_tool(list_gates, ToolAnnotations(read_only_hint=True, idempotent_hint=True, open_world_hint=False)),
        build_tool(run_check, writes),
        build_tool(submit_gate_evidence, writes),
    ]
