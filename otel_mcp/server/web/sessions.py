"""Browser sessions for the web pages: a bearer token presented once in a form, then an HttpOnly cookie.

A browser cannot add `Authorization: Bearer` to a page load, and a token in a URL ends up in
history, logs and Referer headers. So the login form posts the token (in the body, never logged),
and the server answers with a random session id in a cookie that scripts cannot read
(`HttpOnly`), that no other site's page sends (`SameSite=Strict`), scoped to the pages' path. The
session speaks for the token's agent until it expires or the server restarts; only a digest of the
session id is kept.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections.abc import Callable

from otel_mcp.server.auth import TokenMap

__all__ = ["COOKIE", "SESSION_TTL_S", "UiSessions"]

COOKIE = "otel_mcp_ui"
SESSION_TTL_S = 12 * 3600
_MAX_SESSIONS = 10_000


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


class UiSessions:
    """Session id digests -> (agent, expiry); at most `_MAX_SESSIONS`, the oldest dropped first."""

    def __init__(
        self, tokens: TokenMap, ttl_s: float = SESSION_TTL_S, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._tokens = tokens
        self._ttl_s = ttl_s
        self._clock = clock
        self._lock = threading.Lock()
        self._sessions: dict[str, tuple[str, float]] = {}

    def agent_for_token(self, token: str) -> str | None:
        return self._tokens.agent_for(token) if token else None

    def open(self, token: str) -> tuple[str, str] | None:
        """A new session for a known token: (session id for the cookie, agent); None for an unknown token."""
        agent = self.agent_for_token(token)
        if agent is None:
            return None
        session = secrets.token_urlsafe(32)
        now = self._clock()
        with self._lock:
            if len(self._sessions) >= _MAX_SESSIONS:
                self._sessions = {k: v for k, v in self._sessions.items() if v[1] > now}
                while len(self._sessions) >= _MAX_SESSIONS:
                    self._sessions.pop(next(iter(self._sessions)))
            self._sessions[_digest(session)] = (agent, now + self._ttl_s)
        return session, agent

    def agent(self, session: str | None) -> str | None:
        if not session or len(session) > 100:
            return None
        key = _digest(session)
        with self._lock:
            found = self._sessions.get(key)
            if found is None:
                return None
            if found[1] <= self._clock():
                del self._sessions[key]
                return None
            return found[0]

    def close(self, session: str | None) -> None:
        if session:
            with self._lock:
                self._sessions.pop(_digest(session), None)
