"""Bounds on streamable-HTTP sessions: idle timeout, a cap per token and in all, oldest idle evicted first.

The SDK's session manager keeps every session (a server task and ~37 KB) until the client deletes
it or it has been idle for its timeout; at its cap it refuses new sessions with 503, so one token
holder opening sessions and never closing them locks every other agent out. Here, in front of it:
the manager is configured with the idle timeout and a hard cap above ours, and this layer tracks who
opened which session. A new session over MAX_SESSIONS_PER_TOKEN (for its token) or MAX_SESSIONS
(in all) first ends the oldest idle session of that token, else the oldest idle one in all, the way
a client would: a DELETE with that session's id and owner. Only when every session is busy is the
new one refused (503, saying why). A request body must arrive within BODY_DEADLINE_S: a client
trickling bytes cannot hold a request open forever.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Final

import anyio

from otel_mcp.server._http import AGENT_STATE_KEY, ASGIApp, Message, Receive, Scope, Send, refuse, request_state

__all__ = [
    "BODY_DEADLINE_S",
    "IDLE_TIMEOUT_S",
    "MAX_SESSIONS",
    "MAX_SESSIONS_PER_TOKEN",
    "SessionBounds",
    "SessionLimits",
]

IDLE_TIMEOUT_S: Final = 600.0
MAX_SESSIONS: Final = 1000
MAX_SESSIONS_PER_TOKEN: Final = 32
BODY_DEADLINE_S: Final = 30.0
_SESSION_HEADER: Final = b"mcp-session-id"


@dataclass(frozen=True, slots=True)
class SessionBounds:
    per_token: int = MAX_SESSIONS_PER_TOKEN
    total: int = MAX_SESSIONS
    idle_timeout_s: float = IDLE_TIMEOUT_S
    body_deadline_s: float = BODY_DEADLINE_S


@dataclass(slots=True)
class _Session:
    owner: str  # the agent its token speaks for ('' without auth)
    user: Any  # scope["user"] of the request that opened it: the manager checks it on DELETE
    last_used: float
    in_flight: int = 0


class SessionLimits:
    """ASGI middleware (inside bearer auth, outside the SDK's app) that bounds sessions."""

    def __init__(self, app: ASGIApp, bounds: SessionBounds) -> None:
        self._app = app
        self._per_token = bounds.per_token
        self._total = bounds.total
        self._idle_timeout_s = bounds.idle_timeout_s
        self._body_deadline_s = bounds.body_deadline_s
        self._sessions: dict[bytes, _Session] = {}
        self._admission = anyio.Lock()

    def __len__(self) -> int:
        return len(self._sessions)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("type") != "http":
            await self._app(scope, receive, send)
            return
        if scope.get("method") == "POST":
            receive = self._deadline(receive)
        sid = dict(scope.get("headers") or []).get(_SESSION_HEADER)
        if sid is None:
            if scope.get("method") == "POST":
                await self._open(scope, receive, send)
            else:
                await self._app(scope, receive, send)
            return
        session = self._sessions.get(sid)
        if session is not None:
            session.in_flight += 1
        try:
            await self._app(scope, receive, send)
        finally:
            if session is not None:
                session.in_flight -= 1
                session.last_used = time.monotonic()
            if scope.get("method") == "DELETE":
                self._sessions.pop(sid, None)

    async def _open(self, scope: Scope, receive: Receive, send: Send) -> None:
        owner = str(request_state(scope).get(AGENT_STATE_KEY) or "")
        async with self._admission:
            room = await self._make_room(owner)
        if not room:
            await refuse(
                scope,
                send,
                503,
                "too_many_sessions",
                f"every one of the {self._limit_text(owner)} is busy with a request; retry when one ends",
            )
            return
        opened: list[bytes] = []

        async def watch(message: Message) -> None:
            if message.get("type") == "http.response.start" and message.get("status", 500) < 400:
                sid = dict(message.get("headers") or []).get(_SESSION_HEADER)
                if sid is not None:
                    opened.append(sid)
                    self._sessions[sid] = _Session(owner, scope.get("user"), time.monotonic())
            await send(message)

        await self._app(scope, receive, watch)

    def _limit_text(self, owner: str) -> str:
        mine = sum(1 for s in self._sessions.values() if s.owner == owner)
        if mine >= self._per_token:
            return f"{self._per_token} sessions this token may hold"
        return f"{self._total} sessions this server holds"

    async def _make_room(self, owner: str) -> bool:
        """Forget sessions the SDK has timed out; end the oldest idle one while a cap is reached."""
        now = time.monotonic()
        for sid, s in list(self._sessions.items()):
            if s.in_flight == 0 and now - s.last_used > self._idle_timeout_s:
                del self._sessions[sid]
        while True:
            mine = [(sid, s) for sid, s in self._sessions.items() if s.owner == owner]
            if len(mine) >= self._per_token:
                pool = mine
            elif len(self._sessions) >= self._total:
                pool = list(self._sessions.items())
            else:
                return True
            idle = [(s.last_used, sid) for sid, s in pool if s.in_flight == 0]
            if not idle:
                return False
            await self._end(min(idle)[1])

    async def _end(self, sid: bytes) -> None:
        """End a session as its client would (DELETE with its id, as its owner), then forget it."""
        session = self._sessions.pop(sid)
        scope: Scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "DELETE",
            "scheme": "http",
            "path": "/mcp",
            "raw_path": b"/mcp",
            "query_string": b"",
            "root_path": "",
            "headers": [(_SESSION_HEADER, sid), (b"host", b"127.0.0.1")],
            "client": ("127.0.0.1", 0),
            "server": ("127.0.0.1", 0),
            "state": {},
        }
        if session.user is not None:
            scope["user"] = session.user

        async def receive() -> Message:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: Message) -> None:
            return None

        await self._app(scope, receive, send)

    def _deadline(self, receive: Receive) -> Receive:
        """`receive` whose body must be complete within the deadline; after it, the client is gone."""
        deadline = time.monotonic() + self._body_deadline_s
        done = False

        async def bounded() -> Message:
            nonlocal done
            if done:
                return await receive()
            with anyio.move_on_after(max(0.0, deadline - time.monotonic())):
                message = await receive()
                if message.get("type") != "http.request" or not message.get("more_body", False):
                    done = True
                return message
            done = True
            return {"type": "http.disconnect"}

        return bounded
