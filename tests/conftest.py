"""Shared fixtures: a real SQLite store in a temp dir, a Runtime over it, an in-memory MCP client."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from mcp import Client, StdioServerParameters
from mcp.types import CallToolResult

from otel_mcp.config import Settings
from otel_mcp.runtime import Runtime
from otel_mcp.server import create_server
from tests.support import forkserver
from tests.support.forkserver import server_command

REPO = Path(__file__).resolve().parent.parent


E2E = Path(__file__).resolve().parent / "e2e"

# The suite starts some 400 Python processes that import otel_mcp (servers, hooks, the CLI) and four
# workers that each rewrite every test module. Where PYTHONDONTWRITEBYTECODE is set (as on this
# machine), none of that bytecode is ever kept and each process compiles again: ~0.2 s per server on
# a fresh clone. So the suite keeps its bytecode in the git-ignored __pycache__ folders.
sys.dont_write_bytecode = False


def pytest_configure(config: pytest.Config) -> None:
    """Bytecode for the package and the test support code that subprocesses import, compiled once
    beside the workers as they start (not in each process that imports them; pytest keeps its own
    rewritten test modules). Compiling writes whatever PYTHONDONTWRITEBYTECODE says."""
    if not hasattr(config, "workerinput"):
        config.stash[_COMPILING] = subprocess.Popen(
            [sys.executable, "-m", "compileall", "-q", str(REPO / "otel_mcp"), str(REPO / "tests" / "support")],
            stdin=subprocess.DEVNULL,
        )


_COMPILING = pytest.StashKey[subprocess.Popen[bytes]]()


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Everything under tests/e2e/ is marked `e2e`, so `-m "not e2e"` leaves the multi-process runs out."""
    for item in items:
        if item.path.is_relative_to(E2E):
            item.add_marker(pytest.mark.e2e)
    # Modules holding multi-process tests are the long poles: they go first (a stable sort keeps each
    # module whole and in order), so xdist starts them first (`--no-loadscope-reorder` in pyproject).
    slow = {item.path for item in items if item.get_closest_marker("e2e")}
    items.sort(key=lambda item: item.path not in slow)


def pytest_sessionfinish(session: pytest.Session) -> None:
    """This worker's fork server, if a test started one, ends with the session."""
    forkserver.stop()
    compiling = session.config.stash.get(_COMPILING, None)
    if compiling is not None:
        compiling.wait()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "telemetry.db"


def make_runtime(db_path: Path, agent_id: str = "agent-a", **overrides: Any) -> Runtime:
    """A runtime whose workspace is the test's own temp folder unless a test names another."""
    settings = Settings(
        agent_id=agent_id,
        db_path=db_path,
        gates_dir=overrides.pop("gates_dir", REPO / "gates"),
        workspace=overrides.pop("workspace", db_path.parent),
    )
    from dataclasses import replace

    return Runtime.open(replace(settings, **overrides), env={})


@pytest.fixture
def runtime(db_path: Path) -> Iterator[Runtime]:
    rt = make_runtime(db_path)
    yield rt
    rt.close()


@pytest.fixture
async def client(runtime: Runtime) -> AsyncIterator[Client]:
    async with Client(create_server(runtime)) as c:
        yield c


def stdio_params(db_path: Path, agent_id: str, *, fork: bool = True, **env: str) -> StdioServerParameters:
    """A server process as a host starts one: `otel-mcp serve` over stdio with explicit env.

    By default forked from this worker's pre-imported zygote (`tests.support.forkserver`): its own
    process, stdio, cwd, env and SQLite connection, without a second of imports. `fork=False` spawns
    `python -m otel_mcp serve` for real: a host's start-up, start-up tests, tests that use the server's pid.
    """
    full_env = {
        "OTEL_MCP_AGENT_ID": agent_id,
        "OTEL_MCP_DB": str(db_path),
        "OTEL_MCP_GATES_DIR": str(env.pop("gates_dir", REPO / "gates")),
        "OTEL_MCP_WORKSPACE": str(env.pop("workspace", db_path.parent)),
        "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p),
        **env,
    }
    command = server_command(["serve"], full_env) if fork else [sys.executable, "-m", "otel_mcp", "serve"]
    return StdioServerParameters(command=command[0], args=command[1:], env=full_env, cwd=str(db_path.parent))


