"""Quality appraisal in the browser: each rater fills the checklist of a study blind (the
form shows only their own judgements), then an owner sets the consensus item by item with
both raters' judgements side by side, agreements filled in."""

from __future__ import annotations

from collections import defaultdict
from typing import Any
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from ipdmeta.review.appraisal import CHECKLISTS, checklist, judgement_row, rater_agreement
from ipdmeta.review.screening import included_studies
from ipdmeta.review.store import StoreError
from ipdmeta.web.auth import User
from ipdmeta.web.errors import ClientError
from ipdmeta.web.guard import app_state, form_user, user_or_sign_in
from ipdmeta.web.pages import render

__all__ = ["ROUTES"]


def _tool(request: Request) -> str:
    tool = request.path_params.get("tool") or request.query_params.get("tool") or CHECKLISTS[0]
    if tool not in CHECKLISTS:
        raise ClientError(404, f"there is no checklist {tool!r}")
    return str(tool)


def _study(request: Request) -> str:
    study = str(request.query_params.get("study") or "").strip()
    if not study or len(study) > 100 or any(ch in study for ch in "\n\r\t"):
        raise ClientError(404, "there is no such study")
    return study


def _studies(state: Any, tool: str, user: User) -> list[dict[str, Any]]:
    """The studies to appraise: those of the reports included at full text (by their
    link), and any already appraised; with this rater's progress and, for owners, the
    raters and the consensus."""
    store = state.store
    linked = included_studies(store)
    raters: dict[str, set[str]] = defaultdict(set)
    mine: dict[str, int] = defaultdict(int)
    consensus: dict[str, int] = defaultdict(int)
    for a in store.latest_appraisals():
        if a["tool"] != tool:
            continue
        if a["consensus"]:
            consensus[a["study_id"]] += 1
        else:
            raters[a["study_id"]].add(a["reviewer"])
            if a["reviewer_id"] == user.id:
                mine[a["study_id"]] += 1
    items = len(checklist(tool).items)
    return [
        {
            "study": s,
            "mine": mine[s],
            "items": items,
            "raters": len(raters[s]),
            "consensus": consensus[s],
        }
        for s in sorted(linked | set(raters) | set(consensus))
    ]


async def overview(request: Request) -> Response:
    user = await user_or_sign_in(request)
    if isinstance(user, Response):
        return user
    tool = _tool(request)
    state = app_state(request)
    studies = await run_in_threadpool(_studies, state, tool, user)
    agreement = rater_agreement(state.store, tool) if user.owner else None
    return render(
        request,
        "appraise.html.j2",
        user=user,
        tool=tool,
        sheet=checklist(tool),
        tools={k: checklist(k).name for k in CHECKLISTS},
        studies=studies,
        agreement=agreement,
        message=request.query_params.get("done"),
        error=request.query_params.get("error"),
    )


def _judgements(state: Any, tool: str, study: str) -> list[dict[str, Any]]:
    return [
        a for a in state.store.latest_appraisals() if a["tool"] == tool and a["study_id"] == study
    ]


def _form_url(tool: str, study: str, consensus: bool = False, error: str = "") -> str:
    url = f"/appraise/{tool}/{'consensus' if consensus else 'study'}?study={quote(study)}"
    return url + (f"&error={quote(error)}" if error else "")


async def open_study(request: Request) -> Response:
    """The overview's "another study" box: to that study's form."""
    tool = _tool(request)
    study = (request.query_params.get("study") or "").strip()
    if not study or len(study) > 100:
        return RedirectResponse(f"/appraise?tool={tool}&error=Give+a+study_id.", 303)
    return RedirectResponse(_form_url(tool, study), status_code=303)


