"""`otel-mcp serve --transport streamable-http`: the ASGI stack, the listening socket, the start-up lines.

Layers, outermost first: the access log, the Host/Origin guard (every bind address, every path),
bearer tokens (unless `--no-auth` on loopback), then the SDK's streamable-HTTP app at `/mcp`.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import socket
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from otel_mcp import __version__
from otel_mcp.core.overview import Overview
from otel_mcp.errors import InvalidArgument, excerpt
from otel_mcp.runtime import Runtime
from otel_mcp.server._http import ASGIApp
from otel_mcp.server.auth import BearerAuth, TokenMap
from otel_mcp.server.http_guard import HostOriginGuard, HostPolicy, sdk_checks_off
from otel_mcp.server.http_log import AccessLog
from otel_mcp.server.http_sessions import (
    BODY_DEADLINE_S,
    IDLE_TIMEOUT_S,
    MAX_SESSIONS,
    MAX_SESSIONS_PER_TOKEN,
    SessionBounds,
    SessionLimits,
)
from otel_mcp.server.otlp_http import OTLP_PATHS, beside_mcp, receiver_for
from otel_mcp.server.web import UiMount, ui_app

__all__ = ["HttpOptions", "http_app", "is_loopback", "listen", "pages_for", "serve_http", "session_limits"]

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


def is_loopback(host: str) -> bool:
    """True for `localhost` and loopback addresses: where no token is needed to listen."""
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
    if not is_loopback(options.host):
        raise InvalidArgument(f"--no-auth only binds loopback addresses; {options.host!r} would expose an open server")
    return None


def session_limits(env: Mapping[str, str]) -> SessionBounds:
    """The session bounds, from OTEL_MCP_HTTP_* variables where set (whole numbers > 0)."""
    values = {}
    for name, default in (
        ("OTEL_MCP_HTTP_SESSIONS_PER_TOKEN", MAX_SESSIONS_PER_TOKEN),
        ("OTEL_MCP_HTTP_MAX_SESSIONS", MAX_SESSIONS),
        ("OTEL_MCP_HTTP_IDLE_TIMEOUT_S", int(IDLE_TIMEOUT_S)),
        ("OTEL_MCP_HTTP_BODY_DEADLINE_S", int(BODY_DEADLINE_S)),
    ):
        text = env.get(name, "").strip()
        if not text:
            values[name] = default
            continue
        if not text.isdigit() or int(text) <= 0:
            raise InvalidArgument(f"{name} must be a whole number above 0, not {excerpt(text)}")
        values[name] = int(text)
    return SessionBounds(
        per_token=values["OTEL_MCP_HTTP_SESSIONS_PER_TOKEN"],
        total=values["OTEL_MCP_HTTP_MAX_SESSIONS"],
        idle_timeout_s=float(values["OTEL_MCP_HTTP_IDLE_TIMEOUT_S"]),
        body_deadline_s=float(values["OTEL_MCP_HTTP_BODY_DEADLINE_S"]),
    )


def http_app(
    server: Any,
    policy: HostPolicy,
    tokens: TokenMap | None,
    otlp: ASGIApp | None = None,
    pages: ASGIApp | None = None,
    bounds: SessionBounds | None = None,
) -> ASGIApp:
    """The ASGI stack around the MCP server's streamable-HTTP app, with the OTLP receiver and web pages beside it."""
    bounds = bounds or SessionBounds()
    app: ASGIApp = SessionLimits(
        server.streamable_http_app(
            transport_security=sdk_checks_off(),
            session_idle_timeout=bounds.idle_timeout_s,
            # Above ours: a session being evicted still counts there for a moment.
            max_sessions=bounds.total + 64,
        ),
        bounds,
    )
    if otlp is not None:
        app = beside_mcp(app, otlp)
    if tokens is not None:
        app = BearerAuth(app, tokens, other_paths=tuple(OTLP_PATHS) if otlp is not None else ())
    if pages is not None:
        # Beside /mcp, behind the same Host/Origin guard and the same tokens (presented through a log-in form).
        app = UiMount(pages, app)
    return AccessLog(HostOriginGuard(app, policy))


def pages_for(runtime: Runtime, tokens: TokenMap | None) -> ASGIApp:
    """The web pages over this runtime's store (`/ui/`)."""
    return ui_app(Overview(runtime.store, runtime.coordinator, runtime.catalog_loader.catalog), tokens)


def listen(host: str, port: int) -> socket.socket:
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
        "commit": f"committed on {catalog.ref} at {(catalog.commit or '')[:12]}: {catalog.ref_reason}"
        if catalog.commit
        else f"from git {catalog.ref or 'HEAD'}, no commit yet",
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
    yield f"workspace: {runtime.settings.workspace or 'none'} ({runtime.settings.workspace_reason})"
    yield _gates_line(runtime)
    if tokens is None:
        yield f"auth: none (--no-auth): every caller acts as {runtime.agent_id!r}"
    else:
        counts = f"{_count(len(tokens), 'bearer token')} for {_count(tokens.agents, 'agent')}"
        yield f"auth: {counts}, from {options.tokens_file}"
    yield f"accepted Host names: {', '.join(policy.hosts)} (add with --allowed-hosts / OTEL_MCP_ALLOWED_HOSTS)"
    origins = ", ".join(policy.origins)
    yield f"accepted browser Origins: {origins} (add with --allowed-origins / OTEL_MCP_ALLOWED_ORIGINS)"
    yield f"OTLP/HTTP (hosts' own telemetry) at http://{shown}:{port}/v1/traces, /v1/logs, /v1/metrics"
    login = "log in with a bearer token" if tokens is not None else "no log-in (--no-auth)"
    yield f"web pages (read-only): http://{shown}:{port}/ui/ ({login})"
    yield "requests are logged here: agent, method, tool, outcome (never arguments)"


def serve_http(server: Any, runtime: Runtime, options: HttpOptions) -> int:
    """Serve until interrupted; refuses insecure set-ups before binding anything."""
    import uvicorn

    tokens = _tokens(options)
    policy = HostPolicy.for_bind(options.host, options.allowed_hosts, options.allowed_origins)
    bounds = session_limits(os.environ)
    app = http_app(server, policy, tokens, receiver_for(runtime.store), pages_for(runtime, tokens), bounds)
    sock = listen(options.host, options.port)
    for line in _start_up_lines(runtime, options, policy, tokens, sock.getsockname()[1]):
        _log.info("%s", line)
    _log.info(
        "sessions: at most %d per token and %d in all (the oldest idle one is closed to make room), each closed "
        "after %d s idle; a request body must arrive within %d s",
        bounds.per_token,
        bounds.total,
        bounds.idle_timeout_s,
        bounds.body_deadline_s,
    )
    config = uvicorn.Config(app, log_level="warning", access_log=False)
    uvicorn.Server(config).run(sockets=[sock])
    return 0
