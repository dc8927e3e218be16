"""The running reservation fold each SQLite process keeps: every outcome it records is what a full fold computes."""

from __future__ import annotations

import contextlib
import random
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

from otel_mcp.core.claims.fold import fold_claims
from otel_mcp.errors import Conflict
from otel_mcp.runtime import Runtime
from tests.conftest import make_runtime
from tests.unit.core.claims.test_claims import _vm_steps

S = 1_000_000_000
_GLOBS = ["src/**", "src/auth/**", "src/*/login.py", "docs/*.md", "docs/a.md", "lib/x.py", "lib/**", "README.md"]


def _recorded(db_path: Path) -> dict[str, str]:
    with sqlite3.connect(db_path) as db:
        rows = db.execute(
            "SELECT span_id, json_extract(attributes, '$.\"otel_mcp.claim.outcome\"') FROM span_store "
            "WHERE name IN ('task_claim', 'task_release')"
        ).fetchall()
    return dict(rows)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_outcomes_decided_by_processes_catching_up_from_the_log_equal_a_full_fold_of_the_history(
    db_path: Path, seed: int
) -> None:
    rng = random.Random(seed)
    now = [time.time_ns()]
    agents = [make_runtime(db_path, agent_id=f"agent-{n}") for n in range(4)]
    for rt in agents:
        rt.claims.now_ns = lambda: now[0]
    kinds: dict[str, int] = {}
    try:
        for _ in range(260):
            rt = rng.choice(agents)
            task = f"t{rng.randrange(8)}"
            roll = rng.random()
            if roll < 0.15:
                with contextlib.suppress(Conflict):
                    rt.claims.release(task)
            else:
                paths = None if roll < 0.4 else [] if roll < 0.45 else rng.sample(_GLOBS, rng.randint(1, 2))
                result = rt.claims.claim(task, rng.choice((5, 20, 60)), paths, shared=rng.random() < 0.2)
                kind = result.outcome + (" for paths" if result.conflicts else "")
                kinds[kind] = kinds.get(kind, 0) + 1
            now[0] += int(rng.choice((0, 0, 1, 3, 9)) * S)
            if rng.random() < 0.02:  # a process restarts: it rebuilds its fold from the store
                index = agents.index(rt)
                rt.close()
                agents[index] = make_runtime(db_path, agent_id=f"agent-{index}")
                agents[index].claims.now_ns = lambda: now[0]
        folded = fold_claims(agents[0].store.claim_events())
        recorded = _recorded(db_path)
        assert len(recorded) > 200
        mismatches = {span: (outcome, folded.outcomes[span]) for span, outcome in recorded.items()}
        assert {k: v for k, v in mismatches.items() if v[0] != v[1]} == {}
        # the run exercised what it is about
        assert kinds.get("denied for paths", 0) > 5 and kinds.get("granted", 0) > 20 and kinds.get("renewed", 0) > 5
    finally:
        for rt in agents:
            rt.close()


def test_a_claim_that_did_not_commit_is_forgotten_by_the_running_fold(
    db_path: Path, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = make_runtime(db_path, agent_id="agent-b")
    try:
        assert runtime.claims.claim("warm", 60, ["warm/**"]).granted  # the fold exists now
        store: Any = runtime.store
        real = store.export_in

        def broken(db: Any, spans: Any) -> None:
            raise sqlite3.OperationalError("disk I/O error")

        monkeypatch.setattr(store, "export_in", broken)
        with pytest.raises(Exception, match="disk I/O"):
            runtime.claims.claim("ghost", 60, ["src/**"])
        monkeypatch.setattr(store, "export_in", real)
        # The failed claim holds nothing, in this process's fold as in the store.
        assert other.claims.claim("real", 60, ["src/x.py"]).granted
        assert runtime.claims.claim("ghost", 60, ["src/**"]).granted is False
    finally:
        other.close()


def test_a_path_claim_costs_the_same_however_long_the_reserving_history_grows(runtime: Runtime, db_path: Path) -> None:
    other = make_runtime(db_path, agent_id="agent-b")
    db = runtime.store.raw()  # type: ignore[attr-defined]
    try:
        for i in range(20):
            other.claims.claim(f"held-{i}", 3600, [f"b/{i}/**"])
        runtime.claims.claim("mine", 3600, ["a/**"])
        short = _vm_steps(db, lambda: runtime.claims.claim("mine", 3600, ["a/**", "a2/**"]))
        for i in range(300):
            other.claims.claim(f"held-{i % 20}", 3600)  # renewals by another process
            runtime.claims.claim("mine", 3600)
        long = _vm_steps(db, lambda: runtime.claims.claim("mine", 3600, ["a/**", "a3/**"]))
        assert long <= short * 1.5 + 200, (short, long)  # folding 600 more events would cost far more
    finally:
        other.close()
