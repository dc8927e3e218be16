"""What the layers of the HTTP front door share: per-request state keys and a JSON refusal.

Each layer (Host/Origin guard, bearer auth, the MCP call recorder) leaves what it learned in the
request's `scope["state"]`, the one object every layer of an ASGI request sees; the access log
reads it when the answer has gone out.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import Any

__all__ = [
    "AGENT_STATE_KEY",
    "CALL_STATE_KEY",
    "REFUSAL_STATE_KEY",
    "ASGIApp",
    "Message",
    "Receive",
    "Scope",
    "Send",
    "refuse",
    "request_state",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# The agent a request speaks for (set by bearer auth).
AGENT_STATE_KEY = "otel_mcp_agent_id"
# Why the front door refused a request (for the access log).
REFUSAL_STATE_KEY = "otel_mcp_refusal"
# (JSON-RPC method, tool name or None, outcome) of the MCP request a POST carried.
CALL_STATE_KEY = "otel_mcp_call"


def request_state(scope: Scope) -> MutableMapping[str, Any]:
    state = scope.get("state")
    if not isinstance(state, MutableMapping):
        state = scope["state"] = {}
    return state


async def refuse(
    scope: Scope,
    send: Send,
    status: int,
    error: str,
    description: str,
    headers: Sequence[tuple[bytes, bytes]] = (),
) -> None:
    """Answer `status` with `{"error", "error_description"}` and remember the reason for the log."""
    request_state(scope)[REFUSAL_STATE_KEY] = description
    body = json.dumps({"error": error, "error_description": description}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
