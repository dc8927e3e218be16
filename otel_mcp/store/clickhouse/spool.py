"""The durable spool: batches not yet known to be in ClickHouse, in a local SQLite file.

Every batch is appended here *before* delivery and deleted only once delivered (direct writes) or
seen in ClickHouse (OTLP), so spans survive ClickHouse or the collector being down, and a restarted
process replays what a previous one left. The file is opened with `synchronous=FULL`: a spooled
batch is the only copy until delivered, so it must survive power loss, not only a crash.

Several processes may share one spool. A batch is leased while one process delivers it, so two do
not deliver it at once; a process that dies mid-delivery leaves a lease that lapses and the batch is
picked up again.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from otel_mcp.model import SpanRecord
from otel_mcp.store._wal import connect_wal
from otel_mcp.store.clickhouse.codec import record_from_json, record_to_json
from otel_mcp.store.statedir import make_state_dir

__all__ = ["Spool", "SpoolBatch"]

_NS: Final = 1_000_000_000


@dataclass(slots=True)
class SpoolBatch:
    """One spooled batch: its spans, failed delivery attempts, and when OTLP handed it over (0: never)."""

    id: int
    records: list[SpanRecord]
    attempts: int
    sent_ns: int


class Spool:
    """Batches not yet known to be in ClickHouse, in an SQLite file several processes may share."""

    def __init__(self, path: Path) -> None:
        make_state_dir(path.parent)
        self.path = path
        self._lock = threading.Lock()
        self._db = connect_wal(path, busy_timeout_s=30)
        # FULL: a spooled batch survives power loss, not only a crash; it is the only copy until delivered.
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS batches (id INTEGER PRIMARY KEY, created_ns INTEGER NOT NULL, "
            "payload TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, leased_until INTEGER NOT NULL DEFAULT 0, "
            "sent_ns INTEGER NOT NULL DEFAULT 0, last_error TEXT NOT NULL DEFAULT '')"
        )

    def add(self, records: Sequence[SpanRecord], lease_s: float) -> int:
        """Keep a new batch, leased to the caller for `lease_s`; returns its id."""
        payload = json.dumps([record_to_json(r) for r in records], separators=(",", ":"), ensure_ascii=False)
        now = time.time_ns()
        with self._lock:
            cursor = self._db.execute(
                "INSERT INTO batches (created_ns, payload, leased_until) VALUES (?, ?, ?)",
                (now, payload, now + int(lease_s * _NS)),
            )
        return int(cursor.lastrowid or 0)

    def claim(self, limit: int, lease_s: float) -> list[SpoolBatch]:
        """Lease up to `limit` batches whose lease has lapsed, oldest first."""
        now = time.time_ns()
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                rows = self._db.execute(
                    "SELECT id, payload, attempts, sent_ns FROM batches WHERE leased_until < ? ORDER BY id LIMIT ?",
                    (now, limit),
                ).fetchall()
                self._db.executemany(
                    "UPDATE batches SET leased_until = ? WHERE id = ?",
                    [(now + int(lease_s * _NS), row[0]) for row in rows],
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return [SpoolBatch(r[0], [record_from_json(d) for d in json.loads(r[1])], r[2], r[3]) for r in rows]

    def done(self, batch_id: int) -> None:
        """The batch is in ClickHouse: forget it."""
        with self._lock:
            self._db.execute("DELETE FROM batches WHERE id = ?", (batch_id,))

    def failed(self, batch_id: int, error: str, retry_in_s: float) -> None:
        """Delivery failed: count the attempt, keep why, and let it be claimed again after `retry_in_s`."""
        with self._lock:
            self._db.execute(
                "UPDATE batches SET attempts = attempts + 1, last_error = ?, leased_until = ? WHERE id = ?",
                (error[:500], time.time_ns() + int(retry_in_s * _NS), batch_id),
            )

    def sent(self, batch_id: int, check_in_s: float) -> None:
        """The collector took the batch (OTLP): check after `check_in_s` whether ClickHouse shows it."""
        now = time.time_ns()
        with self._lock:
            self._db.execute(
                "UPDATE batches SET attempts = attempts + 1, sent_ns = ?, leased_until = ? WHERE id = ?",
                (now, now + int(check_in_s * _NS), batch_id),
            )

    def release(self, batch_id: int, retry_in_s: float) -> None:
        """Give the lease back without counting an attempt; claimable again after `retry_in_s`."""
        with self._lock:
            self._db.execute(
                "UPDATE batches SET leased_until = ? WHERE id = ?", (time.time_ns() + int(retry_in_s * _NS), batch_id)
            )

    def pending(self) -> int:
        """How many batches wait, leased or not, by any process."""
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM batches").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()
