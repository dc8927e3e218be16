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

from tests.conftest import call, call_error
from tests.support.evidence import (
    REVIEW_GATE,
    cli,
    commit_all,
    make_workspace,
    pass_gate,
    reasons,
    run_check,
    serve,
    sql,
    submit,
)

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


def _verify(ws: Path, db: Path, key: str = "") -> tuple[int, str]:
    env = {"OTEL_MCP_DB": str(db), "OTEL_MCP_WORKSPACE": str(ws)}
    done = cli("audit", cwd=ws, env={**env, "OTEL_MCP_ATTESTATION_KEY": key} if key else env)
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
        assert "rows were deleted from the store" in reasons(decision) and "otel-mcp audit" in reasons(decision)


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


# The brief's hostile agent: it can write the store file but not read the key, which only the servers'
# environment holds (the key file next to the store is never made).
ENV_KEY = "0123456789abcdef" * 4


def _forge_task_record(db: Path, span_id: str, task_id: str, start_ns: int, **attributes: object) -> None:
    """An unsigned task record written straight into the store, dated `start_ns`."""
    import json

    attrs = {"task.id": task_id, "otel_mcp.source": "agent", "gen_ai.agent.id": "agent-red", **attributes}
    columns = "span_id, trace_id, name, kind, agent_id, task_id, task_type, task_status, task_parent_id, source, "
    columns += "status_code, start_ns, end_ns, start_time, end_time, attributes, resource"
    assert sql(
        db,
        f"INSERT INTO span_store ({columns}) VALUES (?, ?, 'task', 'Internal', 'agent-red', ?, ?, ?, ?, 'agent', "
        "'Unset', ?, ?, '2020-01-01 00:00:00.000000', '2020-01-01 00:00:00.000000', ?, '{}')",
        span_id,
        "0" * 16 + span_id,
        task_id,
        attributes.get("task.type"),
        attributes.get("task.status"),
        attributes.get("task.parent_id"),
        start_ns,
        start_ns,
        json.dumps(attrs),
    )


async def test_a_forged_first_record_naming_a_parent_that_passed_does_not_complete_a_guarded_task(
    tmp_path: Path,
) -> None:
    ws = make_workspace(tmp_path / "ws", commit=False)
    (ws / "gates" / "review.yaml").write_text(REVIEW_GATE)
    commit_all(ws, "init")
    db = tmp_path / "store" / "telemetry.db"
    async with serve(ws, db, OTEL_MCP_ATTESTATION_KEY=ENV_KEY) as client:
        review = await call(
            client, "record_task", task_id="P", task_type="review", status="complete", attributes={"quality.score": 0.9}
        )
        assert (await submit(client, "reviewed", "P", review["span_id"]))["decision"] == "pass"
        sub = await call(
            client, "record_task", task_id="P/sub", task_type="feature", status="started", parent_task_id="P"
        )
        await call(client, "record_task", task_id="T", task_type="feature", status="started")
        # T was never reviewed. The agent dates an unsigned record before T's first one, naming P as the
        # parent T was "first recorded under", so that T would borrow P's pass.
        fields = {"task.type": "feature", "task.status": "planned", "task.parent_id": "P"}
        _forge_task_record(db, "00000000000000ee", "T", 1_000_000_000, **fields)
        error = await call_error(client, "record_task", task_id="T", task_type="feature", status="complete")
        assert "gate 'reviewed' has not passed for 'T'" in error
        # Nor does P/sub's signed first record, older than T's, once its task_id column says T.
        assert sql(db, "DELETE FROM span_store WHERE span_id = '00000000000000ee'") == 1
        assert sql(db, "UPDATE span_store SET task_id = 'T' WHERE span_id = ?", sub["span_id"]) == 1
        error = await call_error(client, "record_task", task_id="T", task_type="feature", status="complete")
        assert "gate 'reviewed' has not passed for 'T'" in error
    code, said = _verify(ws, db, ENV_KEY)
    assert code == 1 and f"span {sub['span_id']}: its task_id column says 'T' but its own content says 'P/sub'" in said


