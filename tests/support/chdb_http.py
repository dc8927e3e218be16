"""ClickHouse's HTTP interface served from an embedded chdb engine, for tests and benchmarks.

`clickhouse-connect` (the client otel-mcp's ClickHouse store uses) speaks HTTP to a ClickHouse
server. Docker cannot run here, so this module puts a loopback HTTP endpoint in front of
`chdb.session.Session` (ClickHouse 26.x linked into the process). The client code under test runs
unchanged, against the real engine: real parsing, real types, real settings, real errors.

What the endpoint does, and where it knowingly differs from clickhouse-server:

- `GET /ping` and `GET /` answer `Ok.`; queries come as a POST body, as `query=`, or as a
  multipart form (clickhouse-connect's form encoding of large parameters). `param_<name>`
  arguments become the engine's server-side query parameters (`{name:Type}`), so values stay data.
- Every other URL argument that is not an HTTP-interface control (`database`, `query_id`,
  `session_id`, `default_format`, `wait_end_of_query`, …) is a setting. Settings are applied by
  the engine, per query, as a query-level `SETTINGS` clause: `readonly=1` really refuses writes,
  `max_result_rows`/`result_overflow_mode`, `max_execution_time` and the rest behave as on a server.
  A GET request defaults to `readonly=2`, as the server does.
- Inserts with inline data (`INSERT … FORMAT Native` + bytes, as clickhouse-connect sends them,
  or `VALUES …`) go through chdb's streaming insert, so the data is never parsed as SQL.
  Request bodies may be chunked and compressed (`Content-Encoding: lz4` frame, `zstd`, `gzip`,
  `deflate`).
- Responses are compressed when a server would compress them: `enable_http_compression` is on
  (ClickHouse 26's default, or the URL argument) and `Accept-Encoding` names lz4, zstd, gzip or
  deflate; the client's first choice wins. clickhouse-connect offers `lz4,zstd,gzip,deflate` on
  SELECTs and so reads lz4-framed Native back. Errors are sent uncompressed.
- Errors come back as a server sends them: the HTTP status clickhouse-server maps the error to
  (400, 404, 500, …), the `X-ClickHouse-Exception-Code` header and a `Code: N. DB::Exception: …`
  body, so clickhouse-connect raises `DatabaseError` carrying the engine's own message and code.
- One statement per request, as on a server (chdb alone would run `a; b`); the engine's own
  `formatQuery` parses each statement first. `INTO OUTFILE` and `FROM INFILE` are refused, as on
  a server (in chdb they would touch this machine's files).
- chdb 4.4 prepends the partial output of a query that failed mid-stream to the next result on
  the session; the endpoint drains it after every engine error and checks a marker before
  trusting a parse, so one request never reads (or is steered by) another's leftover rows.
- `session_id` is honoured for `USE` and `SET`, which are remembered per session and replayed as
  the database and leading settings of that session's later queries; nothing else is per session
  (temporary tables live in the one shared engine).
- Not served: external data (files in multipart forms), progress headers, `client_protocol_version`
  block headers (the client's probe then falls back to protocol 0, which it supports), auth.

This is a test fixture, not a server to expose: it binds to 127.0.0.1 and does no authentication.

chdb allows one database path per process at a time (a second path fails with "EmbeddedServer
already initialized with path …"); stop one `ChdbHttpServer` before starting one on another path.
Calls into the engine are serialized with a lock: a request's `USE` and query must not interleave.
"""

from __future__ import annotations

import contextlib
import email.parser
import email.policy
import gzip
import json
import logging
import re
import socket
import threading
import time
import uuid
import zlib
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from os import PathLike
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import parse_qsl, urlsplit

if TYPE_CHECKING:
    from chdb.session import Session
    from clickhouse_connect.driver.client import Client

__all__ = ["ChdbHttpServer", "EngineError"]

logger = logging.getLogger(__name__)

# --- protocol constants ----------------------------------------------------------------------

# URL arguments that steer the HTTP interface itself; everything else (bar param_*) is a setting.
_HTTP_CONTROLS: Final = frozenset(
    {
        "query",
        "database",
        "default_format",
        "user",
        "password",
        "quota_key",
        "query_id",
        "session_id",
        "session_timeout",
        "session_check",
        "role",
        "compress",
        "decompress",
        "buffer_size",
        "wait_end_of_query",
        "client_protocol_version",
        "stacktrace",
        "enable_http_compression",
        "send_progress_in_http_headers",
        "http_headers_progress_interval_ms",
        "cancel_http_readonly_queries_on_client_close",
        "http_zlib_compression_level",
        "http_native_compression_disable_checksumming_on_decompress",
        "http_response_buffer_size",
        "http_wait_end_of_query",
    }
)

