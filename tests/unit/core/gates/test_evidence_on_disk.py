"""What was checked is exactly what is there (issue 20), played over stdio as an agent with a shell.

Each test starts the real server (a long-lived process, as a host keeps it), lets the real check
pass on clean code, then changes the code in a way the server hears nothing of, and asks for the
gate, the guard or the hook to accept the old pass anyway.
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from otel_mcp.core.gates.checks import runner as runner_module
from otel_mcp.core.gates.checks.process import run_command
from tests.conftest import call, call_error, make_runtime
from tests.support.evidence import (
    VULNERABLE_APP,
    cli,
    make_workspace,
    pass_gate,
    reasons,
    serve,
    span_attributes,
    submit,
)
from tests.support.stale import CLEAN_SAME_SIZE, SHELL_CALL, written_through_a_mapping
from tests.support.workspace import git

pytestmark = pytest.mark.anyio


async def test_a_write_through_a_shared_mapping_after_the_scan_does_not_keep_the_pass(tmp_path: Path) -> None:
    assert len(CLEAN_SAME_SIZE) == len(VULNERABLE_APP)
    ws = make_workspace(tmp_path / "ws", {"app.py": CLEAN_SAME_SIZE, ".gitignore": ".otel-mcp/\n"})
    async with serve(ws, tmp_path / "store" / "telemetry.db") as client:
        scan = await pass_gate(client, "security", "bandit", "M")
        with written_through_a_mapping(ws / "app.py", VULNERABLE_APP):
            stale = await submit(client, "security", "M", scan["span_id"])
            assert stale["decision"] == "fail", reasons(stale)
            assert f"the code changed since span {scan['span_id']} examined it" in reasons(stale)


async def test_a_pass_on_bytes_git_would_decode_otherwise_does_not_name_the_committed_tree(tmp_path: Path) -> None:
    # Read as ASCII (bandit, python) the shell call is a comment; git decodes UTF-7 and commits it.
    newline = base64.b64encode("\n    ".encode("utf-16-be")).decode().rstrip("=")
    app = f"import subprocess\n\n\ndef run(cmd: str) -> int:\n    return 0  # +{newline}-return {SHELL_CALL}\n"
    files = {"app.py": app, ".gitattributes": "app.py working-tree-encoding=UTF-7\n", ".gitignore": ".otel-mcp/\n"}
    ws = make_workspace(tmp_path / "ws", files)
    assert f"\n    return {SHELL_CALL}" in git(ws, "cat-file", "-p", "HEAD:app.py")
    async with serve(ws, tmp_path / "store" / "telemetry.db") as client:
        scan = await pass_gate(client, "security", "bandit", "E")
    # The pass speaks for the bytes bandit read, never for the blob git committed: no guard or
    # pre-push hook can take it for the commit's code.
    assert scan["code_digest"] != "git:" + git(ws, "rev-parse", "HEAD^{tree}").strip()


async def test_code_in_a_folder_recorded_as_a_gitlink_without_a_repository_is_scanned(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws", {"app.py": "from vendor.lib import run\n", ".gitignore": ".otel-mcp/\n"})
    (ws / "vendor").mkdir()
    (ws / "vendor" / "lib.py").write_text(VULNERABLE_APP)
    head = git(ws, "rev-parse", "HEAD").strip()
    git(ws, "update-index", "--add", "--cacheinfo", f"160000,{head},vendor")
    git(ws, "commit", "-q", "-m", "vendor as a 'submodule'")
    assert git(ws, "status", "--porcelain") == ""
    async with serve(ws, tmp_path / "store" / "telemetry.db") as client:
        scan = await call(client, "run_check", check="bandit", task_id="G")
        assert scan["attributes"]["vulnerabilities.high"] >= 1
        decision = await submit(client, "security", "G", scan["span_id"])
        assert decision["decision"] == "fail"


@pytest.mark.parametrize("folder", ["tests/support", "build"])
async def test_code_in_a_folder_the_check_excludes_is_scanned_once_examined_code_imports_it(
    tmp_path: Path, folder: str
) -> None:
    module = folder.replace("/", ".")
    files = {
        "app.py": f"from {module}.helpers import run\n\nrun('ls')\n",
        f"{folder}/helpers.py": VULNERABLE_APP,
        ".gitignore": ".otel-mcp/\n",
    }
    ws = make_workspace(tmp_path / "ws", files)
    async with serve(ws, tmp_path / "store" / "telemetry.db") as client:
        scan = await call(client, "run_check", check="bandit", task_id="X")
        assert scan["attributes"]["vulnerabilities.high"] >= 1, scan
        assert (await submit(client, "security", "X", scan["span_id"]))["decision"] == "fail"


async def test_a_tracked_link_to_a_directory_outside_the_workspace_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "helpers.py").write_text(VULNERABLE_APP)
    ws = make_workspace(tmp_path / "ws", {"app.py": "from lib.helpers import run\n", ".gitignore": ".otel-mcp/\n"})
    (ws / "lib").symlink_to(outside, target_is_directory=True)
    git(ws, "add", "lib")
    git(ws, "commit", "-q", "-m", "a link to shared code")
    async with serve(ws, tmp_path / "store" / "telemetry.db") as client:
        for check in ("bandit", "pytest"):
            error = await call_error(client, "run_check", check=check, task_id="L")
            assert f"a symbolic link to {outside}" in error and "outside the code state" in error


async def test_code_in_a_venv_folder_that_is_no_virtualenv_is_code_state_outside_git(tmp_path: Path) -> None:
    plain = tmp_path / "plain"  # no git: the file digest skips venv/ folders, but only real ones
    (plain / "venv").mkdir(parents=True)
    (plain / "venv" / "helpers.py").write_text(VULNERABLE_APP)
    (plain / "app.py").write_text("from venv.helpers import run\n\nrun('ls')\n")
    gates = str(Path(__file__).resolve().parents[4] / "gates")
    async with serve(plain, tmp_path / "store" / "telemetry.db", OTEL_MCP_GATES_DIR=gates) as client:
        scan = await call(client, "run_check", check="bandit", task_id="V")
        assert scan["attributes"]["vulnerabilities.high"] >= 1, scan
        (plain / "venv" / "pyvenv.cfg").write_text("home = /usr/bin\n")  # now it is one: skipped
        again = await call(client, "run_check", check="bandit", task_id="V")
        assert again["code_digest"] != scan["code_digest"]


_SKIPPED_LATER = (
    "from pytest import skip as _later\n\nfrom app import add\n\n\n"
    "def test_add_is_wrong() -> None:\n    _later('tomorrow')\n    assert add(1, 2) == 4\n"
)
# A bare marker deep in a test file too large for the suppression count to read.
_SKIPPED_BARE = (
    "import pytest\n\n"
    + "# filler\n" * 300_000
    + "\n@pytest.mark.skip\ndef test_never() -> None:\n    raise AssertionError\n"
)


async def test_skips_however_written_fail_the_tests_gate_unless_the_admin_allowed_them(tmp_path: Path) -> None:
    files = {
        "app.py": "def add(a: int, b: int) -> int:\n    return a + b\n",
        "tests/test_app.py": "from app import add\n\n\ndef test_add() -> None:\n    assert add(1, 2) == 3\n",
        "tests/test_later.py": _SKIPPED_LATER,
        "tests/test_big.py": _SKIPPED_BARE,
        ".gitignore": ".otel-mcp/\n",
    }
    ws = make_workspace(tmp_path / "ws", files)
    async with serve(ws, tmp_path / "store" / "telemetry.db") as client:
        run = await call(client, "run_check", check="pytest", task_id="S")
        attributes = run["attributes"]
        assert attributes.get("suppressions.skip.unexplained", 0) == 0, attributes  # the static count sees neither
        assert attributes["tests.skipped"] == 2 and attributes["tests.skipped.unallowed"] == 2
        reasons_seen = " | ".join(attributes["tests.skip_reasons"])
        assert "test_add_is_wrong: tomorrow" in reasons_seen and "test_never: unconditional skip" in reasons_seen
        decision = await submit(client, "tests", "S", run["span_id"])
        assert decision["decision"] == "fail" and "tests.skipped.unallowed" in reasons(decision)


async def test_a_directory_renamed_away_and_back_while_the_check_runs_does_not_change_what_it_examined(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # In process for the timing. File ctimes inside a renamed directory do not change, so the state
    # before and after the run is the same; only a snapshot keeps bandit off the clean stand-in.
    ws = make_workspace(
        tmp_path / "ws", {"pkg/__init__.py": "", "pkg/run.py": VULNERABLE_APP, ".gitignore": ".otel-mcp/\n"}
    )
    runtime = make_runtime(tmp_path / "store" / "telemetry.db", workspace=ws, gates_dir=ws / "gates")

    async def swapped(*args: object, **kwargs: object) -> object:
        (ws / "pkg").rename(tmp_path / "parked")
        (ws / "pkg").mkdir()
        (ws / "pkg" / "run.py").write_text(CLEAN_SAME_SIZE)
        try:
            return await run_command(*args, **kwargs)  # type: ignore[arg-type]
        finally:
            (ws / "pkg" / "run.py").unlink()
            (ws / "pkg").rmdir()
            (tmp_path / "parked").rename(ws / "pkg")

    monkeypatch.setattr(runner_module, "run_command", swapped)
    try:
        run = await runtime.runner.run_check("bandit", "D")
        decision = runtime.decisions.submit("security", "D", [run.span_id])
    finally:
        runtime.close()
    assert run.attributes["vulnerabilities.high"] >= 1
    assert decision.decision == "fail"


# Maps the file and keeps the mapping; each block of argv[2] bytes read from stdin is written through it.
_MAP_AND_WRITE_EACH = textwrap.dedent(
    """
    import mmap, os, sys
    fd = os.open(sys.argv[1], os.O_RDWR)
    m = mmap.mmap(fd, 0, mmap.MAP_SHARED)
    os.close(fd)
    while data := sys.stdin.buffer.read(int(sys.argv[2])):
        m[0:len(data)] = data
        print("written", flush=True)
    """
)
_SHIP_GATE = """\
gates:
  - name: ship
    guards: {task_types: [code_generation], status: complete}
    requires_gates: [security]
