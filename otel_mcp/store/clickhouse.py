"""The ClickHouse store: spans in the OpenTelemetry Collector exporter's `otel_traces` layout.

Reading the exporter's own table makes every span a collector writes (CI jobs, other tools, other
SDKs) first-class evidence (`source=external`). Writing goes one of two ways:

- `direct`: this process inserts rows itself, in the exporter's layout (`client.insert`, waiting
  for any async insert to be flushed), so a span is readable by everyone when `export` returns;
- `otlp`: spans are shipped to the collector over OTLP/HTTP; the collector batches, so a span
  becomes readable a little later. Reads that cite a span this process wrote wait for it, bounded.

Durability first, whichever way: every batch is appended to a local spool (an SQLite file with
`synchronous=FULL` under `spool_dir`) *before* delivery and deleted only once delivered (direct) or
seen in ClickHouse (otlp). When ClickHouse or the collector is down, `export` still returns (the
spans are safe on disk) and a background thread redelivers; a restarted process replays what a
previous one left. Redelivery can duplicate a row (an insert that succeeded but whose answer was
lost), and the exporter's table is a plain MergeTree, so every read here dedupes by SpanId, and a
retried batch first asks which of its span ids already arrived.

Attribute maps are `Map(String, String)`: values are written as text (numbers as text, booleans
`true`/`false`, lists as compact JSON) and read back as numbers, booleans and tuples only where
the text is exactly what that value would have been written as, so text such as '007' stays text.

Newest-first reads scan time windows from the present backwards (last hour, day, week, month, the
rest): the table is partitioned by day and keyed by second, so "the newest 50 matching" reads a
few recent granules instead of all history, and the answer is exact because windows are disjoint
and visited in order.
"""

from __future__ import annotations

import json
import logging
import math
import sqlite3
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final
from uuid import UUID

from otel_mcp.errors import InvalidArgument, StoreUnavailable
from otel_mcp.model import (
    ATTR_AGENT_ID,
    ATTR_DEPENDS_ON,
    ATTR_PARENT_ID,
    ATTR_SOURCE,
    ATTR_TASK_ID,
    ATTR_TASK_STATUS,
    ATTR_TASK_TYPE,
    AttrValue,
    SpanRecord,
)
from otel_mcp.store._wal import connect_wal
from otel_mcp.store.base import (
    CLAIM_ACTION_ATTR,
    CLAIM_LEASE_ATTR,
    CLAIM_SPAN_NAMES,
    SPANS_VIEW_COLUMNS,
    ClaimEvent,
    SpanFilter,
    SqlRows,
    TaskState,
)
from otel_mcp.store.clickhouse_schema import (
    TRACES_INSERT_COLUMNS,
    check_identifier,
    create_database_ddl,
    task_index_backfill_sql,
    task_index_name,
    task_index_table_ddl,
    task_index_view_ddl,
    traces_table_ddl,
)
from otel_mcp.store.predicates import Predicate

if TYPE_CHECKING:
    from clickhouse_connect.driver.client import Client

    from otel_mcp.config import Settings

__all__ = ["ClickHouseStore", "attr_from_text", "attr_to_text", "record_to_row", "spans_view_ddl"]

log = logging.getLogger(__name__)

_NS: Final = 1_000_000_000
# Newest-first scans visit [now - w, ...) for these w, then everything older (see the module docstring).
_WINDOWS_S: Final = (3600, 86_400, 7 * 86_400, 31 * 86_400)
_SPOOL_LEASE_S: Final = 30.0
_RESEND_AFTER_S: Final = 60.0
_MAX_BACKOFF_S: Final = 5.0

# Reading a row back into a SpanRecord: the nanosecond start comes out as an integer (a DateTime64
# read as a Python datetime would lose the last three digits, and with them attestation).
_RECORD_COLUMNS: Final = (
    "toUnixTimestamp64Nano(Timestamp), TraceId, SpanId, ParentSpanId, SpanName, SpanKind, Duration, StatusCode, "
    "StatusMessage, SpanAttributes, ResourceAttributes, ScopeName, `Links.TraceId`, `Links.SpanId`"
)
_AGENT_SQL: Final = (
    f"if(mapContains(SpanAttributes, '{ATTR_AGENT_ID}'), SpanAttributes['{ATTR_AGENT_ID}'], "
    f"ResourceAttributes['{ATTR_AGENT_ID}'])"
)
_STATUS_SQL: Final = (
    "multiIf(StatusCode IN ('Ok', 'STATUS_CODE_OK'), 'Ok', StatusCode IN ('Error', 'STATUS_CODE_ERROR'), 'Error', "
    "'Unset')"
)
_CLAIM_NAMES_SQL: Final = ", ".join(f"'{name}'" for name in CLAIM_SPAN_NAMES)
_STRING_KEYS: Final = frozenset(
    {ATTR_TASK_ID, ATTR_TASK_TYPE, ATTR_TASK_STATUS, ATTR_PARENT_ID, ATTR_AGENT_ID, ATTR_SOURCE, "service.name"}
)
_READ_ONLY_KINDS: Final = ("SELECT", "WITH", "(")


# -- values <-> the all-strings attribute map ----------------------------------------------------


