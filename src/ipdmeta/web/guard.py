"""Who is asking, and may they: the session behind the cookie, the CSRF token of a
state-changing request, the role, and where a state-changing request comes from."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from ipdmeta.web.auth import COOKIE, User, csrf_matches, user_of
from ipdmeta.web.errors import ClientError
from ipdmeta.web.state import AppState

__all__ = ["app_state", "current_user", "require_user", "same_origin"]


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
