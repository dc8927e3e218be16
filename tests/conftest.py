"""Shared fixtures: a real SQLite store in a temp dir, a Runtime over it, an in-memory MCP client."""

from __future__ import annotations

import json
import os
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

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "telemetry.db"


def make_runtime(db_path: Path, agent_id: str = "agent-a", **overrides: Any) -> Runtime:
    settings = Settings(agent_id=agent_id, db_path=db_path, gates_dir=overrides.pop("gates_dir", REPO / "gates"))
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


def stdio_params(db_path: Path, agent_id: str, **env: str) -> StdioServerParameters:
    """A server process as a host starts one: `otel-mcp serve` over stdio with explicit env."""
    return StdioServerParameters(
        command=sys.executable,
        args=["-m", "otel_mcp", "serve"],
        env={
            "OTEL_MCP_AGENT_ID": agent_id,
            "OTEL_MCP_DB": str(db_path),
            "OTEL_MCP_GATES_DIR": str(env.pop("gates_dir", REPO / "gates")),
            "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p),
            **env,
        },
        cwd=str(db_path.parent),
    )


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
