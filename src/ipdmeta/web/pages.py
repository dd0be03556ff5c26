"""The web app's pages, rendered on the server: sign-in, the dashboard, screening (title
and abstract, full text), conflicts. Forms post back to the page and redirect (303), so
a reload never repeats a decision; the keyboard shortcuts are a small script that presses
the page's own buttons."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any
from urllib.parse import quote

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup, escape
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from ipdmeta.review.prisma import prisma_counts
from ipdmeta.review.screening import STAGES
from ipdmeta.review.status import review_status
from ipdmeta.web import fulltext
from ipdmeta.web.api import (
    open_conflicts,
    path_record,
    set_session_cookie,
    store_decision,
    store_resolution,
    undo_decision,
)
from ipdmeta.web.auth import COOKIE, SignInError, User, sign_out
from ipdmeta.web.errors import ClientError
from ipdmeta.web.guard import (
    app_state,
    attempt_sign_in,
    form_id,
    form_user,
    require_user,
    user_or_sign_in,
)
from ipdmeta.web.queue import queue

__all__ = ["ROUTES", "highlight", "render"]

STAGE_NAMES = {"title_abstract": "Title and abstract", "full_text": "Full text"}
_ENV = Environment(
    loader=PackageLoader("ipdmeta.web", "templates"),
    autoescape=select_autoescape(["j2", "html"]),
)


def render(request: Request, name: str, code: int = 200, **context: Any) -> HTMLResponse:
    page = _ENV.get_template(name).render(request=request, stage_names=STAGE_NAMES, **context)
    return HTMLResponse(page, status_code=code)


def highlight(text: str | None, keywords: dict[str, list[str]]) -> Markup:
    """``text`` escaped, with the review's inclusion and exclusion terms marked."""
    text = text or ""
    terms = {t.lower(): kind for kind in ("include", "exclude") for t in keywords.get(kind, [])}
    if not terms:
        return escape(text)
    pattern = re.compile(
        "|".join(re.escape(t) for t in sorted(terms, key=len, reverse=True)), re.IGNORECASE
    )
    out, at = [], 0
    for match in pattern.finditer(text):
        out.append(escape(text[at : match.start()]))
        kind = terms.get(match.group(0).lower(), "include")
        out.append(Markup('<mark class="{}">{}</mark>').format(kind, match.group(0)))
        at = match.end()
    out.append(escape(text[at:]))
    return Markup("").join(out)


def _safe_next(value: str | None) -> str:
    """Only a path of this site (never ``//host`` or a scheme) is followed after sign-in."""
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/"


async def login_page(request: Request) -> Response:
    return render(request, "login.html.j2", next=_safe_next(request.query_params.get("next")))


async def login_submit(request: Request) -> Response:
    form = await request.form(max_files=0, max_fields=10)
    target = _safe_next(str(form.get("next") or "/"))
    try:
        token, _ = await attempt_sign_in(request, form.get("name"), form.get("password"))
    except SignInError as exc:
        return render(request, "login.html.j2", code=429 if exc.retry_after else 401,
                      error=str(exc), next=target)  # fmt: skip
    response = RedirectResponse(target, status_code=303)
    set_session_cookie(response, token, app_state(request).secure_cookies)
    return response


async def logout(request: Request) -> Response:
    _, user = await form_user(request, max_fields=10)
    await run_in_threadpool(sign_out, app_state(request), user)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response


def _dashboard(state: Any) -> dict[str, Any]:
    store = state.store
    status = review_status(store)
    progress: dict[str, Counter[str]] = {}
    for stage in STAGES:
        progress[stage] = Counter(
            d["reviewer"] for by in store.latest_decisions(stage).values() for d in by.values()
        )
    return {"status": status, "prisma": prisma_counts(store), "progress": progress}


async def dashboard(request: Request) -> Response:
    user = await user_or_sign_in(request)
    if isinstance(user, Response):
        return user
    data = await run_in_threadpool(_dashboard, app_state(request))
    return render(request, "dashboard.html.j2", user=user, **data)


def _prisma_svg(state: Any) -> bytes:
    from ipdmeta.report.figures import prisma_diagram
    from ipdmeta.review.prisma import prisma_spec_fields

    def build() -> bytes:
        counts = prisma_spec_fields(prisma_counts(state.store))
        return prisma_diagram(counts).to_svg().encode()

    return state.cached("prisma_svg", state.store.change_counter(), build)


async def prisma_svg(request: Request) -> Response:
    await require_user(request)
    svg = await run_in_threadpool(_prisma_svg, app_state(request))
    return Response(svg, media_type="image/svg+xml")


def _stage(request: Request) -> str:
    stage = request.path_params["stage"]
    if stage not in STAGES:
        raise ClientError(404, f"there is no screening stage {stage!r}")
    return str(stage)


def _place(request: Request, user: User, stage: str) -> dict[str, Any]:
    """This reviewer's place in a screening session: the record an undo brought back,
    and the records skipped for later (kept in memory for the session)."""
    places: dict[tuple[str, str], dict[str, Any]] = request.app.state.places
    return places.setdefault((user.token_hash, stage), {"back": None, "skipped": set()})


