"""Read-your-writes: which spans this process wrote that readers cannot see yet, and waiting for them.

A span is unseen while it is spooled but not delivered (kept with why delivery failed), or handed
to the collector over OTLP but not yet in ClickHouse. Reads wait for the unseen ones, bounded; a
read that cites one of them (`must`) fails with the reason if it stays unreadable, any other read
answers from what is visible once the wait is over.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from otel_mcp.errors import StoreUnavailable

__all__ = ["Visibility"]


class Visibility:
    """The span ids readers are waiting for, under one lock shared by writers and readers."""

    def __init__(self, timeout_s: float, spool_path: Path) -> None:
        self.timeout_s = timeout_s
        self._spool_path = spool_path  # named in the error: where an unreadable span is kept
        self._undelivered: dict[str, str] = {}  # span id -> why delivery failed
        self._unseen: set[str] = set()
        self._lock = threading.Lock()

    def failed(self, span_ids: Iterable[str], why: str) -> None:
        """These spans stay spooled: delivery failed, for this reason."""
        with self._lock:
            for span_id in span_ids:
                self._undelivered[span_id] = why

    def handed_over(self, span_ids: Iterable[str], *, retried: bool = False) -> None:
        """The collector took these spans (OTLP); `retried` clears an earlier delivery failure."""
        ids = list(span_ids)
        with self._lock:
            if retried:
                for span_id in ids:
                    self._undelivered.pop(span_id, None)
            self._unseen.update(ids)

    def settled(self, span_ids: Iterable[str]) -> None:
        """These spans are in ClickHouse: nothing to wait for."""
        with self._lock:
            for span_id in span_ids:
                self._undelivered.pop(span_id, None)
                self._unseen.discard(span_id)

    def _seen(self, present: set[str]) -> None:
        if present:
            with self._lock:
                self._unseen -= present
                for span_id in present:
                    self._undelivered.pop(span_id, None)

    def wait(
        self,
        must: Sequence[str],
        present: Callable[[Sequence[str]], set[str]],
        wake: Callable[[], None],
    ) -> None:
        """Wait, bounded, until spans this process wrote are readable.

        `must`: span ids a caller cites; if one of them stays unreadable the call fails with why.
        Without `must`, only spans already handed over (OTLP) are waited for, and a timeout is not an
        error: a read then answers from what is visible. `present` asks ClickHouse which ids it
        holds; `wake` nudges redelivery between asks.
        """
        with self._lock:
            wanted = set(self._unseen) | {s for s in must if s in self._undelivered}
        if not wanted:
            return
        deadline = time.monotonic() + self.timeout_s
        delay = 0.01
        while True:
            try:
                found = present(sorted(wanted))
            except StoreUnavailable:
                found = set()
            self._seen(found)
            wanted -= found
            if not wanted or time.monotonic() >= deadline:
                break
            wake()
            time.sleep(delay)
            delay = min(delay * 2, 0.25)
        if wanted and not must:
            # Handed to the collector but not in ClickHouse in time: stop making every read wait for
            # them. They stay spooled (and are resent); a read that cites one still waits for it.
            with self._lock:
                for span_id in wanted & self._unseen:
                    self._unseen.discard(span_id)
                    self._undelivered[span_id] = "the collector accepted it but it has not reached ClickHouse"
        missing = sorted(s for s in must if s in wanted)
        if missing:
            with self._lock:
                why = next((self._undelivered[s] for s in missing if s in self._undelivered), None)
            reason = f"delivery failed: {why}" if why else "the collector has not written it yet"
            raise StoreUnavailable(
                f"span {', '.join(missing)} was recorded by this server but is not readable in ClickHouse after "
                f"{self.timeout_s:g}s ({reason}). It is kept in the local spool {self._spool_path} and is "
                "delivered as soon as ClickHouse is reachable; cite it again then"
            )
