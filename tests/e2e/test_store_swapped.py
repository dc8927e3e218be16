"""A store deleted, replaced or moved under running servers: refused with the reason, nothing acknowledged lost.

The servers are real processes over stdio, as hosts run them (forked from the test worker's zygote,
`tests.support.forkserver`: the swap happens while they run, not as they start), several agents writing at once;
the swap is done as a restore tool does it (holding SQLite's write lock while it copies and renames),
or as a person does it (`rm`, `mv`, `os.replace` of an empty file).
"""

from __future__ import annotations

import os
import sqlite3
from contextlib import AsyncExitStack
from pathlib import Path

import anyio
import pytest
from mcp import Client

from tests.conftest import call, call_error, stdio_params, text_of

pytestmark = pytest.mark.anyio


def _swap_under_write_lock(db_path: Path) -> None:
    """Replace the store with a copy of itself, as a restore does: no commit can slip between copy and rename."""
    copy = db_path.with_name("restored.db")
    lock = sqlite3.connect(db_path, isolation_level=None, timeout=30)
    reader = sqlite3.connect(db_path)
    try:
        lock.execute("BEGIN IMMEDIATE")
        # Another connection reads while this one holds the write lock: its snapshot is the newest.
        dst = sqlite3.connect(copy)
        reader.backup(dst)
        dst.close()
        os.replace(copy, db_path)
        lock.execute("ROLLBACK")
    finally:
        reader.close()
        lock.close()


async def test_four_agents_on_two_servers_lose_no_acknowledged_write_when_the_store_is_swapped(
    db_path: Path,
) -> None:
    writers_per_server, swap_after = 2, 40
    acknowledged: set[str] = set()
    refused: dict[str, str] = {}
    swapped = anyio.Event()

    async def agent(client: Client, name: str) -> None:
        for i in range(200):
            task_id = f"{name}/task{i}"
            result = await client.call_tool(
                "record_task", {"task_id": task_id, "task_type": "test", "status": "complete"}
            )
            if result.is_error:
                refused[task_id] = text_of(result)
                if len(refused) >= 8:
                    return
            else:
                acknowledged.add(task_id)
            if len(acknowledged) >= swap_after and not swapped.is_set():
                swapped.set()
                await anyio.to_thread.run_sync(_swap_under_write_lock, db_path)

    async with AsyncExitStack() as stack:
        servers = [await stack.enter_async_context(Client(stdio_params(db_path, f"server-{n}"))) for n in range(2)]
        with anyio.fail_after(120):
            async with anyio.create_task_group() as tg:
                for n, client in enumerate(servers):
                    for w in range(writers_per_server):
                        tg.start_soon(agent, client, f"agent{n * writers_per_server + w}")
            # Every later call, reads included, says why and what to do.
            for client in servers:
                text = await call_error(client, "find_completed")
                assert "replaced" in text and "restart" in text.lower()

    assert swapped.is_set() and refused, "the store was never swapped under the writers"
    for text in refused.values():
        assert "replaced" in text and str(db_path) in text
    db = sqlite3.connect(db_path)
    kept = {row[0] for row in db.execute("SELECT task_id FROM spans WHERE source = 'agent'")}
    assert acknowledged <= kept, f"acknowledged but lost: {sorted(acknowledged - kept)[:5]}"
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


async def test_a_deleted_store_is_named_deleted_and_nothing_is_acknowledged_after(db_path: Path) -> None:
    async with Client(stdio_params(db_path, "agent-a")) as client:
        await call(client, "record_task", task_id="before", task_type="test", status="complete")
        db_path.unlink()
        text = await call_error(client, "record_task", task_id="after", task_type="test", status="complete")
        assert "deleted" in text and str(db_path) in text and "restart" in text.lower()


async def test_a_moved_store_is_named_moved_with_where_it_was(db_path: Path) -> None:
    async with Client(stdio_params(db_path, "agent-a")) as client:
        await call(client, "record_task", task_id="before", task_type="test", status="complete")
        os.rename(db_path, db_path.with_name("elsewhere.db"))
        text = await call_error(client, "record_task", task_id="after", task_type="test", status="complete")
        assert "moved" in text and str(db_path) in text


async def test_a_store_replaced_by_an_empty_file_refuses_writes_instead_of_writing_the_unlinked_one(
    db_path: Path,
) -> None:
    async with Client(stdio_params(db_path, "agent-a")) as client:
        await call(client, "record_task", task_id="before", task_type="test", status="complete")
        empty = db_path.with_name("empty.db")
        sqlite3.connect(empty).close()
        os.replace(empty, db_path)
        text = await call_error(client, "record_task", task_id="after", task_type="test", status="complete")
        assert "replaced" in text
        text = await call_error(client, "get_trace", task_id="before")
        assert "replaced" in text
