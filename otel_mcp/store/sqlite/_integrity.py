"""What verification reads: the evidence chain's links, and rows or schema no otel-mcp server would have written."""

from __future__ import annotations

from collections.abc import Sequence

from otel_mcp.store.sqlite._connection import _Connection
from otel_mcp.store.sqlite.queries import CHAIN_LINKS_SQL, CHAIN_SUMMARY_SQL, COLUMN_MISMATCH_SQL, MALFORMED_ROWS_SQL
from otel_mcp.store.sqlite.rows import dumps
from otel_mcp.store.sqlite.schema import schema_problems


class _Integrity(_Connection):
    """The store's integrity reads (a part of `SQLiteStore`)."""

    def chain_summary(self, writer: str) -> tuple[int, int]:
        with self._reading() as db:
            count, highest = db.execute(CHAIN_SUMMARY_SQL, [writer]).fetchone()
        return int(count or 0), int(highest or 0)

    def chain_links(self, writer: str, seqs: Sequence[int]) -> dict[int, str]:
        if not seqs:
            return {}
        with self._reading() as db:
            rows = db.execute(CHAIN_LINKS_SQL, [writer, dumps([int(s) for s in seqs])]).fetchall()
        return {int(seq): str(attestation) for seq, attestation in rows if attestation is not None}

    def column_mismatches(self, limit: int = 200) -> list[str]:
        """Rows whose filter columns say something else than their own attributes (rewritten columns)."""
        names = ("task_id", "task_type", "task_status", "task_parent_id", "source")
        out = []
        with self._reading() as db:
            rows = db.execute(COLUMN_MISMATCH_SQL, [limit]).fetchall()
        for row in rows:
            pairs = zip(names, zip(row[1::2], row[2::2], strict=True), strict=True)
            for name, (column, attribute) in pairs:
                if column != attribute:
                    out.append(
                        f"span {row[0]}: its {name} column says {column!r} but its own content says {attribute!r}"
                    )
        return out

    def schema_problems(self) -> list[str]:
        """How the file's schema differs from otel-mcp's (added triggers, a replaced view, dropped indexes)."""
        with self._reading() as db:
            return schema_problems(db, self.path)

    def malformed_rows(self, limit: int = 200) -> list[str]:
        """Rows no server could have written, which every read that meets them fails on."""
        with self._reading() as db:
            rows = db.execute(MALFORMED_ROWS_SQL, [limit]).fetchall()
        return [
            f"span {str(span_id)[:32]!r} (seq {seq}) is not a row otel-mcp writes (its attributes, resource or links "
            "are not JSON of the right shape, or its times are not integers): forged or damaged; delete it"
            for seq, span_id in rows
        ]
