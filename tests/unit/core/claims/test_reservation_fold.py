"""The claim fold across tasks: path reservations decided from the history alone, in (start, span id) order."""

from __future__ import annotations

import itertools
import random

from otel_mcp.core.claims.fold import ClaimFold, fold_claims
from otel_mcp.store.base import ClaimEvent

S = 1_000_000_000
_ids = itertools.count(1)


def claim(
    task: str, agent: str, at: float, paths: list[str] | None = None, *, lease: int = 60, shared: bool = False
) -> ClaimEvent:
    return ClaimEvent(
        task, "claim", agent, int(at * S), f"{next(_ids):016x}", lease, None if paths is None else tuple(paths), shared
    )


def release(task: str, agent: str, at: float) -> ClaimEvent:
    return ClaimEvent(task, "release", agent, int(at * S), f"{next(_ids):016x}")


def fold(*events: ClaimEvent) -> tuple[ClaimFold, list[str]]:
    world = fold_claims(events)
    return world, [world.outcomes[e.span_id] for e in events]


def test_a_claim_on_another_task_whose_paths_overlap_a_live_reservation_is_denied_and_takes_nothing() -> None:
    first = claim("auth", "a", 0, ["src/auth/**"])
    second = claim("login", "b", 10, ["src/*/login.py", "docs/login.md"])
    world, outcomes = fold(first, second)
    assert outcomes == ["granted", "denied"]
    assert world.task("login").lease_at(11 * S) is None  # its own task stays free
    (blocker,) = world.blocked[second.span_id]
    assert (blocker.holder, blocker.task_id, blocker.paths) == ("a", "auth", ("src/auth/**",))
    # the same task without the overlapping paths, or a disjoint set, is granted
    _, outcomes = fold(first, second, claim("login", "b", 12, ["docs/login.md"]))
    assert outcomes[-1] == "granted"


def test_one_agents_own_reservations_never_conflict_with_each_other() -> None:
    _, outcomes = fold(claim("t1", "a", 0, ["src/**"]), claim("t2", "a", 1, ["src/x.py"]))
    assert outcomes == ["granted", "granted"]


def test_shared_reservations_conflict_only_with_exclusive_ones() -> None:
    base = claim("read", "a", 0, ["docs/**"], shared=True)
    _, outcomes = fold(base, claim("read2", "b", 1, ["docs/a.md"], shared=True), claim("w", "c", 2, ["docs/b.md"]))
    assert outcomes == ["granted", "granted", "denied"]
    _, outcomes = fold(claim("w", "c", 0, ["docs/b.md"]), claim("read", "a", 1, ["docs/**"], shared=True))
    assert outcomes == ["granted", "denied"]


def test_a_release_or_a_lapsed_lease_frees_the_paths() -> None:
    held = claim("t1", "a", 0, ["src/**"], lease=60)
    _, outcomes = fold(held, release("t1", "a", 5), claim("t2", "b", 6, ["src/x.py"]))
    assert outcomes == ["granted", "released", "granted"]
    _, outcomes = fold(held, claim("t2", "b", 59.999, ["src/x.py"]), claim("t2", "b", 60, ["src/x.py"]))
    assert outcomes == ["granted", "denied", "granted"]  # live strictly before its expiry
    # another agent's release changes nothing
    _, outcomes = fold(held, release("t1", "b", 5), claim("t2", "b", 6, ["src/x.py"]))
    assert outcomes == ["granted", "refused", "denied"]


