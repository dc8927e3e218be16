"""find_ready: planned tasks whose dependencies are complete and that nobody else holds, oldest first."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from otel_mcp.model import SpanRecord
from otel_mcp.runtime import Runtime
from otel_mcp.server import create_server
from tests.conftest import call, call_error, make_runtime

pytestmark = pytest.mark.anyio

S = 1_000_000_000


async def ready(client: Client, **arguments: Any) -> list[str]:
    return [t["task_id"] for t in (await call(client, "find_ready", **arguments))["tasks"]]


async def plan(client: Client, task_id: str, *deps: str, task_type: str = "build") -> None:
    await call(client, "record_task", task_id=task_id, task_type=task_type, status="planned", depends_on=list(deps))


async def finish(client: Client, task_id: str, status: str = "complete") -> None:
    await call(client, "record_task", task_id=task_id, task_type="build", status=status)


async def test_tasks_become_ready_oldest_first_as_their_dependencies_complete(client: Client) -> None:
    #   a -> b -> d,  a -> c -> d
    await plan(client, "a")
    await plan(client, "b", "a")
    await plan(client, "c", "a")
    await plan(client, "d", "b", "c")
    result = await call(client, "find_ready")
    assert [t["task_id"] for t in result["tasks"]] == ["a"]
    assert (result["ready_total"], result["waiting"], result["held_by_others"]) == (1, 3, 0)
    await finish(client, "a")
    assert await ready(client) == ["b", "c"]
    await call(client, "record_task", task_id="b", task_type="build", status="started")
    assert await ready(client) == ["c"]
    await finish(client, "b")
    assert await ready(client) == ["c"]
    await finish(client, "c")
    only = (await call(client, "find_ready"))["tasks"]
    assert [(t["task_id"], t["depends_on"], t["planned_by"]) for t in only] == [("d", ["b", "c"], "agent-a")]
    await finish(client, "d")
    assert await ready(client) == []


async def test_a_failed_or_never_recorded_dependency_keeps_a_task_waiting(client: Client) -> None:
    await plan(client, "x")
    await plan(client, "y", "x")
    await plan(client, "z", "ghost")
    await finish(client, "x", "failed")
    result = await call(client, "find_ready")
    assert result["tasks"] == [] and result["waiting"] == 2
    prereq = await call(client, "check_prerequisites", task_id="y")
    assert prereq["failed"] == ["x"] and "failed: x" in prereq["reason"]
    assert "ghost (never recorded)" in (await call(client, "check_prerequisites", task_id="z"))["reason"]


async def test_a_replanned_record_without_depends_on_keeps_the_declared_dependencies(client: Client) -> None:
    await plan(client, "x")
    await plan(client, "y", "x")
    await call(client, "record_task", task_id="y", task_type="build", status="planned", summary="re-planned")
    assert await ready(client) == ["x"]


async def test_task_type_and_limit_narrow_the_answer(client: Client) -> None:
    for i in range(5):
        await plan(client, f"t{i}", task_type="test" if i % 2 else "build")
    assert await ready(client, task_type="test") == ["t1", "t3"]
    limited = await call(client, "find_ready", limit=2)
    assert [t["task_id"] for t in limited["tasks"]] == ["t0", "t1"] and limited["ready_total"] == 5
    assert "task_type" in await call_error(client, "find_ready", task_type="Not A Type")


async def test_a_task_another_agent_holds_is_hidden_until_released_or_lapsed(db_path: Path, runtime: Runtime) -> None:
    now = [time.time_ns()]
    runtime.claims.now_ns = lambda: now[0]
    other = make_runtime(db_path, agent_id="agent-b")
    other.claims.now_ns = lambda: now[0]
    async with Client(create_server(runtime)) as a, Client(create_server(other)) as b:
        await plan(a, "p")
        await plan(a, "q")
        await call(b, "claim_task", task_id="p", lease_seconds=60)
        mine = await call(a, "find_ready")
        assert [t["task_id"] for t in mine["tasks"]] == ["q"] and mine["held_by_others"] == 1
        theirs = (await call(b, "find_ready"))["tasks"]
        assert [(t["task_id"], t["held_by_you"]) for t in theirs] == [("p", True), ("q", False)]
        assert theirs[0]["lease_expires_at"] is not None
        await call(b, "release_task", task_id="p")
        assert await ready(a) == ["p", "q"]
        await call(b, "claim_task", task_id="p", lease_seconds=60)
        assert await ready(a) == ["q"]
        now[0] += 61 * S  # past the lease
        assert await ready(a) == ["p", "q"]
        await call(a, "claim_task", task_id="q", lease_seconds=60)
        assert await ready(b) == ["p"]
    other.close()


async def test_a_dependency_cycle_is_an_error_naming_the_cycle(client: Client) -> None:
    await plan(client, "root")
    await plan(client, "a", "c")
    await plan(client, "b", "a")
    await plan(client, "c", "b")
    await plan(client, "after", "a")
    error = await call_error(client, "find_ready")
    cycle = re.search(r"dependency cycle among planned tasks: ([a-z>\- ]+)\.", error)
    assert cycle is not None, error
    nodes = cycle.group(1).split(" -> ")
    assert nodes[0] == nodes[-1] and sorted(nodes[:-1]) == ["a", "b", "c"]
    # Breaking the cycle (one task set aside as blocked) makes the rest answerable again.
    await call(client, "record_task", task_id="c", task_type="build", status="blocked")
    assert await ready(client) == ["root"]


async def test_the_task_index_keeps_the_newest_record_when_an_older_one_arrives_late(runtime: Runtime) -> None:
    store: Any = runtime.store
    await_first = runtime.coordinator.record_task("late", "build", "complete")
    store.task_index()  # cached now
    base = time.time_ns() - 3600 * S  # an hour earlier than the 'complete' record
    store.export(
        [
            SpanRecord(
                span_id="00000000000000aa",
                trace_id=await_first.trace_id,
                parent_span_id=None,
                name="build_planned",
                start_ns=base,
                end_ns=base,
                attributes={"task.id": "late", "task.status": "planned", "task.depends_on": ("x", "y")},
            )
        ]
    )
    (state,) = [t for t in store.task_index() if t.task_id == "late"]
    assert (state.status, state.depends_on, state.span_id) == ("complete", ("x", "y"), await_first.span_id)
