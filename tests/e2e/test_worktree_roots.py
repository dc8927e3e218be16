"""A server a host starts in home or `/` with no project takes the worktree its client offers as an MCP root.

Real repositories with linked worktrees (one nested under `.claude/worktrees/`), the official MCP
client in memory and over stdio (a server subprocess started in a temp HOME, as Claude Code's
desktop app starts servers). Roots are a handshake-era capability (deprecated from 2026-07-28),
so clients connect with `mode="legacy"`, as hosts do today.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from mcp import Client, StdioServerParameters
from mcp.client.session import ClientRequestContext
from mcp.types import ListRootsResult, Root

from otel_mcp.config import Settings
from otel_mcp.runtime import Runtime
from otel_mcp.server import create_server
from otel_mcp.server.roots import folder_of
from tests.conftest import REPO, call, call_error
from tests.e2e.test_worktrees import make_worktrees
from tests.support.evidence import make_workspace

pytestmark = [pytest.mark.anyio, pytest.mark.filterwarnings("ignore:The roots capability is deprecated")]


def offering(*folders: Path | str) -> object:
    """A client's roots/list answer: `file://` URIs of `folders`, in order."""

    async def list_roots(_: ClientRequestContext) -> ListRootsResult:
        uris = [f if isinstance(f, str) else f.as_uri() for f in folders]
        return ListRootsResult(roots=[Root(uri=u, name=f"root{n}") for n, u in enumerate(uris)])  # type: ignore[arg-type]

    return list_roots


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The server process starts in a home folder with no project (Claude Code's desktop app)."""
    folder = tmp_path / "home"
    folder.mkdir()
    monkeypatch.setenv("HOME", str(folder))
    monkeypatch.chdir(folder)
    yield folder


@asynccontextmanager
async def homeless_server(*, client_roots: bool = True, **client: object) -> AsyncIterator[tuple[Runtime, Client]]:
    """An in-memory server opened as `serve` opens it (no workspace, no OTEL_MCP_DB), and a legacy-era client."""
    runtime = Runtime.open_for_serving(Settings.from_env({}, default_agent="agent-r"), env={})
    try:
        assert runtime.settings.no_store  # the refusing state this feature starts from
        server = create_server(runtime, client_roots=client_roots)
        async with Client(server, mode="legacy", **client) as c:  # type: ignore[arg-type]
            yield runtime, c
    finally:
        runtime.close()


async def test_a_client_offering_a_linked_worktree_root_gets_it_as_workspace_with_the_shared_store(
    home: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    main = make_workspace(tmp_path / "project")
    (tree,) = make_worktrees(main, 1)
    caplog.set_level(logging.INFO, "otel_mcp.serve")
    async with homeless_server(list_roots_callback=offering(tree / "gates")) as (runtime, client):
        await call(client, "record_task", task_id="T1", task_type="build", status="complete")
        assert runtime.settings.workspace == tree.resolve()
        assert runtime.workspace is not None and runtime.workspace.root == tree.resolve()
        assert runtime.settings.db_path == (main / ".git" / "otel-mcp" / "telemetry.db").resolve()
        found = await call(client, "find_completed", task_type="build")
        assert "T1" in str(found)
    assert (main / ".git" / "otel-mcp" / "telemetry.db").is_file()
    assert not (home / ".otel-mcp").exists() and not (tree / ".otel-mcp").exists()
    assert any("MCP root the client offered" in r.getMessage() for r in caplog.records)


async def test_roots_that_change_after_adoption_keep_the_workspace_and_say_a_restart_is_needed(
    home: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    main = make_workspace(tmp_path / "project")
    first, second = make_worktrees(main, 2)
    caplog.set_level(logging.INFO, "otel_mcp.serve")
    async with homeless_server(list_roots_callback=offering(first, second)) as (runtime, client):
        await call(client, "claim_task", task_id="T2")
        await client.send_roots_list_changed()  # type: ignore[no-untyped-call,unused-ignore]
        await call(client, "find_completed")  # the notification is handled before this call is answered
        assert runtime.settings.workspace == first.resolve()
    assert any("restart the server to switch" in r.getMessage() for r in caplog.records)


async def test_a_client_without_roots_gets_the_refusal_naming_the_config_line(home: Path) -> None:
    async with homeless_server() as (runtime, client):
        text = await call_error(client, "record_task", task_id="T", task_type="build", status="complete")
        assert '"OTEL_MCP_WORKSPACE": "/path/to/project"' in text
        assert runtime.settings.workspace is None
    assert not (home / ".otel-mcp").exists()


async def test_a_server_not_serving_stdio_never_takes_a_clients_root(home: Path, tmp_path: Path) -> None:
    # Over HTTP a root names a folder on the client's machine, and one client would choose for all.
    main = make_workspace(tmp_path / "project")
    async with homeless_server(client_roots=False, list_roots_callback=offering(main)) as (runtime, client):
        assert "OTEL_MCP_WORKSPACE" in await call_error(client, "claim_task", task_id="T")
        assert runtime.settings.workspace is None
    assert not (main / ".git" / "otel-mcp").exists()


async def test_a_root_that_is_the_filesystem_root_or_home_is_not_adopted(home: Path) -> None:
    async with homeless_server(list_roots_callback=offering(Path("/"), home, "https://example.com/x")) as (rt, client):
        text = await call_error(client, "claim_task", task_id="T")
        assert "OTEL_MCP_WORKSPACE" in text
        assert rt.settings.workspace is None
    assert not (home / ".otel-mcp").exists()


async def test_on_a_2026_07_28_connection_roots_cannot_be_asked_and_the_refusal_stands(
    home: Path, tmp_path: Path
) -> None:
    main = make_workspace(tmp_path / "project")
    runtime = Runtime.open_for_serving(Settings.from_env({}, default_agent="agent-m"), env={})
    try:
        server = create_server(runtime, client_roots=True)
        async with Client(server, list_roots_callback=offering(main)) as client:  # type: ignore[arg-type]
            text = await call_error(client, "claim_task", task_id="T")
        assert "OTEL_MCP_WORKSPACE" in text and runtime.settings.workspace is None
    finally:
        runtime.close()


async def test_a_client_whose_roots_change_before_adoption_is_asked_again(home: Path, tmp_path: Path) -> None:
    main = make_workspace(tmp_path / "project")
    offered: list[Path] = [home]

    async def list_roots(_: ClientRequestContext) -> ListRootsResult:
        return ListRootsResult(roots=[Root(uri=f.as_uri()) for f in offered])  # type: ignore[arg-type]

    async with homeless_server(list_roots_callback=list_roots) as (runtime, client):
        await call_error(client, "claim_task", task_id="T")
        offered[:] = [main]
        await call_error(client, "claim_task", task_id="T")  # not asked again until the roots change
        await client.send_roots_list_changed()  # type: ignore[no-untyped-call,unused-ignore]
        await call(client, "claim_task", task_id="T")
        assert runtime.settings.workspace == main.resolve()


def test_only_local_file_uris_name_a_folder() -> None:
    assert folder_of("file:///srv/my%20project") == Path("/srv/my project")
    assert folder_of("file://localhost/srv/p") == Path("/srv/p")
    assert folder_of("file://elsewhere/srv/p") is None
    assert folder_of("https://example.com/srv") is None
    assert folder_of("file:relative/p") is None


async def test_servers_over_stdio_in_a_temp_home_serve_the_worktrees_their_clients_offer_from_one_store(
    tmp_path: Path,
) -> None:
    main = make_workspace(tmp_path / "project")
    trees = make_worktrees(main, 2)  # one nested under .claude/worktrees/, one beside the checkout
    home = tmp_path / "home"
    home.mkdir()
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "otel_mcp", "serve"],
        env={"HOME": str(home), "PYTHONPATH": str(REPO), "PATH": os.environ.get("PATH", "/usr/bin:/bin")},
        cwd=str(home),
    )
    async with (
        Client(params, mode="legacy", list_roots_callback=offering(trees[0])) as a,  # type: ignore[arg-type]
        Client(params, mode="legacy", list_roots_callback=offering(trees[1])) as b,  # type: ignore[arg-type]
        Client(params, mode="legacy") as c,
    ):
        await call(a, "record_task", task_id="T9", task_type="build", status="complete")
        seen = await call(b, "find_completed", task_type="build")
        assert "T9" in str(seen)
        claims = [await call(a, "claim_task", task_id="T9"), await call(b, "claim_task", task_id="T9")]
        assert [r["granted"] for r in claims] == [True, False]  # one store: exactly one holds the claim
        refused = await call_error(c, "record_task", task_id="T", task_type="build", status="complete")
        assert '"OTEL_MCP_WORKSPACE": "/path/to/project"' in refused
    assert (main / ".git" / "otel-mcp" / "telemetry.db").is_file()
    for folder in [home, main, *trees]:
        assert not (folder / ".otel-mcp").exists(), folder
