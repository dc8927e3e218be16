"""The agents' own SQL on the embedded store: one SELECT over the `spans` view, nothing else.

Each query runs in a worker process (`sandbox_worker`) on a read-only connection whose authorizer
admits reads of the view's columns only, with temporary storage in memory under a hard limit. A
small pool of workers serves concurrent queries (SQLite in WAL mode lets readers run side by side),
so one agent's heavy query never holds up another's light one. Every query has one time budget
that covers waiting for a free worker too; a worker that overruns it, even inside one SQLite
function call, is killed and replaced. Rows and bytes are capped; a refusal names what was refused.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from otel_mcp.errors import InvalidArgument, StoreUnavailable
from otel_mcp.store.base import SqlRows
from otel_mcp.store.sqlite.sandbox_process import WorkerGone, WorkerProcess, WorkerTimedOut

__all__ = ["MAX_WAITING", "MAX_WORKERS", "WORKER_HEAP_BYTES", "SqlSandbox"]

MAX_WORKERS = 6  # queries running at once per server; the rest wait, within their own time budget
MAX_WAITING = 2 * MAX_WORKERS  # beyond this, a query is refused at once instead of holding a thread
WORKER_HEAP_BYTES = 128 << 20  # SQLite memory per worker: sorting, grouping, CTEs, temporary tables
_KILL_GRACE_S = 0.3  # a worker past its deadline by this much is stuck inside one call: kill it
_START_TIMEOUT_S = 10.0
_INDEXED = "task_id, task_status, task_type, trace_id, agent_id, name"


class SqlSandbox:
    """Runs agents' SELECTs against the store file at `path` in a pool of worker processes."""

    def __init__(self, path: Path, busy_timeout_s: float, *, max_workers: int = MAX_WORKERS) -> None:
        self._path = path.resolve()
        self._settings: dict[str, Any] = {
            "busy_timeout_s": busy_timeout_s,
            "heap_bytes": WORKER_HEAP_BYTES,
            "max_length": 1_000_000,  # one string or blob value
            "temp_file_bytes": 16 << 20,  # any file the worker writes (it should write none)
            "address_space_bytes": WORKER_HEAP_BYTES + (768 << 20),
        }
        self._max_workers = max_workers
        self._idle: list[WorkerProcess] = []
        self._running = 0  # workers handed out, plus ones being started
        self._waiting = 0
        self._closed = False
        self._changed = threading.Condition()

    def query(self, sql: str, limit: int, max_bytes: int, timeout_s: float) -> SqlRows:
        """Run one SELECT, stopping at `limit` rows, `max_bytes` of JSON or `timeout_s` seconds in all."""
        deadline = time.monotonic() + timeout_s
        worker = self._acquire(deadline, timeout_s)
        request = {"sql": sql, "limit": limit, "max_bytes": max_bytes, "timeout_s": deadline - time.monotonic()}
        try:
            answer = worker.ask(request, deadline + _KILL_GRACE_S, 4 * max_bytes + (1 << 20))
        except WorkerTimedOut:
            self._release(None)
            raise InvalidArgument(_timed_out(timeout_s)) from None
        except WorkerGone as exc:
            self._release(None)
            raise StoreUnavailable(f"query_spans could not run the query ({exc}); retry once") from None
        except BaseException:
            worker.kill()
            self._release(None)
            raise
        self._release(worker)
        error = answer.get("error")
        if error is None:
            return SqlRows(
                columns=answer["columns"], rows=answer["rows"], truncated=answer["truncated"], note=answer["note"]
            )
        if error["kind"] == "timeout":
            raise InvalidArgument(_timed_out(timeout_s))
        raise InvalidArgument(error["message"])

    def _acquire(self, deadline: float, timeout_s: float) -> WorkerProcess:
        """An idle worker, a new one if the pool has room, or the first one freed before `deadline`."""
        with self._changed:
            if self._waiting >= MAX_WAITING:
                raise StoreUnavailable(_busy(self._max_workers, self._waiting))
            self._waiting += 1
            try:
                while not self._closed and not self._idle and self._running >= self._max_workers:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise StoreUnavailable(_busy(self._max_workers, self._waiting - 1, timeout_s))
                    self._changed.wait(remaining)
            finally:
                self._waiting -= 1
            if self._closed:
                raise StoreUnavailable("the telemetry store is closing; query_spans cannot run")
            self._running += 1
            while self._idle:
                worker = self._idle.pop()
                if worker.alive():
                    return worker
                worker.kill()
        try:
            return WorkerProcess(self._path, self._settings, _START_TIMEOUT_S)
        except (WorkerGone, WorkerTimedOut, OSError) as exc:
            self._release(None)
            raise StoreUnavailable(f"query_spans could not start its query process: {exc or 'no answer'}") from None

    def _release(self, worker: WorkerProcess | None) -> None:
        with self._changed:
            self._running -= 1
            if worker is not None:
                if self._closed:
                    worker.close()
                else:
                    self._idle.append(worker)
            self._changed.notify()

    def close(self) -> None:
        with self._changed:
            self._closed = True
            idle, self._idle = self._idle, []
            self._changed.notify_all()
        for worker in idle:
            worker.close()


def _timed_out(timeout_s: float) -> str:
    return (
        f"query_spans stopped the query after {timeout_s:.1f}s, its time limit (waiting for other agents' "
        f"queries counts too); narrow it with WHERE on an indexed column ({_INDEXED}) or add a LIMIT"
    )


def _busy(slots: int, waiting: int, waited_s: float | None = None) -> str:
    if waited_s is None:
        return (
            f"query_spans is busy: its {slots} query slots are taken and {waiting} more queries are waiting; "
            "retry in a few seconds"
        )
    return (
        f"query_spans is busy: its {slots} query slots were taken by other queries for the whole {waited_s:.1f}s "
        "time limit of this one; retry in a few seconds"
    )
