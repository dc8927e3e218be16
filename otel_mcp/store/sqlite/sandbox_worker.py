"""The process that runs agents' SQL for the embedded store, one SELECT at a time.

`sandbox_process` starts it as `python -I <this file> <store path> <settings JSON>`: standard library
only (it starts in about 0.1 s), one JSON request per line on stdin, one JSON answer per line on
stdout. Running the query in a process of its own is what makes every cap hard: the parent kills
it when a query outlasts its time even inside one SQLite function call (`printf('%.*c', 2^31, 'x')`
loops for seconds where no progress handler runs), and its memory limit is this process's alone.

The connection is read-only by construction: opened `mode=ro`, `query_only`, no attached databases,
temporary storage in memory under a hard heap limit, and an authorizer (`Policy`) that admits a
read by *what* is read: the `spans` view's own columns, and the columns of the table behind it that
the view itself reads, learnt from SQLite when the process starts. A CTE can borrow the name
`spans`, so the name of the view alone proves nothing; the table and column of each read do.
"""

from __future__ import annotations

import json
import resource
import signal
import sqlite3
import sys
import time
from typing import Any

__all__ = ["SAFE_FUNCTIONS", "TABLE_FUNCTIONS", "VIEW", "Policy", "Sandbox", "main"]

VIEW = "spans"
# Eponymous virtual tables a query may read: they see only the JSON text they are given.
TABLE_FUNCTIONS = frozenset({"json_each", "json_tree"})
# Functions a query may call: enough for analysis, nothing that reaches outside the query
# (load_extension) or allocates at will (randomblob, zeroblob).
_SAFE_FUNCTION_NAMES = """
abs avg count group_concat max min sum total coalesce ifnull iif nullif length lower upper trim ltrim rtrim
substr substring replace instr printf format round typeof like glob hex quote unicode char date time datetime
julianday strftime unixepoch json json_extract json_array json_object json_type json_valid json_array_length
json_group_array json_group_object row_number rank dense_rank percent_rank cume_dist ntile lag lead
first_value last_value nth_value cast ceil ceiling floor ln log log10 log2 exp pow power sqrt sign mod pi
trunc string_agg median concat concat_ws likely unlikely
"""
SAFE_FUNCTIONS = frozenset(_SAFE_FUNCTION_NAMES.split())
_STATEMENTS = {
    sqlite3.SQLITE_ATTACH: "ATTACH",
    sqlite3.SQLITE_DETACH: "DETACH",
    sqlite3.SQLITE_INSERT: "INSERT",
    sqlite3.SQLITE_UPDATE: "UPDATE",
    sqlite3.SQLITE_DELETE: "DELETE",
    sqlite3.SQLITE_TRANSACTION: "a transaction",
}
_ONLY_SELECT = "query_spans only runs SELECT over the 'spans' view"


