"""`otel-mcp serve`: the MCP server, stdio by default, or streamable HTTP behind bearer tokens."""

from __future__ import annotations

import argparse
import logging
from typing import Any

from otel_mcp.commands.common import add_store_flags, name_list, settings_from

__all__ = [
    "configure",
    "run",
]

_log = logging.getLogger("otel_mcp.serve")


def configure(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser("serve", help="run the MCP server (stdio by default)")
    add_store_flags(parser)
    parser.add_argument(
        "--transport",
        choices=["stdio", "streamable-http"],
        default="stdio",
        help="stdio (default: what hosts start) or streamable-http (one server for many agents, at /mcp)",
    )
    parser.add_argument("--host", default="127.0.0.1", help="bind address for streamable-http (loopback by default)")
    parser.add_argument("--port", type=int, default=8000, help="port for streamable-http (0: any free port)")
    parser.add_argument(
        "--tokens-file",
        help="streamable-http: JSON/YAML map of bearer token -> agent id (OTEL_MCP_TOKENS_FILE); required unless "
        "--no-auth",
    )
    parser.add_argument(
        "--no-auth",
        action="store_true",
        help="streamable-http without tokens, every caller acting as this server's own agent (--agent-id); loopback "
        "addresses only",
    )
    parser.add_argument(
        "--allowed-hosts",
        action="extend",
        type=name_list,
        metavar="NAME[:PORT],...",
        help="streamable-http: also answer to these Host names, e.g. the name of a proxy in front (comma-separated, "
        "repeatable; OTEL_MCP_ALLOWED_HOSTS). Loopback names and the bind address are always accepted",
    )
    parser.add_argument(
        "--allowed-origins",
        action="extend",
        type=name_list,
        metavar="SCHEME://NAME[:PORT],...",
        help="streamable-http: also accept browser requests from these Origins (comma-separated, repeatable; "
        "OTEL_MCP_ALLOWED_ORIGINS). Loopback origins are always accepted",
    )
    parser.add_argument(
        "--allow-readable-tokens",
        action="store_true",
        default=None,  # not given: OTEL_MCP_ALLOW_READABLE_TOKENS decides
        help="serve even if other users can read (or write) the tokens file, with a warning "
        "(OTEL_MCP_ALLOW_READABLE_TOKENS=1)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from otel_mcp.runtime import Runtime
    from otel_mcp.server import create_server

    settings = settings_from(args, default_agent=None)
    runtime = Runtime.open_for_serving(settings)
    try:
        server = create_server(runtime, client_roots=args.transport == "stdio")
        if args.transport == "stdio":
            # Hosts show a server's stderr as errors or hide it: one line, and only with -v.
            _log.info("otel-mcp over stdio as %r; store: %s", runtime.agent_id, runtime.describe_store())
            import anyio

            from otel_mcp.server.stdio import serve_stdio

            anyio.run(serve_stdio, server)
            return 0
        from otel_mcp.server.streamable_http import HttpOptions, serve_http

        # Start-up lines and one line per request, unless -v already asked for everything.
        for name in ("otel_mcp.serve", "otel_mcp.http"):
            if not logging.getLogger(name).isEnabledFor(logging.INFO):
                logging.getLogger(name).setLevel(logging.INFO)
        options = HttpOptions(
            host=args.host,
            port=args.port,
            tokens_file=settings.tokens_file,
            no_auth=args.no_auth,
            allowed_hosts=settings.allowed_hosts,
            allowed_origins=settings.allowed_origins,
            allow_readable_tokens=settings.allow_readable_tokens,
        )
        return serve_http(server, runtime, options)
    finally:
        runtime.close()
