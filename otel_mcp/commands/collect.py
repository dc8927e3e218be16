"""`otel-mcp collect`: a loopback OTLP/HTTP receiver that writes the hosts' own telemetry into the store.

One per machine (or per repository), started by a person, never by a host: stdio servers do not
listen, so several of them never fight over a port. The store comes from the same settings as
`otel-mcp serve` (`OTEL_MCP_DB`, `OTEL_MCP_WORKSPACE`, `OTEL_MCP_BACKEND`, ...).
"""

from __future__ import annotations

import argparse
import logging
from typing import Any

from otel_mcp.commands.common import add_store_flags, settings_from

__all__ = ["DEFAULT_PORT", "configure", "run"]

DEFAULT_PORT = 4318  # OTLP/HTTP's registered port
_log = logging.getLogger("otel_mcp.collect")


def configure(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "collect",
        help="receive the hosts' own OpenTelemetry (OTLP/HTTP) into the store",
        description="Serves POST /v1/traces, /v1/logs and /v1/metrics on loopback. Received spans and log events "
        "are stored as source=external on the agents' timelines; they are never gate evidence unless a "
        "requirement lists `external` in its sources.",
    )
    add_store_flags(parser, gates=False)
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT}; 0: any free)")
    parser.add_argument(
        "--rate", type=float, default=None, help="items per second each sender may send (default 10000)"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from otel_mcp.errors import InvalidArgument
    from otel_mcp.resolve import resolve
    from otel_mcp.server.http_guard import HostOriginGuard, HostPolicy
    from otel_mcp.server.http_log import AccessLog
    from otel_mcp.server.otlp_http import ReceiverLimits, receiver_for
    from otel_mcp.server.streamable_http import is_loopback, listen
    from otel_mcp.store import open_store, store_label

    if not is_loopback(args.host):
        raise InvalidArgument(
            f"--host {args.host!r}: collect listens on loopback only (it takes no tokens); for a team, serve "
            "OTLP beside /mcp with `otel-mcp serve --transport streamable-http --tokens-file ...`"
        )
    if args.rate is not None and not args.rate > 0:
        raise InvalidArgument(f"--rate {args.rate}: give a positive number of items per second")
    settings = resolve(settings_from(args, default_agent="collect"))
    store = open_store(settings)
    try:
        limits = ReceiverLimits() if args.rate is None else ReceiverLimits(rate=args.rate, burst=2 * args.rate)
        receiver = receiver_for(store, limits)
        policy = HostPolicy.for_bind(args.host, settings.allowed_hosts, settings.allowed_origins)
        app = AccessLog(HostOriginGuard(receiver, policy))
        sock = listen(args.host, args.port)
        shown = f"[{args.host}]" if ":" in args.host else args.host
        port = sock.getsockname()[1]
        print(f"otel-mcp collect: OTLP/HTTP at http://{shown}:{port} (/v1/traces, /v1/logs, /v1/metrics)", flush=True)
        print(f"store: {settings.backend} {store_label(settings)}", flush=True)
        print(
            f"hosts: OTEL_EXPORTER_OTLP_ENDPOINT=http://{shown}:{port} OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf",
            flush=True,
        )
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        store.shutdown()
    return 0