class Policy:
    """The authorizer of one connection: what a statement may read or call, and why not."""

    def __init__(self, view_columns: list[str], view_reads: set[tuple[str, str]], tables: set[str]) -> None:
        self.view_columns = view_columns
        self._columns = {c.lower() for c in view_columns}
        self._view_reads = {(t.lower(), c.lower()) for t, c in view_reads}  # (table, column) behind the view
        self._tables = {t for t, _ in self._view_reads}
        self._real = {t.lower() for t in tables}  # every table the connection has; other names are CTEs
        self.denied: list[str] = []
        self._through_view = False

    def reset(self) -> None:
        self.denied = []
        self._through_view = False

    def __call__(self, action: int, arg1: str | None, arg2: str | None, db: str | None, source: str | None) -> int:
        if action in (sqlite3.SQLITE_SELECT, sqlite3.SQLITE_RECURSIVE):
            return sqlite3.SQLITE_OK
        if action == sqlite3.SQLITE_READ:
            return self._read((arg1 or "").lower(), (arg2 or "").lower(), db, source)
        if action == sqlite3.SQLITE_FUNCTION:
            if (arg2 or "").lower() in SAFE_FUNCTIONS:
                return sqlite3.SQLITE_OK
            return self._deny(f"function {arg2}() is not allowed in query_spans")
        if action == sqlite3.SQLITE_PRAGMA:
            return self._deny(f"PRAGMA {arg1} is not allowed: {_ONLY_SELECT}")
        return self._deny(f"{_STATEMENTS.get(action, 'that statement')} is not allowed: {_ONLY_SELECT}")

    def _read(self, table: str, column: str, db: str | None, source: str | None) -> int:
        if table in TABLE_FUNCTIONS:
            return sqlite3.SQLITE_OK
        if db == "main" and table == VIEW and column in self._columns:
            return sqlite3.SQLITE_OK
        if db == "main" and (table, column) in self._view_reads and source == VIEW:
            # The view reading its own columns (or a CTE called `spans` reading exactly those: the same data).
            self._through_view = True
            return sqlite3.SQLITE_OK
        if column == "" and (table not in self._real or (table in self._tables and self._through_view)):
            # A read of no column (count(*), SELECT 1 FROM) of a CTE or subquery, or of the table behind
            # a view this statement reads: that tells how many rows it has, which the view shows anyway.
            return sqlite3.SQLITE_OK
        if table.startswith("pragma_"):
            return self._deny(f"{table}() reads the database's schema; {_ONLY_SELECT} ({self._listing()})")
        if table == VIEW:
            return self._deny(f"the 'spans' view has no column {column!r} ({self._listing()})")
        if table in self._tables and column and (table, column) not in self._view_reads:
            return self._deny(
                f"column {column!r} of table {table!r} is not in the 'spans' view; query the 'spans' view"
            )
        return self._deny(f"table {table!r} is not available; query the 'spans' view ({self._listing()})")

    def _deny(self, reason: str) -> int:
        self.denied.append(reason)
        return sqlite3.SQLITE_DENY

    def _listing(self) -> str:
        return "columns: " + ", ".join(self.view_columns)


class Sandbox:
    """The read-only connection, its limits, and one query at a time."""

    def __init__(self, path: str, settings: dict[str, Any]) -> None:
        self._heap_mb = settings["heap_bytes"] // (1 << 20)
        uri = "file:" + path.replace("?", "%3f").replace("#", "%23") + "?mode=ro"
        db = sqlite3.connect(
            uri, uri=True, timeout=settings["busy_timeout_s"], isolation_level=None, cached_statements=0
        )
        db.execute("PRAGMA query_only=1")
        db.execute("PRAGMA temp_store=MEMORY")  # sorting and CTEs never write temporary files
        db.execute(f"PRAGMA hard_heap_limit={int(settings['heap_bytes'])}")  # this process's SQLite memory
        db.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, 0)
        db.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, int(settings["max_length"]))
        db.setlimit(sqlite3.SQLITE_LIMIT_SQL_LENGTH, 20_000)
        # What the view reads, as SQLite reports it, before any rule applies.
        seen: set[tuple[str, str]] = set()

        def record(action: int, table: str | None, column: str | None, _db: str | None, source: str | None) -> int:
            if action == sqlite3.SQLITE_READ and source == VIEW and table and column:
                seen.add((table, column))
            return sqlite3.SQLITE_OK

        db.set_authorizer(record)
        columns = [d[0] for d in db.execute(f"SELECT * FROM {VIEW} LIMIT 0").description]
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_schema")} | _warm_table_functions(db)
        tables |= {"sqlite_master", "sqlite_schema", "sqlite_temp_master", "sqlite_temp_schema"}
        self.policy = Policy(columns, seen, tables)
        db.set_authorizer(self.policy)
        self._deadline = 0.0
        db.set_progress_handler(lambda: int(time.monotonic() > self._deadline), 1000)
        self._db = db

    def run(self, sql: str, limit: int, max_bytes: int, timeout_s: float) -> dict[str, Any]:
        self.policy.reset()
        self._deadline = time.monotonic() + timeout_s
        try:
            cursor = self._db.execute(sql)
            if cursor.description is None:
                return _error("statement", "query_spans runs one SELECT statement; that statement returns no rows")
            columns = [d[0] for d in cursor.description]
            rows: list[list[Any]] = []
            size, note = 0, ""
            for row in cursor:
                if len(rows) >= limit:
                    note = f"stopped at {limit} rows; add a WHERE or LIMIT, or raise limit"
                    break
                values = [v.hex() if isinstance(v, bytes) else v for v in row]
                size += len(json.dumps(values, separators=(",", ":"), ensure_ascii=False))
                if size > max_bytes:
                    note = f"stopped at {max_bytes} bytes of results; select fewer columns"
                    break
                rows.append(values)
            cursor.close()
            return {"columns": columns, "rows": rows, "truncated": bool(note), "note": note}
        except MemoryError:
            return self._out_of_memory()
        except sqlite3.Error as exc:
            return self._failure(exc)

    def _failure(self, exc: sqlite3.Error) -> dict[str, Any]:
        text = str(exc)
        if "interrupted" in text:
            return _error("timeout", text)
        if "out of memory" in text:
            return self._out_of_memory()
        if "one statement" in text:
            return _error("statement", "query_spans runs exactly one SELECT statement; remove the ';' and what follows")
        if self.policy.denied:
            return _error("refused", f"query refused: {self.policy.denied[0]}")
        if "too big" in text:
            return _error("sql", f"SQL error: {text}: one value may hold at most {self._db.getlimit(0)} bytes")
        if "disk is full" in text:
            return _error("memory", "query_spans stopped the query: it needed more temporary storage than allowed")
        if any(word in text for word in ("readonly", "read-only", "cannot modify")):
            return _error("refused", f"query refused: query_spans only reads ({text})")
        listing = ", ".join(self.policy.view_columns)
        return _error("sql", f"SQL error: {text}. The view is 'spans' with columns: {listing}")

    def _out_of_memory(self) -> dict[str, Any]:
        return _error(
            "memory",
            f"query_spans stopped the query: it needed more than {self._heap_mb} MB of working memory "
            "(sorting, grouping, DISTINCT/UNION or a recursive CTE over many rows); narrow it with WHERE or LIMIT",
        )


