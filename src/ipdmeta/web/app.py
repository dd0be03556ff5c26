"""The reviewers' web app over a review folder's store: ``create_app(folder)`` is the
ASGI application that ``ipdmeta review serve`` runs with uvicorn.

Every response carries a Content-Security-Policy that allows no inline script or style,
and headers against sniffing, framing by other sites and referrers. What a client gets
wrong is answered with its status and a message (JSON under /api, a page elsewhere);
an unexpected error is logged and answered with a plain 500 that shows nothing inside.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import cast

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ipdmeta.web import api, appraisal_pages, extraction_pages, pages, reports
from ipdmeta.web.analysis import AnalysisRunner
from ipdmeta.web.auth import Throttle
from ipdmeta.web.errors import ClientError
from ipdmeta.web.queue import Ranking, warm
from ipdmeta.web.state import AppState

__all__ = ["CSP", "create_app"]

log = logging.getLogger("ipdmeta.web")

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'self'; frame-src 'self'; frame-ancestors 'self'; base-uri 'none'; "
    "form-action 'self'"
)
_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"SAMEORIGIN"),
    (b"referrer-policy", b"same-origin"),  # "no-referrer" would send Origin: null
    (b"cross-origin-opener-policy", b"same-origin"),
]


class SecurityHeaders:
    """Adds the security headers to every HTTP response, and ``Cache-Control: no-store``
    to everything but the static assets."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = scope["path"].startswith("/static/")

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                own = {name for name, _ in headers}
                headers += [(k, v) for k, v in _HEADERS if k not in own]
                if not static:
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)


def _answer(request: Request, status: int, message: str, headers: dict[str, str]) -> Response:
    if request.url.path.startswith("/api/"):
        return JSONResponse({"error": message}, status_code=status, headers=headers)
    if status == 401:
        return RedirectResponse("/login", status_code=303)
    return pages.render(request, "error.html.j2", code=status, message=message)


async def _client_error(request: Request, exc: Exception) -> Response:
    error = cast(ClientError, exc)
    return _answer(request, error.status, error.message, error.headers)


async def _http_error(request: Request, error: Exception) -> Response:
    exc = cast(HTTPException, error)
    words = {404: "not found", 405: "method not allowed"}.get(exc.status_code, str(exc.detail))
    return _answer(request, exc.status_code, words, dict(exc.headers or {}))


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    return PlainTextResponse("internal error", status_code=500)


def create_app(
    folder: str | Path, *, secure_cookies: bool = False, max_upload: int = 50 * 1024 * 1024
) -> Starlette:
    """The web app over the review store in ``folder`` (StoreError when it has none)."""
    state = AppState(Path(folder), max_upload=max_upload, secure_cookies=secure_cookies)
    static = Path(__file__).parent / "static"
    ranking = Ranking()
    runner = AnalysisRunner(Path(folder))

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        threading.Thread(target=warm, args=(state, ranking), daemon=True).start()
        yield
        ranking.close()
        runner.stop()

    app = Starlette(
        lifespan=lifespan,
        routes=[
            *api.ROUTES,
            *pages.ROUTES,
            *reports.ROUTES,
            *appraisal_pages.ROUTES,
            *extraction_pages.ROUTES,
            Mount("/static", StaticFiles(directory=static), name="static"),
        ],
        middleware=[Middleware(SecurityHeaders)],
        exception_handlers={
            ClientError: _client_error,
            HTTPException: _http_error,
            Exception: _unexpected,
        },
    )
    app.state.review = state
    app.state.throttle = Throttle()
    app.state.ranking = ranking
    app.state.analysis = runner
    app.state.places = {}
    return app
