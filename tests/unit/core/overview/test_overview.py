"""The overview the web pages read (Now, graph, timeline, gates, trace, change mark) on both stores.

Agents write through the real MCP tools (in-memory client); the overview reads the same store with
the same core queries the tools use. Every test runs on SQLite and on ClickHouse (chdb).
"""

from __future__ import annotations

import time

import pytest
from mcp import Client

from otel_mcp.core.overview import Overview, ViewFilter, view_filter
from otel_mcp.errors import InvalidArgument, NotFound
from otel_mcp.model import SpanRecord
from otel_mcp.runtime import Runtime
from tests.conftest import call

pytestmark = pytest.mark.anyio


def overview(rt: Runtime, now_ns: int | None = None) -> Overview:
    return Overview(
        rt.store, rt.coordinator, rt.catalog_loader.catalog, now_ns=(lambda: now_ns) if now_ns else time.time_ns
    )


async def plan(c: Client) -> None:
    await call(c, "record_task", task_id="p/a", task_type="code_generation", status="planned")
    await call(c, "record_task", task_id="p/b", task_type="test", status="planned", depends_on=["p/a"])
    await call(c, "record_task", task_id="q/c", task_type="docs", status="complete")
    await call(c, "claim_task", task_id="p/a", lease_seconds=600, paths=["src/a/**"])
    await call(c, "record_task", task_id="p/a", task_type="code_generation", status="started")


async def test_now_lists_the_agent_with_its_claimed_task_lease_paths_and_last_span(
    backend_runtime: Runtime, backend_client: Client
) -> None:
    await plan(backend_client)
    view = overview(backend_runtime).now(ViewFilter())
    (row,) = [a for a in view.agents if a.agent_id == "agent-a"]
    assert row.state == "working"
    (task,) = row.tasks
    assert task.task_id == "p/a" and task.status == "started"
    assert task.lease_until_ms is not None and task.lease_until_ms > time.time() * 1000 + 500_000
    assert row.paths == ["src/a/**"]
    assert row.last_span_age_s is not None and row.last_span_age_s < 60
    assert row.completed == 1


async def test_an_agent_with_work_in_hand_and_nothing_recorded_for_a_while_is_stuck(
    backend_runtime: Runtime, backend_client: Client
) -> None:
    await plan(backend_client)
    later = time.time_ns() + 400 * 10**9  # the lease (600 s) still runs; nothing recorded for 400 s
    (row,) = [a for a in overview(backend_runtime, later).now(ViewFilter()).agents if a.agent_id == "agent-a"]
    assert row.state == "stuck" and row.last_span_age_s is not None and row.last_span_age_s >= 400


async def test_the_graph_shows_dependencies_blockers_and_blocked_and_the_claim_holder(
    backend_runtime: Runtime, backend_client: Client
) -> None:
    await plan(backend_client)
    graph = overview(backend_runtime).graph(ViewFilter())
    nodes = {t.task_id: t for t in graph.tasks}
    assert set(nodes) == {"p/a", "p/b", "q/c"} and not graph.collapsed
    assert nodes["p/b"].depends_on == ["p/a"] and nodes["p/b"].blocked_by == ["p/a"]
    assert nodes["p/a"].blocking == ["p/b"] and nodes["p/a"].holder == "agent-a"
    assert nodes["q/c"].status == "complete" and nodes["q/c"].blocked_by == []
    only_p = overview(backend_runtime).graph(ViewFilter(prefix="p/"))
    assert {t.task_id for t in only_p.tasks} == {"p/a", "p/b"}


async def test_a_large_graph_collapses_into_groups_by_prefix(backend_runtime: Runtime, backend_client: Client) -> None:
    for group in ("x/one", "x/two"):
        for i in range(3):
            await call(backend_client, "record_task", task_id=f"{group}/t{i}", task_type="t", status="planned")
    await call(
        backend_client, "record_task", task_id="x/two/t9", task_type="t", status="planned", depends_on=["x/one/t0"]
    )
    graph = overview(backend_runtime).graph(ViewFilter(), limit=5)
    assert graph.collapsed and graph.total == 7 and graph.tasks == []
    groups = {g.prefix: g for g in graph.groups}
    # Every task shares "x/": the groups go one level down, where they differ.
    assert set(groups) == {"x/one/", "x/two/"}
    assert groups["x/two/"].tasks == 4 and groups["x/two/"].depends_on == ["x/one/"]
    assert groups["x/one/"].by_status == {"planned": 3}


