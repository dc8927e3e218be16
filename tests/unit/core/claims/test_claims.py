"""claim_task / release_task: exactly one live holder per task, leases that lapse, history as spans."""

from __future__ import annotations

import re
import sqlite3
import time
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client

from otel_mcp.core.claims.service import ClaimService
from otel_mcp.runtime import Runtime
from otel_mcp.server import create_server
from tests.conftest import call, call_error, make_runtime, stdio_params

pytestmark = pytest.mark.anyio

S = 1_000_000_000


class Clock:
    """A clock tests move by hand, so leases lapse without sleeping."""

    def __init__(self, start_ns: int | None = None) -> None:
        self.ns = start_ns if start_ns is not None else time.time_ns()

    def __call__(self) -> int:
        return self.ns

    def advance(self, seconds: float) -> None:
        self.ns += int(seconds * S)


@pytest.fixture
def clock(runtime: Runtime) -> Clock:
    c = Clock()
    runtime.claims.now_ns = c
    return c


@pytest.fixture
async def other(db_path: Path, clock: Clock) -> Any:
    """A second agent on the same store and the same clock."""
    rt = make_runtime(db_path, agent_id="agent-b")
    rt.claims.now_ns = clock
    async with Client(create_server(rt)) as c:
        yield c
    rt.close()


async def test_a_claim_is_granted_and_another_agents_claim_is_denied_naming_the_holder(
    client: Client, other: Client, clock: Clock
) -> None:
    mine = await call(client, "claim_task", task_id="auth/login", lease_seconds=60)
    assert (mine["granted"], mine["outcome"], mine["holder"], mine["you"]) == (True, "granted", "agent-a", "agent-a")
    assert mine["lease_seconds_left"] == 60
    clock.advance(30)
    theirs = await call(other, "claim_task", task_id="auth/login", lease_seconds=60)
    assert (theirs["granted"], theirs["outcome"], theirs["holder"]) == (False, "denied", "agent-a")
    assert theirs["expires_at"] == mine["expires_at"]
    assert "held by agent-a" in theirs["reason"] and "find_ready" in theirs["reason"]


async def test_the_holder_renews_by_claiming_again_and_the_lease_runs_from_the_renewal(
    client: Client, other: Client, clock: Clock
) -> None:
    await call(client, "claim_task", task_id="t", lease_seconds=60)
    clock.advance(50)
    renewed = await call(client, "claim_task", task_id="t", lease_seconds=60)
    assert (renewed["granted"], renewed["outcome"], renewed["lease_seconds_left"]) == (True, "renewed", 60)
    clock.advance(50)  # 100 s after the first claim: lapsed but for the renewal
    assert (await call(other, "claim_task", task_id="t", lease_seconds=60))["outcome"] == "denied"
    clock.advance(11)
    assert (await call(other, "claim_task", task_id="t", lease_seconds=60))["outcome"] == "granted"


async def test_an_expired_lease_lapses_so_another_agent_can_claim_and_the_old_holder_cannot_release(
    client: Client, other: Client, clock: Clock
) -> None:
    await call(client, "claim_task", task_id="t", lease_seconds=10)
    clock.advance(9.999)
    assert (await call(other, "claim_task", task_id="t", lease_seconds=10))["granted"] is False
    clock.advance(0.001)  # exactly at expiry the lease is no longer live
    taken = await call(other, "claim_task", task_id="t", lease_seconds=10)
    assert (taken["granted"], taken["holder"]) == (True, "agent-b")
    error = await call_error(client, "release_task", task_id="t")
    assert "refused" in error and "held by agent-b" in error and "only the holder" in error
    # The old holder claiming again is now an ordinary, denied claim, not a renewal.
    assert (await call(client, "claim_task", task_id="t", lease_seconds=10))["outcome"] == "denied"


