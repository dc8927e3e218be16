"""The web pages at `/ui/`: static assets from the package, JSON endpoints over `Overview`, a login form.

Read-only: every route is GET except logging in and out. With tokens (the team deployment) each
endpoint answers only a browser session (see `sessions`) or an `Authorization: Bearer` token; on
loopback without tokens (`otel-mcp ui`) everything is open to this machine, as `--no-auth` is.
Store reads run in worker threads, so a slow query never holds up the event loop or `/mcp`.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from importlib.resources import files
from typing import Any

from pydantic import BaseModel
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from otel_mcp.core.overview import Overview, view_filter
from otel_mcp.errors import InvalidArgument, NotFound, OtelMcpError, StoreUnavailable
from otel_mcp.server._http import AGENT_STATE_KEY, ASGIApp, request_state
from otel_mcp.server.auth import TokenMap
from otel_mcp.server.web.sessions import COOKIE, SESSION_TTL_S, UiSessions

__all__ = ["UI_PATH", "ui_app"]

UI_PATH = "/ui"
_LOGIN_BODY_LIMIT = 4096
_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
}
_SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "cache-control": "no-store",
}


def _assets() -> dict[str, tuple[bytes, str]]:
    """Every file shipped under static/, read once (a few hundred KB): name -> (bytes, content type)."""
    folder = files("otel_mcp.server.web") / "static"
    out = {}
    for item in folder.iterdir():
        suffix = "." + item.name.rpartition(".")[2]
        if item.is_file() and suffix in _TYPES:
            out[item.name] = (item.read_bytes(), _TYPES[suffix])
    return out


def _json(model: BaseModel | dict[str, Any], status: int = 200) -> Response:
    body = model.model_dump_json() if isinstance(model, BaseModel) else json.dumps(model)
    return Response(body, status, media_type="application/json", headers=_SECURITY_HEADERS)


def _error(status: int, error: str, description: str) -> Response:
    return _json({"error": error, "error_description": description}, status)


class _Pages:
    def __init__(self, overview: Overview, sessions: UiSessions | None) -> None:
        self.overview = overview
        self.sessions = sessions
        self.assets = _assets()

    # -- who is asking ---------------------------------------------------------------------

    def who(self, request: Request) -> str | None:
        """The agent a request speaks for; '' without tokens (loopback); None when it may not read."""
        if self.sessions is None:
            return ""
        agent = self.sessions.agent(request.cookies.get(COOKIE))
        if agent is None:
            scheme, _, token = request.headers.get("authorization", "").partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                agent = self.sessions.agent_for_token(token.strip())
        if agent is not None:
            request_state(request.scope)[AGENT_STATE_KEY] = agent
        return agent

    # -- pages and assets ------------------------------------------------------------------

    def asset(self, name: str) -> Response:
        found = self.assets.get(name)
        if found is None:
            return _error(404, "not_found", f"no file {name[:80]!r} here")
        body, media = found
        return Response(body, media_type=media, headers=_SECURITY_HEADERS)

    async def index(self, request: Request) -> Response:
        if self.who(request) is None:
            return RedirectResponse(f"{UI_PATH}/login", 303)
        return self.asset("index.html")

    async def static(self, request: Request) -> Response:
        return self.asset(str(request.path_params["name"]))

    async def login(self, request: Request) -> Response:
        if self.sessions is None:
            return RedirectResponse(f"{UI_PATH}/", 303)
        if request.method != "POST":
            return self.asset("login.html")
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > _LOGIN_BODY_LIMIT:
                return _error(413, "too_large", "the login form carries one token; this body is too large")
        from urllib.parse import parse_qs

        token = (parse_qs(body.decode("utf-8", "replace")).get("token") or [""])[0].strip()
        opened = self.sessions.open(token)
        if opened is None:
            page, media = self.assets["login.html"]
            failed = page.replace(b'id="failed" hidden', b'id="failed"')
            return Response(failed, 401, media_type=media, headers=_SECURITY_HEADERS)
        session, agent = opened
        request_state(request.scope)[AGENT_STATE_KEY] = agent
        answer = RedirectResponse(f"{UI_PATH}/", 303, headers=_SECURITY_HEADERS)
        answer.set_cookie(
            COOKIE,
            session,
            max_age=int(SESSION_TTL_S),
            path=UI_PATH,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
        return answer

    async def logout(self, request: Request) -> Response:
        if self.sessions is not None:
            self.sessions.close(request.cookies.get(COOKIE))
        answer = RedirectResponse(f"{UI_PATH}/login", 303)
        answer.delete_cookie(COOKIE, path=UI_PATH)
        return answer

    # -- data ------------------------------------------------------------------------------

    def endpoint(self, view: Callable[[Request], BaseModel]) -> Callable[[Request], Awaitable[Response]]:
        async def answer(request: Request) -> Response:
            if self.who(request) is None:
                return _error(401, "unauthorized", f"log in at {UI_PATH}/login, or send Authorization: Bearer <token>")
            try:
                return _json(await run_in_threadpool(view, request))
            except InvalidArgument as exc:
                return _error(400, "invalid_argument", str(exc))
            except NotFound as exc:
                return _error(404, "not_found", str(exc))
            except StoreUnavailable as exc:
                return _error(503, "store_unavailable", str(exc))
            except OtelMcpError as exc:
                return _error(409, "conflict", str(exc))

        return answer

    def _filter(self, request: Request) -> Any:
        q = request.query_params
        return view_filter(self.overview.now_ns(), q.get("agent"), q.get("prefix"), q.get("since"), q.get("until"))

    def now(self, request: Request) -> BaseModel:
        return self.overview.now(self._filter(request))

    def graph(self, request: Request) -> BaseModel:
        return self.overview.graph(self._filter(request), _int(request, "limit", 300))

    def timeline(self, request: Request) -> BaseModel:
        return self.overview.timeline(self._filter(request), _int(request, "limit", 2000))

    def gates(self, request: Request) -> BaseModel:
        return self.overview.gates(self._filter(request))

    def trace(self, request: Request) -> BaseModel:
        return self.overview.trace(request.query_params.get("task", "")[:300])

    def changes(self, request: Request) -> BaseModel:
        return self.overview.changes()


def _int(request: Request, name: str, default: int) -> int:
    text = request.query_params.get(name)
    if text is None:
        return default
    try:
        return int(text[:12])
    except ValueError:
        raise InvalidArgument(f"{name} must be a whole number; got {text[:40]!r}") from None


def ui_app(overview: Overview, tokens: TokenMap | None, root: str | None = None) -> ASGIApp:
    """The pages' ASGI app, to mount at UI_PATH; `tokens` None serves without log-in (loopback only).

    `root`: also answer that path with a redirect to the pages (when they are all a server serves).
    """
    pages = _Pages(overview, UiSessions(tokens) if tokens is not None else None)
    api = {
        "now": pages.now,
        "graph": pages.graph,
        "timeline": pages.timeline,
        "gates": pages.gates,
        "trace": pages.trace,
        "changes": pages.changes,
    }
    routes = [
        Route(f"{UI_PATH}/", pages.index),
        Route(f"{UI_PATH}", lambda _r: RedirectResponse(f"{UI_PATH}/", 308)),
        Route(f"{UI_PATH}/login", pages.login, methods=["GET", "POST"]),
        Route(f"{UI_PATH}/logout", pages.logout, methods=["POST"]),
        Route(f"{UI_PATH}/static/{{name}}", pages.static),
        *(Route(f"{UI_PATH}/api/{name}", pages.endpoint(view)) for name, view in api.items()),
    ]
    if root is not None:
        routes.append(Route(root, lambda _r: RedirectResponse(f"{UI_PATH}/", 307)))
    return Starlette(routes=routes)