# Statement kinds (first word of the engine-formatted query) whose grammar takes a trailing
# `FORMAT x SETTINGS …`; checked against chdb 26.9. DELETE/UPDATE take a bare trailing SETTINGS.
_FORMAT_KINDS: Final = frozenset(
    {
        "SELECT",
        "WITH",
        "(",
        "SHOW",
        "DESCRIBE",
        "DESC",
        "EXISTS",
        "EXPLAIN",
        "CREATE",
        "DROP",
        "ALTER",
        "TRUNCATE",
        "OPTIMIZE",
        "RENAME",
        "CHECK",
        "DETACH",
        "ATTACH",
        "KILL",
        "EXCHANGE",
        "UNDROP",
    }
)
_SETTINGS_ONLY_KINDS: Final = frozenset({"DELETE", "UPDATE"})
# Kinds that produce a result set, so the server reports X-ClickHouse-Format for them.
_RESULT_KINDS: Final = frozenset({"SELECT", "WITH", "(", "SHOW", "DESCRIBE", "DESC", "EXISTS", "EXPLAIN", "CHECK"})

# Error codes this module raises itself (numbers as ClickHouse 26.9 names them).
_SYNTAX_ERROR: Final = 62
_NOT_IMPLEMENTED: Final = 48
_BAD_ARGUMENTS: Final = 36
_UNKNOWN_SETTING: Final = 115
_READONLY: Final = 164
_UNKNOWN_COMPRESSION_METHOD: Final = 89
_CANNOT_DECOMPRESS: Final = 271
_INTO_OUTFILE_NOT_ALLOWED: Final = 358
_QUERY_IS_TOO_LARGE: Final = 229
_STD_EXCEPTION: Final = 1001

# clickhouse-server's exceptionCodeToHTTPStatus, keyed by error name (names survive in messages).
_STATUS_BY_NAME: Final[Mapping[str, int]] = {
    **dict.fromkeys(("REQUIRED_PASSWORD",), 401),
    **dict.fromkeys(
        ("UNKNOWN_USER", "WRONG_PASSWORD", "AUTHENTICATION_FAILED", "SET_NON_GRANTED_ROLE", "ACCESS_DENIED"), 403
    ),
    **dict.fromkeys(
        (
            "BAD_ARGUMENTS",
            "CANNOT_COMPILE_REGEXP",
            "CANNOT_PARSE_TEXT",
            "CANNOT_PARSE_ESCAPE_SEQUENCE",
            "CANNOT_PARSE_QUOTED_STRING",
            "CANNOT_PARSE_DATE",
            "CANNOT_PARSE_DATETIME",
            "CANNOT_PARSE_NUMBER",
            "CANNOT_PARSE_DOMAIN_VALUE_FROM_STRING",
            "CANNOT_PARSE_IPV4",
            "CANNOT_PARSE_IPV6",
            "CANNOT_PARSE_INPUT_ASSERTION_FAILED",
            "CANNOT_PARSE_UUID",
            "DUPLICATE_COLUMN",
            "ILLEGAL_COLUMN",
            "UNKNOWN_ELEMENT_IN_AST",
            "UNKNOWN_TYPE_OF_AST_NODE",
            "THERE_IS_NO_COLUMN",
            "TOO_DEEP_AST",
            "TOO_BIG_AST",
            "UNEXPECTED_AST_STRUCTURE",
            "SYNTAX_ERROR",
            "INCORRECT_DATA",
            "TYPE_MISMATCH",
            "VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE",
        ),
        400,
    ),
    **dict.fromkeys(
        (
            "UNKNOWN_TABLE",
            "UNKNOWN_FUNCTION",
            "UNKNOWN_IDENTIFIER",
            "UNKNOWN_TYPE",
            "UNKNOWN_STORAGE",
            "UNKNOWN_DATABASE",
            "UNKNOWN_SETTING",
            "UNKNOWN_DIRECTION_OF_SORTING",
            "UNKNOWN_AGGREGATE_FUNCTION",
            "UNKNOWN_FORMAT",
            "UNKNOWN_DATABASE_ENGINE",
            "UNKNOWN_TYPE_OF_QUERY",
            "UNKNOWN_ROLE",
        ),
        404,
    ),
    "QUERY_IS_TOO_LARGE": 413,
    "NOT_IMPLEMENTED": 501,
    "SOCKET_TIMEOUT": 503,
    "CANNOT_OPEN_FILE": 503,
    "CANNOT_SCHEDULE_TASK": 503,
    "HTTP_LENGTH_REQUIRED": 411,
    "TIMEOUT_EXCEEDED": 408,
    "UNSUPPORTED_MEDIA_TYPE": 415,
}

_CONTENT_TYPES: Final[Mapping[str, str]] = {
    "TabSeparated": "text/tab-separated-values; charset=UTF-8",
    "TSV": "text/tab-separated-values; charset=UTF-8",
    "TSVRaw": "text/tab-separated-values; charset=UTF-8",
    "TabSeparatedWithNames": "text/tab-separated-values; charset=UTF-8",
    "CSV": "text/csv; charset=UTF-8; header=absent",
    "JSON": "application/json; charset=UTF-8",
    "JSONCompact": "application/json; charset=UTF-8",
    "JSONEachRow": "application/x-ndjson; charset=UTF-8",
}

