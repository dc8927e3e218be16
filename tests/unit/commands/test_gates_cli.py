"""`otel-mcp gates lint|list` and `otel-mcp run`, as a terminal or CI runs them."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from otel_mcp.config import Settings
from otel_mcp.store.sqlite import SQLiteStore
from otel_mcp.telemetry.attestation import Attestor
from tests.conftest import REPO
from tests.support.evidence import cli


def test_gates_check_passes_on_the_shipped_gates(tmp_path: Path) -> None:
    result = cli("gates", "lint", "--gates-dir", str(REPO / "gates"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "ok: 6 gates and 3 checks" in result.stdout


def test_gates_check_exits_non_zero_naming_the_file_and_field(tmp_path: Path) -> None:
    gates = tmp_path / "gates"
    gates.mkdir()
    (gates / "good.yaml").write_text((REPO / "gates" / "original_format.yaml").read_text())
    (gates / "bad.yaml").write_text("gates:\n  - name: ship\n    requirements:\n      - {name: r, span_nam: x}\n")
    result = cli("gates", "lint", cwd=tmp_path)  # default directory: ./gates
    assert result.returncode == 1
    assert "gates/bad.yaml:4: gates[0] (ship) → requirements[0].span_nam: unknown field" in result.stderr
    assert "requirements[0].span_name: required field is missing" in result.stderr
    listing = cli("gates", "list", cwd=tmp_path)
    assert listing.returncode == 1 and "gate security_scan" in listing.stdout


def test_gates_check_fails_when_the_directory_is_missing(tmp_path: Path) -> None:
    result = cli("gates", "lint", "--gates-dir", str(tmp_path / "nope"), cwd=tmp_path)
    # A directory that was named and is not there is a wrong argument (exit 2), named as such.
    assert result.returncode == 2 and "--gates-dir" in result.stderr
    assert "does not exist" in result.stderr


def test_gates_check_where_no_gates_exist_and_none_are_configured_says_so_in_one_line(tmp_path: Path) -> None:
    # Not "the configured gates directory does not exist": nothing was configured; servers here
    # would serve the bundled examples, and the line says where to look.
    result = cli("gates", "lint", cwd=tmp_path)
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.splitlines() == [
        f"otel-mcp gates lint: no gates directory to lint: {tmp_path / 'gates'} does not exist and none is "
        "configured (--gates-dir or OTEL_MCP_GATES_DIR); servers here use the bundled examples (`otel-mcp gates list`)"
    ]


@pytest.mark.parametrize(
    "command", [("gates", "status", "release", "--task", "T"), ("audit",), ("report",), ("trace", "T")]
)
def test_a_reading_command_in_a_folder_without_a_store_names_the_path_and_creates_nothing(
    command: tuple[str, ...], tmp_path: Path
) -> None:
    result = cli(*command, cwd=tmp_path)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.startswith(f"otel-mcp: no telemetry store at {tmp_path / '.otel-mcp' / 'telemetry.db'}")
    assert len(result.stderr.splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


def test_gates_list_shows_requirements_in_words(tmp_path: Path) -> None:
    result = cli("gates", "list", "--gates-dir", str(REPO / "gates"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "gate release" in result.stdout and "requires gates: security, tests, lint" in result.stdout
    assert "check bandit: python -I -m bandit -q -f json --ignore-nosec" in result.stdout
    assert "gates in " in result.stdout and ("committed at" in result.stdout or "as the files are" in result.stdout)


def test_run_records_an_attested_check_span_and_exits_with_the_commands_code(tmp_path: Path) -> None:
    gates = tmp_path / "gates"
    gates.mkdir()
    (gates / "c.yaml").write_text(
        "checks:\n  count:\n    span_name: count_complete\n"
        "    command: ['{python}', '-c', 'import sys; print(\"3 items\"); sys.exit(4)']\n"
        "    ok_exit_codes: [0, 4]\n    attributes:\n      items: 'regex:(\\d+) items'\n"
    )
    db = tmp_path / "db" / "telemetry.db"
    result = cli("run", "count", "--task", "T", cwd=tmp_path, env={"OTEL_MCP_DB": str(db)})
    assert result.returncode == 4, result.stderr
    assert "exit_code=4" in result.stdout and "items = 3" in result.stdout
    span_id = result.stdout.split("span_id=")[1].split()[0]
    store = SQLiteStore(db)
    try:
        span = store.get_spans([span_id])[span_id]
    finally:
        store.close()
    assert span.attributes["otel_mcp.source"] == "runner" and span.attributes["items"] == 3
    assert Attestor.from_settings(None, Settings(agent_id="x", db_path=db).db_path).verify(span)


def test_run_an_ad_hoc_command_honours_traceparent(tmp_path: Path) -> None:
    db = tmp_path / "telemetry.db"
    trace_id, parent_id = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    result = cli(
        "run",
        "--span",
        "lint_complete",
        "--task",
        "T",
        "--",
        sys.executable,
        "-c",
        "import sys; sys.exit(3)",
        cwd=tmp_path,
        env={"OTEL_MCP_DB": str(db), "TRACEPARENT": f"00-{trace_id}-{parent_id}-01"},
    )
    assert result.returncode == 3, result.stderr
    span_id = result.stdout.split("span_id=")[1].split()[0]
    store = SQLiteStore(db)
    try:
        span = store.get_spans([span_id])[span_id]
    finally:
        store.close()
    assert (span.trace_id, span.parent_span_id) == (trace_id, parent_id)
    assert span.name == "lint_complete" and span.status_code == "Error"
    assert span.attributes["otel_mcp.check"] == "adhoc" and span.attributes["process.exit.code"] == 3


def test_run_without_a_check_or_command_explains_both_forms(tmp_path: Path) -> None:
    result = cli("run", "--task", "T", cwd=tmp_path, env={"OTEL_MCP_DB": str(tmp_path / "t.db")})
    assert result.returncode == 2 and "otel-mcp run --span NAME --task T -- CMD" in result.stderr


async def _over_stdio(tmp_path: Path, mode: str) -> None:
    from mcp import Client

    from tests.conftest import call, stdio_params

    (tmp_path / "app.py").write_text("def add(a: int, b: int) -> int:\n    return a + b\n")
    params = stdio_params(tmp_path / f"{mode}.db", f"agent-{mode}")  # the workspace: tmp_path
    async with Client(params, mode=mode) as client:
        listing = await call(client, "list_gates")
        assert "release" in [g["name"] for g in listing["gates"]]
        run = await call(client, "run_check", check="ruff", task_id="T")  # one clean file lints clean
        assert run["ok"] and run["attributes"] == {"lint.violations": 0} and run["files_examined"] == 1
        decision = await call(
            client, "submit_gate_evidence", gate="lint", task_id="T", evidence=[{"span_id": run["span_id"]}]
        )
        assert decision["decision"] == "pass", decision["reasons"]


@pytest.mark.anyio
@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_gates_work_over_stdio_in_both_protocol_eras(tmp_path: Path, mode: str) -> None:
    await _over_stdio(tmp_path, mode)