def attr_to_text(value: Any) -> str:
    """One attribute value as the exporter stores it: text."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, list | tuple):
        return json.dumps(
            [v if isinstance(v, str | bool | int | float) else str(v) for v in value], separators=(",", ":")
        )
    return str(value)


def _scalar_from_text(text: str) -> str | bool | int | float:
    if text in ("true", "false"):
        return text == "true"
    if not text or not (text[0].isdigit() or (text[0] == "-" and len(text) > 1)):
        return text
    try:
        number = int(text)
    except ValueError:
        pass
    else:
        return number if str(number) == text and abs(number) < 2**63 else text
    try:
        real = float(text)
    except ValueError:
        return text
    return real if math.isfinite(real) and repr(real) == text else text


def attr_from_text(key: str, text: str) -> AttrValue:
    """Text from the map -> the value it was written as, when the text is exactly that value's spelling."""
    if key in _STRING_KEYS:
        # Identifiers and provenance are text by definition; a task called '7' must stay '7'.
        return text
    if text.startswith("[") and text.endswith("]"):
        try:
            items = json.loads(text)
        except ValueError:
            return text
        scalars = isinstance(items, list) and all(isinstance(v, str | bool | int | float) for v in items)
        if scalars and attr_to_text(items) == text:
            return tuple(items)
        return text
    return _scalar_from_text(text)


def _attrs_from_map(mapping: Mapping[str, str] | None) -> dict[str, AttrValue]:
    return {k: attr_from_text(k, v) for k, v in (mapping or {}).items()}


def _status(code: str) -> str:
    # Exporter versions have written both 'Ok' and 'STATUS_CODE_OK'.
    lowered = code.lower().removeprefix("status_code_")
    return {"ok": "Ok", "error": "Error"}.get(lowered, "Unset")


def _kind(kind: str) -> str:
    lowered = kind.lower().removeprefix("span_kind_")
    return lowered.capitalize() if lowered in ("server", "client", "producer", "consumer", "internal") else "Internal"


def record_to_row(record: SpanRecord) -> list[Any]:
    """A span as the collector's exporter writes it, in TRACES_INSERT_COLUMNS order."""
    resource = {k: attr_to_text(v) for k, v in record.resource.items()}
    return [
        record.start_ns,  # DateTime64(9) from integer nanoseconds: exact, no microsecond rounding
        record.trace_id,
        record.span_id,
        record.parent_span_id or "",
        "",
        record.name,
        record.kind,
        resource.get("service.name", ""),
        resource,
        record.scope_name,
        "",
        {k: attr_to_text(v) for k, v in record.attributes.items()},
        max(record.end_ns - record.start_ns, 0),
        record.status_code,
        record.status_message,
        [],
        [],
        [],
        [t for t, _ in record.links],
        [s for _, s in record.links],
        ["" for _ in record.links],
        [{} for _ in record.links],
    ]


def _record_from_row(row: Sequence[Any]) -> SpanRecord:
    start_ns, trace_id, span_id, parent, name, kind, duration, status, message, attrs, resource, scope, lt, ls = row
    return SpanRecord(
        span_id=span_id,
        trace_id=trace_id,
        parent_span_id=parent or None,
        name=name,
        start_ns=int(start_ns),
        end_ns=int(start_ns) + int(duration),
        kind=_kind(kind),
        status_code=_status(status),
        status_message=message,
        attributes=_attrs_from_map(attrs),
        resource=_attrs_from_map(resource),
        scope_name=scope,
        links=tuple(zip(lt or (), ls or (), strict=False)),
    )


def _record_to_json(record: SpanRecord) -> dict[str, Any]:
    return {
        "span_id": record.span_id,
        "trace_id": record.trace_id,
        "parent_span_id": record.parent_span_id,
        "name": record.name,
        "start_ns": record.start_ns,
        "end_ns": record.end_ns,
        "kind": record.kind,
        "status_code": record.status_code,
        "status_message": record.status_message,
        "attributes": {k: list(v) if isinstance(v, tuple) else v for k, v in record.attributes.items()},
        "resource": {k: list(v) if isinstance(v, tuple) else v for k, v in record.resource.items()},
        "scope_name": record.scope_name,
        "links": [list(link) for link in record.links],
    }


def _record_from_json(data: Mapping[str, Any]) -> SpanRecord:
    def values(mapping: Mapping[str, Any]) -> dict[str, AttrValue]:
        return {k: tuple(v) if isinstance(v, list) else v for k, v in mapping.items()}

    return SpanRecord(
        span_id=data["span_id"],
        trace_id=data["trace_id"],
        parent_span_id=data["parent_span_id"],
        name=data["name"],
        start_ns=data["start_ns"],
        end_ns=data["end_ns"],
        kind=data["kind"],
        status_code=data["status_code"],
        status_message=data["status_message"],
        attributes=values(data["attributes"]),
        resource=values(data["resource"]),
        scope_name=data["scope_name"],
        links=tuple((t, s) for t, s in data["links"]),
    )


