"""`record_task(..., idempotency_key=...)`: a retry after a lost answer returns the first answer, records nothing.

Killed mid-call, 3 of 6 calls in flight had committed although their answers were lost: without a
key, the agent's retry recorded each of them twice.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client

from otel_mcp.runtime import Runtime
from otel_mcp.server import create_server
from otel_mcp.store.base import SpanFilter
from otel_mcp.telemetry import acting_for
from tests.conftest import backend_settings, call, call_error, open_backend_runtime, stdio_params

pytestmark = pytest.mark.anyio

RECORD = {"task_id": "T1", "task_type": "test", "status": "complete", "attributes": {"tests.failed": 0}}


def _records(runtime: Runtime, task_id: str = "T1") -> int:
    return len(runtime.store.find_spans(SpanFilter(task_id=task_id, has_status=True, limit=50)))


def _first_answer(answer: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in answer.items() if k != "replayed"}


async def test_a_retry_with_the_same_key_returns_the_first_answer_and_records_once(
    backend_client: Client, backend_runtime: Runtime
) -> None:
    first = await call(backend_client, "record_task", **RECORD, idempotency_key="k-1")
    assert first["replayed"] is False
    for _ in range(3):
        again = await call(backend_client, "record_task", **RECORD, idempotency_key="k-1")
        assert _first_answer(again) == _first_answer(first)
        assert again["replayed"] is True
    assert _records(backend_runtime) == 1
    # Without a key every call is a new record, as before.
    await call(backend_client, "record_task", **RECORD)
    await call(backend_client, "record_task", **RECORD)
    assert _records(backend_runtime) == 3


async def test_a_key_reused_for_different_arguments_is_refused_and_records_nothing(
    backend_client: Client, backend_runtime: Runtime
) -> None:
    first = await call(backend_client, "record_task", **RECORD, idempotency_key="k-2")
    for change in ({"status": "failed"}, {"attributes": {"tests.failed": 1}}, {"summary": "done"}):
        message = await call_error(backend_client, "record_task", **{**RECORD, **change}, idempotency_key="k-2")
        assert "idempotency_key 'k-2' was already used" in message and first["span_id"] in message
    assert _records(backend_runtime) == 1


async def test_the_key_belongs_to_one_agent_and_one_task(backend_runtime: Runtime) -> None:
    coordinator = backend_runtime.coordinator
    a = coordinator.record_task("T1", "test", "complete", idempotency_key="shared")
    other_task = coordinator.record_task("T2", "test", "complete", idempotency_key="shared")
    with acting_for("agent-b"):  # one HTTP server speaking for several agents
        other_agent = coordinator.record_task("T1", "test", "complete", idempotency_key="shared")
    assert len({a.span_id, other_task.span_id, other_agent.span_id}) == 3
    assert not (a.replayed or other_task.replayed or other_agent.replayed)


@pytest.fixture
def second_runtime(store_backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Runtime]:
    """Another server process's runtime on the same store (the same SQLite file, the same ClickHouse database)."""
    settings = backend_settings(store_backend, tmp_path, request, spool_dir=tmp_path / "spool-b")
    rt = open_backend_runtime(settings)
    yield rt
    rt.close()


async def test_a_retry_through_another_server_on_the_same_store_returns_the_first_answer(
    backend_runtime: Runtime, second_runtime: Runtime
) -> None:
    async with Client(create_server(backend_runtime)) as a:
        first = await call(a, "record_task", **RECORD, idempotency_key="k-3")
    # The first server is gone with the answer; the host starts another and the agent retries.
    with anyio.fail_after(10):
        while not second_runtime.store.get_spans([first["span_id"]]):
            await anyio.sleep(0.05)  # a collector-fed store makes it readable shortly
    async with Client(create_server(second_runtime)) as b:
        again = await call(b, "record_task", **RECORD, idempotency_key="k-3")
    assert _first_answer(again) == _first_answer(first) and again["replayed"] is True
    assert _records(second_runtime) == 1


async def test_retries_racing_through_two_stdio_servers_on_one_file_record_once(db_path: Path) -> None:
    keys = 20
    async with AsyncExitStack() as stack:
        servers = [await stack.enter_async_context(Client(stdio_params(db_path, "agent-a"))) for _ in range(2)]
        answers: dict[tuple[int, int], dict[str, Any]] = {}

        async def send(n: int, key: int) -> None:
            arguments = {**RECORD, "task_id": f"race/{key}"}
            answers[n, key] = await call(servers[n], "record_task", **arguments, idempotency_key=f"race-{key}")

        with anyio.fail_after(60):
            async with anyio.create_task_group() as tg:
                for key in range(keys):
                    tg.start_soon(send, 0, key)
                    tg.start_soon(send, 1, key)
    for key in range(keys):
        a, b = answers[0, key], answers[1, key]
        assert _first_answer(a) == _first_answer(b)
        assert sorted([a["replayed"], b["replayed"]]) == [False, True]
    import sqlite3

    db = sqlite3.connect(db_path)
    per_task = db.execute(
        "SELECT count(*), count(DISTINCT task_id) FROM spans WHERE source = 'agent' AND task_id LIKE 'race/%'"
    ).fetchone()
    assert per_task == (keys, keys)


async def test_a_malformed_key_is_refused_naming_the_argument(client: Client, runtime: Runtime) -> None:
    for key in ("", "has space", "x" * 129, "new\nline"):
        message = await call_error(client, "record_task", **RECORD, idempotency_key=key)
        assert "idempotency_key" in message
    assert _records(runtime) == 0
