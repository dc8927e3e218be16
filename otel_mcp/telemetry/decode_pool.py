"""OTLP bodies into the store's rows in worker processes, so their Python never holds the server's GIL.

protobuf's JSON parser is pure Python (a full batch of 5,000 log events is ~13 s of it), and turning
a decoded request into rows is ~0.5 s more per 5,000 items, protobuf or JSON. Run in a thread of the
server, both held the GIL, and every MCP request on the same server waited; a concurrent write of
the server's own held the store's write lock for as long. A worker process decodes the body and
prepares its rows (`otlp_rows.prepare_rows`, with the store's picklable `row_encoder()`), and hands
back plain data the server unpickles in C. The pool is small (the machine's cores, at most 2),
started on the first body, and a worker that dies (killed, out of memory) is replaced on the next
request; the request it was preparing is answered WorkerLost, with nothing written.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import multiprocessing
import os
import select
import threading
from collections.abc import Callable
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from otel_mcp.model import SpanRecord
from otel_mcp.telemetry.otlp_rows import IngestLimits, PendingItem, PreparedRows, TooManyItems, finish, prepare_rows
from otel_mcp.telemetry.otlp_wire import JSON, BadPayload, Signal, TooComplex, WireFormat, decode, json_signal

__all__ = ["DecodePool", "WorkerLost"]


class WorkerLost(RuntimeError):
    """The worker process preparing a body died (killed, out of memory); the request may be retried."""


# Workers run at a lower priority than the agents' servers: on a machine with few cores, a flood of
# telemetry then takes the CPU they leave, instead of slowing every agent's calls.
_WORKER_NICENESS = 10


def _start_worker(server: int) -> None:
    """In the worker: yield the CPU to agents, and exit once the server is gone (killed by a signal, it
    cannot shut the pool down). Its parent is the fork server, which lives as long as any worker does,
    so the worker watches the server itself, through a pidfd (never a pid that could be reused)."""
    with contextlib.suppress(OSError):  # not permitted (a container's seccomp): full priority, still correct
        os.nice(_WORKER_NICENESS)
    try:
        watched = os.pidfd_open(server)
    except ProcessLookupError:  # gone already
        os._exit(0)

    def watch() -> None:
        select.select([watched], [], [])  # readable once the server has exited
        os._exit(0)

    threading.Thread(target=watch, name="otel-mcp-server-watch", daemon=True).start()


def _prepare(
    signal: Signal | None,
    wire: WireFormat,
    body: bytes,
    sender: str | None,
    encode: Callable[[SpanRecord], Any],
    limits: IngestLimits,
) -> tuple[str, str | PreparedRows]:
    """In the worker: (outcome, rows or why). Errors travel as text."""
    try:
        found: Signal = signal or json_signal(body)
        return "ok", prepare_rows(found, decode(found, wire, body), sender, encode, limits)
    except TooComplex as exc:
        return "complex", str(exc)
    except BadPayload as exc:
        return "bad", str(exc)
    except TooManyItems as exc:
        return "too_many", str(exc)


def _finish(items: list[PendingItem], encode: Callable[[SpanRecord], Any]) -> list[Any]:
    """In the worker: the rows of items the server has mapped to their agents."""
    return [encode(finish(item)) for item in items]


_RAISED: dict[str, type[Exception]] = {"complex": TooComplex, "bad": BadPayload, "too_many": TooManyItems}


class DecodePool:
    """Prepares OTLP bodies as rows in a lazily started pool of worker processes."""

    def __init__(self, workers: int | None = None, limits: IngestLimits | None = None) -> None:
        self.workers = workers or min(2, os.cpu_count() or 1)
        self.limits = limits or IngestLimits()
        self._pool: concurrent.futures.ProcessPoolExecutor | None = None
        self._lock = threading.Lock()

    def prepare(
        self,
        signal: Signal | None,
        wire: WireFormat,
        body: bytes,
        sender: str | None,
        encode: Callable[[SpanRecord], Any],
    ) -> PreparedRows:
        """The rows the body becomes; `signal` None reads it from a JSON body's top key.

        `sender` is the bearer token's agent, if any; `encode` the store's `row_encoder()`. Blocks
        the calling thread (not the GIL) while a worker works. BadPayload, TooComplex as `decode`;
        TooManyItems over the item limit; WorkerLost when the worker died meanwhile.
        """
        if signal is None and wire != JSON:
            raise BadPayload(
                "protobuf names no signal: post it to /v1/traces, /v1/logs or /v1/metrics (the root takes "
                "OTLP/JSON only)"
            )
        outcome, answer = self._run(_prepare, signal, wire, body, sender, encode, self.limits)
        if isinstance(answer, PreparedRows):
            return answer
        raise _RAISED[outcome](answer)

    def finish(self, items: list[PendingItem], encode: Callable[[SpanRecord], Any]) -> list[Any]:
        """The rows of pending items once mapped (`otlp_rows.finish`, then `encode`), made in a worker.

        WorkerLost when the worker died meanwhile.
        """
        rows: list[Any] = self._run(_finish, items, encode)
        return rows

    def close(self) -> None:
        """Stop the workers (they are started again on the next body)."""
        self._reset()

    def _run(self, work: Callable[..., Any], *args: Any) -> Any:
        executor = self._executor()
        try:
            return executor.submit(work, *args).result()
        except RuntimeError as exc:  # BrokenProcessPool, or a pool another request just found broken
            if isinstance(exc, BrokenProcessPool):
                self._reset(executor)
            raise WorkerLost("the worker preparing the request was lost (killed or out of memory); retry") from None

    def _executor(self) -> concurrent.futures.ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                # Forked from multiprocessing's fork server (a fresh interpreter that imported this
                # module once), never from the threaded server itself: a worker costs a fork, not
                # ~0.3 s of imports, when the pool starts or replaces one that died.
                context = multiprocessing.get_context("forkserver")
                context.set_forkserver_preload([__name__])
                self._pool = concurrent.futures.ProcessPoolExecutor(
                    self.workers, mp_context=context, initializer=_start_worker, initargs=(os.getpid(),)
                )
            return self._pool

    def _reset(self, broken: concurrent.futures.ProcessPoolExecutor | None = None) -> None:
        """Stop the pool (only if it is still `broken`, when given: not one another request started since)."""
        with self._lock:
            if broken is not None and self._pool is not broken:
                return
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