def spans_view_ddl(database: str, table: str, view: str = "spans") -> str:
    """The read-only `spans` view with the flat columns every backend offers (see DESIGN.md)."""
    db = f"`{check_identifier(database, 'database')}`"
    src = f"{db}.`{check_identifier(table, 'table')}`"
    # Times as UTC text with microseconds, as the SQLite view has them, so string comparisons agree.
    return f"""CREATE VIEW IF NOT EXISTS {db}.`{check_identifier(view, "view")}` AS
SELECT
    SpanId AS span_id,
    TraceId AS trace_id,
    nullIf(ParentSpanId, '') AS parent_span_id,
    SpanName AS name,
    nullIf({_AGENT_SQL}, '') AS agent_id,
    nullIf(SpanAttributes['{ATTR_TASK_ID}'], '') AS task_id,
    nullIf(SpanAttributes['{ATTR_TASK_TYPE}'], '') AS task_type,
    nullIf(SpanAttributes['{ATTR_TASK_STATUS}'], '') AS task_status,
    nullIf(SpanAttributes['{ATTR_PARENT_ID}'], '') AS task_parent_id,
    toFloat64OrNull(SpanAttributes['quality.score']) AS quality_score,
    if(SpanAttributes['{ATTR_SOURCE}'] = '', 'external', SpanAttributes['{ATTR_SOURCE}']) AS source,
    {_STATUS_SQL} AS status_code,
    formatDateTime(Timestamp, '%Y-%m-%d %H:%i:%S.%f', 'UTC') AS start_time,
    formatDateTime(fromUnixTimestamp64Nano(toUnixTimestamp64Nano(Timestamp) + toInt64(Duration)),
                   '%Y-%m-%d %H:%i:%S.%f', 'UTC') AS end_time,
    Duration / 1e6 AS duration_ms,
    toJSONString(SpanAttributes) AS attributes
FROM {src}"""


# -- the spool -----------------------------------------------------------------------------------


@dataclass(slots=True)
class _Batch:
    id: int
    records: list[SpanRecord]
    attempts: int
    sent_ns: int