def _warm_table_functions(db: sqlite3.Connection) -> set[str]:
    """Declare every eponymous virtual table once, before the authorizer is installed.

    SQLite declares one (json_each, pragma_table_info, dbstat, ...) on its first use in a connection,
    and reports that declaration to the authorizer as an UPDATE of sqlite_master; declared now, a
    query's use of one reaches the authorizer only as reads of that table, admitted or refused by name.
    Returns the names declared.
    """
    names = [f"pragma_{r[0]}" for r in db.execute("SELECT name FROM pragma_pragma_list")]
    declared = set()
    for name in [*TABLE_FUNCTIONS, "dbstat", *names]:
        try:
            db.execute(f'SELECT * FROM "{name}" LIMIT 0').fetchall()
            declared.add(name)
        except sqlite3.Error:
            pass  # not a table-valued pragma, or not compiled in
    return declared


def _error(kind: str, message: str) -> dict[str, Any]:
    return {"error": {"kind": kind, "message": message}}


def _limit_process(settings: dict[str, Any]) -> None:
    """Hard limits no query can lift: files this process writes, and its address space."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when this process ends
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails instead of killing us
    temp = int(settings["temp_file_bytes"])
    resource.setrlimit(resource.RLIMIT_FSIZE, (temp, temp))
    memory = int(settings["address_space_bytes"])
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))


def _send(message: dict[str, Any]) -> None:
    sys.stdout.buffer.write(json.dumps(message, ensure_ascii=True).encode("ascii") + b"\n")
    sys.stdout.buffer.flush()


def main(argv: list[str]) -> int:
    path, settings = argv[1], json.loads(argv[2])
    try:
        _limit_process(settings)
        sandbox = Sandbox(path, settings)
    except (sqlite3.Error, OSError, ValueError) as exc:
        _send(_error("open", f"cannot open the telemetry store at {path} for reading: {exc}"))
        return 1
    _send({"ready": True})
    for line in sys.stdin.buffer:
        request = json.loads(line)
        _send(sandbox.run(request["sql"], request["limit"], request["max_bytes"], request["timeout_s"]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
