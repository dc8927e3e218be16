"""A server running as root runs checks as an unprivileged user that cannot read the key or the store.

These run only as root (as CI here does): an ordinary user cannot switch users, which the README says.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from mcp import Client

from otel_mcp.server import create_server
from tests.conftest import call, call_error, make_runtime

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(os.geteuid() != 0, reason="switching users needs a server running as root"),
]

SYSTEM_PYTHON = "/usr/bin/python3"
PROBE = (
    "import json, os, sys\n"
    "def readable(p):\n"
    "    try:\n"
    "        open(p, 'rb').read(1)\n"
    "        return True\n"
    "    except OSError:\n"
    "        return False\n"
    "print(json.dumps({'uid': os.getuid(), 'key': readable(sys.argv[1]), 'db': readable(sys.argv[2]),"
    " 'home': os.environ.get('HOME', ''), 'secret': os.environ.get('OTEL_MCP_ATTESTATION_KEY', '')}))\n"
)


@pytest.fixture
def shared_workspace() -> Iterator[Path]:
    # Outside pytest's private temp root, readable by every user, as a project checkout usually is.
    path = Path(tempfile.mkdtemp(prefix="otel-mcp-shared-"))
    path.chmod(0o755)
    (path / "probe.py").write_text(PROBE)
    (path / "probe.py").chmod(0o644)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _gates(tmp_path: Path, program: str, key: Path, db: Path) -> Path:
    gates = tmp_path / "gates"
    gates.mkdir()
    command = json.dumps([program, "probe.py", str(key), str(db)])
    (gates / "probe.yaml").write_text(
        f"checks:\n  probe:\n    span_name: probe_complete\n    command: {command}\n"
        "    attributes:\n      uid: 'json:/uid'\n      key: 'json:/key'\n      db: 'json:/db'\n"
    )
    return gates


@pytest.mark.skipif(not os.path.exists(SYSTEM_PYTHON), reason="needs an interpreter every user can run")
async def test_checks_of_a_root_server_run_as_nobody_and_cannot_read_the_key_or_the_store(
    tmp_path: Path, shared_workspace: Path
) -> None:
    db = tmp_path / "store" / "telemetry.db"
    key = db.parent / "attestation.key"
    runtime = make_runtime(db, gates_dir=_gates(tmp_path, SYSTEM_PYTHON, key, db), workspace=shared_workspace)
    try:
        async with Client(create_server(runtime)) as client:
            run = await call(client, "run_check", check="probe", task_id="T")
        assert key.exists() and db.exists()  # the server itself signed and stored the run
        assert run["ok"], run
        assert run["attributes"] == {"uid": pwd.getpwnam("nobody").pw_uid, "key": False, "db": False}
        span = runtime.store.get_spans([run["span_id"]])[run["span_id"]]
        assert span.attributes["otel_mcp.check.user"] == "nobody"
        assert "otel_mcp.check.user_note" not in span.attributes
    finally:
        runtime.close()


async def test_a_configured_check_user_that_cannot_run_the_program_is_an_error_not_root(
    tmp_path: Path, shared_workspace: Path
) -> None:
    private = tmp_path / "private-bin"
    private.mkdir(mode=0o700)
    program = private / "tool"
    program.write_text("#!/bin/sh\necho '{}'\n")
    program.chmod(0o755)
    db = tmp_path / "telemetry.db"
    gates = _gates(tmp_path, str(program), db.parent / "attestation.key", db)
    runtime = make_runtime(db, gates_dir=gates, workspace=shared_workspace, check_user="nobody")
    try:
        async with Client(create_server(runtime)) as client:
            error = await call_error(client, "run_check", check="probe", task_id="T")
        assert "checks run as OTEL_MCP_CHECK_USER=nobody, but 'nobody' cannot reach the program" in error
    finally:
        runtime.close()


async def test_without_a_configured_user_a_check_nobody_can_reach_runs_as_root_and_says_why(
    tmp_path: Path, shared_workspace: Path
) -> None:
    db = tmp_path / "telemetry.db"
    # The workspace under pytest's private root: 'nobody' cannot read it.
    workspace = tmp_path / "ws"
    workspace.mkdir()
    (workspace / "probe.py").write_text(PROBE)
    gates = _gates(tmp_path, SYSTEM_PYTHON, db.parent / "attestation.key", db)
    runtime = make_runtime(db, gates_dir=gates, workspace=workspace)
    try:
        async with Client(create_server(runtime)) as client:
            run = await call(client, "run_check", check="probe", task_id="T")
        span = runtime.store.get_spans([run["span_id"]])[run["span_id"]]
        assert span.attributes["otel_mcp.check.user"] == "root"
        assert "'nobody' cannot reach the workspace" in str(span.attributes["otel_mcp.check.user_note"])
        assert run["attributes"]["uid"] == 0
    finally:
        runtime.close()
