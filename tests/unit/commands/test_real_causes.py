"""Messages that name the real cause: a wrong --db, a missing --gates-dir, an oversized gate file."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO
from tests.support.evidence import cli


def _cli(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return cli(*args, cwd=cwd, timeout=60)


def test_a_db_that_is_a_text_file_is_named_not_sqlite_by_every_reading_command(tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("meeting notes\n" * 100)
    for args in (["audit"], ["trace", "T"], ["report"], ["gates", "status", "--task", "T"]):
        result = _cli(tmp_path, *args, "--db", str(notes))
        text = result.stdout + result.stderr
        assert result.returncode != 0 and "is not an SQLite database" in text, (args, text)
        assert "damaged" not in text and "attestation key" not in text
    assert notes.read_text() == "meeting notes\n" * 100


def test_a_db_that_is_a_directory_is_named_a_directory(tmp_path: Path) -> None:
    result = _cli(tmp_path, "audit", "--db", str(tmp_path))
    assert "is a directory, not a telemetry store file" in result.stderr
    assert "nothing has been recorded" not in result.stderr


def test_a_missing_gates_dir_is_named_instead_of_read_as_no_gates(tmp_path: Path) -> None:
    missing = tmp_path / "gatez"
    for args in (["gates", "status", "--task", "T"], ["gates", "list"], ["run", "bandit", "--task", "T"]):
        result = _cli(tmp_path, *args, "--gates-dir", str(missing))
        assert result.returncode != 0 and f"--gates-dir '{missing}' does not exist" in result.stderr, (args, result)
        assert "no gate guards" not in result.stdout + result.stderr


def test_run_takes_gates_dir_like_every_other_command(tmp_path: Path) -> None:
    result = _cli(
        tmp_path,
        *("run", "--span", "lint_complete", "--task", "T", "--gates-dir", str(REPO / "gates"), "--db"),
        *(str(tmp_path / "telemetry.db"), "--", sys.executable, "-c", "pass"),
    )
    assert result.returncode == 0, result.stderr
    assert "unrecognized arguments" not in result.stderr


def _peak_rss_kb(cwd: Path, *args: str) -> tuple[int, str]:
    """Peak RSS of one otel-mcp command, as the kernel counted it for the child."""
    probe = (
        "import resource, subprocess, sys\n"
        "r = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
        "print(r.stdout + r.stderr)\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_MCP_")}
    env["PYTHONPATH"] = str(REPO)
    out = subprocess.run(
        [sys.executable, "-c", probe, sys.executable, "-m", "otel_mcp", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    peak, _, text = out.partition("\n")
    return int(peak), text


def test_a_50_mb_gate_file_is_refused_without_being_read_whole(tmp_path: Path) -> None:
    small, large = tmp_path / "small", tmp_path / "large"
    small.mkdir()
    large.mkdir()
    (small / "g.yaml").write_text("# nothing\n")
    with (large / "g.yaml").open("w") as handle:
        line = "# " + "x" * 1022 + "\n"
        for _ in range(50 * 1024):
            handle.write(line)
    base, _ = _peak_rss_kb(tmp_path, "gates", "lint", "--gates-dir", str(small))
    peak, text = _peak_rss_kb(tmp_path, "gates", "lint", "--gates-dir", str(large))
    assert "larger than 256 KiB" in text, text
    assert peak - base < 20 * 1024, f"refusing the file cost {(peak - base) // 1024} MB"
