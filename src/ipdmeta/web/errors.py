"""The web app's answers to what a client got wrong: one exception carrying the status
and a message, shown as JSON under /api and as a page elsewhere."""

from __future__ import annotations

__all__ = ["MAX_ID", "ClientError"]

MAX_ID = 2**62  # larger ids cannot be SQLite integers: no such record


class ClientError(Exception):
    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}
