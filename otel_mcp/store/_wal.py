"""Open an SQLite file in WAL mode when several processes may be opening it at the same moment."""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

__all__ = ["connect_wal"]


def connect_wal(path: str | os.PathLike[str], busy_timeout_s: float, *, read_only: bool = False) -> sqlite3.Connection:
    """An autocommit connection to `path` in WAL mode, usable from any thread (callers lock).

    `read_only` opens the file as it is, for commands that only read: SQLite refuses every write
    through it, and the journal mode is left alone (setting it may write the file).

    Switching to WAL needs an exclusive lock, and SQLite reports "locked" at once, without calling
    its busy handler, while another connection holds any lock: the first agents to open a fresh
    store all race here (the demo starts four at once). Retry until the busy timeout.
    """
    if read_only:
        uri = Path(path).absolute().as_uri() + "?mode=ro"
        return sqlite3.connect(uri, uri=True, timeout=busy_timeout_s, isolation_level=None, check_same_thread=False)
    db = sqlite3.connect(path, timeout=busy_timeout_s, isolation_level=None, check_same_thread=False)
    deadline = time.monotonic() + busy_timeout_s
    delay = 0.002
    while True:
        try:
            db.execute("PRAGMA journal_mode=WAL")
            return db
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                db.close()
                raise
        time.sleep(delay)
        delay = min(delay * 2, 0.05)
