"""`otel-mcp serve`: the MCP server, stdio by default, or streamable HTTP behind bearer tokens."""

from __future__ import annotations

import argparse
import ipaddress
import os
from typing import Any

from otel_mcp.commands.common import add_store_flags

__all__ = ["configure", "http_app"]


def configure(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser("serve", help="run the MCP server (stdio by default)")
    add_store_flags(parser)
    parser.add_argument("--transport", choices=["stdio", "streamable-http"], default="stdio")
    parser.add_argument("--host", default="127.0.0.1", help="bind address for streamable-http (loopback by default)")
    parser.add_argument("--port", type=int, default=8000, help="port for streamable-http")
    parser.add_argument(
        "--tokens-file",
        help="streamable-http: JSON/YAML map of bearer token -> agent id (OTEL_MCP_TOKENS_FILE); required unless "
        "--no-auth",
    )
    parser.add_argument(
        "--no-auth",
        action="store_true",
        help="streamable-http without tokens, every caller acting as OTEL_MCP_AGENT_ID; loopback addresses only",
    )
    parser.set_defaults(func=run)


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def http_app(server: Any, *, host: str, tokens_file: str | None, no_auth: bool) -> Any:
    """The streamable-HTTP ASGI app, wrapped in bearer-token auth unless explicitly (and locally) disabled."""
    from pathlib import Path

    from otel_mcp.errors import InvalidArgument
    from otel_mcp.server.auth import BearerAuth, TokenMap

    app = server.streamable_http_app(host=host)
    if tokens_file:
        return BearerAuth(app, TokenMap.from_file(Path(tokens_file)))
    if not no_auth:
        raise InvalidArgument(
            "streamable HTTP needs bearer tokens: pass --tokens-file (or set OTEL_MCP_TOKENS_FILE) with "
            '{"<token>": "<agent id>", ...}; --no-auth serves loopback only'
        )
    if not _loopback(host):
        raise InvalidArgument(f"--no-auth only binds loopback addresses; {host!r} would expose an open server")
    return app


def run(args: argparse.Namespace) -> int:
    from otel_mcp.config import Settings
    from otel_mcp.runtime import Runtime
    from otel_mcp.server import create_server

    settings = Settings.from_env()
    runtime = Runtime.open(settings)
    try:
        server = create_server(runtime)
        if args.transport == "stdio":
            import anyio

            from otel_mcp.server.stdio import serve_stdio

            anyio.run(serve_stdio, server)
            return 0
        import uvicorn

        tokens = args.tokens_file or os.environ.get("OTEL_MCP_TOKENS_FILE")
        app = http_app(server, host=args.host, tokens_file=tokens, no_auth=args.no_auth)
        uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
        return 0
    finally:
        runtime.close()
