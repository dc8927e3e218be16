"""`ClickHouseStore`: spans in the OpenTelemetry Collector exporter's `otel_traces` layout.

Reading the exporter's own table makes every span a collector writes (CI jobs, other tools, other
SDKs) first-class evidence (`source=external`). Writing goes one of two ways (`write`): `otlp`
ships spans to the collector (the default, as deployed), `direct` inserts rows itself. Whichever
way, every batch is spooled on local disk before delivery, so `export` returns once the spans are
safe even while ClickHouse or the collector is down, and reads wait, bounded, for this process's
own writes.

The store answers the protocol's reads itself (rows are deduplicated by SpanId, since redelivery
can write a row twice; task-status reads use otel-mcp's task-status index when it exists) and
holds what does the rest: `Connection` (client, schema), `Delivery` over a `Spool` (durable
writes), `Visibility` (read-your-writes) and the agent SQL sandbox.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from otel_mcp.errors import InvalidArgument, StoreUnavailable
from otel_mcp.model import (
    ATTR_ATTESTATION,
    ATTR_CHAIN_SEQ,
    ATTR_CHAIN_WRITER,
    ATTR_COMMITS,
    ATTR_DEPENDS_ON,
    ATTR_TASK_ID,
    ATTR_TASK_STATUS,
    ATTR_TASK_TYPE,
    AttrValue,
    SpanRecord,
)
from otel_mcp.store.base import (
    CLAIM_ACTION_ATTR,
    CLAIM_LEASE_ATTR,
    CLAIM_PATHS_ATTR,
    CLAIM_SHARED_ATTR,
    CLAIM_SPAN_NAMES,
    ClaimEvent,
    SpanFilter,
    SqlRows,
    TaskState,
    claim_event,
    span_as_row,
)
from otel_mcp.store.clickhouse.codec import RECORD_COLUMNS, record_from_row, record_to_json
from otel_mcp.store.clickhouse.connection import Connection
from otel_mcp.store.clickhouse.delivery import Delivery
from otel_mcp.store.clickhouse.filters import prefilter_exact, scan, where_clauses
from otel_mcp.store.clickhouse.sandbox import run_agent_sql
from otel_mcp.store.clickhouse.schema import check_identifier
from otel_mcp.store.clickhouse.spool import Spool
from otel_mcp.store.clickhouse.views import AGENT_SQL
from otel_mcp.store.clickhouse.visibility import Visibility

__all__ = ["ClickHouseStore"]

_log = logging.getLogger(__name__)

_CLAIM_NAMES_SQL = ", ".join(f"'{name}'" for name in CLAIM_SPAN_NAMES)


def _version_key(record: SpanRecord) -> tuple[Any, ...]:
    # Differing copies of one span id are ordered deterministically, so every reader marks the same one.
    return (record.span_id, json.dumps(record_to_json(record), sort_keys=True, default=str))


def _replace_attrs(record: SpanRecord, attributes: dict[str, AttrValue]) -> SpanRecord:
    return replace(record, attributes=attributes)


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

    def row_encoder(self) -> Callable[[SpanRecord], Any]:
        return span_as_row  # the spool takes spans

    def export_rows(self, rows: Sequence[Any]) -> None:
        self._delivery.export(rows)

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

    # -- reads: every read waits (bounded) for this process's own writes first ---------------------

    def _records(self, sql: str, params: Mapping[str, Any]) -> list[SpanRecord]:
        return [record_from_row(row) for row in self._conn.run(sql, params)]

    def get_spans(self, span_ids: Sequence[str]) -> dict[str, SpanRecord]:
        if not span_ids:
            return {}
        self._delivery.await_visible(span_ids)
        rows = self._records(
            f"SELECT {RECORD_COLUMNS} FROM {self._conn.target} WHERE SpanId IN {{ids:Array(String)}}",
            {"ids": list(dict.fromkeys(span_ids))},
        )
        out: dict[str, SpanRecord] = {}
        for record in sorted(rows, key=_version_key):
            other = out.get(record.span_id)
            if other is None:
                out[record.span_id] = record
            elif other != record:
                # Two different rows under one span id: the table is append-only, so this is a rewrite
                # (or an injected copy). Mark it; the marker is part of the signed content, so an
                # attested span fails verification instead of one copy being silently believed.
                attrs = dict(other.attributes)
                attrs["otel_mcp.store.conflict"] = "this span id has differing copies in ClickHouse"
                out[record.span_id] = _replace_attrs(other, attrs)
        return out

    def find_spans(self, flt: SpanFilter) -> list[SpanRecord]:
        if flt.limit <= 0 or (flt.task_ids is not None and not flt.task_ids):
            return []
        self._delivery.await_visible(())
        indexed = self._conn.indexed and (flt.has_status or flt.task_status is not None)
        clauses, params = where_clauses(flt, indexed=indexed)
        exact = [p for p in flt.where if not prefilter_exact(p)]
        out: list[SpanRecord] = []
        seen_spans: set[str] = set()
        seen_tasks: set[str | None] = set()
        page = max(flt.limit * 2, 64) if (exact or flt.latest_per_task) else flt.limit + 1
        # A filter naming a task, its parent or a trace matches few rows, found through skip indexes
        # over all of history at once; time windows only pay when many rows match.
        # On the index, a given status and type is a primary-key prefix already ordered by time.
        selective = any(v is not None for v in (flt.task_id, flt.task_ids, flt.parent_task_id, flt.trace_id)) or (
            indexed and flt.task_status is not None and flt.task_type is not None
        )
        for record in scan(
            self._records,
            self._conn.tasks if indexed else self._conn.target,
            clauses,
            params,
            oldest_first=flt.oldest_first and not flt.latest_per_task,
            since_ns=flt.since_ns,
            page=page,
            windows=not selective,
        ):
            if record.span_id in seen_spans:
                continue
            seen_spans.add(record.span_id)
            if exact and not all(p.holds(record.attributes.get(p.key)) for p in exact):
                continue
            if flt.latest_per_task:
                if record.task_id in seen_tasks:
                    continue
                seen_tasks.add(record.task_id)
            out.append(record)
            if len(out) >= flt.limit:
                break
        if flt.latest_per_task and flt.oldest_first:
            out.reverse()
        return out

    def latest_status(self, task_ids: Sequence[str]) -> dict[str, SpanRecord]:
        ids = list(dict.fromkeys(task_ids))
        if not ids:
            return {}
        self._delivery.await_visible(())
        out: dict[str, SpanRecord] = {}
        for i in range(0, len(ids), 1000):
            if self._conn.indexed:
                where = "TaskId IN {ids:Array(String)}"
            else:
                where = (
                    f"mapContains(SpanAttributes, '{ATTR_TASK_STATUS}') "
                    f"AND SpanAttributes['{ATTR_TASK_ID}'] IN {{ids:Array(String)}}"
                )
            sql = (
                f"SELECT {RECORD_COLUMNS} FROM {self._conn.tasks} WHERE {where} "
                f"ORDER BY Timestamp DESC, SpanId DESC LIMIT 1 BY SpanAttributes['{ATTR_TASK_ID}']"
            )
            for record in self._records(sql, {"ids": ids[i : i + 1000]}):
                if record.task_id is not None:
                    out[record.task_id] = record
        return out

    def commit_records(self, commits: Sequence[str], limit: int = 500) -> list[SpanRecord]:
        """Status records listing one of the commits: lists are JSON text in the map, so every prefix
        of 7+ characters of each full id is matched against the listed ids (an abbreviated id is one)."""
        ids = list(dict.fromkeys(commits))
        if not ids or limit <= 0:
            return []
        self._delivery.await_visible(())
        status = "" if self._conn.indexed else f"mapContains(SpanAttributes, '{ATTR_TASK_STATUS}') AND "
        sql = (
            f"SELECT {RECORD_COLUMNS} FROM {self._conn.tasks} WHERE {status}"
            f"mapContains(SpanAttributes, '{ATTR_COMMITS}') "
            f"AND hasAny(JSONExtract(SpanAttributes['{ATTR_COMMITS}'], 'Array(String)'), {{p:Array(String)}}) "
            "ORDER BY Timestamp DESC, SpanId DESC LIMIT 1 BY SpanId LIMIT {n:UInt32}"
        )
        found: dict[str, SpanRecord] = {}
        for i in range(0, len(ids), 100):  # at most 5,800 prefixes per query
            prefixes = sorted({c[:n] for c in ids[i : i + 100] for n in range(7, len(c) + 1)})
            for record in self._records(sql, {"p": prefixes, "n": limit}):
                found.setdefault(record.span_id, record)
        return sorted(found.values(), key=lambda r: (r.start_ns, r.span_id), reverse=True)[:limit]

    def status_bounds(self, task_id: str) -> tuple[SpanRecord | None, SpanRecord | None]:
        first = self.find_spans(SpanFilter(task_id=task_id, has_status=True, oldest_first=True, limit=1))
        if not first:
            return None, None
        return first[0], self.latest_status([task_id]).get(task_id, first[0])

    def trace(self, trace_id: str, limit: int) -> list[SpanRecord]:
        self._delivery.await_visible(())
        sql = (
            f"SELECT {RECORD_COLUMNS} FROM {self._conn.target} WHERE TraceId = {{t:String}} "
            "ORDER BY Timestamp, SpanId LIMIT 1 BY SpanId LIMIT {n:UInt32}"
        )
        return self._records(sql, {"t": trace_id, "n": limit})

    def count(self) -> int:
        self._delivery.await_visible(())
        return int(self._conn.run(f"SELECT uniqExact(SpanId) FROM {self._conn.target}")[0][0])

    def _chain_where(self, writer: str) -> tuple[str, dict[str, Any]]:
        where = f"SpanAttributes['{ATTR_CHAIN_WRITER}'] = {{w:String}}"
        params: dict[str, Any] = {"w": writer}
        # A writer id starts with its start time in hex nanoseconds: its spans are no older, which
        # lets the primary key's time column skip the rest of the table.
        head = writer.split("-", 1)[0]
        try:
            started = int(head, 16)
        except ValueError:
            started = 0
        if 0 < started < 2**63:
            where += " AND Timestamp >= fromUnixTimestamp64Nano({t:Int64})"
            params["t"] = started
        return where, params

    def chain_summary(self, writer: str) -> tuple[int, int]:
        self._delivery.await_visible(())
        where, params = self._chain_where(writer)
        seq = f"toUInt64OrZero(SpanAttributes['{ATTR_CHAIN_SEQ}'])"
        rows = self._conn.run(f"SELECT uniqExact({seq}), max({seq}) FROM {self._conn.target} WHERE {where}", params)
        count, highest = rows[0] if rows else (0, 0)
        return int(count or 0), int(highest or 0)

    def chain_links(self, writer: str, seqs: Sequence[int]) -> dict[int, str]:
        if not seqs:
            return {}
        self._delivery.await_visible(())
        where, params = self._chain_where(writer)
        params["seqs"] = [str(int(s)) for s in seqs]
        sql = (
            f"SELECT SpanAttributes['{ATTR_CHAIN_SEQ}'], any(SpanAttributes['{ATTR_ATTESTATION}']) "
            f"FROM {self._conn.target} WHERE {where} AND SpanAttributes['{ATTR_CHAIN_SEQ}'] IN {{seqs:Array(String)}} "
            f"GROUP BY SpanAttributes['{ATTR_CHAIN_SEQ}']"
        )
        return {int(seq): str(att) for seq, att in self._conn.run(sql, params) if att}

    def task_index(self) -> list[TaskState]:
        """Every task as of its newest status record: one aggregation, newest by (Timestamp, SpanId)."""
        self._delivery.await_visible(())
        key = "(Timestamp, SpanId)"
        if self._conn.indexed:  # the same aggregation over narrow columns instead of the attribute map
            task_type, status, agent, deps, task, source = (
                "TaskType",
                "TaskStatus",
                "AgentId",
                "DependsOn",
                "TaskId",
                "",
            )
        else:
            task_type, status, agent = (
                f"SpanAttributes['{ATTR_TASK_TYPE}']",
                f"SpanAttributes['{ATTR_TASK_STATUS}']",
                AGENT_SQL,
            )
            deps, task = f"SpanAttributes['{ATTR_DEPENDS_ON}']", f"SpanAttributes['{ATTR_TASK_ID}']"
            source = f"mapContains(SpanAttributes, '{ATTR_TASK_STATUS}') AND "
        sql = (
            f"SELECT task, argMax({task_type}, {key}), argMax({status}, {key}), "
            f"toUnixTimestamp64Nano(max(Timestamp)), argMax(SpanId, {key}), argMax({agent}, {key}), "
            f"argMaxIf({deps}, {key}, {deps} != '') "
            f"FROM {self._conn.tasks} WHERE {source}{task} != '' GROUP BY {task} AS task"
        )
        out = []
        for task, task_type, status, start_ns, span_id, agent, deps in self._conn.run(sql):
            depends = SpanRecord("", "", None, "", 0, 0, attributes={ATTR_DEPENDS_ON: deps}).depends_on if deps else ()
            out.append(TaskState(task, task_type or None, status, depends, int(start_ns), span_id, agent or None))
        return out

    def claim_events(
        self,
        task_ids: Sequence[str] | None = None,
        active_since_ns: int | None = None,
        after_ns: int | None = None,
    ) -> list[ClaimEvent]:
        if task_ids is not None and not task_ids:
            return []
        self._delivery.await_visible(())
        task = f"SpanAttributes['{ATTR_TASK_ID}']"
        where = [f"SpanName IN ({_CLAIM_NAMES_SQL})", f"{task} != ''", f"{AGENT_SQL} != ''"]
        params: dict[str, Any] = {}
        if task_ids is not None:
            where.append(f"{task} IN {{ids:Array(String)}}")
            params["ids"] = list(task_ids)
        if after_ns is not None:
            where.append("Timestamp > fromUnixTimestamp64Nano({after:Int64})")
            params["after"] = after_ns
        if active_since_ns is not None:
            where.append(
                f"{task} IN (SELECT SpanAttributes['{ATTR_TASK_ID}'] FROM {self._conn.target} "
                f"WHERE SpanName IN ({_CLAIM_NAMES_SQL}) AND Timestamp >= fromUnixTimestamp64Nano({{active:Int64}}))"
            )
            params["active"] = active_since_ns
        sql = (
            f"SELECT {task}, SpanAttributes['{CLAIM_ACTION_ATTR}'], {AGENT_SQL}, toUnixTimestamp64Nano(Timestamp), "
            f"SpanId, toInt64OrZero(SpanAttributes['{CLAIM_LEASE_ATTR}']), SpanAttributes['{CLAIM_PATHS_ATTR}'], "
            f"SpanAttributes['{CLAIM_SHARED_ATTR}'] FROM {self._conn.target} "
            f"WHERE {' AND '.join(where)} ORDER BY Timestamp, SpanId LIMIT 1 BY SpanId"
        )
        return [claim_event(*row) for row in self._conn.run(sql, params) if row[1] in ("claim", "release")]

    # -- the agent's SQL -----------------------------------------------------------------------

    def query_sql(self, sql: str, limit: int, max_bytes: int, timeout_s: float) -> SqlRows:
        """Run the agent's SELECT read-only and capped; see `sandbox.run_agent_sql`."""
        self._delivery.await_visible()
        return run_agent_sql(self._conn, sql, limit, max_bytes, timeout_s)
