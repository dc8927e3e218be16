"""`ClickHouseStore`: spans in the OpenTelemetry Collector exporter's `otel_traces` layout.

Reading the exporter's own table makes every span a collector writes (CI jobs, other tools, other
SDKs) first-class evidence (`source=external`). Writing goes one of two ways (`write`): `otlp`
ships spans to the collector (the default, as deployed), `direct` inserts rows itself. Whichever
way, every batch is spooled on local disk before delivery, so `export` returns once the spans are
safe even while ClickHouse or the collector is down, and reads wait, bounded, for this process's
own writes.

The store is a front over its parts: `Connection` (client, schema), `Spool` and `Delivery`
(durable writes), `Visibility` (read-your-writes), `Reader` (the protocol's reads) and the agent
SQL sandbox.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from otel_mcp.errors import InvalidArgument, StoreUnavailable
from otel_mcp.model import SpanRecord
from otel_mcp.store.base import ClaimEvent, SpanFilter, SqlRows, TaskState
from otel_mcp.store.clickhouse.connection import Connection
from otel_mcp.store.clickhouse.delivery import Delivery
from otel_mcp.store.clickhouse.reads import Reader
from otel_mcp.store.clickhouse.sandbox import run_agent_sql
from otel_mcp.store.clickhouse.schema import check_identifier
from otel_mcp.store.clickhouse.spool import Spool
from otel_mcp.store.clickhouse.visibility import Visibility

__all__ = ["ClickHouseStore"]

_log = logging.getLogger(__name__)


class ClickHouseStore:
    """Spans in ClickHouse, in the collector exporter's `otel_traces` table."""

    backend = "clickhouse"
    blocking_io = True
    problem: str | None = None  # outages are spooled through, never a standing refusal

    def __init__(
        self,
        url: str = "http://localhost:8123",
        *,
        database: str = "otel",
        table: str = "otel_traces",
        write: str = "otlp",
        username: str = "default",
        password: str = "",
        spool_dir: str | Path = ".otel-mcp/spool",
        otlp_endpoint: str | None = None,
        create_schema: bool = True,
        visible_timeout_s: float = 10.0,
        retry_interval_s: float = 0.2,
        connect_timeout_s: float = 5.0,
    ) -> None:
        if write not in ("direct", "otlp"):
            raise InvalidArgument(f"OTEL_MCP_CLICKHOUSE_WRITE={write!r} is not known; use 'otlp' or 'direct'")
        try:
            self.database = check_identifier(database, "OTEL_MCP_CLICKHOUSE_DATABASE")
            self.table = check_identifier(table, "OTEL_MCP_CLICKHOUSE_TABLE")
        except ValueError as exc:
            raise InvalidArgument(str(exc)) from None
        if write == "otlp" and not otlp_endpoint:
            raise InvalidArgument(
                "OTEL_MCP_CLICKHOUSE_WRITE=otlp needs the collector's OTLP/HTTP endpoint: set "
                "OTEL_EXPORTER_OTLP_ENDPOINT (e.g. http://collector:4318), or use OTEL_MCP_CLICKHOUSE_WRITE=direct"
            )
        self.url = url
        self.write = write
        self.otlp_endpoint = self._traces_url(otlp_endpoint) if otlp_endpoint else None
        self._conn = Connection(
            url,
            self.database,
            self.table,
            username=username,
            password=password,
            connect_timeout_s=connect_timeout_s,
            create_schema=create_schema,
        )
        spool = Spool(Path(spool_dir) / "spool.db")
        self._visibility = Visibility(visible_timeout_s, spool.path)
        self._delivery = Delivery(
            self._conn,
            spool,
            self._visibility,
            write=write,
            otlp_endpoint=self.otlp_endpoint,
            retry_interval_s=retry_interval_s,
        )
        self._reader = Reader(self._conn, self._delivery.await_visible)
        try:
            self._conn.ensure_schema()
        except StoreUnavailable as exc:
            # Start anyway: writes spool and are delivered when ClickHouse is back; reads say it is down.
            _log.warning("%s", exc)
        self._delivery.start()  # and replay whatever an earlier process left in the spool

    @property
    def exports_otlp(self) -> bool:
        """Whether spans leave over OTLP already (Telemetry then adds no OTLP exporter of its own)."""
        return self.write == "otlp"

    @property
    def visible_timeout_s(self) -> float:
        """How long a read waits for this process's own writes to become readable."""
        return self._visibility.timeout_s

    @visible_timeout_s.setter
    def visible_timeout_s(self, seconds: float) -> None:
        self._visibility.timeout_s = seconds

    @staticmethod
    def _traces_url(endpoint: str) -> str:
        endpoint = endpoint.rstrip("/")
        return endpoint if endpoint.endswith("/v1/traces") else f"{endpoint}/v1/traces"

    # -- exporter side -------------------------------------------------------------------------

    def export(self, spans: Sequence[SpanRecord]) -> None:
        """Spool, then deliver; see `Delivery.export`."""
        self._delivery.export(spans)

    def redeliver(self, limit: int = 100) -> bool:
        """Deliver (or confirm) spooled batches once; True if the spool shrank or nothing was pending."""
        return self._delivery.redeliver(limit)

    def pending(self) -> int:
        """Batches in the spool not yet known to be in ClickHouse (any process's)."""
        return self._delivery.pending()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self._delivery.force_flush(timeout_millis)

    def shutdown(self) -> None:
        self._delivery.close()  # best effort: what is left stays spooled for the next process
        self._conn.close()

    close = shutdown

    # -- reads ---------------------------------------------------------------------------------

    def get_spans(self, span_ids: Sequence[str]) -> dict[str, SpanRecord]:
        return self._reader.get_spans(span_ids)

    def find_spans(self, flt: SpanFilter) -> list[SpanRecord]:
        return self._reader.find_spans(flt)

    def latest_status(self, task_ids: Sequence[str]) -> dict[str, SpanRecord]:
        return self._reader.latest_status(task_ids)

    def status_bounds(self, task_id: str) -> tuple[SpanRecord | None, SpanRecord | None]:
        return self._reader.status_bounds(task_id)

    def commit_records(self, commits: Sequence[str], limit: int = 500) -> list[SpanRecord]:
        return self._reader.commit_records(commits, limit)

    def trace(self, trace_id: str, limit: int) -> list[SpanRecord]:
        return self._reader.trace(trace_id, limit)

    def count(self) -> int:
        return self._reader.count()

    def chain_summary(self, writer: str) -> tuple[int, int]:
        return self._reader.chain_summary(writer)

    def chain_links(self, writer: str, seqs: Sequence[int]) -> dict[int, str]:
        return self._reader.chain_links(writer, seqs)

    def task_index(self) -> list[TaskState]:
        return self._reader.task_index()

    def claim_events(
        self,
        task_ids: Sequence[str] | None = None,
        active_since_ns: int | None = None,
        after_ns: int | None = None,
    ) -> list[ClaimEvent]:
        return self._reader.claim_events(task_ids, active_since_ns, after_ns)

    def query_sql(self, sql: str, limit: int, max_bytes: int, timeout_s: float) -> SqlRows:
        """Run the agent's SELECT read-only and capped; see `sandbox.run_agent_sql`."""
        self._delivery.await_visible()
        return run_agent_sql(self._conn, sql, limit, max_bytes, timeout_s)