_MAX_PARSED: Final = 4096  # statements whose parse is remembered
_MAX_BODY: Final = 1 << 30  # a loopback fixture; refuse anything that would exhaust memory
_SETTING_NAME: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_CODE_IN_TEXT: Final = re.compile(r"Code: (\d+)\. ")
_NAME_IN_TEXT: Final = re.compile(r"\(([A-Z][A-Z0-9_]+)\)(?: \(version [^)]*\))?\.?\s*$")
_FORMAT_QUERY_SCOPE: Final = re.compile(r": In scope SELECT .*?formatQuery\(.*?\)(?=\. \([A-Z_]+\)\s*$)", re.DOTALL)


class EngineError(Exception):
    """An error as ClickHouse reports it: numeric code plus `Code: N. DB::Exception: …` text."""

    def __init__(self, code: int, text: str) -> None:
        super().__init__(text)
        self.code = code
        self.text = text

    @property
    def name(self) -> str | None:
        match = _NAME_IN_TEXT.search(self.text)
        return match.group(1) if match else None

    @classmethod
    def ours(cls, code: int, name: str, message: str) -> EngineError:
        """An error this endpoint raises itself, worded the way the server words its own."""
        return cls(code, f"Code: {code}. DB::Exception: {message}. ({name})")

    @classmethod
    def from_chdb(cls, exc: BaseException) -> EngineError:
        text = str(exc)
        start = text.find("Code: ")
        if start > 0:  # drop wrappers such as "Streaming insert finish failed: "
            text = text[start:]
        match = _CODE_IN_TEXT.match(text)
        if not match:
            return cls.ours(_STD_EXCEPTION, "STD_EXCEPTION", text or type(exc).__name__)
        return cls(int(match.group(1)), text.strip())


# --- small SQL helpers -----------------------------------------------------------------------


