"""OTLP/JSON decoding in worker processes, so its seconds of Python never hold the server's GIL.

protobuf's JSON parser is pure Python: a full batch of 5,000 log events is ~13 s of it. Run in a
thread it held the GIL, and every MCP request on the same server waited. A worker process decodes
the JSON and hands back the message serialized as protobuf, which the caller parses in C in
milliseconds. Protobuf bodies are parsed in place: that parser is C already. The pool is small
(the machine's cores, at most 2), started on the first JSON body, and a worker that dies (killed,
out of memory) is replaced on the next request.
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import os
import threading
import time
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from otel_mcp.telemetry.otlp_wire import JSON, PROTOBUF, BadPayload, Signal, TooComplex, WireFormat, decode, json_signal

__all__ = ["DecodePool", "WorkerLost"]


class WorkerLost(RuntimeError):
    """The worker process decoding a body died (killed, out of memory); the request may be retried."""


def _exit_with_parent(parent: int) -> None:
    """In the worker: exit once the server is gone (killed by a signal, it cannot shut the pool down)."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(0)

    threading.Thread(target=watch, name="otel-mcp-parent-watch", daemon=True).start()


def _decode_json(signal: Signal | None, body: bytes) -> tuple[str, str, bytes]:
    """In the worker: (outcome, signal or message, serialized request). Errors travel as text."""
    try:
        found: Signal = signal or json_signal(body)
        return "ok", found, bytes(decode(found, JSON, body).SerializeToString())
    except TooComplex as exc:
        return "complex", str(exc), b""
    except BadPayload as exc:
        return "bad", str(exc), b""


class DecodePool:
    """Decodes OTLP bodies; JSON in a lazily started pool of worker processes."""

    def __init__(self, workers: int | None = None) -> None:
        self.workers = workers or min(2, os.cpu_count() or 1)
        self._pool: concurrent.futures.ProcessPoolExecutor | None = None
        self._lock = threading.Lock()

    def decode(self, signal: Signal | None, wire: WireFormat, body: bytes) -> tuple[Signal, Any]:
        """(signal, Export<Signal>ServiceRequest); `signal` None reads it from a JSON body's top key.

        Blocks the calling thread (not the GIL) while a worker decodes JSON. BadPayload, TooComplex
        as `decode`; WorkerLost when the worker died mid-decode.
        """
        if wire != JSON:
            if signal is None:
                raise BadPayload(
                    "protobuf names no signal: post it to /v1/traces, /v1/logs or /v1/metrics (the root takes "
                    "OTLP/JSON only)"
                )
            return signal, decode(signal, wire, body)
        try:
            outcome, text, wire_bytes = self._executor().submit(_decode_json, signal, body).result()
        except BrokenProcessPool:
            self._reset()
            raise WorkerLost("the decoding worker was lost (killed or out of memory); retry") from None
        if outcome == "complex":
            raise TooComplex(text)
        if outcome == "bad":
            raise BadPayload(text)
        found: Signal = text  # type: ignore[assignment]
        return found, decode(found, PROTOBUF, wire_bytes)

    def close(self) -> None:
        """Stop the workers (they are started again on the next JSON body)."""
        self._reset()

    def _executor(self) -> concurrent.futures.ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                # spawn: a fresh interpreter, not a fork of a threaded server.
                self._pool = concurrent.futures.ProcessPoolExecutor(
                    self.workers,
                    mp_context=multiprocessing.get_context("spawn"),
                    initializer=_exit_with_parent,
                    initargs=(os.getpid(),),
                )
            return self._pool

    def _reset(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