async def test_the_timeline_puts_records_claims_and_tool_calls_in_the_agents_lane(
    backend_runtime: Runtime, backend_client: Client
) -> None:
    await plan(backend_client)
    view = overview(backend_runtime).timeline(ViewFilter())
    lanes = {lane.agent_id: lane for lane in view.lanes}
    kinds = {s.kind for s in lanes["agent-a"].spans}
    assert {"task", "claim"} <= kinds
    starts = [s.start_ms for s in lanes["agent-a"].spans]
    assert starts == sorted(starts)
    assert all(view.since_ms <= s.start_ms <= view.until_ms for s in lanes["agent-a"].spans)
    narrow = overview(backend_runtime).timeline(ViewFilter(prefix="q/"))
    assert {s.task_id for lane in narrow.lanes for s in lane.spans} == {"q/c"}
    capped = overview(backend_runtime).timeline(ViewFilter(), limit=2)
    assert capped.truncated and capped.count <= 2


async def test_the_gates_view_gives_the_first_attempt_failure_with_its_reason_and_the_cited_evidence(
    backend_runtime: Runtime, backend_client: Client
) -> None:
    await plan(backend_client)
    record = await call(backend_client, "record_task", task_id="q/d", task_type="docs", status="complete")
    decision = await call(
        backend_client,
        "submit_gate_evidence",
        gate="security",
        task_id="p/a",
        evidence=[{"requirement": "bandit_scan", "span_id": record["span_id"]}],
    )
    assert decision["decision"] == "fail"
    view = overview(backend_runtime).gates(ViewFilter())
    (gate,) = [g for g in view.gates if g.gate == "security"]
    assert gate.first_attempts == 1 and gate.first_attempt_passes == 0 and gate.first_attempt_pass_rate == 0
    assert gate.failure_reasons and gate.failure_reasons[0].reason == decision["reasons"][0]
    (row,) = [d for d in view.decisions if d.span_id == decision["decision_span_id"]]
    assert row.decision == "fail" and row.attempt == 1 and row.task_id == "p/a"
    assert [e.span_id for e in row.evidence] == [record["span_id"]] and row.evidence[0].found
    assert row.other_definition is False
    # The graph and Now show the gate on the task it was decided for.
    (node,) = [t for t in overview(backend_runtime).graph(ViewFilter()).tasks if t.task_id == "p/a"]
    assert [(g.gate, g.decision) for g in node.gates] == [("security", "fail")]


async def test_the_trace_is_get_traces_tree_and_an_unknown_task_is_not_found(
    backend_runtime: Runtime, backend_client: Client
) -> None:
    await plan(backend_client)
    tool = await call(backend_client, "get_trace", task_id="p/a")
    view = overview(backend_runtime).trace("p/a")
    assert [s.span_id for s in view.spans] == [s["span_id"] for s in tool["spans"]]
    with pytest.raises(NotFound):
        overview(backend_runtime).trace("no/such/task")


async def test_the_change_mark_moves_when_a_span_is_recorded(backend_runtime: Runtime, backend_client: Client) -> None:
    await plan(backend_client)
    ov = overview(backend_runtime)
    before = ov.changes()
    await call(backend_client, "record_task", task_id="q/e", task_type="docs", status="planned")
    after = ov.changes()
    assert after.mark != before.mark and after.count > before.count


def test_filters_refuse_bad_windows_and_long_text_naming_the_argument() -> None:
    now = time.time_ns()
    with pytest.raises(InvalidArgument, match="since"):
        view_filter(now, since="yesterday-ish")
    with pytest.raises(InvalidArgument, match=r"until .* is before since"):
        view_filter(now, since="1h", until="2h")
    with pytest.raises(InvalidArgument, match="prefix"):
        view_filter(now, prefix="x" * 300)
    flt = view_filter(now, agent="a", prefix="p/", since="15m")
    assert flt.since_ns is not None and now - flt.since_ns == pytest.approx(15 * 60 * 10**9, rel=1e-6)


async def test_host_telemetry_sits_in_the_lane_of_the_agent_it_names(
    backend_runtime: Runtime, backend_client: Client
) -> None:
    await plan(backend_client)
    at = time.time_ns()
    host_span = SpanRecord(
        span_id="00000000000000e1",
        trace_id="0" * 31 + "e",
        parent_span_id=None,
        name="claude_code.tool",
        start_ns=at,
        end_ns=at + 5_000_000,
        attributes={"gen_ai.agent.id": "agent-a", "gen_ai.tool.name": "Bash"},  # no otel_mcp.source: external
    )
    backend_runtime.store.export([host_span])
    view = overview(backend_runtime).timeline(ViewFilter())
    (lane,) = [lane for lane in view.lanes if lane.agent_id == "agent-a"]
    (external,) = [s for s in lane.spans if s.span_id == host_span.span_id]
    assert external.kind == "external" and external.name == "claude_code.tool"
