"""`otel-mcp serve`: the MCP server, stdio by default."""

from __future__ import annotations

import argparse
from typing import Any

from otel_mcp.commands.common import add_store_flags

__all__ = ["configure"]


def configure(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser("serve", help="run the MCP server (stdio by default)")
    add_store_flags(parser)
    parser.add_argument("--transport", choices=["stdio", "streamable-http"], default="stdio")
    parser.add_argument("--host", default="127.0.0.1", help="bind address for streamable-http (loopback by default)")
    parser.add_argument("--port", type=int, default=8000, help="port for streamable-http")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from otel_mcp.config import Settings
    from otel_mcp.runtime import Runtime
    from otel_mcp.server import create_server

    runtime = Runtime.open(Settings.from_env())
    server = create_server(runtime)
    try:
        if args.transport == "stdio":
            server.run()
        else:
            server.run("streamable-http", host=args.host, port=args.port)
    finally:
        runtime.close()
    return 0
