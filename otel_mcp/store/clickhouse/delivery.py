"""Getting spans into ClickHouse: spool first, then deliver, and redeliver in the background.

Two ways to deliver, chosen by OTEL_MCP_CLICKHOUSE_WRITE:

- `direct`: this process inserts rows itself, in the exporter's layout (`client.insert`, waiting
  for any async insert to be flushed), so a span is readable by everyone when `export` returns;
- `otlp`: spans are shipped to the collector over OTLP/HTTP; the collector batches, so a span
  becomes readable a little later. Reads that cite a span this process wrote wait for it, bounded.

When ClickHouse or the collector is down, `export` still returns (the spans are safe in the spool)
and a background thread redelivers. Redelivery can duplicate a row (an insert that succeeded but
whose answer was lost), and the exporter's table is a plain MergeTree, so every read dedupes by
SpanId, and a retried batch first asks which of its span ids already arrived.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from typing import Final

from otel_mcp.errors import StoreUnavailable
from otel_mcp.model import SpanRecord
from otel_mcp.store.clickhouse.codec import record_to_row
from otel_mcp.store.clickhouse.connection import Connection
from otel_mcp.store.clickhouse.otlp import encode_spans
from otel_mcp.store.clickhouse.schema import TRACES_INSERT_COLUMNS
from otel_mcp.store.clickhouse.spool import Spool
from otel_mcp.store.clickhouse.visibility import Visibility

__all__ = ["Delivery"]

_log = logging.getLogger(__name__)

_NS: Final = 1_000_000_000
_SPOOL_LEASE_S: Final = 30.0
_RESEND_AFTER_S: Final = 60.0
_MAX_BACKOFF_S: Final = 5.0


class _DeliveryError(Exception):
    """ClickHouse or the collector did not take a batch; the batch stays spooled."""


class Delivery:
    """Spools every batch, delivers it `write`-wise, and keeps `visibility` told what readers can see."""

    def __init__(
        self,
        conn: Connection,
        spool: Spool,
        visibility: Visibility,
        *,
        write: str,
        otlp_endpoint: str | None,
        retry_interval_s: float,
    ) -> None:
        self._conn = conn
        self._spool = spool
        self._visibility = visibility
        self._write = write
        self._otlp_endpoint = otlp_endpoint
        self._retry_interval_s = retry_interval_s
        self._wake = threading.Event()
        self._closed = False
        self._worker = threading.Thread(target=self._redeliver_loop, name="otel-mcp-spool", daemon=True)

    def start(self) -> None:
        """Start the background redelivery, beginning with whatever an earlier process left spooled."""
        self._worker.start()
        self._wake.set()

    def export(self, spans: Sequence[SpanRecord]) -> None:
        """Spool, then deliver; if delivery fails the spans stay spooled and are redelivered later.

        Returns without error once the spans are safe on local disk: re-raising would make the agent
        record the same work again under new span ids, while the spooled copy arrives anyway.
        """
        if not spans:
            return
        records = list(spans)
        try:
            batch_id: int | None = self._spool.add(records, _SPOOL_LEASE_S)
        except sqlite3.Error as exc:
            _log.warning("spool %s unavailable (%s); delivering without it", self._spool.path, exc)
            batch_id = None
        try:
            self._deliver(records, first=True)
        except _DeliveryError as exc:
            if batch_id is None:
                raise StoreUnavailable(
                    f"{exc}; and the local spool {self._spool.path} could not keep the spans either, so they were "
                    "not recorded. Retry once ClickHouse or the disk is available"
                ) from None
            self._spool.failed(batch_id, str(exc), 0)
            self._visibility.failed((r.span_id for r in records), str(exc))
            _log.warning("spooled %d spans for later delivery: %s", len(records), exc)
            self._wake.set()
            return
        if batch_id is not None:
            if self._write == "direct":
                self._spool.done(batch_id)
            else:
                self._spool.sent(batch_id, 0.5)
                self._visibility.handed_over(r.span_id for r in records)
                self._wake.set()

    def _deliver(self, records: Sequence[SpanRecord], *, first: bool) -> None:
        if self._write == "direct":
            self._insert(records, first=first)
        else:
            self._post_otlp(records)

    def _insert(self, records: Sequence[SpanRecord], *, first: bool) -> None:
        try:
            self._conn.ensure_schema()
            client = self._conn.client()
            if not first:
                # A retried batch may have landed the first time (the answer was lost): insert only the rest.
                present = self._conn.present([r.span_id for r in records])
                records = [r for r in records if r.span_id not in present]
                if not records:
                    return
            client.insert(
                self._conn.table,
                [record_to_row(r) for r in records],
                database=self._conn.database,
                column_names=list(TRACES_INSERT_COLUMNS),
                # With async inserts on (ClickHouse's recent default) this still returns only once the
                # rows are flushed and readable: export promises read-your-writes.
                settings={"wait_for_async_insert": 1},
            )
        except StoreUnavailable as exc:
            raise _DeliveryError(str(exc)) from None
        except Exception as exc:
            raise _DeliveryError(self._conn.describe(exc)) from None

    def _post_otlp(self, records: Sequence[SpanRecord]) -> None:
        assert self._otlp_endpoint is not None
        body = encode_spans(records)
        request = urllib.request.Request(
            self._otlp_endpoint, data=body, method="POST", headers={"Content-Type": "application/x-protobuf"}
        )
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                response.read()
        except urllib.error.HTTPError as exc:
            raise _DeliveryError(f"the collector at {self._otlp_endpoint} answered HTTP {exc.code}") from None
        except (OSError, urllib.error.URLError) as exc:
            raise _DeliveryError(f"the collector at {self._otlp_endpoint} is not reachable ({exc})") from None

    def _redeliver_loop(self) -> None:
        backoff = self._retry_interval_s
        while not self._closed:
            self._wake.wait(backoff)
            self._wake.clear()
            if self._closed:
                return
            try:
                progressed = self.redeliver()
            except Exception:  # never let the thread die: the spool is the only copy
                _log.warning("spool redelivery failed", exc_info=True)
                progressed = False
            backoff = self._retry_interval_s if progressed else min(backoff * 2, _MAX_BACKOFF_S)

    def redeliver(self, limit: int = 100) -> bool:
        """Deliver (or confirm) spooled batches once; True if the spool shrank or nothing was pending."""
        batches = self._spool.claim(limit, _SPOOL_LEASE_S)
        if not batches:
            return True
        progressed = False
        for batch in batches:
            ids = [r.span_id for r in batch.records]
            try:
                if batch.sent_ns:  # otlp: accepted by the collector; done once ClickHouse shows it
                    present = self._conn.present(ids)
                    if len(present) == len(set(ids)):
                        self._spool.done(batch.id)
                        self._visibility.settled(ids)
                        progressed = True
                        continue
                    if time.time_ns() - batch.sent_ns < _RESEND_AFTER_S * _NS:
                        self._spool.release(batch.id, 0.2)
                        continue
                    self._deliver([r for r in batch.records if r.span_id not in present], first=True)
                    self._spool.sent(batch.id, 0.5)
                    continue
                self._deliver(batch.records, first=batch.attempts == 0)
            except (_DeliveryError, StoreUnavailable) as exc:
                self._spool.failed(batch.id, str(exc), min(0.2 * 2 ** min(batch.attempts, 5), _MAX_BACKOFF_S))
                continue
            progressed = True
            if self._write == "direct":
                self._spool.done(batch.id)
                self._visibility.settled(ids)
            else:
                self._spool.sent(batch.id, 0.5)
                self._visibility.handed_over(ids, retried=True)
        return progressed

    def await_visible(self, must: Sequence[str] = ()) -> None:
        """Wait, bounded, for this process's spans to be readable; see `Visibility.wait`."""
        self._visibility.wait(must, self._conn.present, self._wake.set)

    def pending(self) -> int:
        """Batches in the spool not yet known to be in ClickHouse (any process's)."""
        return self._spool.pending()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        deadline = time.monotonic() + timeout_millis / 1000
        while self._spool.pending():
            self._wake.set()
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)
        return True

    def close(self) -> None:
        """Flush for a moment (what is left stays spooled for the next process), then stop the worker."""
        if self._closed:
            return
        self.force_flush(2000)
        self._closed = True
        self._wake.set()
        self._worker.join(timeout=5)
        self._spool.close()
