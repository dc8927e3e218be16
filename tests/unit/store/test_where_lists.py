"""`where` lists: bounded, parsed once per query, and never holding up other agents' calls.

A 2 MB `in` list over 2,000 spans took 24 s: SQLite's `otel_pred` decoded the operand's JSON for
every row, on the event loop, under the lock every other call waits on.
"""

from __future__ import annotations

import json
import threading
from typing import Any

import anyio
import pytest
from mcp import Client

from otel_mcp.runtime import Runtime
from otel_mcp.store.predicates import Predicate, parse_predicate
from tests.conftest import call

pytestmark = pytest.mark.anyio

ROWS = 2000


def _fill(runtime: Runtime, rows: int) -> None:
    for i in range(rows):
        runtime.coordinator.record_task(f"t{i}", "test", "complete", {"k": f"v{i}", "n": i})


async def test_an_in_list_is_decoded_once_per_query_not_once_per_row(
    client: Client, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fill(runtime, ROWS)
    decodes = 0
    real_loads = json.loads

    def counting_loads(*args: Any, **kwargs: Any) -> Any:
        nonlocal decodes
        decodes += 1
        return real_loads(*args, **kwargs)

    monkeypatch.setattr(json, "loads", counting_loads)

    async def decodes_for(**arguments: Any) -> tuple[int, list[str]]:
        nonlocal decodes
        decodes = 0
        found = await call(client, "find_completed", **arguments)
        return decodes, [r["task_id"] for r in found["records"]]

    # The decodes any one-record answer costs (the record's attributes, the protocol's own).
    baseline, _ = await decodes_for(task_type="test", limit=1)
    # 100 values, only the oldest row matches: SQLite checks the condition on every one of the 2,000 rows.
    values = ["v0", *(f"none{i}" for i in range(99))]
    count, found = await decodes_for(where={"k": values}, limit=1)
    assert found == ["t0"]
    # Before: one decode of the 100-value operand per row checked, 2,000 more than the baseline.
    assert count <= baseline + 2, f"{count} JSON decodes against {baseline} for a query over {ROWS} rows"
    count, found = await decodes_for(where={"n": "in [0, 1999.0, 5000]"}, limit=10)
    assert sorted(found) == ["t0", "t1999"]
    assert count <= baseline + 3


async def test_rows_that_fail_a_condition_cost_no_explanation(
    client: Client, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Each failing row built the reason '... not one of [<all 100 values>]' nobody reads: 8x the query.
    _fill(runtime, ROWS)
    described = 0
    real_describe = Predicate.describe

    def counting_describe(self: Predicate) -> str:
        nonlocal described
        described += 1
        return real_describe(self)

    monkeypatch.setattr(Predicate, "describe", counting_describe)
    values = ["v0", *(f"none{i}" for i in range(99))]
    found = await call(client, "find_completed", where={"k": values}, limit=1)
    assert [r["task_id"] for r in found["records"]] == ["t0"]
    assert described == 0


async def test_a_scan_with_conditions_does_not_hold_up_other_calls(
    client: Client, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    await call(client, "record_task", task_id="slow", task_type="test", status="complete", attributes={"slow": 1})
    entered, release = threading.Event(), threading.Event()
    real_holds = Predicate.holds

    def slow_holds(self: Predicate, actual: object) -> bool:
        if self.key == "slow":  # a scan that takes as long as the test wants
            entered.set()
            release.wait(20)
        return real_holds(self, actual)

    monkeypatch.setattr(Predicate, "holds", slow_holds)
    done: dict[str, Any] = {}

    async def scan() -> None:
        done["scan"] = await call(client, "find_completed", where={"slow": "in [1, 2]"})

    async with anyio.create_task_group() as tg:
        tg.start_soon(scan)
        with anyio.fail_after(10):
            await anyio.to_thread.run_sync(entered.wait, 10)
        try:
            # While the scan is stuck mid-row, other calls (writes, reads, claims) are answered.
            with anyio.fail_after(10):
                await call(client, "record_task", task_id="other", task_type="test", status="planned")
                ready = await call(client, "find_ready")
                await call(client, "claim_task", task_id="other", lease_seconds=60)
                await call(client, "find_completed", task_type="test")
            assert "scan" not in done, "the other calls waited for the scan to finish"
            assert [t["task_id"] for t in ready["tasks"]] == ["other"]
        finally:
            release.set()
    assert [r["task_id"] for r in done["scan"]["records"]] == ["slow"]


async def test_in_lists_compare_numbers_as_numbers_and_the_rest_as_text(backend_client: Client) -> None:
    attributes = {"n": 5, "s": "abc", "b": True, "f": 2.5, "code": "007"}
    await call(backend_client, "record_task", task_id="T1", task_type="test", status="complete", attributes=attributes)
    matching = [
        {"n": [5.0, "x"]},
        {"n": "in ['5', 6]"},
        {"s": ["abc", "zzz"]},
        {"s": "in [zzz, abc,]"},
        {"s": ["abc", 1]},
        {"b": [True]},
        {"b": "in [true]"},
        {"f": "in [2.50, 3]"},
        {"code": [7]},  # '007' reads as the number 7, as with ==
    ]
    missing = [{"n": [6, "5x"]}, {"s": ["ABC"]}, {"s": "in [ab, bc]"}, {"b": [False]}, {"f": [2]}]
    for where in matching:
        assert (await call(backend_client, "find_completed", where=where))["count"] == 1, where
    for where in missing:
        assert (await call(backend_client, "find_completed", where=where))["count"] == 0, where


async def test_conditions_decided_in_sql_agree_with_the_python_rule(
    backend_client: Client, backend_runtime: Runtime
) -> None:
    # Text equality and text 'in' lists are decided in SQL without calling Predicate.holds per row:
    # they must select exactly the records the shared rule accepts.
    values: list[Any] = ["abc", "ABC", "5", " 5", "007", "true", "", "a b", 5, 2.5, True, False, ["abc"]]
    for i, value in enumerate(values):
        await call(
            backend_client, "record_task", task_id=f"v{i}", task_type="test", status="complete", attributes={"x": value}
        )
    conditions: list[Any] = ["abc", "'5'", "in [abc, ABC]", ["abc", "a b", ""], "== true", "== 'true'", "x y"]
    stored = {f"v{i}": tuple(v) if isinstance(v, list) else v for i, v in enumerate(values)}
    for spec in conditions:
        predicate = parse_predicate("x", spec)
        found = await call(backend_client, "find_completed", where={"x": spec}, limit=100)
        expected = {task for task, value in stored.items() if predicate.holds(value)}
        assert {r["task_id"] for r in found["records"]} == expected, (spec, predicate.plain_texts)
