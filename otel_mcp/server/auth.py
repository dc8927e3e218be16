"""Bearer tokens for streamable HTTP: each token names the agent its requests speak for.

A team runs one server; every caller presents `Authorization: Bearer <token>`. The tokens file maps
tokens to agent ids (JSON or YAML, `{"<token>": "<agent id>"}`; a key `sha256:<hex>` holds a token's
digest instead of the token itself). No valid token, no access: the request never reaches MCP.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

import yaml

from otel_mcp.errors import InvalidArgument

__all__ = ["AGENT_STATE_KEY", "BearerAuth", "TokenMap"]

# Where the authenticated agent id travels with the HTTP request to the MCP layer (scope["state"]).
AGENT_STATE_KEY = "otel_mcp_agent_id"
MIN_TOKEN_LENGTH = 16
_DIGEST = re.compile(r"sha256:([0-9a-f]{64})")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class TokenMap:
    """Token digests -> agent ids; plain tokens are hashed on load and not kept."""

    def __init__(self, digests: dict[str, str]) -> None:
        self._by_digest = digests

    def __len__(self) -> int:
        return len(self._by_digest)

    @classmethod
    def from_file(cls, path: Path) -> TokenMap:
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
                digests[_digest(token)] = agent
        return cls(digests)

    def agent_for(self, token: str) -> str | None:
        return self._by_digest.get(_digest(token))


class BearerAuth:
    """ASGI middleware: 401 without a known bearer token; otherwise tags the request with its agent."""

    def __init__(self, app: ASGIApp, tokens: TokenMap) -> None:
        self._app = app
        self._tokens = tokens

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        header = b""
        for name, value in scope.get("headers", []):
            if name == b"authorization":
                header = value
                break
        scheme, _, token = header.decode("latin-1").partition(" ")
        agent = self._tokens.agent_for(token.strip()) if scheme.lower() == "bearer" and token.strip() else None
        if agent is None:
            reason = "missing bearer token" if not header else "unknown bearer token"
            await _unauthorized(send, reason)
            return
        scope.setdefault("state", {})[AGENT_STATE_KEY] = agent
        await self._app(scope, receive, send)


async def _unauthorized(send: Send, reason: str) -> None:
    body = json.dumps({"error": "unauthorized", "error_description": f"{reason}; send Authorization: Bearer <token>"})
    await send(
        {
            "type": "http.response.start",
            "status": 401,
            "headers": [
                (b"content-type", b"application/json"),
                (b"www-authenticate", b'Bearer realm="otel-mcp"'),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body.encode()})
