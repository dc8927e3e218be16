"""The reads coordination folds over: the task index, and claim/release events by task or in commit order."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from otel_mcp.store.base import ClaimEvent, TaskState, claim_event
from otel_mcp.store.sqlite._connection import _Connection
from otel_mcp.store.sqlite.queries import CLAIM_EVENTS_SQL, CLAIM_LOG_SQL, CLAIM_NAMES_SQL
from otel_mcp.store.sqlite.rows import dumps


class _CoordinationReads(_Connection):
    """The store's reads for find_ready, claims and the report (a part of `SQLiteStore`)."""

    def task_index(self) -> list[TaskState]:
        """Every task as of its newest status record; see `Store.task_index` and `TaskIndex`."""
        with self._reading() as db:
            return self._task_index.catch_up(db)

    def claim_events(
        self,
        task_ids: Sequence[str] | None = None,
        active_since_ns: int | None = None,
        after_ns: int | None = None,
    ) -> list[ClaimEvent]:
        sql = CLAIM_EVENTS_SQL
        params: list[Any] = []
        if task_ids is not None:
            if not task_ids:
                return []
            if len(task_ids) == 1:  # the claim path: one index range on (task_id, start_ns)
                sql += " AND task_id = ?"
                params.append(task_ids[0])
            else:
                sql += " AND task_id IN (SELECT value FROM json_each(?))"
                params.append(dumps(list(task_ids)))
        if after_ns is not None:
            sql += " AND start_ns > ?"
            params.append(after_ns)
        if active_since_ns is not None:
            sql += (
                f" AND task_id IN (SELECT task_id FROM span_store WHERE name IN ({CLAIM_NAMES_SQL}) AND start_ns >= ?)"
            )
            params.append(active_since_ns)
        sql += " ORDER BY start_ns, span_id"
        with self._reading() as db:
            rows = db.execute(sql, params).fetchall()
        return [claim_event(*row) for row in rows if row[1] in ("claim", "release")]

    def claim_log(self, after_seq: int | None) -> tuple[list[ClaimEvent], int]:
        """Claim/release events in the order they were committed, after position `after_seq`, and the new position.

        None: no events, the current position. Commit order is what a process that already folded the
        history up to a position needs to catch up on, whatever the events' timestamps.
        """
        with self._reading() as db:
            if after_seq is None:
                return [], int(db.execute("SELECT coalesce(max(seq), 0) FROM span_store").fetchone()[0])
            rows = db.execute(CLAIM_LOG_SQL, (after_seq,)).fetchall()
        events = [claim_event(*row[1:]) for row in rows if row[2] in ("claim", "release")]
        return events, int(rows[-1][0]) if rows else after_seq
