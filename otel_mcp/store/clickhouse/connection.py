"""The store's one ClickHouse client: trusted queries, how failures read, and the schema on first use.

The client connects on the first query (clickhouse-connect itself is imported only by those who
open a ClickHouse store: see `otel_mcp.store.opening`). The objects otel-mcp reads are created (or
found) once, before the first query that needs them; if ClickHouse is down at start-up that is
simply retried later, so the server still starts: writes spool, reads say why.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any

import clickhouse_connect
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import DatabaseError

from otel_mcp.errors import StoreUnavailable
from otel_mcp.store.clickhouse.schema import create_database_ddl, traces_table_ddl
from otel_mcp.store.clickhouse.views import (
    spans_view_ddl,
    task_index_backfill_sql,
    task_index_name,
    task_index_table_ddl,
    task_index_view_ddl,
)

__all__ = ["Connection"]


class Connection:
    """A ClickHouse server, the exporter's table in it, and otel-mcp's objects beside that table.

    `database` and `table` must already be checked identifiers. `create_schema` creates the
    database, table, view and index as the exporter does with `create_schema: true`; without it,
    only the view is added and the task-status index is used if someone else created it.
    """

    def __init__(
        self,
        url: str,
        database: str,
        table: str,
        *,
        username: str,
        password: str,
        connect_timeout_s: float,
        create_schema: bool,
    ) -> None:
        self.url = url
        self.database = database
        self.table = table
        self.target = f"`{database}`.`{table}`"
        # Where task-status records are read: otel-mcp's index of them when it exists (see views.py),
        # else the exporter's table itself.
        self.tasks = self.target
        self._connect: dict[str, Any] = {
            "username": username,
            "password": password,
            "connect_timeout": connect_timeout_s,
        }
        self._client: Client | None = None
        self._client_lock = threading.Lock()
        self._create_schema = create_schema
        self._schema_ready = False

    @property
    def indexed(self) -> bool:
        """Whether task-status records are read from otel-mcp's index."""
        return self.tasks != self.target

    def client(self) -> Client:
        """The shared client, connected on first use."""
        with self._client_lock:
            if self._client is None:
                try:
                    self._client = clickhouse_connect.get_client(
                        dsn=self.url,
                        # One client, many threads: an auto session id would make concurrent queries
                        # collide ("session is locked") on a real server.
                        autogenerate_session_id=False,
                        **self._connect,
                    )
                except Exception as exc:
                    raise StoreUnavailable(self.down(exc)) from None
            return self._client

    def down(self, exc: BaseException) -> str:
        """The sentence for a server that cannot be reached."""
        text = str(exc).split("\n")[0][:300]
        return (
            f"ClickHouse at {self.url} is not reachable ({text}); check OTEL_MCP_CLICKHOUSE_URL and that the server "
            "is up, then retry"
        )

    def describe(self, exc: BaseException) -> str:
        """The sentence for a failed store query: the server's refusal, or that it is down."""
        if isinstance(exc, DatabaseError) and "Code:" in str(exc):
            message = str(exc).split("Code:", 1)[1].split("(for url")[0].strip()
            return f"ClickHouse refused a store query: Code: {message[:400]}"
        return self.down(exc)

    def run(self, sql: str, params: Mapping[str, Any] | None = None, **kwargs: Any) -> list[Sequence[Any]]:
        """Run trusted SQL (written here; values only as server-side parameters) and return its rows."""
        self.ensure_schema()
        try:
            result = self.client().query(sql, parameters=dict(params or {}), **kwargs)
        except Exception as exc:
            raise StoreUnavailable(self.describe(exc)) from None
        return list(result.result_rows)

    def present(self, span_ids: Sequence[str]) -> set[str]:
        """Which of these span ids the exporter's table holds."""
        if not span_ids:
            return set()
        rows = self.run(
            f"SELECT DISTINCT SpanId FROM {self.target} WHERE SpanId IN {{ids:Array(String)}}", {"ids": list(span_ids)}
        )
        return {r[0] for r in rows}

    def ensure_schema(self) -> None:
        """Create (or find) what the store reads, once; StoreUnavailable saying why if that fails."""
        if self._schema_ready:
            return
        client = self.client()
        try:
            if self._create_schema:
                # As the exporter does with `create_schema: true`: a fresh server works out of the box.
                client.command(create_database_ddl(self.database))
                client.command(traces_table_ddl(self.database, self.table))
            client.command(spans_view_ddl(self.database, self.table))
            self._ensure_task_index(client)
        except Exception as exc:
            raise StoreUnavailable(self.describe(exc)) from None
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
        self.tasks = index

    def close(self) -> None:
        with self._client_lock:
            if self._client is not None:
                self._client.close()
                self._client = None
