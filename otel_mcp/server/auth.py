"""Bearer tokens for streamable HTTP: each token names the agent its requests speak for.

A team runs one server; every caller presents `Authorization: Bearer <token>`. The tokens file maps
tokens to agent ids (JSON or YAML, `{"<token>": "<agent id>"}`; a key `sha256:<hex>` holds a token's
digest instead of the token itself). No valid token, no access: the request never reaches MCP.

A session belongs to the token that opened it: the request carries the token's principal the way
the SDK's own OAuth layer does (`scope["user"]`), and the SDK's session manager then answers 404
to a request that presents that session id with any other token. This server does no OAuth, so
every path but the MCP endpoint (OAuth discovery under `/.well-known/`, `/register`, ...) answers
404, and clients show the plain 401 instead of starting an interactive flow.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import stat
from pathlib import Path

import yaml
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.provider import AccessToken

from otel_mcp.errors import InvalidArgument
from otel_mcp.server._http import AGENT_STATE_KEY, ASGIApp, Receive, Scope, Send, refuse, request_state

__all__ = ["MIN_TOKEN_LENGTH", "BearerAuth", "TokenMap"]

_log = logging.getLogger("otel_mcp.serve")
MIN_TOKEN_LENGTH = 16
_DIGEST = re.compile(r"sha256:([0-9a-f]{64})")
_OVERRIDE = "--allow-readable-tokens (OTEL_MCP_ALLOW_READABLE_TOKENS=1)"


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class TokenMap:
    """Token digests -> agent ids; plain tokens are hashed on load and not kept."""

    def __init__(self, digests: dict[str, str]) -> None:
        self._by_digest = digests

    def __len__(self) -> int:
        return len(self._by_digest)

    @property
    def agents(self) -> int:
        """How many distinct agents the tokens speak for."""
        return len(set(self._by_digest.values()))

    @classmethod
    def from_file(cls, path: Path, *, allow_readable: bool = False) -> TokenMap:
        """Load and check a tokens file; see `_check_permissions` for which files are refused."""
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise InvalidArgument(f"cannot read the tokens file {path}: {exc.strerror or exc}") from None
        try:
            data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
        except (ValueError, yaml.YAMLError) as exc:
            raise InvalidArgument(f"the tokens file {path} is not valid JSON/YAML: {exc}") from None
        if not isinstance(data, dict) or not data:
            raise InvalidArgument(f'the tokens file {path} must be an object {{"<token>": "<agent id>", ...}}')
        digests: dict[str, str] = {}
        plain = False
        for i, (token, agent) in enumerate(data.items(), start=1):
            if not isinstance(token, str) or not isinstance(agent, str) or not agent.strip() or len(agent) > 256:
                raise InvalidArgument(f"tokens file {path}, entry {i}: map a token string to an agent id string")
            match = _DIGEST.fullmatch(token)
            if match:
                digests[match.group(1)] = agent
            elif len(token) < MIN_TOKEN_LENGTH:
                raise InvalidArgument(
                    f"tokens file {path}, entry {i} (agent {agent!r}): tokens must be at least {MIN_TOKEN_LENGTH} "
                    "characters; generate one with `python -c 'import secrets; print(secrets.token_urlsafe(32))'`"
                )
            else:
                plain = True
                digests[_digest(token)] = agent
        _check_permissions(path, plain=plain, allow=allow_readable)
        return cls(digests)

    def agent_for(self, token: str) -> str | None:
        return self._by_digest.get(_digest(token))

    def agent_for_digest(self, digest: str) -> str | None:
        return self._by_digest.get(digest)


def _check_permissions(path: Path, *, plain: bool, allow: bool) -> None:
    """Refuse a tokens file every local user can read (when it holds plain tokens) or write.

    Whoever reads a plain token can act as its agent; whoever writes the file can add a token for
    any agent. A file of `sha256:` digests reveals no token and may be readable. `allow` turns the
    refusal into a warning, for setups where the file's mode says nothing (some container mounts).
    """
    if os.name == "nt":
        return  # mode bits do not describe Windows ACLs
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return  # it was just read; a race here changes nothing the next open would not report
    problems = []
    if mode & stat.S_IWOTH:
        problems.append(
            f"the tokens file {path} is writable by all users (mode {mode:04o}): anyone could add a token for "
            f"any agent; run `chmod o-w {path}`"
        )
    if plain and mode & stat.S_IROTH:
        problems.append(
            f"the tokens file {path} holds plain tokens and is readable by all users (mode {mode:04o}): anyone "
            f"on this machine could act as any agent; run `chmod 600 {path}` (owned by the server's user), or "
            "store each token's digest instead, as `sha256:<hex of sha256(token)>`, which may be readable"
        )
    for problem in problems:
        if not allow:
            raise InvalidArgument(f"{problem}; or pass {_OVERRIDE} to serve anyway")
        _log.warning("WARNING: %s (served anyway: %s)", problem, _OVERRIDE)


def _principal(digest: str, agent: str) -> AuthenticatedUser:
    # The SDK binds a session to (client_id, issuer, subject) of the request that opened it.
    return AuthenticatedUser(AccessToken(token=digest, client_id=f"sha256:{digest}", scopes=[], subject=agent))


class BearerAuth:
    """ASGI middleware: 401 without a known bearer token; otherwise tags the request with its agent."""

    def __init__(
        self, app: ASGIApp, tokens: TokenMap, mcp_path: str = "/mcp", other_paths: tuple[str, ...] = ()
    ) -> None:
        self._app = app
        self._tokens = tokens
        self._mcp_path = mcp_path.rstrip("/")
        # Paths served beside /mcp behind the same tokens (the OTLP receiver's /v1/*).
        self._paths = {self._mcp_path, *other_paths}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        if str(scope.get("path", "")).rstrip("/") not in self._paths:
            # Clients probe OAuth metadata (/.well-known/...) and registration (/register) after a 401;
            # a 401 there too sends them into an OAuth flow this server does not have.
            await refuse(
                scope,
                send,
                404,
                "not_found",
                f"nothing here: this server serves MCP at {self._mcp_path} and does not use OAuth; send "
                "Authorization: Bearer <token> with a token from its tokens file",
            )
            return
        header = b""
        for name, value in scope.get("headers", []):
            if name == b"authorization":
                header = value
                break
        scheme, _, token = header.decode("latin-1").partition(" ")
        token = token.strip()
        digest = _digest(token) if scheme.lower() == "bearer" and token else None
        agent = self._tokens.agent_for_digest(digest) if digest else None
        if digest is None or agent is None:
            reason = "missing bearer token" if not header else "unknown bearer token"
            await refuse(
                scope,
                send,
                401,
                "unauthorized",
                f"{reason}; send Authorization: Bearer <token>",
                [(b"www-authenticate", b'Bearer realm="otel-mcp"')],
            )
            return
        request_state(scope)[AGENT_STATE_KEY] = agent
        scope["user"] = _principal(digest, agent)
        await self._app(scope, receive, send)
