"""Signing in and out, sessions, CSRF tokens and the throttle on failed sign-ins.

A session is a random token in an HttpOnly, SameSite=Strict cookie; the store keeps only
its SHA-256, with the session's CSRF token and expiry, so signing out ends it on the
server too. Every state-changing request of a signed-in client carries the CSRF token (in
the ``X-CSRF-Token`` header, or a form's ``csrf_token`` field). A failed sign-in says the
same whether the name exists or not, and takes as long (the password is checked against a
dummy hash); after ``MAX_FAILURES`` failures in ``WINDOW_SECONDS`` for one name or one
client address, sign-in is refused for the rest of the window.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from ipdmeta.web.state import AppState

__all__ = [
    "COOKIE",
    "SESSION_HOURS",
    "SignInError",
    "Throttle",
    "User",
    "csrf_matches",
    "sign_in",
    "sign_out",
    "user_of",
]

COOKIE = "ipdmeta_session"
SESSION_HOURS = 12
MAX_FAILURES = 5
WINDOW_SECONDS = 15 * 60
MAX_TRACKED = 10_000  # names and addresses with failures kept before stale ones are dropped
_HASHER = PasswordHasher()
_DUMMY = _HASHER.hash("not a password anyone has")


class SignInError(Exception):
    """Wrong name or password (the message never says which), or throttled."""

    def __init__(self, message: str, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True)
class User:
    id: int
    name: str
    role: str
    csrf_token: str
    token_hash: str

    @property
    def owner(self) -> bool:
        return self.role == "owner"


@dataclass
class Throttle:
    """Failed sign-ins per name and per client address, in a sliding window."""

    failures: dict[str, deque[float]] = field(default_factory=lambda: defaultdict(deque))
    lock: threading.Lock = field(default_factory=threading.Lock)

    def _recent(self, key: str, now: float) -> deque[float]:
        times = self.failures[key]
        while times and times[0] <= now - WINDOW_SECONDS:
            times.popleft()
        return times

    def wait(self, keys: list[str]) -> int | None:
        """Seconds until sign-in is allowed again, or None when it is allowed now."""
        now = time.monotonic()
        with self.lock:
            waits = [
                int(times[0] + WINDOW_SECONDS - now) + 1
                for times in (self._recent(k, now) for k in keys)
                if len(times) >= MAX_FAILURES
            ]
        return max(waits) if waits else None

    def fail(self, keys: list[str]) -> None:
        now = time.monotonic()
        with self.lock:
            if len(self.failures) > MAX_TRACKED:  # many names tried: forget the stale ones
                for key in list(self.failures):
                    if not self._recent(key, now):
                        del self.failures[key]
            for key in keys:
                self._recent(key, now).append(now)

    def clear(self, key: str) -> None:
        with self.lock:
            self.failures.pop(key, None)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def sign_in(
    state: AppState, throttle: Throttle, name: Any, password: Any, client: str
) -> tuple[str, User]:
    """The new session's cookie token and its user; SignInError otherwise."""
    if not isinstance(name, str) or not isinstance(password, str):
        raise SignInError("Give a name and a password.")
    name = name.strip()
    keys = [f"name:{name.lower()}", f"client:{client}"]
    wait = throttle.wait(keys)
    if wait is not None:
        raise SignInError(
            f"Too many failed sign-ins. Try again in {max(1, wait // 60)} minutes.", wait
        )
    found = state.store.password_hash(name) if name and len(name) <= 200 else None
    stored = found[2] if found is not None and found[2] else _DUMMY
    try:
        ok = _HASHER.verify(stored, password[:1024]) and stored is not _DUMMY
    except (VerificationError, InvalidHashError):
        ok = False
    if not ok or found is None:
        throttle.fail(keys)
        raise SignInError("Wrong name or password.")
    throttle.clear(keys[0])
    token = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    expires = datetime.now(UTC) + timedelta(hours=SESSION_HOURS)
    with state.writing() as store:
        store.add_web_session(
            _hash(token), found[0], csrf, expires.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        )
    return token, User(found[0], name, found[1], csrf, _hash(token))


def user_of(state: AppState, token: str | None) -> User | None:
    if not token or len(token) > 200:
        return None
    token_hash = _hash(token)
    row = state.store.web_session(token_hash)
    if row is None:
        return None
    return User(row["reviewer_id"], row["name"], row["role"], row["csrf_token"], token_hash)


def sign_out(state: AppState, user: User) -> None:
    with state.writing() as store:
        store.end_web_session(user.token_hash)


def csrf_matches(user: User, given: str | None) -> bool:
    return bool(given) and hmac.compare_digest(user.csrf_token.encode(), str(given).encode())
