"""The swarm at a glance in a browser: the pages at `/ui/`, served by `otel-mcp ui` and beside `/mcp`.

`app` (routes, JSON endpoints over `core.overview`), `sessions` (log-in with a bearer token, then a
cookie), `mount` (the pages beside the MCP stack), `static/` (HTML, JS, CSS and the vendored graph
layout library, shipped in the wheel; nothing is fetched at run time).
"""

from otel_mcp.server.web.app import UI_PATH, ui_app
from otel_mcp.server.web.mount import UiMount

__all__ = ["UI_PATH", "UiMount", "ui_app"]
