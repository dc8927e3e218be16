"""Why an SQLite store file cannot be used, in sentences a person can act on.

A host shows tool errors to people and hides the server's stderr, so the reason a store cannot be
opened or written travels in the tool error: read-only (file, directory or file system), a full
disk, or a damaged file. Damage is the one that must stop the process writing: SQLite reports it
(SQLITE_CORRUPT, SQLITE_NOTADB) only when a statement touches a bad page, and further writes into
the file can spread it.
"""

from __future__ import annotations

import errno
import os
import sqlite3
from pathlib import Path

__all__ = ["damaged_message", "is_damage", "not_a_store", "open_failure", "write_failure"]

_CORRUPT, _NOTADB, _READONLY, _FULL, _CANTOPEN = 11, 26, 8, 13, 14
_SQLITE_HEADER = b"SQLite format 3\x00"


def _code(exc: BaseException) -> int | None:
    code = getattr(exc, "sqlite_errorcode", None)
    return code & 0xFF if isinstance(code, int) else None


def is_damage(exc: BaseException) -> bool:
    """Whether SQLite says the file itself is damaged (not busy, full or read-only)."""
    if not isinstance(exc, sqlite3.DatabaseError):
        return False
    code = _code(exc)
    if code is not None:
        return code in (_CORRUPT, _NOTADB)
    text = str(exc)
    return "malformed" in text or "not a database" in text


def not_a_store(path: Path) -> str | None:
    """Why `path` is no store at all (a directory, a file that is not SQLite), or None.

    SQLite calls both "not a database" or "unable to open", as it does a damaged store: a person
    who gave the wrong path must not be told to repair a file they never meant.
    """
    if path.is_dir():
        inside = path / "telemetry.db"
        hint = f" ({inside} is there)" if inside.is_file() else ""
        return (
            f"{path} is a directory, not a telemetry store file: --db / OTEL_MCP_DB names the store file itself, "
            f"e.g. {inside}{hint}"
        )
    try:
        with path.open("rb") as handle:
            head = handle.read(16)
    except OSError:
        return None
    # Text (notes, JSON, YAML) is a wrong path; binary garbage may be a store whose header was
    # overwritten, which the damaged-store message covers.
    if head and not head.startswith(_SQLITE_HEADER[: len(head)]) and _text(head):
        shown = head.decode("utf-8", "replace").split("\n")[0][:16]
        return (
            f"{path} is not an SQLite database (it starts with {shown!r}), so it is no telemetry store: point --db / "
            "OTEL_MCP_DB at the store the agents write (default <workspace>/.otel-mcp/telemetry.db)"
        )
    return None


def _text(head: bytes) -> bool:
    try:
        decoded = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.reason != "unexpected end of data" or exc.start < 13:
            return False
        decoded = head[: exc.start].decode("utf-8")  # a character cut at the 16th byte
    return bool(decoded) and all(c.isprintable() or c in "\t\r\n" for c in decoded)


def damaged_message(path: Path, exc: BaseException) -> str:
    return (
        f"the telemetry store {path} is damaged (SQLite: {exc}); this server no longer reads or writes it. "
        f"Check it with `sqlite3 {path} 'PRAGMA integrity_check'`. Restore it from a copy, or move it aside "
        f"together with {path.name}-wal and {path.name}-shm: a new store is created on the next start"
    )


def _existing(path: Path) -> Path:
    for candidate in (path, *path.parents):
        if candidate.exists():
            return candidate
    return path


def _read_only_reason(path: Path) -> str | None:
    probe = _existing(path.parent)
    try:
        if os.statvfs(probe).f_flag & os.ST_RDONLY:
            return f"{probe} is on a read-only file system"
    except (OSError, AttributeError):
        pass
    if path.is_file() and not os.access(path, os.W_OK):
        return "the file is read-only for this user"
    if path.parent.is_dir() and not os.access(path.parent, os.W_OK):
        return f"this user cannot create files in {path.parent}"
    return None


def _read_only_message(path: Path, reason: str) -> str:
    return (
        f"the telemetry store {path} is read-only ({reason}): SQLite must write the file and create "
        f"{path.name}-wal and {path.name}-shm beside it. Give this user write access to the file and its "
        "directory, or set OTEL_MCP_DB to a writable path; the next tool call tries again"
    )


def _full_message(path: Path) -> str:
    return f"the disk holding the telemetry store {path} is full: free some space; the next tool call tries again"


def open_failure(path: Path, exc: BaseException) -> str:
    """Why `path` could not be opened as a store, and what to do."""
    wrong = not_a_store(path)
    if wrong is not None:
        return wrong
    if is_damage(exc):
        return damaged_message(path, exc)
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return _full_message(path)
    if _code(exc) == _FULL:
        return _full_message(path)
    reason = _read_only_reason(path)
    if reason is not None and (
        (isinstance(exc, OSError) and exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM))
        or _code(exc) in (_READONLY, _CANTOPEN)
    ):
        return _read_only_message(path, reason)
    if isinstance(exc, (NotADirectoryError, FileExistsError)):
        return (
            f"cannot open the telemetry store {path}: {_existing(path)} is a file, not a directory; "
            "set OTEL_MCP_DB to a path in a directory"
        )
    detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    return f"cannot open the telemetry store {path}: {detail}"


def write_failure(
    path: Path, exc: BaseException, default: str = "could not write to the telemetry store at {path}"
) -> str:
    """Why a write to an open store failed, and what to do (damage is handled by the caller)."""
    if _code(exc) == _FULL:
        return _full_message(path)
    if _code(exc) == _READONLY:
        return _read_only_message(path, _read_only_reason(path) or "SQLite refused to write it")
    return f"{default.format(path=path)}: {exc}"
