"""DNS-rebinding protection for streamable HTTP: every request's Host and Origin must be expected ones.

A web page on another site can make a browser send requests to a server on this machine (or this
network) by pointing its own DNS name at our address; the request then carries that site's name in
`Host` (and its page in `Origin`). The SDK checks these only when the bind address is exactly
127.0.0.1, localhost or ::1, so this guard does it for every bind, on every path, before
authentication: loopback names and the bind address itself are always accepted, other names only
when listed (`--allowed-hosts`, `--allowed-origins`). A request without `Origin` is not a browser's
cross-site request and passes.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

from mcp.server.transport_security import TransportSecuritySettings

from otel_mcp.errors import InvalidArgument
from otel_mcp.server._http import ASGIApp, Receive, Scope, Send, refuse

__all__ = ["LOOPBACK_NAMES", "HostOriginGuard", "HostPolicy", "sdk_checks_off"]

LOOPBACK_NAMES: tuple[str, ...] = ("127.0.0.1", "localhost", "[::1]")
_WILDCARD_BINDS = ("", "0.0.0.0", "::")  # nosec B104 - names, compared against, never bound here


def _split(value: str) -> tuple[str, str | None]:
    """`name[:port]` -> (lower-case name, port or None); IPv6 names keep their brackets."""
    value = value.strip().lower()
    if value.startswith("["):
        name, _, rest = value.partition("]")
        name, port = name + "]", rest[1:]
        if rest and not (rest.startswith(":") and port.isdigit()):
            return value, None  # "[::1]junk": a name nothing matches
        return name, port or None
    name, sep, port = value.rpartition(":")
    if sep and port.isdigit() and name and ":" not in name:
        return name, port
    return value, None


def _bind_name(host: str) -> str | None:
    """How clients write the bind address in `Host`, or None for an all-interfaces bind."""
    if host in _WILDCARD_BINDS:
        return None
    try:
        return f"[{host}]" if ipaddress.ip_address(host).version == 6 else host.lower()
    except ValueError:
        return host.lower()


def _host_entry(entry: str) -> str:
    entry = entry.strip().lower()
    name, _ = _split(entry)
    if not name or "/" in entry or "://" in entry or " " in entry:
        raise InvalidArgument(
            f"allowed host {entry[:80]!r}: give a name as clients send it in Host, e.g. mcp.example.com or "
            "mcp.example.com:8443 (a name without a port allows any port)"
        )
    return entry


def _origin_entry(entry: str) -> str:
    entry = entry.strip().lower().rstrip("/")
    scheme, sep, rest = entry.partition("://")
    if not sep or scheme not in ("http", "https") or not rest or "/" in rest:
        raise InvalidArgument(
            f"allowed origin {entry[:80]!r}: give scheme://name[:port], e.g. https://mcp.example.com "
            "(without a port any port is allowed)"
        )
    return entry


def _matches(value: str, entries: Iterable[str]) -> bool:
    name, port = _split(value)
    for entry in entries:
        entry_name, entry_port = _split(entry)
        if entry_name == name and entry_port in (None, port):
            return True
    return False


@dataclass(frozen=True, slots=True)
class HostPolicy:
    """The Host names and Origins a server answers to; an entry without a port allows any port."""

    hosts: tuple[str, ...]
    origins: tuple[str, ...]

    @classmethod
    def for_bind(cls, bind_host: str, hosts: Iterable[str] = (), origins: Iterable[str] = ()) -> HostPolicy:
        names = list(LOOPBACK_NAMES)
        own = _bind_name(bind_host)
        if own is not None and own not in names:
            names.append(own)
        all_hosts = dict.fromkeys([*names, *(_host_entry(h) for h in hosts if h.strip())])
        local_origins = [f"{scheme}://{name}" for name in names for scheme in ("http", "https")]
        all_origins = dict.fromkeys([*local_origins, *(_origin_entry(o) for o in origins if o.strip())])
        return cls(tuple(all_hosts), tuple(all_origins))

    def allows_host(self, host: str | None) -> bool:
        return bool(host) and _matches(str(host), self.hosts)

    def allows_origin(self, origin: str | None) -> bool:
        if not origin:
            return True  # not a browser's cross-origin request
        scheme, sep, rest = origin.strip().lower().partition("://")
        if not sep:
            return False  # "null" (sandboxed frames, files) and anything malformed
        return any(
            entry.startswith(scheme + "://") and _matches(rest, [entry.partition("://")[2]]) for entry in self.origins
        )


def sdk_checks_off() -> TransportSecuritySettings:
    """The SDK's own Host/Origin check, off: HostOriginGuard does it, for every bind address and path."""
    return TransportSecuritySettings(enable_dns_rebinding_protection=False)


class HostOriginGuard:
    """ASGI middleware: 421 for an unexpected Host, 403 for an unexpected Origin, before anything else runs."""

    def __init__(self, app: ASGIApp, policy: HostPolicy) -> None:
        self._app = app
        self._policy = policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        host = origin = None
        for name, value in scope.get("headers", []):
            if name == b"host" and host is None:
                host = value.decode("latin-1")
            elif name == b"origin" and origin is None:
                origin = value.decode("latin-1")
        if not self._policy.allows_host(host):
            shown = _split(host)[0][:100] if host else ""
            await refuse(
                scope,
                send,
                421,
                "invalid_host",
                f"this server does not answer to Host {shown!r} (DNS-rebinding protection); if clients reach it "
                f"by that name, start it with --allowed-hosts {shown or '<name>'} (or OTEL_MCP_ALLOWED_HOSTS)",
            )
            return
        if not self._policy.allows_origin(origin):
            shown = (origin or "")[:100]
            await refuse(
                scope,
                send,
                403,
                "invalid_origin",
                f"requests from web pages at {shown!r} are refused (DNS-rebinding protection); to allow a web "
                f"client there, start the server with --allowed-origins {shown} (or OTEL_MCP_ALLOWED_ORIGINS)",
            )
            return
        await self._app(scope, receive, send)