async def test_verify_reports_an_unsigned_task_record_as_forged(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws")
    db = tmp_path / "store" / "telemetry.db"
    async with serve(ws, db, OTEL_MCP_ATTESTATION_KEY=ENV_KEY) as client:
        await call(client, "record_task", task_id="T", task_type="feature", status="started")
    assert _verify(ws, db, ENV_KEY)[0] == 0
    _forge_task_record(db, "00000000000000ee", "T", 10**18, **{"task.type": "feature", "task.status": "complete"})
    code, said = _verify(ws, db, ENV_KEY)
    assert code == 1, said
    assert "span 00000000000000ee (task, task T) claims source=agent but is unsigned: forged" in said


async def test_verify_reports_a_trigger_a_replaced_spans_view_and_a_dropped_index(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws")
    db = tmp_path / "store" / "telemetry.db"
    async with serve(ws, db, OTEL_MCP_ATTESTATION_KEY=ENV_KEY) as client:
        await call(client, "record_task", task_id="T", task_type="feature", status="started")
        # A trigger that renames every failed decision as the server stores it (so the pass before it
        # stands again), a view that hides the agent's own records from everyone's query_spans, and a
        # dropped index (reads slow down).
        sql(
            db,
            "CREATE TRIGGER hide_fail AFTER INSERT ON span_store WHEN new.name = 'gate_decision' "
            "BEGIN UPDATE span_store SET name = 'x' WHERE seq = new.seq; END",
        )
        sql(db, "DROP VIEW spans")
        sql(db, "CREATE VIEW spans AS SELECT * FROM span_store WHERE agent_id != 'agent-red'")
        sql(db, "DROP INDEX span_store_chain")
        hidden = await call(client, "query_spans", sql="SELECT count(*) AS n FROM spans WHERE task_id = 'T'")
        assert hidden["rows"] == [[0]]
    code, said = _verify(ws, db, ENV_KEY)
    assert code == 1, said
    assert "the store has a trigger 'hide_fail' that is not otel-mcp's (it runs on every write" in said
    assert "the view 'spans' was redefined (every agent's query_spans reads it)" in said
    assert "the index 'span_store_chain' is missing" in said and "PRAGMA user_version=0" in said
    # What verify says to do restores the schema.
    sql(db, "DROP TRIGGER hide_fail")
    sql(db, "DROP VIEW spans")
    sql(db, "PRAGMA user_version=0")
    code, said = _verify(ws, db, ENV_KEY)
    assert code == 0, said


async def test_verify_reports_rows_no_server_writes_instead_of_failing_on_them(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws")
    db = tmp_path / "store" / "telemetry.db"
    async with serve(ws, db, OTEL_MCP_ATTESTATION_KEY=ENV_KEY) as client:
        await call(client, "record_task", task_id="T", task_type="feature", status="started")
    columns = "span_id, trace_id, name, kind, source, status_code, start_ns, end_ns, start_time, end_time"
    insert = f"INSERT INTO span_store ({columns}, attributes, resource) VALUES (?, ?, 'x', 'Internal', 'gate', "
    insert += "'Unset', 1, 1, '', '', ?, '{}')"
    # Attributes that are JSON but not an object pass the store's JSON indexes; text that is not JSON
    # at all needs them dropped first (which verify reports too).
    sql(db, insert, "00000000000000d1", "0" * 30 + "d1", "[1]")
    for index in ("span_store_signed_task", "span_store_chain", "span_store_commits"):
        sql(db, f"DROP INDEX {index}")
    sql(db, insert, "00000000000000d2", "0" * 30 + "d2", "not json")
    code, said = _verify(ws, db, ENV_KEY)
    assert code == 1 and "Traceback" not in said, said
    for span_id in ("00000000000000d1", "00000000000000d2"):
        assert f"span '{span_id}' (seq " in said and "is not a row otel-mcp writes" in said
    assert "spans of source=gate could not all be read" in said and "NOT OK: the store was altered" in said


async def test_rewriting_the_task_type_column_does_not_unguard_a_tasks_completion(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws", commit=False)
    (ws / "gates" / "review.yaml").write_text(REVIEW_GATE)
    commit_all(ws, "init")
    db = tmp_path / "store" / "telemetry.db"
    async with serve(ws, db, OTEL_MCP_ATTESTATION_KEY=ENV_KEY) as client:
        await call(client, "record_task", task_id="T", task_type="feature", status="started")
        # The guard follows the types the task was recorded with: the agent rewrites that column.
        assert sql(db, "UPDATE span_store SET task_type = 'docs' WHERE task_id = 'T'") == 1
        error = await call_error(client, "record_task", task_id="T", task_type="docs", status="complete")
        assert "for docs task 'T' is refused" in error and "gate 'reviewed' has not passed for 'T'" in error
