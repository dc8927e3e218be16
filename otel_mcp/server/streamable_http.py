"""`otel-mcp serve --transport streamable-http`: the ASGI stack, the listening socket, the start-up lines.

Layers, outermost first: the access log, the Host/Origin guard (every bind address, every path),
bearer tokens (unless `--no-auth` on loopback), then the SDK's streamable-HTTP app at `/mcp`.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from otel_mcp import __version__
from otel_mcp.errors import InvalidArgument
from otel_mcp.runtime import Runtime
from otel_mcp.server._http import ASGIApp
from otel_mcp.server.auth import BearerAuth, TokenMap
from otel_mcp.server.http_guard import HostOriginGuard, HostPolicy, sdk_checks_off
from otel_mcp.server.http_log import AccessLog

__all__ = ["HttpOptions", "http_app", "serve_http"]

_log = logging.getLogger("otel_mcp.serve")


@dataclass(frozen=True, slots=True)
class HttpOptions:
    host: str
    port: int
    tokens_file: Path | None
    no_auth: bool
    allowed_hosts: tuple[str, ...] = ()
    allowed_origins: tuple[str, ...] = ()
    allow_readable_tokens: bool = False


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _tokens(options: HttpOptions) -> TokenMap | None:
    if options.tokens_file is not None:
        return TokenMap.from_file(options.tokens_file, allow_readable=options.allow_readable_tokens)
    if not options.no_auth:
        raise InvalidArgument(
            "streamable HTTP needs bearer tokens: pass --tokens-file (or set OTEL_MCP_TOKENS_FILE) with "
            '{"<token>": "<agent id>", ...}; --no-auth serves loopback only'
        )
    if not _loopback(options.host):
        raise InvalidArgument(f"--no-auth only binds loopback addresses; {options.host!r} would expose an open server")
    return None


def http_app(server: Any, policy: HostPolicy, tokens: TokenMap | None) -> ASGIApp:
    """The whole ASGI stack around the MCP server's streamable-HTTP app."""
    app: ASGIApp = server.streamable_http_app(transport_security=sdk_checks_off())
    if tokens is not None:
        app = BearerAuth(app, tokens)
    return AccessLog(HostOriginGuard(app, policy))


def _listen(host: str, port: int) -> socket.socket:
    """Bind before saying where we listen, so the start-up line names the real port (also for --port 0)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        raise InvalidArgument(f"cannot listen on {host} port {port}: {exc.strerror or exc}") from None
    return sock


def _gates_line(runtime: Runtime) -> str:
    """Where the gates in force come from: without gates/ in the workspace that is the bundled examples."""
    try:
        catalog = runtime.catalog_loader.catalog()
    except Exception:  # the first tool call reports it properly
        return f"gates: {runtime.settings.gates_dir.resolve()}"
    origin = {
        "commit": f"committed at {catalog.commit[:12]}" if catalog.commit else "from git HEAD",
        "directory": "as the files are",
        "bundled": "the bundled examples: the workspace has no gates/ and none is configured",
        "none": "none in force",
    }.get(catalog.source, catalog.source)
    return f"gates: {catalog.directory} ({origin})"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _start_up_lines(
    runtime: Runtime, options: HttpOptions, policy: HostPolicy, tokens: TokenMap | None, port: int
) -> Iterator[str]:
    shown = f"[{options.host}]" if ":" in options.host else options.host
    where = "all interfaces" if options.host in ("0.0.0.0", "::") else "this address only"  # nosec B104
    yield f"otel-mcp {__version__}: MCP over streamable HTTP at http://{shown}:{port}/mcp ({where})"
    yield f"store: {runtime.describe_store()}"
    yield _gates_line(runtime)
    if tokens is None:
        yield f"auth: none (--no-auth): every caller acts as {runtime.agent_id!r}"
    else:
        counts = f"{_count(len(tokens), 'bearer token')} for {_count(tokens.agents, 'agent')}"
        yield f"auth: {counts}, from {options.tokens_file}"
    yield f"accepted Host names: {', '.join(policy.hosts)} (add with --allowed-hosts / OTEL_MCP_ALLOWED_HOSTS)"
    origins = ", ".join(policy.origins)
    yield f"accepted browser Origins: {origins} (add with --allowed-origins / OTEL_MCP_ALLOWED_ORIGINS)"
    yield "requests are logged here: agent, method, tool, outcome (never arguments)"


def serve_http(server: Any, runtime: Runtime, options: HttpOptions) -> int:
    """Serve until interrupted; refuses insecure set-ups before binding anything."""
    import uvicorn

    tokens = _tokens(options)
    policy = HostPolicy.for_bind(options.host, options.allowed_hosts, options.allowed_origins)
    app = http_app(server, policy, tokens)
    sock = _listen(options.host, options.port)
    for line in _start_up_lines(runtime, options, policy, tokens, sock.getsockname()[1]):
        _log.info("%s", line)
    config = uvicorn.Config(app, log_level="warning", access_log=False)
    uvicorn.Server(config).run(sockets=[sock])
    return 0
