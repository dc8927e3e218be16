"""A stand-in for a store that could not be opened, so the server can start and say why.

A server that exits when its store cannot be opened leaves the person at the host with
"connection closed": hosts hide a server's stderr. Behind this stand-in the server starts, lists
its tools, and every call fails with the reason. Calls try to open the real store again (at most
every few seconds), so fixing a permission or freeing a disk needs no restart.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from otel_mcp.config import Settings
from otel_mcp.errors import OtelMcpError, StoreUnavailable
from otel_mcp.store.base import Store

__all__ = ["UnopenedStore"]


class UnopenedStore:
    """Every call raises StoreUnavailable(reason) until `opener` succeeds; then it is that store."""

    def __init__(self, settings: Settings, reason: str, opener: Callable[[], Store], retry_s: float = 2.0) -> None:
        self.backend = settings.backend
        # As the real store would answer: Telemetry decides on OTLP and threads before it opens.
        self.blocking_io = settings.backend == "clickhouse"
        self._exports_otlp = settings.backend == "clickhouse" and settings.clickhouse_write == "otlp"
        self._reason = reason
        self._opener = opener
        self._retry_s = retry_s
        self._next_try = time.monotonic() + retry_s
        self._store: Store | None = None
        self._lock = threading.Lock()

    @property
    def exports_otlp(self) -> bool:
        return self._exports_otlp

    @property
    def problem(self) -> str | None:
        store = self._opened()
        return self._reason if store is None else store.problem

    def _opened(self) -> Store | None:
        with self._lock:
            if self._store is None and time.monotonic() >= self._next_try:
                try:
                    self._store = self._opener()
                except OtelMcpError as exc:
                    self._reason = str(exc)
                    self._next_try = time.monotonic() + self._retry_s
            return self._store

    def _target(self) -> Store:
        store = self._opened()
        if store is None:
            raise StoreUnavailable(self._reason)
        return store

    def __getattr__(self, name: str) -> Any:
        # Every other member of the Store protocol (and a backend's extras, such as SQLite's
        # transaction/export_in for claims) is the opened store's; until it opens, the reason.
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._target(), name)

    def adopt(self, store: Store) -> None:
        """From now on be `store`: the server learned where its store is after it started (an MCP root)."""
        with self._lock:
            self._store = store

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True if self._store is None else self._store.force_flush(timeout_millis)

    def shutdown(self) -> None:
        if self._store is not None:
            self._store.shutdown()