async def test_the_holder_releases_and_the_task_is_free_at_once(client: Client, other: Client, clock: Clock) -> None:
    await call(client, "claim_task", task_id="t", lease_seconds=3600)
    released = await call(client, "release_task", task_id="t")
    assert released["released"] is True and released["you"] == "agent-a"
    assert (await call(other, "claim_task", task_id="t", lease_seconds=60))["granted"] is True


async def test_a_non_holders_release_is_refused_with_a_reason_and_changes_nothing(
    client: Client, other: Client, clock: Clock, runtime: Runtime
) -> None:
    await call(client, "claim_task", task_id="t", lease_seconds=60)
    error = await call_error(other, "release_task", task_id="t")
    assert re.search(r"release of 't' refused: it is held by agent-a until .* UTC; only the holder", error)
    lease = runtime.claims.holder("t")
    assert lease is not None and lease.holder == "agent-a"
    nobody = await call_error(other, "release_task", task_id="never-claimed")
    assert "nobody holds a live claim" in nobody


async def test_lease_seconds_outside_one_second_to_a_day_is_refused_with_the_bounds(client: Client) -> None:
    for bad in (0, -5, 86_401):
        error = await call_error(client, "claim_task", task_id="t", lease_seconds=bad)
        assert "lease_seconds must be a whole number of seconds from 1 to 86400" in error
    assert "task_id" in await call_error(client, "claim_task", task_id="bad id", lease_seconds=5)


async def test_every_claim_renewal_denial_and_release_is_a_span_in_the_tasks_trace(
    client: Client, other: Client, clock: Clock, db_path: Path
) -> None:
    planned = await call(client, "record_task", task_id="t", task_type="build", status="planned")
    await call(client, "claim_task", task_id="t", lease_seconds=60)
    await call(client, "claim_task", task_id="t", lease_seconds=60)
    await call(other, "claim_task", task_id="t", lease_seconds=60)
    await call_error(other, "release_task", task_id="t")
    await call(client, "release_task", task_id="t")
    tree = await call(client, "get_trace", task_id="t")
    assert all(s["trace_id"] == planned["trace_id"] for s in tree["spans"])
    outcomes = [
        (s["name"], s["agent_id"], s["attributes"]["otel_mcp.claim.outcome"])
        for s in tree["spans"]
        if s["name"] in ("task_claim", "task_release")
    ]
    assert outcomes == [
        ("task_claim", "agent-a", "granted"),
        ("task_claim", "agent-a", "renewed"),
        ("task_claim", "agent-b", "denied"),
        ("task_release", "agent-b", "refused"),
        ("task_release", "agent-a", "released"),
    ]
    # Claim spans never carry a task status, so they never change what the task's latest record says.
    db = sqlite3.connect(db_path)
    assert db.execute("SELECT count(*) FROM spans WHERE name LIKE 'task_%' AND task_status IS NOT NULL").fetchone() == (
        0,
    )
    assert (await call(client, "check_prerequisites", task_id="t"))["ready"] is True


async def test_an_agent_cannot_forge_claim_attributes_through_record_task(client: Client) -> None:
    error = await call_error(
        client,
        "record_task",
        task_id="t",
        task_type="task",
        status="planned",
        attributes={"otel_mcp.claim.action": "release"},
    )
    assert "reserved" in error