def test_a_renewal_keeps_its_paths_unless_it_names_a_new_set_which_is_checked_like_a_fresh_claim() -> None:
    a1 = claim("t1", "a", 0, ["src/a/**"], lease=60)
    b1 = claim("t2", "b", 1, ["src/b/**"], lease=600)
    keep = claim("t1", "a", 50, lease=60)  # no paths: keeps src/a/**, runs to 110
    world, outcomes = fold(a1, b1, keep)
    assert outcomes == ["granted", "granted", "renewed"]
    lease = world.task("t1").lease_at(100 * S)
    assert lease is not None and lease.paths == ("src/a/**",)
    grow = claim("t1", "a", 60, ["src/a/**", "src/b/x.py"], lease=600)  # overlaps b's live reservation
    world, outcomes = fold(a1, b1, keep, grow)
    assert outcomes[-1] == "denied"
    lease = world.task("t1").lease_at(100 * S)  # the renewed lease and its set stay as they were
    assert lease is not None and (lease.paths, lease.expires_ns) == (("src/a/**",), 110 * S)
    assert world.task("t1").lease_at(110 * S) is None
    drop = claim("t1", "a", 70, [])  # an empty set frees the paths but keeps the task
    world, outcomes = fold(a1, b1, keep, drop, claim("t3", "c", 71, ["src/a/x.py"]))
    assert outcomes[-2:] == ["renewed", "granted"]
    lease = world.task("t1").lease_at(72 * S)
    assert lease is not None and (lease.holder, lease.paths) == ("a", ())


def test_a_claim_after_the_lease_lapsed_reserves_only_what_it_names() -> None:
    world, outcomes = fold(claim("t", "a", 0, ["src/**"], lease=10), claim("t", "a", 20))
    assert outcomes == ["granted", "granted"]
    lease = world.task("t").lease_at(21 * S)
    assert lease is not None and lease.paths == ()


def test_a_task_held_by_its_holder_is_denied_for_that_not_for_paths() -> None:
    first = claim("t", "a", 0, ["src/**"])
    other = claim("t", "b", 1, ["docs/**"])
    world, outcomes = fold(first, other)
    assert outcomes == ["granted", "denied"] and other.span_id not in world.blocked


def test_a_claim_denied_for_its_paths_leaves_its_task_to_the_next_claimant() -> None:
    world, outcomes = fold(
        claim("auth", "a", 0, ["src/**"]),
        claim("docs", "b", 1, ["src/readme.md"]),  # denied for paths: b does not hold 'docs'
        claim("docs", "c", 2, ["docs/**"]),
    )
    assert outcomes == ["granted", "denied", "granted"]
    lease = world.task("docs").lease_at(3 * S)
    assert lease is not None and lease.holder == "c"


def test_every_reader_folds_the_same_winner_whatever_order_the_events_arrive_in() -> None:
    """Claims on different tasks whose paths all overlap: the earliest (start, span id) wins."""
    rng = random.Random(7)
    globs = ["r/**", "r/x/a.py", "r/*/a.py", "r/x/*.py", "r/**/a.py", "r/x/?.py", "R/X/A.PY", "r/x"]
    for _ in range(50):
        start = rng.randint(0, 3)  # many ties in start time: the span id decides
        events = [claim(f"task-{n}", f"agent-{n}", start + rng.choice((0, 0, 0.001)), [g]) for n, g in enumerate(globs)]
        expected = min(events, key=lambda e: (e.start_ns, e.span_id)).agent_id
        for _ in range(3):
            rng.shuffle(events)
            world = fold_claims(events)
            winners = [e.agent_id for e in events if world.outcomes[e.span_id] == "granted"]
            assert winners == [expected]
            assert all(
                {lease.holder for lease in world.blocked[e.span_id]} == {expected}
                for e in events
                if e.agent_id != expected
            )


def test_reservations_lists_the_live_ones_at_a_moment() -> None:
    world, _ = fold(
        claim("t1", "a", 0, ["a/**"], lease=10),
        claim("t2", "b", 0, ["b/**"], lease=100),
        claim("t3", "c", 0, lease=100),  # no paths: no reservation
    )
    assert [lease.task_id for lease in world.reservations(5 * S)] == ["t1", "t2"]
    assert [lease.task_id for lease in world.reservations(50 * S)] == ["t2"]
