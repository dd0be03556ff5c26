"""The JSON API (the contract in docs/web-app.md): sign-in, the screening queue,
decisions, a record's decisions (blind), status, conflicts and resolutions, full texts."""

from __future__ import annotations

import json
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ipdmeta.review.screening import DECISIONS, STAGES, check_decision, resolve, stage_outcomes
from ipdmeta.review.status import review_status
from ipdmeta.review.store import StoreError
from ipdmeta.web import fulltext
from ipdmeta.web.auth import COOKIE, SESSION_HOURS, SignInError, User, sign_out
from ipdmeta.web.errors import MAX_ID, ClientError
from ipdmeta.web.guard import app_state, attempt_sign_in, require_user
from ipdmeta.web.queue import queue

__all__ = ["ROUTES", "path_record", "read_json", "set_session_cookie", "visible_decisions"]

MAX_JSON = 64 * 1024
MAX_QUEUE = 5_000
MAX_REASON = 2_000


async def read_json(request: Request, limit: int = MAX_JSON) -> dict[str, Any]:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise ClientError(413, f"the body is larger than {limit // 1024} KB")
    raw = await request.body()
    if len(raw) > limit:
        raise ClientError(413, f"the body is larger than {limit // 1024} KB")
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ClientError(422, "the body is not JSON") from None
    if not isinstance(body, dict):
        raise ClientError(422, "the body is a JSON object")
    return body