def _quote_string(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _quote_identifier(name: str) -> str:
    return "`" + name.replace("\\", "\\\\").replace("`", "\\`") + "`"


def _escape_param(value: str) -> str:
    # Query parameter values are read in the TSV-escaped text form, like `param_` URL arguments.
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace("\t", "\\t").replace("\r", "\\r")


def _settings_sql(settings: Mapping[str, str]) -> str:
    # Values are sent as string literals; the engine converts them to each setting's type, as it
    # does for URL arguments (so `max_result_rows='10'` and `result_overflow_mode='break'` both work).
    return ", ".join(f"{name} = {_quote_string(value)}" for name, value in settings.items())


@dataclass(frozen=True, slots=True)
class _InsertParts:
    """An INSERT split where its inline data begins."""

    head: str  # `INSERT INTO t (cols)` plus any SETTINGS, without the VALUES/FORMAT keyword
    fmt: str | None  # input format for inline data; None for INSERT … SELECT
    data: bytes  # inline data (empty for INSERT … SELECT)
    select_at: int  # for INSERT … SELECT: offset of the SELECT/WITH that ends the head
    has_settings: bool  # the head already carries a SETTINGS clause


def _split_insert(text: bytes) -> _InsertParts | None:
    """Find where an INSERT's head ends: the first VALUES / FORMAT / SELECT / WITH at top level.

    A small lexer (quotes, comments, parentheses) so keywords inside strings, column lists or the
    target's name are not mistaken. None when no such keyword is found. The engine re-parses the
    head before anything runs, so a lexer slip fails closed.
    """
    s = text.decode("latin-1")  # 1:1 with bytes; UTF-8 never hides ASCII delimiters
    n = len(s)
    i = 0
    depth = 0
    target_seen = False  # keywords count only after `INSERT [INTO] [TABLE|FUNCTION] <target>`
    has_settings = False
    while i < n:
        c = s[i]
        if c.isspace():
            i += 1
        elif s.startswith("--", i) or c == "#":
            j = s.find("\n", i)
            i = n if j < 0 else j + 1
        elif s.startswith("/*", i):
            nest, i = 1, i + 2
            while i < n and nest:
                if s.startswith("/*", i):
                    nest, i = nest + 1, i + 2
                elif s.startswith("*/", i):
                    nest, i = nest - 1, i + 2
                else:
                    i += 1
        elif c in "'\"`":
            i += 1
            while i < n and s[i] != c:
                i += 2 if s[i] == "\\" else 1
            i += 1
            target_seen = True
        elif c == "(":
            depth += 1
            i += 1
        elif c == ")":
            depth -= 1
            i += 1
        elif c == ";" and depth == 0:
            raise EngineError.ours(
                _SYNTAX_ERROR, "SYNTAX_ERROR", "Syntax error (Multi-statements are not allowed): ';' before the data"
            )
        elif c.isalpha() or c == "_":
            j = i
            while j < n and (s[j].isalnum() or s[j] == "_"):
                j += 1
            word = s[i:j].upper()
            if not target_seen:
                target_seen = word not in ("INSERT", "INTO", "TABLE", "FUNCTION")
            elif depth == 0:
                if word == "INFILE":
                    raise EngineError.ours(_NOT_IMPLEMENTED, "NOT_IMPLEMENTED", "FROM INFILE is not allowed")
                if word == "SETTINGS":
                    has_settings = True
                elif word == "VALUES":
                    return _InsertParts(_utf8(text[:i]), "Values", text[j:], -1, has_settings)
                elif word == "FORMAT":
                    return _insert_with_format(text, s, i, j, has_settings)
                elif word in ("SELECT", "WITH"):
                    return _InsertParts(_utf8(text[:i]), None, b"", i, has_settings)
            i = j
        else:
            i += 1
    return None


def _insert_with_format(text: bytes, s: str, keyword_at: int, after: int, has_settings: bool) -> _InsertParts:
    n = len(s)
    k = after
    while k < n and s[k] in " \t\n\r\f":
        k += 1
    m = k
    while m < n and (s[m].isalnum() or s[m] == "_"):
        m += 1
    if m == k:
        raise EngineError.ours(_SYNTAX_ERROR, "SYNTAX_ERROR", "Syntax error: format name expected after FORMAT")
    fmt = s[k:m]
    # Data starts after the first line break, or after the blanks before it (the server's rule):
    # a Native block may itself begin with a byte that looks like whitespace.
    while m < n and s[m] in " \t\f":
        m += 1
    if m < n and s[m] == "\r":
        m += 1
    if m < n and s[m] == "\n":
        m += 1
    return _InsertParts(_utf8(text[:keyword_at]), fmt, text[m:], -1, has_settings)


def _utf8(data: bytes) -> str:
    try:
        return data.decode()
    except UnicodeDecodeError:
        raise EngineError.ours(_SYNTAX_ERROR, "SYNTAX_ERROR", "Query is not valid UTF-8") from None


def _formatted_lines(formatted: str) -> list[str]:
    return [line for line in formatted.splitlines() if line]


def _strip_statement_end(sql: str) -> str:
    return sql.rstrip().rstrip(";").rstrip()


# --- request / response ----------------------------------------------------------------------


@dataclass(slots=True)
class _Request:
    method: str
    args: list[tuple[str, str]]
    body: bytes
    accept_encoding: str = ""


@dataclass(slots=True)
class _Response:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class _SessionState:
    database_sql: str | None = None  # identifier SQL from a USE
    settings_sql: list[str] = field(default_factory=list)  # assignment lists from SETs, in order


class _Backend:
    """Turns HTTP-interface requests into engine calls. Owns the lock around the session."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.lock = threading.RLock()
        self.connections: set[socket.socket] = set()  # open client connections, cut on stop()
        self.connections_lock = threading.Lock()
        self._current_db: str | None = None  # identifier SQL of the engine's current database
        self._sessions: OrderedDict[str, _SessionState] = OrderedDict()
        # The engine's parse of statements it parsed before: the store sends the same few texts
        # (values travel as parameters), and the parse was half of every request's engine calls.
        self._parsed: dict[str, str] = {}
        info = self._raw(
            "SELECT version(), timezone(), hostName(), "
            "(SELECT value FROM system.settings WHERE name = 'enable_http_compression')",
            "TabSeparated",
        )
        self.version, self.timezone, self.display_name, compression = info.decode().rstrip("\n").split("\t")
        # ClickHouse 26 defaults enable_http_compression to 1 (clickhouse-connect then sends only
        # Accept-Encoding, not the setting); an explicit URL argument overrides the default.
        self.compression_default = compression

    # engine access (callers hold self.lock)

    def _raw(self, sql: str, fmt: str, params: Mapping[str, str] | None = None) -> bytes:
        result = self._result(sql, fmt, params)
        return bytes(result.bytes())

    def _result(self, sql: str, fmt: str, params: Mapping[str, str] | None = None) -> Any:
        try:
            return self.session.query(sql, fmt, params=dict(params) if params else None)
        except Exception as exc:
            self._drain()
            raise EngineError.from_chdb(exc) from None

    def _drain(self) -> None:
        """Discard output a failed query left behind.

        chdb 4.4 keeps the partial output of a query that fails mid-stream (a TOO_MANY_ROWS throw,
        a throwIf on row 4) and prepends it to the *next* result on the session. Run a marker
        query until its result is exactly the marker, so no request ever reads another's rows.
        """
        for _ in range(4):
            marker = f"chdb_http_drain_{uuid.uuid4().hex}"
            try:
                out = bytes(self.session.query(f"SELECT '{marker}'", "TabSeparated").bytes())
            except Exception:
                continue
            if out == f"{marker}\n".encode():
                return
        logger.warning("chdb_http: could not confirm the session is clean after an error")

    def _use(self, database_sql: str) -> None:
        if database_sql != self._current_db:
            self._current_db = None  # unknown until the USE succeeds
            self._result(f"USE {database_sql}", "TabSeparated")
            self._current_db = database_sql

    def _format_query(self, sql: str) -> str:
        """The engine's own parse of one statement: rejects multi-statements, normalizes layout.

        The answer is led by a fresh marker: if anything else comes first (output a failed query
        left in the session), drain and ask again rather than misread the statement.
        """
        known = self._parsed.get(sql)
        if known is not None:
            return known
        for _ in range(2):
            marker = uuid.uuid4().hex
            try:
                out = self._raw(
                    "SELECT {m:String}, formatQuery({q:String})", "TSVRaw", {"m": marker, "q": _escape_param(sql)}
                )
            except EngineError as exc:
                text = _FORMAT_QUERY_SCOPE.sub("", exc.text)  # the user's error, not our wrapper's
                raise EngineError(exc.code, text) from None
            lead = f"{marker}\t".encode()
            if out.startswith(lead):
                if len(self._parsed) >= _MAX_PARSED:
                    self._parsed.clear()
                parsed = self._parsed[sql] = out[len(lead) :].decode().rstrip("\n")
                return parsed
            self._drain()
        raise EngineError.ours(_STD_EXCEPTION, "STD_EXCEPTION", "chdb_http: the engine session returned stray output")

    def query_direct(self, sql: str, fmt: str, params: Mapping[str, str] | None, database: str) -> bytes:
        with self.lock:
            self._use(_quote_identifier(database))
            return self._raw(sql, fmt, params)

    # request handling

    def handle(self, req: _Request) -> _Response:
        args = req.args
        query_id = next((v for k, v in args if k == "query_id" and v), "") or str(uuid.uuid4())
        headers = {
            "X-ClickHouse-Query-Id": query_id,
            "X-ClickHouse-Timezone": self.timezone,
            "X-ClickHouse-Server-Display-Name": self.display_name,
        }
        try:
            response = self._handle(req)
        except EngineError as exc:
            response = self.handle_error(exc)
        response.headers = {**headers, **response.headers}
        return response

    def handle_error(self, exc: EngineError) -> _Response:
        """The server's error shape: mapped status, exception-code header, `Code: N. …` text body."""
        text = exc.text if "(version " in exc.text else f"{exc.text} (version {self.version})"
        headers = {
            "X-ClickHouse-Exception-Code": str(exc.code),
            "X-ClickHouse-Server-Display-Name": self.display_name,
            "Content-Type": "text/plain; charset=UTF-8",
        }
        return _Response(_STATUS_BY_NAME.get(exc.name or "", 500), (text + "\n").encode(), headers)

    def _handle(self, req: _Request) -> _Response:
        controls: dict[str, str] = {}
        params: dict[str, str] = {}
        settings: dict[str, str] = {}
        for key, value in req.args:
            if key.startswith("param_"):
                params[key[6:]] = value
            elif key in _HTTP_CONTROLS:
                controls[key] = value
            elif _SETTING_NAME.fullmatch(key):
                settings[key] = value
            else:
                raise EngineError.ours(_UNKNOWN_SETTING, "UNKNOWN_SETTING", f"Unknown setting '{key}'")
        if req.method == "GET" and "readonly" not in settings:
            settings["readonly"] = "2"  # the server runs GET requests read-only

        query = controls.get("query", "").encode()
        text = query + b"\n" + req.body if query and req.body else (query or req.body)
        if not text.strip():
            raise EngineError.ours(_SYNTAX_ERROR, "SYNTAX_ERROR", "Empty query")
        default_format = controls.get("default_format") or "TabSeparated"

        with self.lock:
            state = self._session_state(controls.get("session_id"))
            # The URL's database wins over the session's USE, which wins over `default`.
            database_sql = (
                _quote_identifier(controls["database"])
                if controls.get("database")
                else (state.database_sql if state and state.database_sql else "`default`")
            )
            self._use(database_sql)
            leading = list(state.settings_sql) if state else []
            started = time.perf_counter_ns()
            if re.match(rb"\s*INSERT\b", text, re.IGNORECASE):
                response = self._insert(text, params, settings, leading)
            else:
                response = self._statement(text, params, settings, leading, default_format, state)
            elapsed = time.perf_counter_ns() - started

        summary = json.loads(response.headers.pop("X-ClickHouse-Summary", "{}"))
        summary["elapsed_ns"] = str(elapsed)
        response.headers["X-ClickHouse-Summary"] = json.dumps(summary, separators=(",", ":"))
        if response.body and controls.get("enable_http_compression", self.compression_default) == "1":
            _compress_response(response, req.accept_encoding)
        return response

    def _session_state(self, session_id: str | None) -> _SessionState | None:
        if not session_id:
            return None
        state = self._sessions.pop(session_id, None) or _SessionState()
        self._sessions[session_id] = state
        while len(self._sessions) > 4096:  # bounded: clients make one per connection
            self._sessions.popitem(last=False)
        return state

    def _merged_settings_sql(self, leading: list[str], settings: Mapping[str, str]) -> str:
        parts = [*leading]
        if settings:
            parts.append(_settings_sql(settings))
        return ", ".join(parts)

    def _insert(
        self, text: bytes, params: Mapping[str, str], settings: Mapping[str, str], leading: list[str]
    ) -> _Response:
        parts = _split_insert(text)
        if parts is None:
            self._format_query(_strip_statement_end(_utf8(text)))  # the engine's syntax error, if any
            raise EngineError.ours(
                _NOT_IMPLEMENTED, "NOT_IMPLEMENTED", "chdb_http serves INSERT … VALUES / FORMAT / SELECT forms only"
            )
        settings_sql = self._merged_settings_sql(leading, settings)
        joiner = "\n, " if parts.has_settings else "\nSETTINGS "
        head = parts.head.rstrip()
        if settings_sql:
            head = f"{head}{joiner}{settings_sql}\n"
        if parts.fmt is None:  # INSERT … SELECT: one statement, run as text
            sql = head + " " + _strip_statement_end(_utf8(text[parts.select_at :]))
            self._format_query(sql)  # single statement, parsed by the engine
            result = self._result(sql, "TabSeparated", params)
            return _Response(200, b"", {"X-ClickHouse-Summary": _summary(result)})
        # The head alone is parsed by the engine (one statement, nothing smuggled before the data).
        self._format_query(f"{head} FORMAT {parts.fmt}")
        data = parts.data
        if parts.fmt == "Values":
            data = data.rstrip().removesuffix(b";")
        try:
            inserter = self.session.send_insert(head, parts.fmt)
        except Exception as exc:
            self._drain()
            raise EngineError.from_chdb(exc) from None
        try:
            if data:
                inserter.append(data)
            done = inserter.finish()
        except Exception as exc:
            with contextlib.suppress(Exception):
                inserter.cancel()
            self._drain()
            raise EngineError.from_chdb(exc) from None
        summary = {
            "read_rows": str(done.rows_written),
            "read_bytes": str(len(data)),
            "written_rows": str(done.rows_written),
            "written_bytes": str(done.bytes_written),
        }
        return _Response(200, b"", {"X-ClickHouse-Summary": json.dumps(summary)})

    def _statement(
        self,
        text: bytes,
        params: Mapping[str, str],
        settings: Mapping[str, str],
        leading: list[str],
        default_format: str,
        state: _SessionState | None,
    ) -> _Response:
        try:
            sql = _strip_statement_end(text.decode())
        except UnicodeDecodeError:
            raise EngineError.ours(_SYNTAX_ERROR, "SYNTAX_ERROR", "Query is not valid UTF-8") from None
        formatted = self._format_query(sql)
        lines = _formatted_lines(formatted)
        if any(line.startswith("INTO OUTFILE") for line in lines):
            raise EngineError.ours(_INTO_OUTFILE_NOT_ALLOWED, "INTO_OUTFILE_NOT_ALLOWED", "INTO OUTFILE is not allowed")
        kind = "(" if formatted.startswith("(") else formatted.split(None, 1)[0].upper()
        settings_sql = self._merged_settings_sql(leading, settings)

        if kind in ("USE", "SET"):
            return self._session_statement(kind, formatted, settings_sql, state)

        fmt_lines = [line for line in lines if line.startswith("FORMAT ")]
        out_fmt = fmt_lines[-1].split()[1] if fmt_lines else default_format
        if kind in _FORMAT_KINDS:
            if not settings_sql:
                final = sql
            elif lines[-1].startswith("SETTINGS ") and fmt_lines:
                final = f"{sql}\n, {settings_sql}"  # extend the trailing query-level SETTINGS
            elif fmt_lines:
                final = f"{sql}\nSETTINGS {settings_sql}"
            else:
                final = f"{sql}\nFORMAT {out_fmt}\nSETTINGS {settings_sql}"
        elif kind in _SETTINGS_ONLY_KINDS:
            if not settings_sql:
                final = sql
            elif lines[-1].startswith("SETTINGS "):
                final = f"{sql}\n, {settings_sql}"
            else:
                final = f"{sql}\nSETTINGS {settings_sql}"
        else:
            # SYSTEM, GRANT, …: their grammar takes no SETTINGS. Refuse rather than run them
            # without a read-only restriction the client asked for.
            if _readonly_requested(settings, leading):
                raise EngineError.ours(_READONLY, "READONLY", "Cannot execute query in readonly mode")
            final = sql

        result = self._result(final, out_fmt, params)
        headers = {"X-ClickHouse-Summary": _summary(result)}
        if kind in _RESULT_KINDS:
            headers["X-ClickHouse-Format"] = out_fmt
            headers["Content-Type"] = _CONTENT_TYPES.get(out_fmt, "application/octet-stream")
        else:
            headers["Content-Type"] = "text/plain; charset=UTF-8"
        return _Response(200, bytes(result.bytes()), headers)

    def _session_statement(
        self, kind: str, formatted: str, settings_sql: str, state: _SessionState | None
    ) -> _Response:
        """USE / SET: validated by the engine, remembered per session_id, never applied globally."""
        if kind == "USE":
            database_sql = formatted[3:].strip()
            self._use(database_sql)  # fails like the server if the database does not exist
            if state is not None:
                state.database_sql = database_sql
        else:
            assignments = formatted[3:].strip()
            # Apply the request's settings first, so a read-only session refuses the change.
            check = f"SELECT 1 SETTINGS {assignments}\nFORMAT Null"
            if settings_sql:
                check += f"\nSETTINGS {settings_sql}"
            self._result(check, "Null")
            if state is not None:
                state.settings_sql.append(assignments)
        return _Response(200, b"", {"Content-Type": "text/plain; charset=UTF-8"})


def _readonly_requested(settings: Mapping[str, str], leading: list[str]) -> bool:
    if settings.get("readonly", "0") not in ("", "0"):
        return True
    return any(re.search(r"\breadonly\s*=\s*(?!0\b)", part) for part in leading)


def _summary(result: Any) -> str:
    return json.dumps(
        {
            "read_rows": str(result.rows_read()),
            "read_bytes": str(result.bytes_read()),
            "written_rows": str(result.rows_written()),
            "written_bytes": str(result.bytes_written()),
        }
    )


# --- compression -----------------------------------------------------------------------------


def _zstd() -> Any:
    try:
        from compression import zstd  # type: ignore[import-not-found,unused-ignore]  # Python 3.14+
    except ImportError:
        try:
            from backports import zstd  # type: ignore[import-not-found,no-redef,unused-ignore]
        except ImportError:
            return None
    return zstd


def _decompress_body(body: bytes, encoding: str) -> bytes:
    encoding = encoding.strip().lower()
    if not encoding or encoding == "identity":
        return body
    try:
        if encoding == "lz4":
            import lz4.frame

            out = bytearray()
            rest = body
            while rest:  # concatenated frames, as a streaming compressor may emit
                decompressor = lz4.frame.LZ4FrameDecompressor()
                out += decompressor.decompress(rest)
                rest = decompressor.unused_data
            return bytes(out)
        if encoding == "zstd" and (zstd := _zstd()) is not None:
            return bytes(zstd.decompress(body))
        if encoding == "gzip":
            return gzip.decompress(body)
        if encoding == "deflate":
            return zlib.decompress(body)
    except Exception as exc:
        raise EngineError.ours(
            _CANNOT_DECOMPRESS, "CANNOT_DECOMPRESS", f"Cannot decompress {encoding} request body: {exc}"
        ) from None
    raise EngineError.ours(
        _UNKNOWN_COMPRESSION_METHOD, "UNKNOWN_COMPRESSION_METHOD", f"Unknown HTTP Content-Encoding: {encoding}"
    )


def _compress_response(response: _Response, accept_encoding: str) -> None:
    offered = [part.split(";")[0].strip().lower() for part in accept_encoding.split(",")]
    for encoding in offered:
        if encoding == "lz4":
            import lz4.frame

            response.body = lz4.frame.compress(response.body)
        elif encoding == "zstd" and (zstd := _zstd()) is not None:
            response.body = bytes(zstd.compress(response.body))
        elif encoding == "gzip":
            response.body = gzip.compress(response.body, compresslevel=1)
        elif encoding == "deflate":
            response.body = zlib.compress(response.body, 1)
        else:
            continue
        response.headers["Content-Encoding"] = encoding
        return


# --- HTTP plumbing ---------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: clickhouse-connect pools connections
    server_version = "chdb-http"
    # Headers and body leave in one write with Nagle off: split small writes on a kept-alive
    # connection otherwise meet the peer's delayed ACK and cost ~40 ms per request.
    disable_nagle_algorithm = True
    wbufsize = 1 << 16
    backend: _Backend  # set on the per-server subclass

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s " + format, self.address_string(), *args)

    def setup(self) -> None:
        super().setup()
        with self.backend.connections_lock:
            self.backend.connections.add(self.connection)

    def finish(self) -> None:
        with self.backend.connections_lock:
            self.backend.connections.discard(self.connection)
        super().finish()

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path in ("/ping", "/replicas_status") or (url.path == "/" and not url.query):
            self._send(_Response(200, b"Ok.\n", {"Content-Type": "text/plain; charset=UTF-8"}))
            return
        self._serve("GET", b"")

    def do_POST(self) -> None:
        try:
            body = self._read_body()
        except (EngineError, ValueError) as exc:
            error = exc if isinstance(exc, EngineError) else EngineError.ours(_BAD_ARGUMENTS, "BAD_ARGUMENTS", str(exc))
            self._send(self.backend.handle_error(error))
            self.close_connection = True  # the body was not fully read: the stream is out of step
            return
        self._serve("POST", body)

    def _serve(self, method: str, body: bytes) -> None:
        url = urlsplit(self.path)
        if url.path not in ("/", ""):
            self._send(_Response(404, b"There is no handle " + url.path.encode() + b"\n"))
            return
        args = parse_qsl(url.query, keep_blank_values=True)
        try:
            body = _decompress_body(body, self.headers.get("Content-Encoding", ""))
            content_type = self.headers.get("Content-Type", "")
            if content_type.startswith("multipart/form-data"):
                args += _form_fields(content_type, body)
                body = b""
        except EngineError as exc:
            self._send(self.backend.handle_error(exc))
            return
        request = _Request(method, args, body, self.headers.get("Accept-Encoding", ""))
        try:
            response = self.backend.handle(request)
        except Exception as exc:  # never leave a client hanging on a bug here
            logger.exception("chdb_http internal error")
            response = self.backend.handle_error(
                EngineError.ours(_STD_EXCEPTION, "STD_EXCEPTION", f"chdb_http internal error: {exc!r}")
            )
        self._send(response)

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = bytearray()
            while True:
                size_line = self.rfile.readline(1024)
                size = int(size_line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return bytes(chunks)
                if len(chunks) + size > _MAX_BODY:
                    raise EngineError.ours(_QUERY_IS_TOO_LARGE, "QUERY_IS_TOO_LARGE", "Request body is too large")
                chunks += self.rfile.read(size)
                self.rfile.readline(1024)  # CRLF after the chunk
        length = int(self.headers.get("Content-Length") or 0)
        if length > _MAX_BODY:
            raise EngineError.ours(_QUERY_IS_TOO_LARGE, "QUERY_IS_TOO_LARGE", "Request body is too large")
        return self.rfile.read(length) if length else b""

    def _send(self, response: _Response) -> None:
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)
        self.wfile.flush()


def _form_fields(content_type: str, body: bytes) -> list[tuple[str, str]]:
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body
    )
    fields: list[tuple[str, str]] = []
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if part.get_filename() is not None or not isinstance(name, str):
            raise EngineError.ours(_NOT_IMPLEMENTED, "NOT_IMPLEMENTED", "chdb_http does not serve external data")
        payload = part.get_payload(decode=True)
        fields.append((name, payload.decode() if isinstance(payload, bytes) else str(payload)))
    return fields


