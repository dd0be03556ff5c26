"""The analysis page and its API, and the review's last complete report served to the
signed-in team (``/report/...``, files of the review's ``out/`` folder only)."""

from __future__ import annotations

import mimetypes

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from ipdmeta.web.analysis import OUT, AnalysisRunner
from ipdmeta.web.errors import ClientError
from ipdmeta.web.guard import app_state, form_user, require_user, user_or_sign_in
from ipdmeta.web.pages import render

__all__ = ["REPORT_CSP", "ROUTES"]

# The report styles itself inline and runs no script.
REPORT_CSP = (
    "default-src 'self'; script-src 'none'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; object-src 'none'; frame-ancestors 'self'; base-uri 'none'; "
    "form-action 'none'"
)


def _runner(request: Request) -> AnalysisRunner:
    runner: AnalysisRunner = request.app.state.analysis
    return runner


async def analysis_page(request: Request) -> Response:
    user = await user_or_sign_in(request)
    if isinstance(user, Response):
        return user
    return render(request, "analysis.html.j2", user=user, run=_runner(request).status(),
                  error=request.query_params.get("error"))  # fmt: skip


async def analysis_start(request: Request) -> Response:
    _, user = await form_user(request, max_fields=10)
    if not _runner(request).start(user.name):
        return RedirectResponse("/analysis?error=An+analysis+is+already+running.", 303)
    return RedirectResponse("/analysis", status_code=303)


async def api_status(request: Request) -> Response:
    await require_user(request)
    return JSONResponse(_runner(request).status())


async def api_start(request: Request) -> Response:
    user = await require_user(request, unsafe=True)
    if not _runner(request).start(user.name):
        raise ClientError(409, "an analysis is already running")
    return JSONResponse(_runner(request).status(), status_code=202)


async def report_file(request: Request) -> Response:
    await require_user(request)
    out = (app_state(request).folder / OUT).resolve()
    wanted = (out / request.path_params["path"]).resolve()
    if wanted == out:
        wanted = out / "report.html"
    if not wanted.is_relative_to(out) or not wanted.is_file():
        raise ClientError(404, "no such file in the report (run the analysis first)")
    kind = mimetypes.guess_type(wanted.name)[0] or "application/octet-stream"
    response = FileResponse(wanted, media_type=kind)
    response.headers["content-security-policy"] = REPORT_CSP
    return response


ROUTES = [
    Route("/analysis", analysis_page, methods=["GET"]),
    Route("/analysis", analysis_start, methods=["POST"]),
    Route("/api/analysis", api_status, methods=["GET"]),
    Route("/api/analysis", api_start, methods=["POST"]),
    Route("/report/{path:path}", report_file, methods=["GET"]),
]
