"""When the store file is damaged, cannot be opened, is read-only or its disk is full.

A host shows tool errors to the person and hides the server's stderr: the server starts anyway,
lists its tools, and every call says what is wrong and what to do. A damaged file is never written
again by the process that found the damage. Audit spans that could not be written wait for the
store instead of vanishing, and a gap in the trail is counted on the next audit span.

The servers here are real processes started as hosts start them (stdio). Read-only and full file
systems are real too: a tmpfs in a private mount namespace (skipped where that is not allowed).
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import sqlite3
import sys
import sysconfig
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mcp import Client, StdioServerParameters

from otel_mcp.errors import StoreUnavailable
from otel_mcp.model import SpanRecord
from otel_mcp.runtime import Runtime
from otel_mcp.server import create_server
from tests.conftest import REPO, call, call_error, make_runtime, stdio_params, text_of
from tests.support.mounts import inside, private_mount_supported, private_tmpfs_command

needs_mounts = pytest.mark.skipif(not private_mount_supported(), reason="needs unshare -m and mount (root)")
PAGE = 4096


def _params(db: Path, workdir: Path, command: list[str] | None = None, **env: str) -> StdioServerParameters:
    """A forked server, or `command` (a private mount, another user) which must run the server itself."""
    base = stdio_params(db, "agent-a", fork=command is None, **env)
    cmd = command or [base.command, *base.args]
    return StdioServerParameters(command=cmd[0], args=cmd[1:], env=base.env, cwd=str(workdir))


def _server_argv() -> list[str]:
    return [sys.executable, "-m", "otel_mcp", "serve"]


async def _every_tool_says(client: Client, *needles: str) -> None:
    tools = await client.list_tools()
    assert len(tools.tools) >= 10
    for tool, arguments in (
        ("record_task", {"task_id": "T", "task_type": "build", "status": "started"}),
        ("find_ready", {}),
        ("check_prerequisites", {"task_id": "T"}),
        ("get_trace", {"task_id": "T"}),
        ("query_spans", {"sql": "SELECT count(*) FROM spans"}),
        ("list_gates", {}),
        ("run_check", {"check": "ruff", "task_id": "T"}),
    ):
        text = await call_error(client, tool, **arguments)
        assert "internal error" not in text and "Retry" not in text, text
        for needle in needles:
            assert needle in text, (tool, text)


async def _seed_store(db: Path, tasks: int = 0, filler: str = "") -> None:
    """A real store with `tasks` completed tasks, checkpointed into the main file, closed."""
    runtime = make_runtime(db)
    async with Client(create_server(runtime)) as client:
        for i in range(tasks):
            note = {"note": f"MARKER-{i:04d}-{filler}"}
            await call(client, "record_task", task_id=f"T{i}", task_type="build", status="complete", attributes=note)
    runtime.store.raw().execute("PRAGMA wal_checkpoint(TRUNCATE)")  # type: ignore[attr-defined]
    runtime.close()


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --- 6. A damaged store ------------------------------------------------------------------------


@pytest.mark.anyio
async def test_a_store_damaged_behind_a_valid_header_says_so_and_is_never_written_again(tmp_path: Path) -> None:
    db = tmp_path / "telemetry.db"
    await _seed_store(db, tasks=200, filler="y" * 200)
    # Garbage over the table page holding task T5's row: header, schema and indexes stay valid,
    # so the server opens the file and new rows would still fit on intact pages.
    data = db.read_bytes()
    page = data.index(b"MARKER-0005-") // PAGE
    assert page > 1
    with db.open("r+b") as f:
        f.seek(page * PAGE)
        f.write(os.urandom(PAGE))
    before = _digest(db)

    async with Client(_params(db, tmp_path)) as client:
        damaged = await call_error(client, "get_trace", task_id="T5")
        assert f"the telemetry store {db} is damaged" in damaged
        assert "PRAGMA integrity_check" in damaged and "move it aside" in damaged
        assert "a new store is created on the next start" in damaged
        # From now on nothing touches the file: not the agent's writes, not the audit trail.
        await _every_tool_says(client, "is damaged")
        assert (await call_error(client, "claim_task", task_id="T-new")).count("is damaged") == 1
    assert _digest(db) == before
    wal = db.with_name(db.name + "-wal")
    assert not wal.exists() or wal.stat().st_size == 0


@pytest.mark.anyio
async def test_a_file_that_is_not_a_store_at_all_is_reported_as_damaged_not_as_a_crash(tmp_path: Path) -> None:
    db = tmp_path / "telemetry.db"
    db.write_bytes(os.urandom(8 * PAGE))
    before = _digest(db)
    async with Client(_params(db, tmp_path)) as client:
        await _every_tool_says(client, "is damaged", "move it aside")
    assert _digest(db) == before


# --- 7. A store that cannot be opened ----------------------------------------------------------


@pytest.mark.anyio
async def test_a_store_that_cannot_be_opened_still_serves_and_recovers_once_fixed(tmp_path: Path) -> None:
    blocker = tmp_path / "state"
    blocker.write_text("a file where the store's directory should be")
    db = blocker / "telemetry.db"
    async with Client(_params(db, tmp_path)) as client:
        await _every_tool_says(client, f"cannot open the telemetry store {db}", "is a file, not a directory")
        # Fixed while the server runs: a later call opens the store (retried every few seconds).
        blocker.unlink()
        blocker.mkdir()
        deadline = time.monotonic() + 15
        while True:
            result = await client.call_tool("record_task", {"task_id": "T", "task_type": "build", "status": "started"})
            if not result.is_error or time.monotonic() > deadline:
                break
        assert not result.is_error, text_of(result)
        assert db.exists()


@pytest.mark.anyio
async def test_a_clickhouse_store_whose_spool_cannot_be_made_still_serves_and_says_why(tmp_path: Path) -> None:
    blocker = tmp_path / "spool-parent"
    blocker.write_text("a file")
    env = {
        "OTEL_MCP_BACKEND": "clickhouse",
        "OTEL_MCP_CLICKHOUSE_WRITE": "direct",
        "OTEL_MCP_CLICKHOUSE_URL": "http://127.0.0.1:9",
        "OTEL_MCP_SPOOL_DIR": str(blocker / "spool"),
    }
    async with Client(_params(tmp_path / "telemetry.db", tmp_path, None, **env)) as client:
        await _every_tool_says(client, f"cannot open the local spool of the ClickHouse store in {blocker / 'spool'}")


@needs_mounts
@pytest.mark.anyio
@pytest.mark.parametrize("existing", [False, True], ids=["new-store", "existing-store"])
async def test_a_store_on_a_read_only_file_system_says_read_only_and_what_to_do(tmp_path: Path, existing: bool) -> None:
    seed = tmp_path / "seed" / "telemetry.db"
    if existing:
        await _seed_store(seed, tasks=3)
    mount = tmp_path / "ro"
    mount.mkdir()
    db = mount / "telemetry.db"
    argv = private_tmpfs_command(
        mount, tmp_path / "pid", _server_argv(), read_only=True, copy_in=seed if existing else None
    )
    async with Client(_params(db, tmp_path, argv)) as client:
        text = await call_error(client, "record_task", task_id="T", task_type="build", status="started")
        assert f"the telemetry store {db} is read-only ({mount} is on a read-only file system)" in text, text
        assert "OTEL_MCP_DB" in text and "-wal" in text
        assert len((await client.list_tools()).tools) >= 10


@pytest.fixture
def nobody_dir() -> Iterator[Path]:
    """A directory an unprivileged user owns, outside pytest's root-only temp tree."""
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv to run the server as another user")
    path = Path(tempfile.mkdtemp(prefix="otel-mcp-ro-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


# $@: pairs of (source, mount point), then "--", then the command. Each bind exists only in the
# server's private mount namespace and vanishes with it.
_BIND_SCRIPT = 'set -e; while [ "$1" != -- ]; do mount --bind "$1" "$2"; shift 2; done; shift; exec "$@"'


@pytest.fixture
def server_nobody_can_run() -> Iterator[tuple[list[str], dict[str, str]]]:
    """argv and env of `otel-mcp serve` as user nobody, wherever this clone and its interpreter are.

    The clone, its virtualenv or the interpreter may sit under a folder nobody cannot enter (a 0700
    `mktemp -d`, a private home): the interpreter, the installed packages and the clone are bound
    into a world-traversable temp folder, in the server's own mount namespace.
    """
    if not private_mount_supported():
        pytest.skip("needs unshare -m and mount (root)")
    root = Path(tempfile.mkdtemp(prefix="otel-mcp-reach-"))
    root.chmod(0o755)
    home, code, site = root / "python", root / "code", root / "site"
    binds = [(Path(sys.base_prefix), home), (REPO, code)]
    purelib = Path(sysconfig.get_paths()["purelib"])
    if not purelib.is_relative_to(sys.base_prefix):  # a virtualenv's packages live outside the interpreter
        binds.append((purelib, site))
    for _, target in binds:
        target.mkdir(parents=True)
    python = home / Path(os.path.realpath(sys.executable)).relative_to(Path(sys.base_prefix).resolve())
    argv = ["unshare", "-m", "--propagation", "private", "sh", "-c", _BIND_SCRIPT, "sh"]
    argv += [str(p) for pair in binds for p in pair]
    argv += ["--", "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", str(python), "-m", "otel_mcp"]
    env = {
        "PYTHONHOME": str(home),
        "PYTHONPATH": os.pathsep.join((str(code), str(site))),
        "LD_LIBRARY_PATH": str(home / "lib"),
        "PYTHONNOUSERSITE": "1",
        "gates_dir": str(code / "gates"),
    }
    try:
        yield [*argv, "serve"], env
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.mark.anyio
async def test_a_read_only_store_file_says_read_only_to_its_unprivileged_user(
    nobody_dir: Path, server_nobody_can_run: tuple[list[str], dict[str, str]]
) -> None:
    db = nobody_dir / "telemetry.db"
    await _seed_store(db, tasks=2)
    # Everything the store owns belongs to the user (the key too: task records are signed); the file is 0444.
    for path in (nobody_dir, db, *nobody_dir.glob("attestation.key")):
        os.chown(path, 65534, 65534)
    db.chmod(0o444)
    argv, env = server_nobody_can_run
    async with Client(_params(db, nobody_dir, argv, **env)) as client:
        text = await call_error(client, "record_task", task_id="T9", task_type="build", status="started")
        assert f"the telemetry store {db} is read-only (the file is read-only for this user)" in text, text
        assert "Give this user write access" in text


# --- 8. Audit spans while the disk is full -----------------------------------------------------


def _filler(i: int) -> SpanRecord:
    return SpanRecord(
        span_id=f"{i + 1:016x}", trace_id=f"{i + 1:032x}", parent_span_id=None, name="f", start_ns=1, end_ns=1
    )


def _fill_to_the_brim(runtime: Runtime) -> None:
    """SQLITE_FULL for real on this connection: no new pages, existing pages filled with small rows."""
    db: sqlite3.Connection = runtime.store.raw()  # type: ignore[attr-defined]
    pages = db.execute("PRAGMA page_count").fetchone()[0]
    db.execute(f"PRAGMA max_page_count={pages}")
    with pytest.raises(StoreUnavailable, match="is full"):
        for i in range(100_000):
            runtime.store.export([_filler(i)])


def _audited(runtime: Runtime) -> list[tuple[str, Any]]:
    db: sqlite3.Connection = runtime.store.raw()  # type: ignore[attr-defined]
    return db.execute(
        "SELECT name, json_extract(attributes, '$.\"otel_mcp.audit.dropped\"') FROM span_store "
        "WHERE json_extract(attributes, '$.\"otel_mcp.source\"') = 'audit' ORDER BY seq"
    ).fetchall()


@pytest.mark.anyio
async def test_audit_spans_wait_while_the_disk_is_full_and_are_stored_once_it_is_not(
    db_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    runtime = make_runtime(db_path)
    try:
        async with Client(create_server(runtime)) as client:
            _fill_to_the_brim(runtime)
            full = await call_error(client, "record_task", task_id="T", task_type="build", status="started")
            assert "is full: free some space" in full
            for i in range(3):
                await call(client, "find_completed", task_type=f"kind-{i}", limit=1)
            runtime.telemetry.flush_audit()
            assert _audited(runtime) == []
            assert "kept in memory" in caplog.text

            runtime.store.raw().execute("PRAGMA max_page_count=1073741823")  # type: ignore[attr-defined]
            await call(client, "find_completed", task_type="after", limit=1)
            runtime.telemetry.flush_audit()
            names = [name for name, _ in _audited(runtime)]
            assert names == ["tools/call record_task", *["tools/call find_completed"] * 4]
            assert all(dropped is None for _, dropped in _audited(runtime))
    finally:
        runtime.close()


@pytest.mark.anyio
async def test_audit_spans_beyond_the_bound_are_dropped_and_counted_on_the_next_one_stored(db_path: Path) -> None:
    runtime = make_runtime(db_path)
    runtime.telemetry.audit_buffer.limit = 2
    try:
        async with Client(create_server(runtime)) as client:
            _fill_to_the_brim(runtime)
            for i in range(5):
                await call(client, "find_completed", task_type=f"kind-{i}", limit=1)
                runtime.telemetry.flush_audit()
            runtime.store.raw().execute("PRAGMA max_page_count=1073741823")  # type: ignore[attr-defined]
            await call(client, "find_completed", task_type="after", limit=1)
            runtime.telemetry.flush_audit()
            # The two newest waited; three were dropped, and the first span stored says so.
            assert _audited(runtime) == [("tools/call find_completed", 3), *[("tools/call find_completed", None)] * 2]
    finally:
        runtime.close()


@needs_mounts
@pytest.mark.anyio
async def test_a_really_full_disk_fails_writes_with_a_reason_and_loses_no_audit_span(tmp_path: Path) -> None:
    mount = tmp_path / "small"
    mount.mkdir()
    pid_file = tmp_path / "pid"
    db = mount / "telemetry.db"
    argv = private_tmpfs_command(mount, pid_file, _server_argv(), size="4m")
    async with Client(_params(db, tmp_path, argv)) as client:
        await call(client, "record_task", task_id="before", task_type="build", status="complete")
        filler = inside(pid_file, mount / "filler")
        # Unbuffered: a write the full disk refused must not be retried (and fail again) at close.
        with filler.open("wb", buffering=0) as f:
            try:
                while True:
                    f.write(b"\0" * 65536)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
        full = await call_error(client, "record_task", task_id="during", task_type="build", status="started")
        assert f"the disk holding the telemetry store {db} is full" in full
        for i in range(3):
            await call(client, "find_completed", task_type=f"while-full-{i}", limit=1)
        filler.unlink()
        await call(client, "record_task", task_id="after", task_type="build", status="complete")
        rows = await call(
            client,
            "query_spans",
            sql="SELECT name FROM spans WHERE source = 'audit' AND name = 'tools/call find_completed'",
        )
        assert len(rows["rows"]) == 3