class _Spool:
    """Batches not yet known to be in ClickHouse, in an SQLite file several processes may share.

    A batch is leased while one process delivers it, so two processes do not deliver it at once; a
    process that dies mid-delivery leaves a lease that lapses and the batch is picked up again.
    """

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
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
        payload = json.dumps([_record_to_json(r) for r in records], separators=(",", ":"), ensure_ascii=False)
        now = time.time_ns()
        with self._lock:
            cursor = self._db.execute(
                "INSERT INTO batches (created_ns, payload, leased_until) VALUES (?, ?, ?)",
                (now, payload, now + int(lease_s * _NS)),
            )
        return int(cursor.lastrowid or 0)

    def claim(self, limit: int, lease_s: float) -> list[_Batch]:
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
        return [_Batch(r[0], [_record_from_json(d) for d in json.loads(r[1])], r[2], r[3]) for r in rows]

    def done(self, batch_id: int) -> None:
        with self._lock:
            self._db.execute("DELETE FROM batches WHERE id = ?", (batch_id,))

    def failed(self, batch_id: int, error: str, retry_in_s: float) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE batches SET attempts = attempts + 1, last_error = ?, leased_until = ? WHERE id = ?",
                (error[:500], time.time_ns() + int(retry_in_s * _NS), batch_id),
            )

    def sent(self, batch_id: int, check_in_s: float) -> None:
        now = time.time_ns()
        with self._lock:
            self._db.execute(
                "UPDATE batches SET attempts = attempts + 1, sent_ns = ?, leased_until = ? WHERE id = ?",
                (now, now + int(check_in_s * _NS), batch_id),
            )

    def release(self, batch_id: int, retry_in_s: float) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE batches SET leased_until = ? WHERE id = ?", (time.time_ns() + int(retry_in_s * _NS), batch_id)
            )

    def pending(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM batches").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()


class _DeliveryError(Exception):
    """ClickHouse or the collector did not take a batch; the batch stays spooled."""


# -- the store -----------------------------------------------------------------------------------


class ClickHouseStore:
    """Spans in ClickHouse, in the collector exporter's `otel_traces` table."""

    backend = "clickhouse"
    blocking_io = True

    def __init__(
        self,
        url: str = "http://localhost:8123",
        *,
        database: str = "otel",
        table: str = "otel_traces",
        write: str = "direct",
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
        self.visible_timeout_s = visible_timeout_s
        self._target = f"`{self.database}`.`{self.table}`"
        # Where task-status records are read: otel-mcp's index of them when it exists (see
        # clickhouse_schema), else the exporter's table itself.
        self._tasks = self._target
        self._connect: dict[str, Any] = {
            "username": username,
            "password": password,
            "connect_timeout": connect_timeout_s,
        }
        self._client: Client | None = None
        self._client_lock = threading.Lock()
        self._create_schema = create_schema
        self._schema_ready = False
        self._closed = False
        # Span ids written by this process that reads cannot see yet: not delivered (kept in the
        # spool) or delivered over OTLP but not yet confirmed in ClickHouse.
        self._undelivered: dict[str, str] = {}  # span id -> why delivery failed
        self._unseen: set[str] = set()
        self._state_lock = threading.Lock()
        self._spool = _Spool(Path(spool_dir) / "spool.db")
        self._wake = threading.Event()
        self._retry_interval_s = retry_interval_s
        try:
            self._ensure_schema()
        except StoreUnavailable as exc:
            # Start anyway: writes spool and are delivered when ClickHouse is back; reads say it is down.
            log.warning("%s", exc)
        self._worker = threading.Thread(target=self._redeliver_loop, name="otel-mcp-spool", daemon=True)
        self._worker.start()
        self._wake.set()  # replay whatever an earlier process left in the spool

    @classmethod
    def from_settings(cls, settings: Settings, env: Mapping[str, str] | None = None) -> ClickHouseStore:
        import os

        env = os.environ if env is None else env
        spool = settings.spool_dir or Path(settings.db_path).parent / "spool"
        endpoint = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_ENDPOINT")
        return cls(
            settings.clickhouse_url,
            database=settings.clickhouse_database,
            table=settings.clickhouse_table,
            write=settings.clickhouse_write,
            username=settings.clickhouse_user,
            password=settings.clickhouse_password,
            spool_dir=spool,
            otlp_endpoint=endpoint,
        )

    @property
    def _indexed(self) -> bool:
        return self._tasks != self._target

    @property
    def exports_otlp(self) -> bool:
        """Whether spans leave over OTLP already (Telemetry then adds no OTLP exporter of its own)."""
        return self.write == "otlp"

    @staticmethod
    def _traces_url(endpoint: str) -> str:
        endpoint = endpoint.rstrip("/")
        return endpoint if endpoint.endswith("/v1/traces") else f"{endpoint}/v1/traces"

    # -- connection ----------------------------------------------------------------------------

    def _get_client(self) -> Client:
        with self._client_lock:
            if self._client is None:
                import clickhouse_connect  # only here: it costs start-up time the SQLite path need not pay

                try:
                    self._client = clickhouse_connect.get_client(
                        dsn=self.url,
                        # One client, many threads: an auto session id would make concurrent queries
                        # collide ("session is locked") on a real server.
                        autogenerate_session_id=False,
                        **self._connect,
                    )
                except Exception as exc:
                    raise StoreUnavailable(self._down(exc)) from None
            return self._client

    def _down(self, exc: BaseException) -> str:
        text = str(exc).split("\n")[0][:300]
        return (
            f"ClickHouse at {self.url} is not reachable ({text}); check OTEL_MCP_CLICKHOUSE_URL and that the server "
            "is up, then retry"
        )

    def _run(self, sql: str, params: Mapping[str, Any] | None = None, **kwargs: Any) -> list[Sequence[Any]]:
        """Run trusted SQL (written here; values only as server-side parameters) and return its rows."""
        self._ensure_schema()
        try:
            result = self._get_client().query(sql, parameters=dict(params or {}), **kwargs)
        except Exception as exc:
            raise StoreUnavailable(self._describe(exc)) from None
        return list(result.result_rows)

    def _describe(self, exc: BaseException) -> str:
        from clickhouse_connect.driver.exceptions import DatabaseError

        if isinstance(exc, DatabaseError) and "Code:" in str(exc):
            message = str(exc).split("Code:", 1)[1].split("(for url")[0].strip()
            return f"ClickHouse refused a store query: Code: {message[:400]}"
        return self._down(exc)

    def _ensure_schema(self) -> None:
        if self._schema_ready:
            return
        client = self._get_client()
        try:
            if self._create_schema:
                # As the exporter does with `create_schema: true`: a fresh server works out of the box.
                client.command(create_database_ddl(self.database))
                client.command(traces_table_ddl(self.database, self.table))
            client.command(spans_view_ddl(self.database, self.table))
            self._ensure_task_index(client)
        except Exception as exc:
            raise StoreUnavailable(self._describe(exc)) from None
        # Unqualified names in the agent's SQL (`FROM spans`) resolve here; set only now that it exists.
        client.database = self.database
        self._schema_ready = True

    def _ensure_task_index(self, client: Client) -> None:
        index = f"`{self.database}`.`{task_index_name(self.table)}`"
        if self._create_schema:
            try:
                client.command(task_index_table_ddl(self.database, self.table))
                created = True
            except Exception as exc:
                if "TABLE_ALREADY_EXISTS" not in str(exc) and "Code: 57." not in str(exc):
                    raise
                created = False
            # View before backfill: a row inserted in between is copied twice (reads dedupe), never lost.
            client.command(task_index_view_ddl(self.database, self.table))
            if created:
                client.command(task_index_backfill_sql(self.database, self.table))
        elif not client.query(f"EXISTS TABLE {index}").result_rows[0][0]:
            return  # a schema someone else manages, without our index: read the exporter's table
        self._tasks = index

    # -- exporter side -------------------------------------------------------------------------

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
            log.warning("spool %s unavailable (%s); delivering without it", self._spool.path, exc)
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
            with self._state_lock:
                for record in records:
                    self._undelivered[record.span_id] = str(exc)
            log.warning("spooled %d spans for later delivery: %s", len(records), exc)
            self._wake.set()
            return
        if batch_id is not None:
            if self.write == "direct":
                self._spool.done(batch_id)
            else:
                self._spool.sent(batch_id, 0.5)
                with self._state_lock:
                    self._unseen.update(r.span_id for r in records)
                self._wake.set()

    def _deliver(self, records: Sequence[SpanRecord], *, first: bool) -> None:
        if self.write == "direct":
            self._insert(records, first=first)
        else:
            self._post_otlp(records)

    def _insert(self, records: Sequence[SpanRecord], *, first: bool) -> None:
        try:
            self._ensure_schema()
            client = self._get_client()
            if not first:
                # A retried batch may have landed the first time (the answer was lost): insert only the rest.
                present = self._present([r.span_id for r in records])
                records = [r for r in records if r.span_id not in present]
                if not records:
                    return
            client.insert(
                self.table,
                [record_to_row(r) for r in records],
                database=self.database,
                column_names=list(TRACES_INSERT_COLUMNS),
                # With async inserts on (ClickHouse's recent default) this still returns only once the
                # rows are flushed and readable: export promises read-your-writes.
                settings={"wait_for_async_insert": 1},
            )
        except StoreUnavailable as exc:
            raise _DeliveryError(str(exc)) from None
        except Exception as exc:
            raise _DeliveryError(self._describe(exc)) from None

    def _post_otlp(self, records: Sequence[SpanRecord]) -> None:
        assert self.otlp_endpoint is not None
        body = _otlp_body(records)
        request = urllib.request.Request(
            self.otlp_endpoint, data=body, method="POST", headers={"Content-Type": "application/x-protobuf"}
        )
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                response.read()
        except urllib.error.HTTPError as exc:
            raise _DeliveryError(f"the collector at {self.otlp_endpoint} answered HTTP {exc.code}") from None
        except (OSError, urllib.error.URLError) as exc:
            raise _DeliveryError(f"the collector at {self.otlp_endpoint} is not reachable ({exc})") from None

    def _present(self, span_ids: Sequence[str]) -> set[str]:
        if not span_ids:
            return set()
        rows = self._run(
            f"SELECT DISTINCT SpanId FROM {self._target} WHERE SpanId IN {{ids:Array(String)}}", {"ids": list(span_ids)}
        )
        return {r[0] for r in rows}

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
                log.warning("spool redelivery failed", exc_info=True)
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
                    present = self._present(ids)
                    if len(present) == len(set(ids)):
                        self._spool.done(batch.id)
                        self._settled(ids)
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
            if self.write == "direct":
                self._spool.done(batch.id)
                self._settled(ids)
            else:
                self._spool.sent(batch.id, 0.5)
                with self._state_lock:
                    for span_id in ids:
                        self._undelivered.pop(span_id, None)
                    self._unseen.update(ids)
        return progressed

    def _settled(self, span_ids: Sequence[str]) -> None:
        with self._state_lock:
            for span_id in span_ids:
                self._undelivered.pop(span_id, None)
                self._unseen.discard(span_id)

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

    def shutdown(self) -> None:
        if self._closed:
            return
        self.force_flush(2000)  # best effort: what is left stays spooled for the next process
        self._closed = True
        self._wake.set()
        self._worker.join(timeout=5)
        self._spool.close()
        with self._client_lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    close = shutdown

    # -- read-your-writes ----------------------------------------------------------------------

    def _await_unseen(self, must: Sequence[str] = ()) -> None:
        """Wait, bounded, until spans this process wrote are readable.

        `must`: span ids a caller cites; if one of them stays unreadable the call fails with why.
        Without `must`, only spans already handed over (OTLP) are waited for, and a timeout is not an
        error: a read then answers from what is visible.
        """
        with self._state_lock:
            wanted = set(self._unseen) | {s for s in must if s in self._undelivered}
        if not wanted:
            return
        deadline = time.monotonic() + self.visible_timeout_s
        delay = 0.01
        while True:
            try:
                present = self._present(sorted(wanted))
            except StoreUnavailable:
                present = set()
            self._settled_seen(present)
            wanted -= present
            if not wanted or time.monotonic() >= deadline:
                break
            self._wake.set()
            time.sleep(delay)
            delay = min(delay * 2, 0.25)
        if wanted and not must:
            # Handed to the collector but not in ClickHouse in time: stop making every read wait for
            # them. They stay spooled (and are resent); a read that cites one still waits for it.
            with self._state_lock:
                for span_id in wanted & self._unseen:
                    self._unseen.discard(span_id)
                    self._undelivered[span_id] = "the collector accepted it but it has not reached ClickHouse"
        missing = sorted(s for s in must if s in wanted)
        if missing:
            with self._state_lock:
                why = next((self._undelivered[s] for s in missing if s in self._undelivered), None)
            reason = f"delivery failed: {why}" if why else "the collector has not written it yet"
            raise StoreUnavailable(
                f"span {', '.join(missing)} was recorded by this server but is not readable in ClickHouse after "
                f"{self.visible_timeout_s:g}s ({reason}). It is kept in the local spool {self._spool.path} and is "
                "delivered as soon as ClickHouse is reachable; cite it again then"
            )

    def _settled_seen(self, present: set[str]) -> None:
        if present:
            with self._state_lock:
                self._unseen -= present
                for span_id in present:
                    self._undelivered.pop(span_id, None)

    # -- reads ---------------------------------------------------------------------------------

    def _records(self, sql: str, params: Mapping[str, Any]) -> list[SpanRecord]:
        return [_record_from_row(row) for row in self._run(sql, params)]

    def get_spans(self, span_ids: Sequence[str]) -> dict[str, SpanRecord]:
        if not span_ids:
            return {}
        self._await_unseen(must=span_ids)
        rows = self._records(
            f"SELECT {_RECORD_COLUMNS} FROM {self._target} WHERE SpanId IN {{ids:Array(String)}}",
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

    def _where(self, flt: SpanFilter, *, indexed: bool = False) -> tuple[list[str], dict[str, Any]]:
        """WHERE clauses for `flt`, on the exporter's table or (indexed) on the task-status index."""
        clauses: list[str] = []
        params: dict[str, Any] = {}
        task_sql = "TaskId" if indexed else f"SpanAttributes['{ATTR_TASK_ID}']"
        columns = {
            ATTR_TASK_ID: "TaskId",
            ATTR_TASK_STATUS: "TaskStatus",
            ATTR_TASK_TYPE: "TaskType",
            ATTR_PARENT_ID: "ParentTaskId",
        }

        def bind(value: Any, kind: str = "String") -> str:
            name = f"p{len(params)}"
            params[name] = value
            return f"{{{name}:{kind}}}"

        for key, value in (
            (ATTR_TASK_ID, flt.task_id),
            (ATTR_TASK_STATUS, flt.task_status),
            (ATTR_TASK_TYPE, flt.task_type),
            (ATTR_PARENT_ID, flt.parent_task_id),
        ):
            if value is not None:
                column = columns[key] if indexed else f"SpanAttributes['{key}']"
                clauses.append(f"{column} = {bind(value)}")
        if flt.task_ids is not None:
            clauses.append(f"{task_sql} IN {bind(list(flt.task_ids), 'Array(String)')}")
        if flt.has_status and flt.task_status is None and not indexed:  # the index holds only those
            clauses.append(f"mapContains(SpanAttributes, '{ATTR_TASK_STATUS}')")
        if flt.agent_id is not None:
            clauses.append(f"{'AgentId' if indexed else _AGENT_SQL} = {bind(flt.agent_id)}")
        if flt.name is not None:
            clauses.append(f"SpanName = {bind(flt.name)}")
        if flt.trace_id is not None:
            clauses.append(f"TraceId = {bind(flt.trace_id)}")
        if flt.source is not None:
            if flt.source == "external":
                clauses.append(f"SpanAttributes['{ATTR_SOURCE}'] IN ('', 'external')")
            else:
                clauses.append(f"SpanAttributes['{ATTR_SOURCE}'] = {bind(flt.source)}")
        if flt.since_ns is not None:
            clauses.append(f"Timestamp >= fromUnixTimestamp64Nano({bind(flt.since_ns, 'Int64')})")
        for pred in flt.where:
            clause = _prefilter(pred, bind)
            if clause:
                clauses.append(clause)
        return clauses, params

    def find_spans(self, flt: SpanFilter) -> list[SpanRecord]:
        if flt.limit <= 0 or (flt.task_ids is not None and not flt.task_ids):
            return []
        self._await_unseen()
        indexed = self._indexed and (flt.has_status or flt.task_status is not None)
        clauses, params = self._where(flt, indexed=indexed)
        exact = [p for p in flt.where if not _prefilter_exact(p)]
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
        for record in self._scan(
            self._tasks if indexed else self._target,
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
            if exact and not all(p.check(record.attributes.get(p.key))[0] for p in exact):
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

    def _scan(
        self,
        target: str,
        clauses: list[str],
        params: dict[str, Any],
        *,
        oldest_first: bool,
        since_ns: int | None,
        page: int,
        windows: bool = True,
    ) -> Iterator[SpanRecord]:
        """Matching rows of `target` in (Timestamp, SpanId) order, page by page, window by window."""
        order = "ASC" if oldest_first else "DESC"
        now = time.time_ns()
        bounds: list[tuple[int | None, int | None]] = []  # [low, high) in ns; None is unbounded
        if oldest_first or not windows:
            bounds.append((None, None))
        else:
            high: int | None = None
            for window in _WINDOWS_S:
                low = now - window * _NS
                if since_ns is not None and low <= since_ns:
                    break
                bounds.append((low, high))
                high = low
            bounds.append((None, high))
        for lower, upper in bounds:
            cursor: tuple[int, str] | None = None
            while True:
                where = list(clauses)
                p = dict(params)
                if lower is not None:
                    where.append("Timestamp >= fromUnixTimestamp64Nano({w_low:Int64})")
                    p["w_low"] = lower
                if upper is not None:
                    where.append("Timestamp < fromUnixTimestamp64Nano({w_high:Int64})")
                    p["w_high"] = upper
                if cursor is not None:
                    op = ">" if oldest_first else "<"
                    where.append(f"(Timestamp, SpanId) {op} (fromUnixTimestamp64Nano({{c_ts:Int64}}), {{c_id:String}})")
                    p["c_ts"], p["c_id"] = cursor
                sql = f"SELECT {_RECORD_COLUMNS} FROM {target}"
                if where:
                    sql += " WHERE " + " AND ".join(where)
                sql += f" ORDER BY Timestamp {order}, SpanId {order} LIMIT {int(page)}"
                records = self._records(sql, p)
                yield from records
                if len(records) < page:
                    break
                cursor = (records[-1].start_ns, records[-1].span_id)

    def latest_status(self, task_ids: Sequence[str]) -> dict[str, SpanRecord]:
        ids = list(dict.fromkeys(task_ids))
        if not ids:
            return {}
        self._await_unseen()
        out: dict[str, SpanRecord] = {}
        for i in range(0, len(ids), 1000):
            if self._indexed:
                where = "TaskId IN {ids:Array(String)}"
            else:
                where = (
                    f"mapContains(SpanAttributes, '{ATTR_TASK_STATUS}') "
                    f"AND SpanAttributes['{ATTR_TASK_ID}'] IN {{ids:Array(String)}}"
                )
            sql = (
                f"SELECT {_RECORD_COLUMNS} FROM {self._tasks} WHERE {where} "
                f"ORDER BY Timestamp DESC, SpanId DESC LIMIT 1 BY SpanAttributes['{ATTR_TASK_ID}']"
            )
            for record in self._records(sql, {"ids": ids[i : i + 1000]}):
                if record.task_id is not None:
                    out[record.task_id] = record
        return out

    def status_bounds(self, task_id: str) -> tuple[SpanRecord | None, SpanRecord | None]:
        first = self.find_spans(SpanFilter(task_id=task_id, has_status=True, oldest_first=True, limit=1))
        if not first:
            return None, None
        return first[0], self.latest_status([task_id]).get(task_id, first[0])

    def trace(self, trace_id: str, limit: int) -> list[SpanRecord]:
        self._await_unseen()
        sql = (
            f"SELECT {_RECORD_COLUMNS} FROM {self._target} WHERE TraceId = {{t:String}} "
            "ORDER BY Timestamp, SpanId LIMIT 1 BY SpanId LIMIT {n:UInt32}"
        )
        return self._records(sql, {"t": trace_id, "n": limit})

    def count(self) -> int:
        self._await_unseen()
        return int(self._run(f"SELECT uniqExact(SpanId) FROM {self._target}")[0][0])

    # -- the agent's SQL -----------------------------------------------------------------------

    def query_sql(self, sql: str, limit: int, max_bytes: int, timeout_s: float) -> SqlRows:
        """Run the agent's SELECT with the engine's own read-only mode and caps.

        `readonly=1` refuses every write, DDL, settings change and table function that reaches
        outside (file, url, …). It does not narrow *what* can be read: any table the connecting
        user may read (the raw `otel_traces`, `system.*`) is readable too, so give otel-mcp a
        ClickHouse user whose grants stop at the telemetry database (see the README).
        """
        self._await_unseen()
        text = sql.strip()
        while text.endswith(";"):
            text = text[:-1].rstrip()
        first = text.lstrip("(").split(None, 1)[0].upper() if text else ""
        if not (first in _READ_ONLY_KINDS or text.startswith("(")):
            raise InvalidArgument(
                "query refused: query_spans only runs SELECT (or WITH … SELECT) over the 'spans' view; "
                f"got {first or 'nothing'}"
            )
        settings = {
            "readonly": 1,
            "max_execution_time": max(1, math.ceil(timeout_s)),
            "timeout_overflow_mode": "throw",
            "max_result_rows": limit + 1,
            "max_result_bytes": max_bytes,
            "result_overflow_mode": "break",
        }
        self._ensure_schema()
        try:
            result = self._get_client().query(text, settings=settings)
        except Exception as exc:
            raise InvalidArgument(self._sql_message(exc, timeout_s)) from None
        columns = list(result.column_names)
        rows = [[_jsonable(v) for v in row] for row in result.result_rows]
        truncated, note = False, ""
        if len(rows) > limit:
            rows, truncated, note = rows[:limit], True, f"stopped at {limit} rows; add a WHERE or LIMIT, or raise limit"
        size = 0
        for i, row in enumerate(rows):
            size += len(json.dumps(row, default=str))
            if size > max_bytes:
                rows, truncated = rows[:i], True
                note = f"stopped at {max_bytes} bytes of results; select fewer columns"
                break
        return SqlRows(columns=columns, rows=rows, truncated=truncated, note=note)

    def _sql_message(self, exc: BaseException, timeout_s: float) -> str:
        from clickhouse_connect.driver.exceptions import DatabaseError

        text = str(exc)
        if not isinstance(exc, DatabaseError) or "Code:" not in text:
            return self._down(exc)
        detail = text.split("DB::Exception:", 1)[-1].split("(version")[0].split("(for url")[0].strip()
        if "Code: 164" in text or "READONLY" in text:
            return f"query refused: query_spans only reads ({detail})"
        if "Multi-statements" in text:
            return "query_spans runs exactly one SELECT statement; remove the ';' and what follows"
        if "TIMEOUT_EXCEEDED" in text or "Code: 159" in text:
            return (
                f"query_spans stopped the query after {timeout_s:g}s; narrow it with WHERE on task_id, trace_id, "
                "name or a recent start_time"
            )
        return f"SQL error: {detail[:500]}. The view is 'spans' with columns: {', '.join(SPANS_VIEW_COLUMNS)}"

    # -- coordination reads (find_ready, claims, report) -------------------------------------------

    def task_index(self) -> list[TaskState]:
        """Every task as of its newest status record: one aggregation, newest by (Timestamp, SpanId)."""
        self._await_unseen()
        key = "(Timestamp, SpanId)"
        if self._indexed:  # the same aggregation over narrow columns instead of the attribute map
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
                _AGENT_SQL,
            )
            deps, task = f"SpanAttributes['{ATTR_DEPENDS_ON}']", f"SpanAttributes['{ATTR_TASK_ID}']"
            source = f"mapContains(SpanAttributes, '{ATTR_TASK_STATUS}') AND "
        sql = (
            f"SELECT task, argMax({task_type}, {key}), argMax({status}, {key}), "
            f"toUnixTimestamp64Nano(max(Timestamp)), argMax(SpanId, {key}), argMax({agent}, {key}), "
            f"argMaxIf({deps}, {key}, {deps} != '') "
            f"FROM {self._tasks} WHERE {source}{task} != '' GROUP BY {task} AS task"
        )
        out = []
        for task, task_type, status, start_ns, span_id, agent, deps in self._run(sql):
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
        self._await_unseen()
        task = f"SpanAttributes['{ATTR_TASK_ID}']"
        where = [f"SpanName IN ({_CLAIM_NAMES_SQL})", f"{task} != ''", f"{_AGENT_SQL} != ''"]
        params: dict[str, Any] = {}
        if task_ids is not None:
            where.append(f"{task} IN {{ids:Array(String)}}")
            params["ids"] = list(task_ids)
        if after_ns is not None:
            where.append("Timestamp > fromUnixTimestamp64Nano({after:Int64})")
            params["after"] = after_ns
        if active_since_ns is not None:
            where.append(
                f"{task} IN (SELECT SpanAttributes['{ATTR_TASK_ID}'] FROM {self._target} "
                f"WHERE SpanName IN ({_CLAIM_NAMES_SQL}) AND Timestamp >= fromUnixTimestamp64Nano({{active:Int64}}))"
            )
            params["active"] = active_since_ns
        sql = (
            f"SELECT {task}, SpanAttributes['{CLAIM_ACTION_ATTR}'], {_AGENT_SQL}, toUnixTimestamp64Nano(Timestamp), "
            f"SpanId, toInt64OrZero(SpanAttributes['{CLAIM_LEASE_ATTR}']) FROM {self._target} "
            f"WHERE {' AND '.join(where)} ORDER BY Timestamp, SpanId LIMIT 1 BY SpanId"
        )
        return [
            ClaimEvent(task_id, action, agent, int(start_ns), span_id, int(lease))
            for task_id, action, agent, start_ns, span_id, lease in self._run(sql, params)
            if action in ("claim", "release")
        ]


# -- helpers -------------------------------------------------------------------------------------


def _version_key(record: SpanRecord) -> tuple[Any, ...]:
    # Differing copies of one span id are ordered deterministically, so every reader marks the same one.
    return (record.span_id, json.dumps(_record_to_json(record), sort_keys=True, default=str))


def _replace_attrs(record: SpanRecord, attributes: dict[str, AttrValue]) -> SpanRecord:
    from dataclasses import replace

    return replace(record, attributes=attributes)


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = float(value.strip() if isinstance(value, str) else value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _prefilter(pred: Predicate, bind: Any) -> str | None:
    """SQL that keeps a superset of the rows `pred` holds for (None: no cheap superset); values bound."""
    if pred.op == "exists":
        return f"mapContains(SpanAttributes, {bind(pred.key)})"
    if pred.op == "missing":
        return f"NOT mapContains(SpanAttributes, {bind(pred.key)})"
    if pred.op in ("<", "<=", ">", ">="):
        number = _number(pred.operand)
        if number is None:
            return None
        # trimBoth: the shared predicate code reads ' 5' as 5, so the prefilter must not drop it.
        return f"toFloat64OrNull(trimBoth(SpanAttributes[{bind(pred.key)}])) {pred.op} {bind(number, 'Float64')}"
    if pred.op == "==" and isinstance(pred.operand, str) and _number(pred.operand) is None:
        # Text equality: the map holds exactly the text a string attribute was written as. This form
        # (`map[key] = value`) also lets the exporter's bloom filter on map values skip granules.
        return f"SpanAttributes[{bind(pred.key)}] = {bind(pred.operand)}"
    return None


def _prefilter_exact(pred: Predicate) -> bool:
    """Whether the SQL prefilter alone decides the predicate (no check in Python needed)."""
    return pred.op in ("exists", "missing")


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, datetime | date):
        return value.isoformat(sep=" ") if isinstance(value, datetime) else value.isoformat()
    if isinstance(value, Decimal | UUID):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return str(value)


def _otlp_body(records: Sequence[SpanRecord]) -> bytes:
    """An OTLP/HTTP protobuf request for these spans, as the SDK's exporter would send it."""
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import ReadableSpan
    from opentelemetry.sdk.util.instrumentation import InstrumentationScope
    from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, TraceFlags

    kinds = {k.name.capitalize(): k for k in SpanKind}
    statuses = {"Ok": StatusCode.OK, "Error": StatusCode.ERROR, "Unset": StatusCode.UNSET}
    flags = TraceFlags(TraceFlags.SAMPLED)
    spans = []
    for r in records:
        context = SpanContext(int(r.trace_id, 16), int(r.span_id, 16), is_remote=False, trace_flags=flags)
        parent = (
            SpanContext(int(r.trace_id, 16), int(r.parent_span_id, 16), is_remote=True, trace_flags=flags)
            if r.parent_span_id
            else None
        )
        spans.append(
            ReadableSpan(
                name=r.name,
                context=context,
                parent=parent,
                resource=Resource(dict(r.resource)),
                attributes=dict(r.attributes),
                links=[
                    Link(SpanContext(int(t, 16), int(s, 16), is_remote=True, trace_flags=flags)) for t, s in r.links
                ],
                kind=kinds.get(r.kind, SpanKind.INTERNAL),
                # A description is only meaningful (and only accepted quietly) on an error status.
                status=Status(StatusCode.ERROR, r.status_message or None)
                if r.status_code == "Error"
                else Status(statuses.get(r.status_code, StatusCode.UNSET)),
                start_time=r.start_ns,
                end_time=r.end_ns,
                instrumentation_scope=InstrumentationScope(r.scope_name or "otel_mcp"),
            )
        )
    return bytes(encode_spans(spans).SerializeToString())
