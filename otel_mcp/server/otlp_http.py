"""The OTLP/HTTP receiver: `POST /v1/traces`, `/v1/logs`, `/v1/metrics`, as an ASGI app.

Answers as the OTLP specification asks: in the request's encoding; 405 for another method, 415 for
another content type or encoding, 413 when the body is over the limit *after* decompression (a
gzip bomb is cut off at the limit, never inflated whole), 400 with a `google.rpc.Status` for a
body that is not OTLP, 429 with `Retry-After` when a sender goes over its rate, 503 with
`Retry-After` while the receiver is busy or the store cannot take writes, and 200 with partial
success when some items were refused. A sender's bytes are counted against its rate before
anything is decoded. A request is handled in a worker thread, at most `max_concurrent` at once: a
worker process decodes its body and prepares its rows (seconds of pure Python per full JSON batch,
~0.1 ms per item either way), and the thread only maps the items that need the server's state to
an agent and writes the rows in one transaction, so a flood of telemetry never stalls the MCP
requests beside it; a few more requests wait their turn for a bounded time, the rest are answered
503 at once.
"""

from __future__ import annotations

import logging
import math
import threading
import time
import zlib
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import anyio
import anyio.to_thread

from otel_mcp.errors import StoreUnavailable
from otel_mcp.server._http import AGENT_STATE_KEY, REFUSAL_STATE_KEY, ASGIApp, Receive, Scope, Send, request_state
from otel_mcp.store.base import Store
from otel_mcp.telemetry.decode_pool import DecodePool, WorkerLost
from otel_mcp.telemetry.ingest import Ingestor
from otel_mcp.telemetry.otlp_rows import TooManyItems
from otel_mcp.telemetry.otlp_wire import (
    JSON,
    PROTOBUF,
    BadPayload,
    TooComplex,
    WireFormat,
    encode_answer,
    encode_status,
)

__all__ = ["OTLP_PATHS", "OtlpReceiver", "ReceiverLimits", "beside_mcp", "receiver_for"]

_log = logging.getLogger("otel_mcp.otlp")

# The root takes OTLP/JSON of any signal, told apart by its top-level key: Gemini CLI's HTTP exporters
# post traces, logs and metrics to the one URL they are given.
OTLP_PATHS: dict[str, Any] = {"/v1/traces": "traces", "/v1/logs": "logs", "/v1/metrics": "metrics", "": "any"}
_MEDIA = {"application/x-protobuf": PROTOBUF, "application/json": JSON}
_CHUNK = 64 * 1024


@dataclass(frozen=True, slots=True)
class ReceiverLimits:
    max_body: int = 8 * 1024 * 1024  # bytes, after decompression
    max_concurrent: int = 4  # requests decoded and written at once
    max_waiting: int = 16  # requests that may wait for one of those; beyond: 503 at once
    max_wait_s: float = 2.0  # how long one waits before it is answered 503
    # Bodies are held in memory while they arrive (up to max_body each): at most this many at once,
    # each within body_timeout_s, so held-open uploads neither exhaust memory nor keep a place forever.
    max_reading: int = 16
    body_timeout_s: float = 30.0
    rate: float = 10_000.0  # items per second per sender
    burst: float = 20_000.0  # items a sender may send at once after a quiet spell
    # Bytes per second per sender, checked before decoding: a sender over its rate costs no decode.
    byte_rate: float = 16 * 1024 * 1024
    byte_burst: float = 32 * 1024 * 1024


class _Refusal(Exception):
    def __init__(self, status: int, message: str, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.retry_after = retry_after


class _Buckets:
    """A token bucket of items (or bytes) per sender (bounded number of senders remembered)."""

    def __init__(self, rate: float, burst: float, senders: int = 1024) -> None:
        self._rate = rate
        self._burst = burst
        self._senders = senders
        self._state: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, sender: str, items: int) -> int | None:
        """None when the sender may send `items` now; else the seconds to wait first."""
        now = time.monotonic()
        with self._lock:
            tokens, since = self._state.get(sender, (self._burst, now))
            tokens = min(self._burst, tokens + (now - since) * self._rate)
            if items > tokens:
                self._state[sender] = (tokens, now)
                return max(1, math.ceil((items - tokens) / self._rate))
            self._state[sender] = (tokens - items, now)
            self._state.move_to_end(sender)
            while len(self._state) > self._senders:
                self._state.popitem(last=False)
        return None


