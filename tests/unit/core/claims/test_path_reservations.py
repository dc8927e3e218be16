"""claim_task(paths=[...]): files held with the lease, overlapping claims denied, find_ready and the commit check."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from otel_mcp.core.claims.reservations import conflicts
from otel_mcp.core.claims.service import ClaimService
from otel_mcp.runtime import Runtime
from otel_mcp.server import create_server
from tests.conftest import call, call_error, make_runtime
from tests.unit.core.claims.test_claims import Clock, _AppendOnly

pytestmark = pytest.mark.anyio

S = 1_000_000_000


@pytest.fixture
def clock(runtime: Runtime) -> Clock:
    c = Clock()
    runtime.claims.now_ns = c
    return c


@pytest.fixture
async def other(db_path: Path, clock: Clock) -> Any:
    """agent-b on the same store and clock."""
    rt = make_runtime(db_path, agent_id="agent-b")
    rt.claims.now_ns = clock
    async with Client(create_server(rt)) as c:
        yield c
    rt.close()


async def test_a_claim_whose_paths_overlap_another_agents_reservation_is_denied_naming_holder_task_and_globs(
    client: Client, other: Client, clock: Clock, runtime: Runtime
) -> None:
    mine = await call(client, "claim_task", task_id="auth/login", lease_seconds=600, paths=["src/auth/**", "docs/"])
    assert (mine["granted"], mine["paths"], mine["shared"]) == (True, ["src/auth/**", "docs/**"], False)
    assert "reserving ['src/auth/**', 'docs/**']" in mine["reason"]
    clock.advance(5)
    theirs = await call(
        other, "claim_task", task_id="auth/tokens", lease_seconds=60, paths=["src/*/tokens.py", "ui/**"]
    )
    assert (theirs["granted"], theirs["outcome"], theirs["holder"], theirs["paths"]) == (False, "denied", None, [])
    (conflict,) = theirs["conflicts"]
    assert conflict == {
        "holder": "agent-a",
        "task_id": "auth/login",
        "paths": ["src/auth/**"],
        "overlapping": ["src/*/tokens.py"],
        "expires_at": mine["expires_at"],
    }
    reason = theirs["reason"]
    assert "agent-a reserves ['src/auth/**'] for task 'auth/login'" in reason and "Nothing changed" in reason
    assert "release_task 'auth/login'" in reason and "find_ready" in reason
    # Nothing changed: agent-b does not hold its task, so a third agent can take it without those paths.
    assert runtime.claims.holder("auth/tokens") is None
    third = make_runtime(runtime.settings.db_path, agent_id="agent-c")
    third.claims.now_ns = clock
    try:
        assert third.claims.claim("auth/tokens", 60, ["ui/**"]).outcome == "granted"
    finally:
        third.close()


async def test_each_claim_span_carries_its_paths_so_every_reader_can_fold_them(client: Client, db_path: Path) -> None:
    await call(client, "claim_task", task_id="t", paths=["src/**"], shared=True)
    await call(client, "claim_task", task_id="t")
    rows = await call(
        client,
        "query_spans",
        sql="SELECT json_extract(attributes, '$.\"otel_mcp.claim.paths\"'), "
        "json_extract(attributes, '$.\"otel_mcp.claim.shared\"') FROM spans WHERE name = 'task_claim' "
        "ORDER BY start_time",
    )
    assert rows["rows"] == [['["src/**"]', 1], [None, None]]


async def test_renewals_keep_their_paths_replace_them_or_are_denied_for_an_overlapping_new_set(
    client: Client, other: Client, clock: Clock
) -> None:
    await call(client, "claim_task", task_id="a", lease_seconds=60, paths=["src/a/**"])
    await call(other, "claim_task", task_id="b", lease_seconds=600, paths=["src/b/**"])
    clock.advance(30)
    kept = await call(client, "claim_task", task_id="a", lease_seconds=60)
    assert (kept["outcome"], kept["paths"]) == ("renewed", ["src/a/**"])
    clock.advance(10)
    grown = await call(client, "claim_task", task_id="a", lease_seconds=600, paths=["src/a/**", "src/b/x.py"])
    assert (grown["granted"], grown["outcome"], grown["holder"]) == (False, "denied", "agent-a")
    assert grown["expires_at"] == kept["expires_at"] and grown["conflicts"][0]["holder"] == "agent-b"
    assert f"you hold 'a' until {kept['expires_at']}, reserving ['src/a/**']" in grown["reason"]
    moved = await call(client, "claim_task", task_id="a", lease_seconds=60, paths=["src/c/**"])
    assert (moved["outcome"], moved["paths"]) == ("renewed", ["src/c/**"])
    # src/a is free again for agent-b; src/c is not
    assert (await call(other, "claim_task", task_id="b2", paths=["src/a/x.py"]))["granted"] is True
    assert (await call(other, "claim_task", task_id="b3", paths=["src/c/x.py"]))["granted"] is False
    dropped = await call(client, "claim_task", task_id="a", paths=[])
    assert (dropped["outcome"], dropped["paths"]) == ("renewed", [])
    assert (await call(other, "claim_task", task_id="b3", paths=["src/c/x.py"]))["granted"] is True


async def test_a_release_or_a_lapsed_lease_frees_the_paths(client: Client, other: Client, clock: Clock) -> None:
    await call(client, "claim_task", task_id="a", lease_seconds=60, paths=["src/**"])
    assert (await call(other, "claim_task", task_id="b", paths=["src/x.py"]))["granted"] is False
    await call(client, "release_task", task_id="a")
    assert (await call(other, "claim_task", task_id="b", lease_seconds=60, paths=["src/x.py"]))["granted"] is True
    assert (await call(client, "claim_task", task_id="a", paths=["src/**"]))["granted"] is False
    clock.advance(61)  # past b's lease (events on one frozen clock are stamped a few ns apart)
    assert (await call(client, "claim_task", task_id="a", paths=["src/**"]))["granted"] is True


async def test_shared_reservations_admit_each_other_but_not_an_exclusive_claim(
    client: Client, other: Client, clock: Clock
) -> None:
    assert (await call(client, "claim_task", task_id="r1", paths=["docs/**"], shared=True))["shared"] is True
    assert (await call(other, "claim_task", task_id="r2", paths=["docs/api.md"], shared=True))["granted"] is True
    assert (await call(other, "claim_task", task_id="w", paths=["docs/api.md"]))["granted"] is False


@pytest.mark.parametrize(
    ("paths", "expected"),
    [
        (["/etc/passwd"], "paths[0] '/etc/passwd' is absolute"),
        (["src/ok.py", "../up/x.py"], "paths[1] '../up/x.py' has a '..' segment"),
        (["src\\win.py"], "backslash"),
        ([f"f{i}.py" for i in range(65)], "paths"),  # the schema's bound
        (["a/" + "b" * 300], "paths.0"),
    ],
)
async def test_bad_paths_are_refused_with_a_sentence_and_no_claim_is_recorded(
    client: Client, runtime: Runtime, paths: list[str], expected: str
) -> None:
    error = await call_error(client, "claim_task", task_id="t", paths=paths)
    assert expected in error and len(error) < 1200
    assert runtime.store.claim_events(["t"]) == []


async def test_find_ready_lists_ready_tasks_whose_declared_paths_conflict_last_naming_the_reservation(
    client: Client, other: Client, clock: Clock
) -> None:
    async def plan(task_id: str, paths: Any = None) -> None:
        attributes = {"task.paths": paths} if paths is not None else {}
        await call(client, "record_task", task_id=task_id, task_type="build", status="planned", attributes=attributes)

    await plan("old-auth", ["src/auth/**"])
    await plan("docs", ["docs/*.md"])
    await plan("plain")
    await plan("typo", ["/abs", "lib/**"])  # an invalid declared glob is skipped, the rest counts
    before = await call(client, "find_ready")
    assert [(t["task_id"], t["paths"], t["conflicts_with"]) for t in before["tasks"]] == [
        ("old-auth", ["src/auth/**"], []),
        ("docs", ["docs/*.md"], []),
        ("plain", [], []),
        ("typo", ["lib/**"], []),
    ]
    held = await call(other, "claim_task", task_id="refactor", paths=["src/**", "lib/x.py"])
    after = await call(client, "find_ready")
    assert [t["task_id"] for t in after["tasks"]] == ["docs", "plain", "old-auth", "typo"]
    assert after["conflicting"] == 2 and after["ready_total"] == 4
    auth = after["tasks"][2]["conflicts_with"]
    assert auth == [
        {
            "holder": "agent-b",
            "task_id": "refactor",
            "paths": ["src/**"],
            "overlapping": ["src/auth/**"],
            "expires_at": held["expires_at"],
        }
    ]
    # The holder's own reservation is no conflict for the holder.
    assert all(t["conflicts_with"] == [] for t in (await call(other, "find_ready"))["tasks"])
    assert [t["task_id"] for t in (await call(client, "find_ready", limit=2))["tasks"]] == ["docs", "plain"]


def test_conflicts_names_each_file_under_another_agents_live_exclusive_reservation(runtime: Runtime) -> None:
    now = [time.time_ns()]
    other = make_runtime(runtime.settings.db_path, agent_id="agent-b")
    other.claims.now_ns = runtime.claims.now_ns = lambda: now[0]
    try:
        other.claims.claim("auth", 60, ["src/auth/**", "README.md"])
        other.claims.claim("notes", 600, ["docs/**"], shared=True)  # shared: never blocks a commit
        runtime.claims.claim("mine", 60, ["lib/**"])
        files = ["src/auth/login.py", "readme.md", "docs/x.md", "lib/a.py", "src/other.py"]
        found = conflicts(runtime.store, "agent-a", files, now[0])
        assert [(c.path, c.holder, c.task_id, c.glob) for c in found] == [
            ("src/auth/login.py", "agent-b", "auth", "src/auth/**"),
            ("readme.md", "agent-b", "auth", "README.md"),
        ]
        assert found[0].expires_ns == now[0] + 60 * S and found[0].expires_at.endswith(" UTC")
        assert conflicts(runtime.store, "agent-b", files[:3], now[0]) == []  # the holder commits freely
        assert [c.path for c in conflicts(runtime.store, None, files, now[0])] == [  # a person: every agent's
            "src/auth/login.py",
            "readme.md",
            "lib/a.py",
        ]
        now[0] += 60 * S  # lapsed
        assert conflicts(runtime.store, "agent-a", files, now[0]) == []
    finally:
        other.close()


def test_without_transactions_an_earlier_overlapping_claim_on_another_task_that_surfaces_late_still_wins(
    db_path: Path,
) -> None:
    """The ClickHouse path: B settles, A's earlier-stamped claim on another task appears meanwhile."""
    a, b = make_runtime(db_path, "agent-a"), make_runtime(db_path, "agent-b")
    t0 = time.time_ns()
    clock_a, clock_b = Clock(t0 + 1 * S), Clock(t0 + 2 * S)
    results: dict[str, Any] = {}

    def sleep_b(seconds: float) -> None:
        if "a" not in results:
            results["a"] = a.claims.claim("auth", 60, ["src/auth/**"])
        clock_b.advance(seconds)

    a.claims = ClaimService(
        _AppendOnly(a.store), a.telemetry, a.anchors, now_ns=clock_a, sleep=clock_a.advance, settle_s=1.0
    )
    b.claims = ClaimService(_AppendOnly(b.store), b.telemetry, b.anchors, now_ns=clock_b, sleep=sleep_b, settle_s=1.0)
    try:
        results["b"] = b.claims.claim("login", 60, ["src/*/login.py"])
        assert (results["a"].granted, results["b"].granted) == (True, False)
        assert [(c.holder, c.task_id) for c in results["b"].conflicts] == [("agent-a", "auth")]
        clock_a.advance(5)
        assert a.claims.release("auth").released
        clock_b.ns = clock_a.ns + 1
        assert b.claims.claim("login", 60, ["src/*/login.py"]).granted
        assert b.claims.holder("login") is not None and a.claims.holder("auth") is None
    finally:
        a.close()
        b.close()


def test_a_claim_without_paths_on_a_task_whose_history_has_them_still_sees_the_path_denials(
    runtime: Runtime, db_path: Path
) -> None:
    """A task's own history can hold a claim denied for its paths; a later claim must not read it as held."""
    now = [time.time_ns()]
    b = make_runtime(db_path, agent_id="agent-b")
    c = make_runtime(db_path, agent_id="agent-c")
    for rt in (runtime, b, c):
        rt.claims.now_ns = lambda: now[0]
    try:
        runtime.claims.claim("auth", 600, ["src/**"])
        assert b.claims.claim("shared-task", 600, ["src/x.py"]).outcome == "denied"  # for paths
        now[0] += S
        assert c.claims.claim("shared-task", 60).outcome == "granted"  # b never held it
        assert b.claims.holder("shared-task").holder == "agent-c"  # type: ignore[union-attr]
    finally:
        b.close()
        c.close()
