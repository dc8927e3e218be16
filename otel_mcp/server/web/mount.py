"""Sends requests under `/ui` to the pages and every other request on to the MCP stack."""

from __future__ import annotations

from otel_mcp.server._http import ASGIApp, Receive, Scope, Send
from otel_mcp.server.web.app import UI_PATH

__all__ = ["UiMount"]


class UiMount:
    """ASGI: `/ui` and below to `pages`, the rest to `app` (which keeps its own auth and 404s)."""

    def __init__(self, pages: ASGIApp, app: ASGIApp) -> None:
        self._pages = pages
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = str(scope.get("path", "")) if scope["type"] == "http" else ""
        if path == UI_PATH or path.startswith(UI_PATH + "/"):
            await self._pages(scope, receive, send)
            return
        await self._app(scope, receive, send)
