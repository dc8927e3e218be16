"""Tampering with the store without the key (issue 10): what an agent with the sqlite3 shell can try.

The server signs every decision and runner span and chains each writer's signed spans; the agent
edits unsigned columns or deletes rows. Gates must not move or resurrect a pass, and `otel-mcp
verify` must report what was done.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from mcp import Client

from tests.conftest import call
from tests.evidence_support import cli, make_workspace, pass_gate, reasons, run_check, serve, sql, submit

pytestmark = pytest.mark.anyio


@dataclass
class Store:
    client: Client
    workspace: Path
    db: Path


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
async def relabel(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Store]:
    """One server for the tests that relabel rows (no row is deleted, so no chain breaks); each uses its own tasks."""
    root = tmp_path_factory.mktemp("relabel")
    ws = make_workspace(root / "ws")
    async with serve(ws, root / "store" / "telemetry.db") as client:
        yield Store(client, ws, root / "store" / "telemetry.db")


def _verify(ws: Path, db: Path) -> tuple[int, str]:
    done = cli("verify", cwd=ws, env={"OTEL_MCP_DB": str(db), "OTEL_MCP_WORKSPACE": str(ws)})
    return done.returncode, done.stdout + done.stderr


async def test_moving_a_signed_pass_to_another_task_does_not_pass_that_tasks_release(relabel: Store) -> None:
    client, db = relabel.client, relabel.db
    scan = await run_check(client, "bandit", "A")
    passed = await submit(client, "security", "A", scan["span_id"])
    assert passed["decision"] == "pass"
    await pass_gate(client, "tests", "pytest", "B")
    await pass_gate(client, "lint", "ruff", "B")
    # B never passed security; the agent relabels A's signed pass (the column is not signed).
    assert sql(db, "UPDATE span_store SET task_id = 'B' WHERE span_id = ?", passed["decision_span_id"]) == 1
    release = await submit(client, "release", "B")
    assert release["decision"] == "fail"
    assert "requires gate 'security' to pass first for task 'B'" in reasons(release)
    # Looked up by its signed task id, A's pass is not B's at all; verify names the rewritten column.
    assert "it has no decision for task 'B' yet" in reasons(release)
    code, said = _verify(relabel.workspace, db)
    assert code == 1
    assert f"span {passed['decision_span_id']}: its task_id column says 'B' but its own content says 'A'" in said


async def test_deleting_a_failed_decision_is_reported_and_that_writers_evidence_refused(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws")
    db = tmp_path / "store" / "telemetry.db"
    async with serve(ws, db) as client:
        await pass_gate(client, "security", "bandit", "A")
        failed = await submit(client, "security", "A")  # no evidence: a recorded fail, now the latest
        assert failed["decision"] == "fail"
        await call(client, "record_task", task_id="A", task_type="review", status="started")
        assert sql(db, "DELETE FROM span_store WHERE span_id = ?", failed["decision_span_id"]) == 1

        code, said = _verify(ws, db)
        assert code == 1 and "1 signed span(s) missing from its chain" in said and "deleted" in said
        assert "NOT OK: the store was altered" in said

        # The pass before it is the latest again, but its writer's chain shows the gap.
        lint = await run_check(client, "ruff", "A")
        decision = await submit(client, "lint", "A", lint["span_id"])
        assert decision["decision"] == "fail"
        assert "comes from a writer whose chain of signed spans has 1 of" in reasons(decision)
        assert "rows were deleted from the store" in reasons(decision) and "otel-mcp verify" in reasons(decision)


async def test_deleting_a_code_change_record_is_reported_and_later_evidence_refused(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws")
    db = tmp_path / "store" / "telemetry.db"
    async with serve(ws, db) as client:
        change = await call(client, "record_task", task_id="C", task_type="code_generation", status="complete")
        scan = await run_check(client, "bandit", "C")
        assert sql(db, "DELETE FROM span_store WHERE span_id = ?", change["span_id"]) == 1

        code, said = _verify(ws, db)
        assert code == 1 and "missing from its chain" in said

        decision = await submit(client, "security", "C", scan["span_id"])
        assert decision["decision"] == "fail"
        assert f"span {scan['span_id']} comes from a writer whose chain of signed spans has 1 of" in reasons(decision)


async def test_relabelling_a_failed_decision_does_not_bring_back_the_pass_before_it(relabel: Store) -> None:
    client, db = relabel.client, relabel.db
    for gate, check in (("security", "bandit"), ("tests", "pytest"), ("lint", "ruff")):
        await pass_gate(client, gate, check, "C")
    failed = await submit(client, "security", "C")  # the latest security decision is now a fail
    assert (await submit(client, "release", "C"))["decision"] == "fail"
    # Not deleted: moved to another task by its unsigned column; the row and every chain stay whole.
    assert sql(db, "UPDATE span_store SET task_id = 'elsewhere' WHERE span_id = ?", failed["decision_span_id"])
    release = await submit(client, "release", "C")
    assert release["decision"] == "fail" and "requires gate 'security' to pass first" in reasons(release), release