def _record_id(value: Any, state: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ClientError(422, f"record_id is a whole number; got {value!r}")
    return _existing(value, state)


def _existing(record: int, state: Any) -> int:
    """``record`` when the store has it; 404 otherwise (ids too large for SQLite too)."""
    if not 0 < record < MAX_ID or not state.store.record_exists(record):
        raise ClientError(404, f"there is no record {record}")
    return record


def _choice(body: dict[str, Any], key: str, allowed: tuple[str, ...]) -> str:
    value = body.get(key)
    if value not in allowed:
        raise ClientError(422, f"{key} is one of {', '.join(allowed)}; got {value!r}")
    return str(value)


def _reason(body: dict[str, Any]) -> str | None:
    reason = body.get("reason")
    if reason is None:
        return None
    if not isinstance(reason, str) or len(reason) > MAX_REASON:
        raise ClientError(422, f"reason is text of up to {MAX_REASON} characters")
    return reason


def set_session_cookie(response: Response, token: str, secure: bool) -> None:
    response.set_cookie(
        COOKIE,
        token,
        max_age=SESSION_HOURS * 3600,
        httponly=True,
        samesite="strict",
        secure=secure,
        path="/",
    )


async def open_session(request: Request) -> Response:
    body = await read_json(request)
    try:
        token, user = await attempt_sign_in(request, body.get("name"), body.get("password"))
    except SignInError as exc:
        headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after else {}
        raise ClientError(429 if exc.retry_after else 401, str(exc), headers) from None
    response = JSONResponse({"csrf_token": user.csrf_token, "name": user.name, "role": user.role})
    set_session_cookie(response, token, app_state(request).secure_cookies)
    return response


async def close_session(request: Request) -> Response:
    user = await require_user(request, unsafe=True)
    await run_in_threadpool(sign_out, app_state(request), user)
    response = Response(status_code=204)
    response.delete_cookie(COOKIE, path="/")
    return response


def _int_param(request: Request, key: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(key)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ClientError(422, f"{key} is a whole number; got {raw!r}") from None
    if not low <= value <= high:
        raise ClientError(422, f"{key} is between {low} and {high}; got {value}")
    return value


async def get_queue(request: Request) -> Response:
    user = await require_user(request)
    stage = request.query_params.get("stage", "title_abstract")
    if stage not in STAGES:
        raise ClientError(422, f"stage is one of {', '.join(STAGES)}; got {stage!r}")
    limit = _int_param(request, "limit", 50, 1, MAX_QUEUE)
    state = app_state(request)
    records, left = await run_in_threadpool(
        queue, state, request.app.state.ranking, user.id, stage, limit
    )
    return JSONResponse({"records": records, "left": left})


def store_decision(state: Any, user: User, body: dict[str, Any]) -> dict[str, Any]:
    """Check and store one decision (the API's and the screening page's)."""
    stage = _choice(body, "stage", STAGES)
    decision = _choice(body, "decision", DECISIONS)
    reason = _reason(body)
    record = _record_id(body.get("record_id"), state)
    with state.writing() as store:
        try:
            row = check_decision(store, user.name, stage, record, decision, reason)
        except StoreError as exc:
            raise ClientError(422, str(exc)) from None
        store.add_decisions([row])
    return {
        "record_id": record,
        "stage": stage,
        "decision": decision,
        "reason": row[4],
        "reviewer": user.name,
    }


async def post_decision(request: Request) -> Response:
    user = await require_user(request, unsafe=True)
    body = await read_json(request)
    stored = await run_in_threadpool(store_decision, app_state(request), user, body)
    return JSONResponse(stored, status_code=201)


def undo_decision(state: Any, user: User, stage: str) -> dict[str, Any] | None:
    with state.writing() as store:
        return store.withdraw_last(user.id, stage)


async def post_undo(request: Request) -> Response:
    user = await require_user(request, unsafe=True)
    body = await read_json(request)
    stage = _choice(body, "stage", STAGES)
    withdrawn = await run_in_threadpool(undo_decision, app_state(request), user, stage)
    if withdrawn is None:
        raise ClientError(404, f"you have no decision at {stage} to undo")
    return JSONResponse(
        {
            "withdrawn": {
                "record_id": withdrawn["record_id"],
                "decision": withdrawn["decision"],
                "stage": stage,
            }
        }
    )


def path_record(request: Request) -> int:
    return _existing(int(request.path_params["record"]), app_state(request))


def visible_decisions(state: Any, user: User, record: int) -> list[dict[str, Any]]:
    """The record's decisions this user may see: an owner all of them; a reviewer their
    own, and the others' at a stage only once the record's outcome there is settled (a
    resolution, or two or more reviewers agreeing) and they have decided it themselves."""
    store = state.store
    rows = store.decisions_of(record)
    settled = set()
    for stage in STAGES:
        outcome = stage_outcomes(store, stage, record).get(record)
        if outcome is None:
            continue
        mine = user.id in outcome["decisions"]
        agreed = len(outcome["decisions"]) >= 2 and not outcome["conflict"]
        if outcome["resolution"] is not None or (mine and agreed):
            settled.add(stage)
    return [
        {
            "reviewer": r["reviewer"],
            "stage": r["stage"],
            "decision": r["decision"],
            "reason": r["reason"],
            "time": r["time"],
        }
        for r in rows
        if user.owner or r["reviewer_id"] == user.id or r["stage"] in settled
    ]


async def get_record_decisions(request: Request) -> Response:
    user = await require_user(request)
    record = path_record(request)
    rows = await run_in_threadpool(visible_decisions, app_state(request), user, record)
    return JSONResponse(rows)


async def get_record(request: Request) -> Response:
    await require_user(request)
    record = path_record(request)
    state = app_state(request)
    found = state.store.record(record) or {}
    keys = (
        "id",
        "title",
        "abstract",
        "authors",
        "year",
        "journal",
        "volume",
        "issue",
        "pages",
        "doi",
        "pmid",
        "url",
        "source",
    )
    shown = {k: found[k] for k in keys}
    shown["duplicate_of"] = state.store.duplicate_of().get(record)
    shown["fulltext"] = state.store.fulltext(record) is not None
    return JSONResponse(shown)


async def get_status(request: Request) -> Response:
    await require_user(request)
    state = app_state(request)
    return JSONResponse(await run_in_threadpool(lambda: review_status(state.store)))


def open_conflicts(state: Any, stage: str) -> list[dict[str, Any]]:
    """The records whose reviewers disagree at ``stage`` and wait for a resolution."""
    store = state.store
    titles = {r["id"]: r["title"] for r in store.records()}
    out = []
    for record, outcome in sorted(stage_outcomes(store, stage).items()):
        if outcome["conflict"] and outcome["resolution"] is None:
            decisions = [
                {"reviewer": d["reviewer"], "decision": d["decision"], "reason": d["reason"]}
                for _, d in sorted(outcome["decisions"].items())
            ]
            out.append(
                {
                    "record_id": record,
                    "title": titles.get(record),
                    "stage": stage,
                    "decisions": decisions,
                }
            )
    return out


async def get_conflicts(request: Request) -> Response:
    await require_user(request, owner=True)
    stage = request.query_params.get("stage", "title_abstract")
    if stage not in STAGES:
        raise ClientError(422, f"stage is one of {', '.join(STAGES)}; got {stage!r}")
    rows = await run_in_threadpool(open_conflicts, app_state(request), stage)
    return JSONResponse({"conflicts": rows})


def store_resolution(state: Any, user: User, body: dict[str, Any]) -> dict[str, Any]:
    stage = _choice(body, "stage", STAGES)
    decision = _choice(body, "decision", ("include", "exclude"))
    reason = _reason(body)
    record = _record_id(body.get("record_id"), state)
    with state.writing() as store:
        try:
            resolve(store, stage, record, decision, reason, reviewer=user.name)
        except StoreError as exc:
            raise ClientError(422, str(exc)) from None
    return {"record_id": record, "stage": stage, "decision": decision, "reason": reason}


async def post_resolution(request: Request) -> Response:
    user = await require_user(request, unsafe=True, owner=True)
    body = await read_json(request)
    stored = await run_in_threadpool(store_resolution, app_state(request), user, body)
    return JSONResponse(stored, status_code=201)


async def post_fulltext(request: Request) -> Response:
    user = await require_user(request, unsafe=True)
    record = path_record(request)
    state = app_state(request)
    form = await fulltext.read_upload(request, state)
    stored = await fulltext.store_upload(form, state, user, record)
    return JSONResponse(stored, status_code=201)


async def get_fulltext(request: Request) -> Response:
    await require_user(request)
    record = path_record(request)
    return fulltext.send(app_state(request), record)


ROUTES = [
    Route("/api/session", open_session, methods=["POST"]),
    Route("/api/session", close_session, methods=["DELETE"]),
    Route("/api/queue", get_queue, methods=["GET"]),
    Route("/api/decisions", post_decision, methods=["POST"]),
    Route("/api/decisions/undo", post_undo, methods=["POST"]),
    Route("/api/records/{record:int}", get_record, methods=["GET"]),
    Route("/api/records/{record:int}/decisions", get_record_decisions, methods=["GET"]),
    Route("/api/records/{record:int}/fulltext", get_fulltext, methods=["GET"]),
    Route("/api/records/{record:int}/fulltext", post_fulltext, methods=["POST"]),
    Route("/api/status", get_status, methods=["GET"]),
    Route("/api/conflicts", get_conflicts, methods=["GET"]),
    Route("/api/resolutions", post_resolution, methods=["POST"]),
]
