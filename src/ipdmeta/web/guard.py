"""Who is asking, and may they: the session behind the cookie, the CSRF token of a
state-changing request, the role, and where a state-changing request comes from."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from ipdmeta.web.auth import COOKIE, User, csrf_matches, sign_in, user_of
from ipdmeta.web.errors import MAX_ID, ClientError
from ipdmeta.web.state import AppState

__all__ = [
    "app_state",
    "attempt_sign_in",
    "current_user",
    "form_id",
    "form_user",
    "require_user",
    "same_origin",
    "user_or_sign_in",
]


def app_state(request: Request) -> AppState:
    state: AppState = request.app.state.review
    return state


async def current_user(request: Request) -> User | None:
    token = request.cookies.get(COOKIE)
    if not token:
        return None
    return await run_in_threadpool(user_of, app_state(request), token)


def same_origin(request: Request) -> bool:
    """A browser sends Origin with a cross-site POST; when it is there it must be this
    site (a second line of defence beside the CSRF token and SameSite cookies)."""
    origin = request.headers.get("origin")
    if origin is None:
        return True
    host = request.headers.get("host", "")
    return origin in (f"http://{host}", f"https://{host}")


async def require_user(
    request: Request, *, unsafe: bool = False, owner: bool = False, form_token: str | None = None
) -> User:
    """The signed-in user (401 without a session); for a state-changing request also a
    matching CSRF token from the ``X-CSRF-Token`` header or the form (403); ``owner``: the
    owner role (403)."""
    user = await current_user(request)
    if user is None:
        raise ClientError(401, "sign in first")
    if unsafe:
        given = request.headers.get("x-csrf-token") or form_token
        if not same_origin(request) or not csrf_matches(user, given):
            raise ClientError(403, "the request's CSRF token is missing or wrong")
    if owner and not user.owner:
        raise ClientError(403, "only an owner of the review can do this")
    return user


async def user_or_sign_in(request: Request) -> User | Response:
    """A page's user, or the redirect to the sign-in page (and back here after it)."""
    user = await current_user(request)
    if user is None:
        return RedirectResponse(f"/login?next={quote(request.url.path)}", status_code=303)
    return user


async def form_user(
    request: Request, *, owner: bool = False, max_fields: int = 20
) -> tuple[FormData, User]:
    """A posted form and its user, after the checks of a state-changing request (the
    form's ``csrf_token`` field)."""
    form = await request.form(max_files=0, max_fields=max_fields)
    user = await require_user(request, unsafe=True, owner=owner,
                              form_token=str(form.get("csrf_token", "")))  # fmt: skip
    return form, user


def form_id(value: Any) -> int | str:
    """A form field meant as a record id: the number, or the text as sent (which the
    record check then refuses by name)."""
    text = str(value or "")
    return int(text) if text.isdigit() and int(text) < MAX_ID else text


async def attempt_sign_in(request: Request, name: Any, password: Any) -> tuple[str, User]:
    """Sign in from this site's own pages (the API's and the form's one path): the new
    session's cookie token and its user; SignInError otherwise."""
    if not same_origin(request):  # a sign-in posted from another site (login CSRF)
        raise ClientError(403, "sign in from this site's own pages")
    client = request.client.host if request.client else "unknown"
    state = app_state(request)
    return await run_in_threadpool(sign_in, state, request.app.state.throttle, name, password,
                                   client)  # fmt: skip