"""


async def test_a_mapping_opened_before_a_pass_and_written_after_it_fails_the_next_decision(tmp_path: Path) -> None:
    ws = make_workspace(tmp_path / "ws", {"app.py": CLEAN_SAME_SIZE, ".gitignore": ".otel-mcp/\n"})
    async with serve(ws, tmp_path / "store" / "telemetry.db") as client:
        agent = subprocess.Popen(
            [sys.executable, "-c", _MAP_AND_WRITE_EACH, str(ws / "app.py"), str(len(CLEAN_SAME_SIZE))],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        try:
            assert agent.stdin is not None and agent.stdout is not None
            agent.stdin.write(CLEAN_SAME_SIZE.encode())  # mapped and written with what is there already
            agent.stdin.flush()
            assert agent.stdout.readline() == b"written\n"
            scan = await pass_gate(client, "security", "bandit", "P")  # passes with the mapping in place
            again = await submit(client, "security", "P", scan["span_id"])
            assert again["decision"] == "pass", reasons(again)
            agent.stdin.write(VULNERABLE_APP.encode())  # now through the mapping: no event at all
            agent.stdin.flush()
            assert agent.stdout.readline() == b"written\n"
            assert (ws / "app.py").read_text() == VULNERABLE_APP
            stale = await submit(client, "security", "P", scan["span_id"])
            assert stale["decision"] == "fail", reasons(stale)
            assert f"the code changed since span {scan['span_id']} examined it" in reasons(stale)
        finally:
            agent.kill()
            agent.wait(timeout=30)


async def test_a_write_through_a_hard_link_made_from_outside_after_the_watch_began_is_refused_by_the_guard(
    tmp_path: Path,
) -> None:
    ws = make_workspace(tmp_path / "ws", {"app.py": CLEAN_SAME_SIZE, ".gitignore": ".otel-mcp/\n"})
    (ws / "gates" / "ship.yaml").write_text(_SHIP_GATE)
    git(ws, "add", "-A")
    git(ws, "commit", "-q", "-m", "ship needs security")
    db = tmp_path / "store" / "telemetry.db"
    async with serve(ws, db) as client:
        scan = await pass_gate(client, "security", "bandit", "H")
        clean_digest = scan["code_digest"]
        outside = tmp_path / "elsewhere.py"
        os.link(ws / "app.py", outside)  # no event reaches the workspace's directory watches
        with outside.open("r+") as f:
            f.write(VULNERABLE_APP)
        decision = await submit(client, "ship", "H")
        # The decision may not see the write; if it passes, it passes on the digest it judged.
        if decision["decision"] == "pass":
            assert span_attributes(db, decision["decision_span_id"])["otel_mcp.code.digest"] == clean_digest
        refused = await call_error(client, "record_task", task_id="H", task_type="code_generation", status="complete")
        assert "gate 'ship' has not passed for 'H' on the current code" in refused
    status = cli(
        "gates", "status", "ship", "--task", "H", cwd=ws, env={"OTEL_MCP_DB": str(db), "OTEL_MCP_WORKSPACE": str(ws)}
    )
    assert status.returncode != 0, status.stdout
