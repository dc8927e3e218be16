"""The embedded store: one SQLite file in WAL mode, shared by every agent's server process.

`store` holds the `SQLiteStore` itself (writes, reads, the task index); `rows` turns spans into
rows and back; `queries` is the SQL its reads run; `schema` creates and upgrades the file; `sandbox`
runs an agent's own SELECT on a connection that cannot write.
"""

from __future__ import annotations

from otel_mcp.store.sqlite.store import SQLiteStore

__all__ = ["SQLiteStore"]
