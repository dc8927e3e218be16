"""Claims give exactly one holder on both stores.

SQLite decides inside a write transaction; ClickHouse has none, so ClaimService appends the claim,
waits until it is readable and the settle window has passed, and folds the task's claim history in
(timestamp, span id) order, the rule every reader applies alike. Several agents (each its own
Runtime, as separate server processes would be) race for the same tasks from threads.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
from mcp import Client

from otel_mcp.core.claims.reservations import conflicts
from otel_mcp.core.claims.results import ClaimResult
from otel_mcp.runtime import Runtime
from tests.conftest import backend_settings, call, call_error, open_backend_runtime

pytestmark = pytest.mark.anyio


async def test_claim_renew_deny_and_release(
    backend_client: Client, backend_runtime: Runtime, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    first = await call(backend_client, "claim_task", task_id="job", lease_seconds=60)
    assert (first["granted"], first["outcome"], first["holder"]) == (True, "granted", "agent-a")
    again = await call(backend_client, "claim_task", task_id="job", lease_seconds=120)
    assert again["outcome"] == "renewed"
    settings = replace(backend_runtime.settings, agent_id="agent-b", spool_dir=tmp_path / "spool-b")
    other = open_backend_runtime(settings)
    try:
        denied = other.claims.claim("job", 60)
        assert (denied.granted, denied.holder) == (False, "agent-a")
        with pytest.raises(Exception, match="only the holder can release it"):
            other.claims.release("job")
        released = await call(backend_client, "release_task", task_id="job")
        assert released["released"] is True
        assert other.claims.claim("job", 60).granted is True
        assert "refused" in await call_error(backend_client, "release_task", task_id="job")
    finally:
        other.close()


def _race(agents: list[Runtime], task: str | Callable[[int, Runtime], ClaimResult]) -> dict[str, ClaimResult]:
    """Every agent claims at once, from its own thread (`task`, or `task(n, runtime)`); each agent's answer."""
    results: dict[str, ClaimResult] = {}
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(agents))

    def claim(n: int, rt: Runtime) -> None:
        barrier.wait()
        try:
            results[rt.agent_id] = rt.claims.claim(task, 60) if isinstance(task, str) else task(n, rt)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=claim, args=(n, rt)) for n, rt in enumerate(agents)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors, errors
    assert len(results) == len(agents), "an agent's claim did not finish within 30 s"
    return results


def test_racing_agents_get_exactly_one_winner_per_task(
    store_backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    base = backend_settings(store_backend, tmp_path, request)
    agents = [
        open_backend_runtime(replace(base, agent_id=f"agent-{i}", spool_dir=tmp_path / f"spool-{i}")) for i in range(6)
    ]
    try:
        for round_no in range(3):
            task = f"race-{round_no}"
            results = _race(agents, task)
            winners = [a for a, r in results.items() if r.granted]
            assert len(winners) == 1, {a: (r.outcome, r.holder) for a, r in results.items()}
            # every loser names the same winner, and every reader folds the history to it
            assert {r.holder for r in results.values()} == {winners[0]}
            holders = {rt.claims.holder(task).holder for rt in agents}  # type: ignore[union-attr]
            assert holders == {winners[0]}
    finally:
        for rt in agents:
            rt.close()
        if store_backend == "clickhouse":
            request.getfixturevalue("chdb_engine").server.query(f"DROP DATABASE `{base.clickhouse_database}`")


_GLOBS = ["{r}/**", "{r}/x/a.py", "{r}/*/a.py", "{r}/x/*.py", "{r}/**/a.py", "{r}/x/?.py"]  # all cover {r}/x/a.py


def test_racing_agents_claiming_different_tasks_with_overlapping_paths_get_exactly_one_winner(
    store_backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    base = backend_settings(store_backend, tmp_path, request)
    agents = [
        open_backend_runtime(replace(base, agent_id=f"agent-{i}", spool_dir=tmp_path / f"spool-{i}")) for i in range(6)
    ]
    try:
        for r in range(3):

            def claim(n: int, rt: Runtime, r: int = r) -> ClaimResult:
                return rt.claims.claim(f"paths-{r}/agent-{n}", 60, [_GLOBS[n].format(r=f"r{r}")])

            results = _race(agents, claim)
            winners = [a for a, res in results.items() if res.granted]
            assert len(winners) == 1, {a: (res.outcome, res.conflicts) for a, res in results.items()}
            winner = results[winners[0]]
            for agent, res in results.items():
                if agent != winners[0]:
                    assert [(c.holder, c.task_id) for c in res.conflicts] == [(winners[0], winner.task_id)]
            # every reader folds the history to the same reservation, and the commit check names it
            for rt in agents:
                found = conflicts(rt.store, None, [f"r{r}/x/a.py"], time.time_ns())
                assert [(c.holder, c.task_id) for c in found] == [(winners[0], winner.task_id)]
                assert rt.claims.holder(winner.task_id).holder == winners[0]  # type: ignore[union-attr]
    finally:
        for rt in agents:
            rt.close()
        if store_backend == "clickhouse":
            request.getfixturevalue("chdb_engine").server.query(f"DROP DATABASE `{base.clickhouse_database}`")


async def test_paths_are_held_renewed_and_released_on_both_stores(
    backend_client: Client, backend_runtime: Runtime, tmp_path: Path
) -> None:
    first = await call(backend_client, "claim_task", task_id="job", lease_seconds=60, paths=["src/auth/**"])
    assert (first["granted"], first["paths"]) == (True, ["src/auth/**"])
    kept = await call(backend_client, "claim_task", task_id="job", lease_seconds=60)
    assert (kept["outcome"], kept["paths"]) == ("renewed", ["src/auth/**"])
    settings = replace(backend_runtime.settings, agent_id="agent-b", spool_dir=tmp_path / "spool-b")
    other = open_backend_runtime(settings)
    try:
        denied = other.claims.claim("other-job", 60, ["src/*/login.py"])
        assert (denied.granted, [(c.holder, c.task_id, c.paths) for c in denied.conflicts]) == (
            False,
            [("agent-a", "job", ["src/auth/**"])],
        )
        assert other.claims.holder("other-job") is None
        await call(backend_client, "release_task", task_id="job")
        assert other.claims.claim("other-job", 60, ["src/*/login.py"]).granted is True
    finally:
        other.close()