# --- public API ------------------------------------------------------------------------------


class ChdbHttpServer:
    """A loopback ClickHouse HTTP endpoint over one chdb session.

    >>> with ChdbHttpServer(tmp_path / "ch") as server:
    ...     client = clickhouse_connect.get_client(host=server.host, port=server.port)

    `path` is the chdb data directory (created if missing; None keeps data in memory). Pass an
    open `session` instead to share one the caller owns; it is then left open on `stop()`.
    """

    def __init__(
        self,
        path: str | PathLike[str] | None = None,
        *,
        session: Session | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        if path is not None and session is not None:
            raise ValueError("pass either path or session, not both")
        self._path = None if path is None else str(path)
        self._given_session = session
        self._bind = (host, port)
        self._session: Session | None = None
        self._backend: _Backend | None = None
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # lifecycle

    def start(self) -> ChdbHttpServer:
        if self._httpd is not None:
            return self
        if self._given_session is not None:
            self._session = self._given_session
        else:
            from chdb.session import Session

            try:
                self._session = Session(self._path)
            except Exception as exc:  # e.g. another path already open in this process
                raise RuntimeError(f"cannot open chdb at {self._path or ':memory:'}: {exc}") from exc
        try:
            # One thread per query and no query log: what a test engine needs, at a fraction of the CPU.
            self._session.query("SET max_threads = 1, log_queries = 0")
            backend = _Backend(self._session)
            handler = type("_BoundHandler", (_Handler,), {"backend": backend})
            httpd = ThreadingHTTPServer(self._bind, handler)
        except BaseException:
            self._close_session()
            raise
        httpd.daemon_threads = True
        self._backend, self._httpd = backend, httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="chdb-http", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is not None:
            httpd.shutdown()
            httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        backend, self._backend = self._backend, None
        if backend is None:
            self._close_session()
            return
        with backend.lock:  # a request still being answered finishes its engine call first
            # A stopped server answers nothing more: cut kept-alive connections as a crash would.
            with backend.connections_lock:
                for connection in backend.connections:
                    with contextlib.suppress(OSError):
                        connection.shutdown(socket.SHUT_RDWR)
            self._close_session()

    def _close_session(self) -> None:
        session, self._session = self._session, None
        if session is not None and session is not self._given_session:
            session.close()

    def __enter__(self) -> ChdbHttpServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # addresses

    @property
    def host(self) -> str:
        return str(self._require_httpd().server_address[0])

    @property
    def port(self) -> int:
        return int(self._require_httpd().server_address[1])

    @property
    def url(self) -> str:
        """`http://127.0.0.1:<port>`: what OTEL_MCP_CLICKHOUSE_URL would hold."""
        return f"http://{self.host}:{self.port}"

    @property
    def session(self) -> Session:
        if self._session is None:
            raise RuntimeError("ChdbHttpServer is not started")
        return self._session

    @property
    def version(self) -> str:
        """The engine's `version()`."""
        return self._require_backend().version

    # direct use (trusted SQL from tests and bench scripts, bypassing HTTP)

    def query(
        self, sql: str, fmt: str = "JSONEachRow", *, params: Mapping[str, str] | None = None, database: str = "default"
    ) -> str:
        """Run SQL on the engine as is, in `database`; return the output text. Raises EngineError."""
        return self._require_backend().query_direct(sql, fmt, params, database).decode()

    def query_rows(
        self, sql: str, *, params: Mapping[str, str] | None = None, database: str = "default"
    ) -> list[dict[str, Any]]:
        """Run a SELECT and return its rows as dicts (via JSONEachRow)."""
        text = self.query(sql, "JSONEachRow", params=params, database=database)
        return [json.loads(line) for line in text.splitlines() if line]

    def get_client(self, **kwargs: Any) -> Client:
        """A clickhouse-connect client pointed at this endpoint (keyword arguments pass through)."""
        import clickhouse_connect

        return clickhouse_connect.get_client(host=self.host, port=self.port, **kwargs)

    def _require_httpd(self) -> ThreadingHTTPServer:
        if self._httpd is None:
            raise RuntimeError("ChdbHttpServer is not started")
        return self._httpd

    def _require_backend(self) -> _Backend:
        if self._backend is None:
            raise RuntimeError("ChdbHttpServer is not started")
        return self._backend