class _AppendOnly:
    """The SQLite store with its transactions hidden: what the service sees on ClickHouse."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        if name in ("transaction", "export_in"):
            raise AttributeError(name)
        return getattr(self._inner, name)


async def test_without_transactions_an_earlier_claim_that_surfaces_late_still_wins_for_both_claimants(
    db_path: Path,
) -> None:
    """The ClickHouse path: claims ordered by timestamp, each claimant re-reads after settling."""
    a, b = make_runtime(db_path, "agent-a"), make_runtime(db_path, "agent-b")
    t0 = time.time_ns()
    clock_a, clock_b = Clock(t0 + 1 * S), Clock(t0 + 2 * S)
    results: dict[str, Any] = {}

    def sleep_a(seconds: float) -> None:
        clock_a.advance(seconds)

    def sleep_b(seconds: float) -> None:
        # While B settles, A's earlier-stamped claim becomes visible: a slow write on a shared store.
        if "a" not in results:
            results["a"] = a.claims.claim("t", 60)
        clock_b.advance(seconds)

    a.claims = ClaimService(_AppendOnly(a.store), a.telemetry, a.anchors, now_ns=clock_a, sleep=sleep_a, settle_s=1.0)
    b.claims = ClaimService(_AppendOnly(b.store), b.telemetry, b.anchors, now_ns=clock_b, sleep=sleep_b, settle_s=1.0)
    assert not b.claims.transactional
    results["b"] = b.claims.claim("t", 60)
    assert (results["a"].granted, results["a"].holder) == (True, "agent-a")
    assert (results["b"].granted, results["b"].holder) == (False, "agent-a")
    # B then renews nothing and cannot release; A releases, after which B's claim is granted.
    clock_a.advance(5)
    assert a.claims.release("t").released
    clock_b.ns = clock_a.ns + 1
    assert b.claims.claim("t", 60).granted
    a.close()
    b.close()


async def _race_eight_processes(db_path: Path, rounds: int, arguments: Any) -> list[list[dict[str, Any]]]:
    """Eight `otel-mcp serve` processes over stdio claim at once, every round; `arguments(n, r)` per claim."""
    agents = 8
    answers: list[list[dict[str, Any]]] = []
    async with AsyncExitStack() as stack:
        clients = [await stack.enter_async_context(Client(stdio_params(db_path, f"agent-{n}"))) for n in range(agents)]
        for r in range(rounds):
            results: list[dict[str, Any]] = [{} for _ in range(agents)]

            async def race(n: int, c: Client, out: list[dict[str, Any]], r: int = r) -> None:
                out[n] = await call(c, "claim_task", **arguments(n, r))

            with anyio.fail_after(60):
                async with anyio.create_task_group() as tg:
                    for n, c in enumerate(clients):
                        tg.start_soon(race, n, c, results)
            answers.append(results)
    return answers


@pytest.mark.e2e
async def test_eight_server_processes_racing_for_the_same_task_have_exactly_one_winner_every_round(
    db_path: Path,
) -> None:
    rounds = await _race_eight_processes(db_path, 12, lambda n, r: {"task_id": f"race/round-{r}", "lease_seconds": 300})
    for r, results in enumerate(rounds):
        winners = [res["you"] for res in results if res["granted"]]
        assert len(winners) == 1, f"round {r}: {winners}"
        assert {res["holder"] for res in results} == {winners[0]}, f"round {r}: agents disagree on the holder"
        assert {res["outcome"] for res in results} == {"granted", "denied"}


# Eight globs that all overlap one another (every one covers r<N>/x/a.py), each claimed for its own task.
_OVERLAPPING = ["{r}/**", "{r}/x/a.py", "{r}/*/a.py", "{r}/x/*.py", "{r}/**/a.py", "{r}/x/?.py", "{R}/X/A.PY", "{r}/x"]


@pytest.mark.e2e
async def test_eight_server_processes_claiming_different_tasks_with_overlapping_paths_have_one_winner_every_round(
    db_path: Path,
) -> None:
    def arguments(n: int, r: int) -> dict[str, Any]:
        glob = _OVERLAPPING[n].format(r=f"r{r}", R=f"R{r}")
        # One disjoint glob each too: a claim is denied for the overlap, not for holding many paths.
        return {"task_id": f"paths/round-{r}/agent-{n}", "lease_seconds": 300, "paths": [glob, f"own/{r}/{n}/**"]}

    rounds = await _race_eight_processes(db_path, 12, arguments)
    for r, results in enumerate(rounds):
        winners = [res for res in results if res["granted"]]
        assert len(winners) == 1, f"round {r}: {[w['you'] for w in winners]}"
        winner = winners[0]
        assert winner["outcome"] == "granted" and winner["paths"][1] == f"own/{r}/{_who(winner)}/**"
        for res in results:
            if res is winner:
                continue
            assert (res["outcome"], res["holder"], res["paths"]) == ("denied", None, []), f"round {r}"
            assert [(c["holder"], c["task_id"]) for c in res["conflicts"]] == [(winner["you"], winner["task_id"])], (
                f"round {r}: a loser names another holder"
            )


def _who(result: dict[str, Any]) -> str:
    return result["you"].removeprefix("agent-")


async def test_a_claim_reports_the_tasks_latest_status_and_warns_when_it_is_finished(client: Client) -> None:
    fresh = await call(client, "claim_task", task_id="never-recorded")
    assert (fresh["granted"], fresh["task_status"]) == (True, None)
    await call(client, "record_task", task_id="done", task_type="build", status="started")
    done = await call(client, "record_task", task_id="done", task_type="build", status="complete")
    claimed = await call(client, "claim_task", task_id="done")
    assert claimed["task_status"] == "complete"
    assert done["span_id"] in claimed["reason"] and "'complete'" in claimed["reason"]


def _vm_steps(db: sqlite3.Connection, fn: Any) -> int:
    """SQLite virtual-machine steps `fn` costs on `db` (a coarser period would depend on statement history)."""
    steps = 0

    def tick() -> int:
        nonlocal steps
        steps += 1
        return 0  # go on

    db.set_progress_handler(tick, 1)
    try:
        fn()
    finally:
        db.set_progress_handler(None, 0)
    return steps


def test_a_tasks_status_lookups_cost_the_same_however_long_its_claim_history(runtime: Runtime) -> None:
    # Every renewal appends a claim span under the task id; the first/latest status lookups (each
    # claim's trace anchor and check_prerequisites) must not walk them.
    runtime.coordinator.record_task("busy", "build", "planned")
    runtime.coordinator.record_task("busy", "build", "started")
    db = runtime.store.raw()  # type: ignore[attr-defined]

    def lookups() -> None:
        runtime.anchors.forget()
        assert runtime.anchors.anchor("busy") is not None
        assert runtime.store.latest_status(["busy"])["busy"].task_status == "started"

    runtime.claims.claim("busy", 60)
    short = _vm_steps(db, lookups)
    for _ in range(400):
        runtime.claims.claim("busy", 60)
    long = _vm_steps(db, lookups)
    assert long <= short + 5, (short, long)  # walking 400 claim spans would cost thousands


def test_a_store_written_by_the_previous_schema_gains_the_status_index_on_open(db_path: Path) -> None:
    rt = make_runtime(db_path)
    rt.coordinator.record_task("old", "build", "planned")
    rt.close()
    with sqlite3.connect(db_path) as db:  # as the previous release left it
        db.execute("DROP INDEX span_store_task_status")
        db.execute("PRAGMA user_version=3")
    rt = make_runtime(db_path)
    try:
        indexes = {row[1] for row in rt.store.raw().execute("PRAGMA index_list(span_store)")}  # type: ignore[attr-defined]
        assert "span_store_task_status" in indexes
        assert rt.store.latest_status(["old"])["old"].task_status == "planned"
    finally:
        rt.close()


def test_a_process_forgets_old_claim_folds_but_not_who_holds_what(
    runtime: Runtime, db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import otel_mcp.core.claims.service as claims

    monkeypatch.setattr(claims, "_FOLD_CACHE", 3)
    for i in range(6):
        assert runtime.claims.claim(f"many/{i}", 60).outcome == "granted"
    assert len(runtime.claims._folds) == 3
    other = make_runtime(db_path, agent_id="agent-b")
    try:
        denied = other.claims.claim("many/0", 60)
        assert (denied.outcome, denied.holder) == ("denied", runtime.coordinator.agent_id)
    finally:
        other.close()
    # The forgotten fold is rebuilt from the store, including the other agent's denied attempt.
    assert runtime.claims.claim("many/0", 60).outcome == "renewed"