async def call(client: Client, tool: str, **arguments: Any) -> dict[str, Any]:
    """Call a tool that must succeed; return its structured result."""
    result = await client.call_tool(tool, arguments)
    assert not result.is_error, f"{tool} failed: {text_of(result)}"
    assert result.structured_content is not None
    return result.structured_content


async def call_error(client: Client, tool: str, **arguments: Any) -> str:
    """Call a tool that must fail; return the error text the model would read."""
    result = await client.call_tool(tool, arguments)
    assert result.is_error, f"{tool} unexpectedly succeeded: {json.dumps(result.structured_content)[:300]}"
    return text_of(result)


def text_of(result: CallToolResult) -> str:
    return " ".join(getattr(block, "text", "") for block in result.content)


# --- both store backends (tests/unit/*/test_backends_*.py) ------------------------------------------
# The same behaviour must hold on the embedded SQLite store and on ClickHouse in the collector
# exporter's schema. ClickHouse is the real engine (chdb) behind a loopback HTTP endpoint, one per
# test module (chdb holds one data path per process at a time); every test gets its own database.


class ChdbEngine:
    """A module's chdb engine behind ClickHouse's HTTP interface; `restart()` simulates an outage."""

    def __init__(self, path: Path) -> None:
        from tests.support.chdb_http import ChdbHttpServer

        self.path = path
        self.server = ChdbHttpServer(path).start()
        self.port = self.server.port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.stop()

    def start(self) -> None:
        from tests.support.chdb_http import ChdbHttpServer

        # Same data directory, same port: to the store it is the same server coming back.
        self.server = ChdbHttpServer(self.path, port=self.port).start()


@pytest.fixture(scope="module")
def chdb_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChdbEngine]:
    engine = ChdbEngine(tmp_path_factory.mktemp("chdb") / "data")
    yield engine
    engine.stop()


@pytest.fixture(params=["sqlite", "clickhouse"])
def store_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def backend_settings(backend: str, tmp_path: Path, request: pytest.FixtureRequest, **overrides: Any) -> Settings:
    """Settings for one agent on `backend`; on ClickHouse, a database of this test's own."""
    from dataclasses import replace

    settings = Settings(
        agent_id="agent-a", db_path=tmp_path / "telemetry.db", gates_dir=REPO / "gates", workspace=tmp_path
    )
    if backend == "clickhouse":
        import hashlib

        engine: ChdbEngine = request.getfixturevalue("chdb_engine")
        database = "t_" + hashlib.sha1(request.node.nodeid.encode()).hexdigest()[:16]
        settings = replace(
            settings,
            backend="clickhouse",
            clickhouse_url=engine.url,
            clickhouse_database=database,
            clickhouse_write="direct",
            spool_dir=tmp_path / "spool",
        )
    return replace(settings, **overrides)


def open_backend_runtime(settings: Settings) -> Runtime:
    rt = Runtime.open(settings, env={})
    if settings.backend == "clickhouse":
        # Tests move fast: a short settle window (no sleeps beyond it) and bounded waits of 2 s.
        rt.claims.settle_s = 0.3
        rt.store.visible_timeout_s = 2.0  # type: ignore[attr-defined]
    return rt


@pytest.fixture
def backend_runtime(store_backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Runtime]:
    settings = backend_settings(store_backend, tmp_path, request)
    rt = open_backend_runtime(settings)
    yield rt
    rt.close()
    if store_backend == "clickhouse":
        engine: ChdbEngine = request.getfixturevalue("chdb_engine")
        engine.server.query(f"DROP DATABASE IF EXISTS `{settings.clickhouse_database}`")


@pytest.fixture
async def backend_client(backend_runtime: Runtime) -> AsyncIterator[Client]:
    async with Client(create_server(backend_runtime)) as c:
        yield c