def _header(scope: Scope, name: bytes) -> str:
    for key, value in scope.get("headers", []):
        if key == name:
            return bytes(value).decode("latin-1")
    return ""


class OtlpReceiver:
    """ASGI app for the three OTLP/HTTP paths; other paths answer 404."""

    def __init__(self, ingestor: Ingestor, limits: ReceiverLimits | None = None) -> None:
        self.ingestor = ingestor
        self.limits = limits or ReceiverLimits()
        self._slots = anyio.Semaphore(self.limits.max_concurrent)
        self._waiting = 0
        self._reading = 0
        self._buckets = _Buckets(self.limits.rate, self.limits.burst)
        self._bytes = _Buckets(self.limits.byte_rate, self.limits.byte_burst)
        self._decoder = DecodePool()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        signal = OTLP_PATHS.get(str(scope.get("path", "")).rstrip("/"))
        wire: WireFormat = JSON if _header(scope, b"content-type").startswith("application/json") else PROTOBUF
        try:
            if signal is None:
                raise _Refusal(404, "nothing here: OTLP/HTTP is served at /v1/traces, /v1/logs and /v1/metrics")
            if scope.get("method") != "POST":
                raise _Refusal(405, f"{scope.get('method')} is not allowed: send OTLP with POST")
            wire = self._wire(scope)
            body = await self._bounded_body(scope, receive)
            sender = self._sender(scope)
            client = scope.get("client") or ("-", 0)
            key = sender or str(client[0])
            wait = self._bytes.take(key, len(body))
            if wait is not None:
                raise _Refusal(
                    429,
                    f"over the rate of {self.limits.byte_rate:g} bytes per second for this sender; retry later",
                    wait,
                )
            status, answer = 200, await self._handle(signal, wire, body, sender, key)
            headers: list[tuple[bytes, bytes]] = []
        except _Refusal as refusal:
            request_state(scope)[REFUSAL_STATE_KEY] = refusal.message
            status, answer = refusal.status, encode_status(wire, refusal.status, refusal.message)
            headers = [(b"retry-after", str(refusal.retry_after).encode())] if refusal.retry_after else []
            if refusal.status == 405:
                headers.append((b"allow", b"POST"))
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", wire.encode()), (b"content-length", str(len(answer)).encode()), *headers],
            }
        )
        await send({"type": "http.response.body", "body": answer})

    @staticmethod
    def _wire(scope: Scope) -> WireFormat:
        media = _header(scope, b"content-type").split(";")[0].strip().lower()
        if media not in _MEDIA:
            raise _Refusal(
                415, f"content type {media[:60]!r} is not OTLP/HTTP: send application/x-protobuf or application/json"
            )
        encoding = _header(scope, b"content-encoding").strip().lower()
        if encoding not in ("", "identity", "gzip"):
            raise _Refusal(415, f"content encoding {encoding[:40]!r} is not supported: send gzip or none")
        return _MEDIA[media]

    @staticmethod
    def _sender(scope: Scope) -> str | None:
        """The authenticated agent (bearer token) the request speaks for, if any; rates are per sender,
        which without tokens is the client's address."""
        agent = request_state(scope).get(AGENT_STATE_KEY)
        return str(agent) if agent else None

    async def _bounded_body(self, scope: Scope, receive: Receive) -> bytes:
        if self._reading >= self.limits.max_reading:
            raise _Refusal(503, "the receiver is busy receiving other requests; retry after the time given", 1)
        self._reading += 1
        try:
            with anyio.fail_after(self.limits.body_timeout_s):
                return await self._body(scope, receive)
        except TimeoutError:
            raise _Refusal(
                408, f"the body did not arrive within {self.limits.body_timeout_s:g} s; send it whole, then retry"
            ) from None
        finally:
            self._reading -= 1

    async def _body(self, scope: Scope, receive: Receive) -> bytes:
        limit = self.limits.max_body
        too_big = f"the request body is over the {limit // (1024 * 1024)} MiB limit (after decompression)"
        declared = _header(scope, b"content-length")
        if declared.isdigit() and int(declared) > limit:
            raise _Refusal(413, too_big)
        gzip = _header(scope, b"content-encoding").strip().lower() == "gzip"
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS) if gzip else None
        parts: list[bytes] = []
        size = received = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _Refusal(400, "the client went away before the body was complete")
            chunk = bytes(message.get("body", b""))
            more = bool(message.get("more_body"))
            received += len(chunk)
            if received > limit:
                raise _Refusal(413, too_big)
            if inflater is None:
                parts.append(chunk)
                size += len(chunk)
                continue
            try:
                while chunk:
                    # Never inflate more than the limit allows: a bomb stops here, small.
                    out = inflater.decompress(chunk, limit + 1 - size)
                    parts.append(out)
                    size += len(out)
                    if size > limit:
                        raise _Refusal(413, too_big)
                    chunk = inflater.unconsumed_tail
            except zlib.error as exc:
                raise _Refusal(400, f"the body is not valid gzip: {exc}") from None
        if inflater is not None and not inflater.eof:
            raise _Refusal(400, "the gzip body ends early: the stream is truncated")
        return b"".join(parts)

    async def _handle(self, signal: Any, wire: WireFormat, body: bytes, sender: str | None, key: str) -> bytes:
        busy = _Refusal(503, "the receiver is busy writing other requests; retry after the time given", 1)
        if self._slots.value == 0 and self._waiting >= self.limits.max_waiting:
            raise busy
        self._waiting += 1
        acquired = False
        try:
            with anyio.move_on_after(self.limits.max_wait_s):
                await self._slots.acquire()
                acquired = True
            if not acquired:
                raise busy
        finally:
            self._waiting -= 1
        try:
            return await anyio.to_thread.run_sync(self._work, signal, wire, body, sender, key)
        finally:
            self._slots.release()

    def _work(self, signal: Any, wire: WireFormat, body: bytes, sender: str | None, key: str) -> bytes:
        try:
            encode = self.ingestor.store.row_encoder()
            prepared = self._decoder.prepare(None if signal == "any" else signal, wire, body, sender, encode)
        except BadPayload as exc:
            raise _Refusal(400, str(exc)) from None
        except (TooComplex, TooManyItems) as exc:
            raise _Refusal(413, str(exc)) from None
        except WorkerLost as exc:
            raise _Refusal(503, str(exc), 1) from None
        except StoreUnavailable as exc:
            raise self._unavailable(signal, exc) from None
        wait = self._buckets.take(key, prepared.items)
        if wait is not None:
            raise _Refusal(
                429, f"over the rate of {self.limits.rate:g} items per second for this sender; retry later", wait
            )
        try:
            result = self.ingestor.ingest(prepared, self._decoder)
        except WorkerLost as exc:
            raise _Refusal(503, str(exc), 1) from None
        except StoreUnavailable as exc:
            raise self._unavailable(signal, exc) from None
        return encode_answer(prepared.signal, wire, result.rejected, result.message)

    @staticmethod
    def _unavailable(signal: Any, exc: StoreUnavailable) -> _Refusal:
        _log.warning("OTLP %s not stored: %s", signal, exc)
        return _Refusal(503, f"the store cannot take writes now: {str(exc)[:200]}", 5)


def receiver_for(store: Store, limits: ReceiverLimits | None = None) -> OtlpReceiver:
    """A receiver writing into `store`."""
    return OtlpReceiver(Ingestor(store), limits)


def beside_mcp(mcp: ASGIApp, otlp: ASGIApp) -> ASGIApp:
    """One app: the OTLP paths to the receiver, everything else to the MCP app."""

    async def route(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and str(scope.get("path", "")).rstrip("/") in OTLP_PATHS:
            await otlp(scope, receive, send)
        else:
            await mcp(scope, receive, send)

    return route