async def screen_page(request: Request) -> Response:
    user = await user_or_sign_in(request)
    if isinstance(user, Response):
        return user
    stage = _stage(request)
    state = app_state(request)
    place = _place(request, user, stage)
    records, left = await run_in_threadpool(
        queue,
        state,
        request.app.state.ranking,
        user.id,
        stage,
        1,
        place["back"],
        frozenset(place["skipped"]),
    )
    record = records[0] if records else None
    store = state.store
    keywords = store.keywords()
    shown = None
    if record is not None:
        shown = {
            **record,
            "title_marked": highlight(record["title"], keywords),
            "abstract_marked": highlight(record["abstract"], keywords),
            "authors_text": "; ".join(record["authors"] or []),
            "fulltext": stage == "full_text" and store.fulltext(record["id"]) is not None,
        }
    mine = len(store.decided_by(user.id, stage))
    return render(
        request,
        "screen.html.j2",
        user=user,
        stage=stage,
        record=shown,
        left=left,
        decided=mine,
        reasons=store.reasons(stage),
        message=request.query_params.get("done"),
        error=request.query_params.get("error"),
    )


def _back(stage: str, **query: str) -> RedirectResponse:
    target = f"/screen/{stage}"
    if query:
        target += "?" + "&".join(f"{k}={quote(v)}" for k, v in query.items())
    return RedirectResponse(target, status_code=303)


async def screen_submit(request: Request) -> Response:
    stage = _stage(request)
    form, user = await form_user(request, max_fields=20)
    reason = str(form.get("reason_text") or "").strip() or str(form.get("reason") or "").strip()
    body = {
        "stage": stage,
        "decision": form.get("decision"),
        "reason": reason or None,
        "record_id": form_id(form.get("record_id")),
    }
    try:
        stored = await run_in_threadpool(store_decision, app_state(request), user, body)
    except ClientError as exc:
        return _back(stage, error=exc.message)
    place = _place(request, user, stage)
    place["back"] = None
    place["skipped"].discard(stored["record_id"])
    return _back(stage, done=f"Record {stored['record_id']}: {stored['decision']}")


async def screen_undo(request: Request) -> Response:
    stage = _stage(request)
    _, user = await form_user(request, max_fields=10)
    withdrawn = await run_in_threadpool(undo_decision, app_state(request), user, stage)
    if withdrawn is None:
        return _back(stage, error="Nothing to undo.")
    _place(request, user, stage)["back"] = withdrawn["record_id"]
    return _back(stage, done=f"Undone: record {withdrawn['record_id']} {withdrawn['decision']}")


async def screen_skip(request: Request) -> Response:
    stage = _stage(request)
    form, user = await form_user(request, max_fields=10)
    record = form_id(form.get("record_id"))
    if isinstance(record, int):
        place = _place(request, user, stage)
        place["skipped"].add(record)
        if place["back"] == record:
            place["back"] = None
    return _back(stage, done=f"Skipped record {record} for later")


async def fulltext_upload(request: Request) -> Response:
    await require_user(request)
    record = path_record(request)
    state = app_state(request)
    try:
        form = await fulltext.read_upload(request, state)
    except ClientError as exc:
        return _back("full_text", error=exc.message)
    try:
        user = await require_user(request, unsafe=True, form_token=str(form.get("csrf_token", "")))
    except ClientError:
        await form.close()
        raise
    try:
        await fulltext.store_upload(form, state, user, record)
    except ClientError as exc:
        return _back("full_text", error=exc.message)
    return _back("full_text", done=f"Full text attached to record {record}")


async def conflicts_page(request: Request) -> Response:
    user = await user_or_sign_in(request)
    if isinstance(user, Response):
        return user
    if not user.owner:
        raise ClientError(403, "only an owner of the review resolves conflicts")
    state = app_state(request)
    waiting = {stage: await run_in_threadpool(open_conflicts, state, stage) for stage in STAGES}
    return render(
        request,
        "conflicts.html.j2",
        user=user,
        waiting=waiting,
        reasons={s: state.store.reasons(s) for s in STAGES},
        message=request.query_params.get("done"),
        error=request.query_params.get("error"),
    )


async def conflicts_submit(request: Request) -> Response:
    form, user = await form_user(request, owner=True, max_fields=20)
    body = {
        "stage": form.get("stage"),
        "decision": form.get("decision"),
        "reason": str(form.get("reason") or "").strip() or None,
        "record_id": form_id(form.get("record_id")),
    }
    try:
        stored = await run_in_threadpool(store_resolution, app_state(request), user, body)
    except ClientError as exc:
        return RedirectResponse(f"/conflicts?error={quote(exc.message)}", status_code=303)
    done = f"Record {stored['record_id']} resolved: {stored['decision']}"
    return RedirectResponse(f"/conflicts?done={quote(done)}", status_code=303)


ROUTES = [
    Route("/login", login_page, methods=["GET"]),
    Route("/login", login_submit, methods=["POST"]),
    Route("/logout", logout, methods=["POST"]),
    Route("/", dashboard, methods=["GET"]),
    Route("/prisma.svg", prisma_svg, methods=["GET"]),
    Route("/screen/{stage}", screen_page, methods=["GET"]),
    Route("/screen/{stage}", screen_submit, methods=["POST"]),
    Route("/screen/{stage}/undo", screen_undo, methods=["POST"]),
    Route("/screen/{stage}/skip", screen_skip, methods=["POST"]),
    Route("/screen/full_text/{record:int}/fulltext", fulltext_upload, methods=["POST"]),
    Route("/conflicts", conflicts_page, methods=["GET"]),
    Route("/conflicts", conflicts_submit, methods=["POST"]),
]