async def study_form(request: Request) -> Response:
    user = await user_or_sign_in(request)
    if isinstance(user, Response):
        return user
    tool, study = _tool(request), _study(request)
    rows = await run_in_threadpool(_judgements, app_state(request), tool, study)
    mine = {a["item"]: a for a in rows if not a["consensus"] and a["reviewer_id"] == user.id}
    return render(
        request,
        "appraise_study.html.j2",
        user=user,
        tool=tool,
        study=study,
        sheet=checklist(tool),
        mine=mine,
        error=request.query_params.get("error"),
    )


def _store_form(
    state: Any, user: User | None, tool: str, study: str, form: Any, consensus: bool
) -> int:
    """Every item answered in the form, stored in one transaction (or nothing)."""
    rows = []
    with state.writing() as store:
        for item in checklist(tool).items:
            said = form.get(f"judgement_{item['id']}")
            if not said:
                continue
            note = str(form.get(f"note_{item['id']}") or "")[:2000]
            try:
                rows.append(
                    judgement_row(
                        store,
                        tool,
                        study,
                        item["id"],
                        str(said),
                        note,
                        None if consensus else user.name if user else None,
                        consensus,
                    )
                )
            except StoreError as exc:
                raise ClientError(422, str(exc)) from None
        if not rows:
            raise ClientError(422, "no item was judged")
        store.add_appraisals(rows)
    return len(rows)


async def study_submit(request: Request) -> Response:
    tool, study = _tool(request), _study(request)
    form, user = await form_user(request, max_fields=100)
    try:
        n = await run_in_threadpool(_store_form, app_state(request), user, tool, study, form, False)
    except ClientError as exc:
        return RedirectResponse(_form_url(tool, study, error=exc.message), status_code=303)
    done = f"{study}: {n} judgements stored"
    return RedirectResponse(f"/appraise?tool={tool}&done={quote(done)}", status_code=303)


async def consensus_form(request: Request) -> Response:
    user = await user_or_sign_in(request)
    if isinstance(user, Response):
        return user
    if not user.owner:
        raise ClientError(403, "only an owner of the review sets the consensus")
    tool, study = _tool(request), _study(request)
    rows = await run_in_threadpool(_judgements, app_state(request), tool, study)
    by_item: dict[str, dict[str, Any]] = defaultdict(dict)
    agreed: dict[str, str] = {}
    for a in rows:
        if a["consensus"]:
            agreed[a["item"]] = a["judgement"]
        else:
            by_item[a["item"]][a["reviewer"]] = a
    raters = sorted({name for said in by_item.values() for name in said})
    for item, said in by_item.items():
        kinds = {a["judgement"] for a in said.values()}
        if item not in agreed and len(kinds) == 1 and len(said) >= 2:
            agreed[item] = next(iter(kinds))  # the raters agree: filled in
    return render(
        request,
        "appraise_consensus.html.j2",
        user=user,
        tool=tool,
        study=study,
        sheet=checklist(tool),
        by_item=by_item,
        raters=raters,
        agreed=agreed,
        error=request.query_params.get("error"),
    )


async def consensus_submit(request: Request) -> Response:
    tool, study = _tool(request), _study(request)
    form, _ = await form_user(request, owner=True, max_fields=100)
    try:
        n = await run_in_threadpool(_store_form, app_state(request), None, tool, study, form, True)
    except ClientError as exc:
        return RedirectResponse(_form_url(tool, study, True, exc.message), status_code=303)
    done = f"{study}: consensus on {n} items stored"
    return RedirectResponse(f"/appraise?tool={tool}&done={quote(done)}", status_code=303)


ROUTES = [
    Route("/appraise", overview, methods=["GET"]),
    Route("/appraise/go", open_study, methods=["GET"]),
    Route("/appraise/{tool}/study", study_form, methods=["GET"]),
    Route("/appraise/{tool}/study", study_submit, methods=["POST"]),
    Route("/appraise/{tool}/consensus", consensus_form, methods=["GET"]),
    Route("/appraise/{tool}/consensus", consensus_submit, methods=["POST"]),
]
