"""A server started without a workspace takes the one its client offers as an MCP root.

Hosts that start servers in `/` or the home folder and name no project (Claude Code's desktop app)
leave the server refusing every call (`resolve.no_store`). If the client declares the roots
capability, the first tool call asks it for its roots and adopts the first `file://` root that is
a folder other than `/` and home (its git work tree, as `resolve` settles it), opening the real
store then, once, in a worker thread. Roots that change later are not followed: the store, its
key and the workspace watcher are bound to the first; switching needs a restart. Over stdio only
(`create_server(client_roots=True)`): an HTTP client's roots name folders on its own machine.

Roots are deprecated from the 2026-07-28 protocol on (SEP-2577): this works on connections that
use the initialize handshake (the era every host runs today); on a 2026-07-28 connection the server
has no back-channel to ask, and the refusal stands. A client is asked once, and again after it
sends `notifications/roots/list_changed`.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import anyio
from mcp import MCPDeprecationWarning
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.session import ServerSession

from otel_mcp.errors import OtelMcpError
from otel_mcp.runtime import Runtime

__all__ = ["ClientRoots", "folder_of"]

_log = logging.getLogger("otel_mcp.serve")

_ASKED_KEPT = 1024  # connections remembered as asked (HTTP servers see many)
_ASK_TIMEOUT_S = 10.0  # a client that never answers roots/list must not hold the call forever


def folder_of(uri: str) -> Path | None:
    """The local folder a `file://` root names, or None (another scheme, a remote host, not absolute)."""
    parts = urlsplit(uri)
    if parts.scheme != "file" or parts.netloc not in ("", "localhost"):
        return None
    path = Path(unquote(parts.path))
    return path if path.is_absolute() else None


class ClientRoots:
    """MCP middleware: while the server has no workspace, adopt the client's first usable root."""

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime
        self._lock = anyio.Lock()
        self._adopted: str | None = None  # the root's URI, once adopted
        # Connections already asked without a usable root, by their initialize params (one object per
        # connection; held, so its id is not reused): asked again only when their roots change.
        self._asked: dict[int, object] = {}

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        if ctx.method == "tools/call" and self._runtime.awaiting_workspace:
            await self._adopt_from(ctx.session)
        elif ctx.method == "notifications/roots/list_changed" and self._adopted is None:
            self._asked.pop(id(ctx.session.client_params), None)
        elif ctx.method == "notifications/roots/list_changed":
            _log.warning(
                "the client's roots changed; this server keeps its workspace %s (from the root %s): its store, "
                "key and file watcher are bound to it, so restart the server to switch",
                self._runtime.settings.workspace,
                self._adopted,
            )
        return await call_next(ctx)

    async def _adopt_from(self, session: ServerSession) -> None:
        capabilities, connection = session.client_capabilities, session.client_params
        if connection is None or capabilities is None or capabilities.roots is None or id(connection) in self._asked:
            return  # no handshake, no roots (or none usable): the refusal names the config line instead
        async with self._lock:
            if not self._runtime.awaiting_workspace or id(connection) in self._asked:
                return  # another call adopted one (or asked this client) meanwhile
            if len(self._asked) >= _ASKED_KEPT:
                del self._asked[next(iter(self._asked))]
            self._asked[id(connection)] = connection
            try:
                with anyio.fail_after(_ASK_TIMEOUT_S), warnings.catch_warnings():
                    warnings.simplefilter("ignore", MCPDeprecationWarning)  # roots: deprecated from 2026-07-28
                    roots = (await session.list_roots()).roots
            except Exception as exc:  # no answer, an error, or no back-channel: keep refusing
                _log.warning("asked the client for its MCP roots: %s", exc or type(exc).__name__)
                return
            for root in roots:
                folder = folder_of(str(root.uri))
                if folder is None:
                    continue
                try:
                    adopted = await anyio.to_thread.run_sync(self._runtime.adopt_root, folder)
                except OtelMcpError as exc:
                    _log.warning("the MCP root %s could not be used: %s", str(root.uri)[:200], exc)
                    continue
                if adopted:
                    self._adopted = str(root.uri)
                    return
            _log.warning("the client offered no MCP root that is a project folder (not / or home)")
