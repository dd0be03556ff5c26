"""Data extraction in the browser: for each included study, its patient rows in an
editable grid, checked as they are typed by ``ipdmeta validate``'s own checks (the cell
marked, the message beside it); each extractor's rows saved blind; an owner compares two
extractions cell by cell, saves the agreed rows, and exports patients.csv and
studies.csv for ``ipdmeta run``."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from ipdmeta.errors import IpdmetaError
from ipdmeta.review.extraction import (
    STUDY_COLUMNS,
    check_extraction,
    clean_extraction,
    compare_extractions,
    export_extractions,
    patient_columns,
    rows_from_folder,
    study_details_from_records,
)
from ipdmeta.review.screening import included_studies
from ipdmeta.review.store import StoreError
from ipdmeta.web.api import read_json
from ipdmeta.web.auth import User
from ipdmeta.web.errors import ClientError
from ipdmeta.web.guard import app_state, form_user, require_user, user_or_sign_in
from ipdmeta.web.pages import render

__all__ = ["ROUTES"]

MAX_BODY = 8 * 1024 * 1024  # a study's rows: thousands of patients for a registry


def _study(value: Any) -> str:
    study = str(value or "").strip()
    if not study or len(study) > 100 or any(ch in study for ch in "\n\r\t,"):
        raise ClientError(404 if not study else 422, f"not a study id: {study!r}")
    return study


def _overview(state: Any, user: User) -> list[dict[str, Any]]:
    store = state.store
    studies = included_studies(store)
    mine: dict[str, int] = {}
    extractors: dict[str, list[str]] = {}
    agreed: dict[str, int] = {}
    for row in store.latest_extractions():
        study = row["study_id"]
        studies.add(study)
        if row["reviewer_id"] is None:
            agreed[study] = len(row["data"]["patients"])
        else:
            extractors.setdefault(study, []).append(row["reviewer"])
            if row["reviewer_id"] == user.id:
                mine[study] = len(row["data"]["patients"])
    return [
        {
            "study": s,
            "mine": mine.get(s),
            "extractors": extractors.get(s, []),
            "agreed": agreed.get(s),
        }
        for s in sorted(studies)
    ]


async def overview(request: Request) -> Response:
    user = await user_or_sign_in(request)
    if isinstance(user, Response):
        return user
    studies = await run_in_threadpool(_overview, app_state(request), user)
    return render(
        request,
        "extract.html.j2",
        user=user,
        studies=studies,
        message=request.query_params.get("done"),
        error=request.query_params.get("error"),
    )


def _grid(
    state: Any,
    user: User,
    study: str,
    consensus: bool,
    start_from: str | None,
    from_file: bool = False,
) -> dict[str, Any]:
    """What the grid starts from: the user's own extraction (or the consensus), else for
    a consensus the extraction of ``start_from``, else (when asked) the study's rows in
    the folder's patients.csv, else the study's details from its record."""
    store = state.store
    rows = store.latest_extractions(study)
    columns = patient_columns(state.folder)
    own = next(
        (
            r
            for r in rows
            if (r["reviewer_id"] is None) == consensus
            and (consensus or r["reviewer_id"] == user.id)
        ),
        None,
    )
    data = own["data"] if own else None
    differing: dict[tuple[int, str], list[str]] = {}
    others = [r for r in rows if r["reviewer_id"] is not None]
    if consensus and data is None and others:
        base = next((r for r in others if r["reviewer"] == start_from), others[0])
        data = base["data"]
        if len(others) >= 2:
            other = next(r for r in others if r is not base)
            compared = compare_extractions(base["data"], other["data"], columns)
            for i, cells in enumerate(compared["rows"]):
                for column, (x, y, same) in cells.items():
                    if not same:
                        differing[(i, column)] = [x, y]
    in_folder = None if own else rows_from_folder(state.folder, study, columns)
    if data is None and from_file and in_folder is not None:
        data = in_folder
    if data is None:
        data = {"study": study_details_from_records(store, study), "patients": []}
    return {
        "columns": columns,
        "data": data,
        "differing": differing,
        "saved": own["created"] if own else None,
        "others": [r["reviewer"] for r in others],
        "in_folder": len(in_folder["patients"]) if in_folder and not from_file else 0,
    }


async def grid_page(request: Request) -> Response:
    user = await user_or_sign_in(request)
    if isinstance(user, Response):
        return user
    study = _study(request.query_params.get("study"))
    consensus = request.query_params.get("consensus") == "yes"
    if consensus and not user.owner:
        raise ClientError(403, "only an owner of the review saves the agreed extraction")
    grid = await run_in_threadpool(
        _grid,
        app_state(request),
        user,
        study,
        consensus,
        request.query_params.get("from"),
        request.query_params.get("from_file") == "yes",
    )
    return render(
        request,
        "extract_study.html.j2",
        user=user,
        study=study,
        consensus=consensus,
        study_columns=STUDY_COLUMNS,
        **grid,
    )


def _cleaned(state: Any, body: dict[str, Any]) -> tuple[str, dict[str, Any], list[str]]:
    study = _study(body.get("study"))
    columns = patient_columns(state.folder)
    try:
        data = clean_extraction(
            {"study": body.get("details"), "patients": body.get("patients")}, columns
        )
    except StoreError as exc:
        raise ClientError(422, str(exc)) from None
    return study, data, columns


async def api_check(request: Request) -> Response:
    await require_user(request, unsafe=True)
    body = await read_json(request, limit=MAX_BODY)
    state = app_state(request)
    study, data, columns = _cleaned(state, body)
    problems = await run_in_threadpool(check_extraction, state.folder, study, data, columns)
    errors = [p for p in problems if p["severity"] == "error"]
    return JSONResponse({"ok": not errors, "problems": problems})


def _save(state: Any, user: User, study: str, data: dict[str, Any], consensus: bool) -> None:
    with state.writing() as store:
        store.add_extraction(study, None if consensus else user.id, data)


async def api_save(request: Request) -> Response:
    user = await require_user(request, unsafe=True)
    body = await read_json(request, limit=MAX_BODY)
    consensus = body.get("consensus") is True
    if consensus and not user.owner:
        raise ClientError(403, "only an owner of the review saves the agreed extraction")
    state = app_state(request)
    study, data, _ = _cleaned(state, body)
    await run_in_threadpool(_save, state, user, study, data, consensus)
    return JSONResponse(
        {"study": study, "patients": len(data["patients"]), "consensus": consensus}, status_code=201
    )


async def api_get(request: Request) -> Response:
    """The user's own extraction of a study; an owner's answer has every extraction."""
    user = await require_user(request)
    study = _study(request.query_params.get("study"))
    rows = app_state(request).store.latest_extractions(study)
    shown = [
        {
            "extractor": r["reviewer"],
            "consensus": r["reviewer_id"] is None,
            "time": r["created"],
            **r["data"],
        }
        for r in rows
        if user.owner or r["reviewer_id"] == user.id
    ]
    return JSONResponse({"study": study, "extractions": shown})


def _compare(state: Any, study: str) -> dict[str, Any]:
    rows = [r for r in state.store.latest_extractions(study) if r["reviewer_id"] is not None]
    if len(rows) < 2:
        raise ClientError(422, f"{study} has {len(rows)} extraction(s): two are compared")
    columns = patient_columns(state.folder)
    first, second = rows[0], rows[1]
    compared = compare_extractions(first["data"], second["data"], columns)
    return {
        "columns": columns,
        "names": [first["reviewer"], second["reviewer"]],
        "rows": compared["rows"],
        "details": compared["study"],
        "differing": compared["differing"],
    }


async def compare_page(request: Request) -> Response:
    user = await user_or_sign_in(request)
    if isinstance(user, Response):
        return user
    if not user.owner:
        raise ClientError(403, "only an owner of the review compares extractions")
    study = _study(request.query_params.get("study"))
    try:
        compared = await run_in_threadpool(_compare, app_state(request), study)
    except ClientError as exc:
        return RedirectResponse(f"/extract?error={quote(exc.message)}", status_code=303)
    return render(
        request,
        "extract_compare.html.j2",
        user=user,
        study=study,
        study_columns=STUDY_COLUMNS,
        **compared,
    )


def _export(state: Any) -> dict[str, Any]:
    with state.writing() as store:
        return export_extractions(store, state.folder)


async def export(request: Request) -> Response:
    await form_user(request, owner=True, max_fields=10)
    try:
        done = await run_in_threadpool(_export, app_state(request))
    except (StoreError, IpdmetaError, OSError) as exc:
        return RedirectResponse(f"/extract?error={quote(str(exc))}", status_code=303)
    words = (
        f"Exported {done['patients']} patients of {done['studies']} studies to "
        "patients.csv and studies.csv"
    )
    if done["kept"]:
        words += f"; the earlier files were kept as {', '.join(done['kept'])}"
    if done["waiting"]:
        words += f"; left out until their extractions are agreed: {', '.join(done['waiting'])}"
    return RedirectResponse(f"/extract?done={quote(words)}", status_code=303)


ROUTES = [
    Route("/extract", overview, methods=["GET"]),
    Route("/extract/study", grid_page, methods=["GET"]),
    Route("/extract/compare", compare_page, methods=["GET"]),
    Route("/extract/export", export, methods=["POST"]),
    Route("/api/extraction", api_get, methods=["GET"]),
    Route("/api/extraction", api_save, methods=["POST"]),
    Route("/api/extraction/check", api_check, methods=["POST"]),
]
