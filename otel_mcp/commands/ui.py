"""`otel-mcp ui [--port N]`: the swarm at a glance in a browser, read-only, on this machine only.

The store comes from the same settings as `serve` (OTEL_MCP_DB / OTEL_MCP_BACKEND / ..., or the
flags). The pages are also served by `serve --transport streamable-http`, beside `/mcp`.
"""

from __future__ import annotations

import argparse
import logging
from typing import Any

from otel_mcp.commands.common import add_store_flags, settings_from

__all__ = ["DEFAULT_PORT", "configure", "run"]

DEFAULT_PORT = 8765
_log = logging.getLogger("otel_mcp.serve")


def configure(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "ui", help="show who is doing what, the task graph, timelines, gates and traces in a browser (read-only)"
    )
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"port on 127.0.0.1 (default {DEFAULT_PORT}; 0: any free port)"
    )
    add_store_flags(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from otel_mcp.core.overview import Overview
    from otel_mcp.resolve import resolve
    from otel_mcp.runtime import Runtime
    from otel_mcp.server.http_guard import HostOriginGuard, HostPolicy
    from otel_mcp.server.http_log import AccessLog
    from otel_mcp.server.streamable_http import listen
    from otel_mcp.server.web import ui_app
    from otel_mcp.store.opening import require_store, store_label

    settings = resolve(settings_from(args, default_agent="ui"))
    require_store(settings)  # a page over an empty store made by mistake would only say "nothing here"
    runtime = Runtime.open(settings, env={}, watch=False)
    try:
        host = "127.0.0.1"
        sock = listen(host, args.port)
        overview = Overview(runtime.store, runtime.coordinator, runtime.catalog_loader.catalog)
        app = AccessLog(HostOriginGuard(ui_app(overview, None, root="/"), HostPolicy.for_bind(host)))
        print(f"otel-mcp ui: http://{host}:{sock.getsockname()[1]}/ui/ (read-only, this machine only)", flush=True)
        print(f"store: {store_label(settings)}", flush=True)
        print(f"gates: {settings.gates_dir}", flush=True)
        uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False)).run(sockets=[sock])
        return 0
    finally:
        runtime.close()
