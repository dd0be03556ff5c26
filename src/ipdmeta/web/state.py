"""What the web app holds while it runs: the review folder, one store connection per
worker thread, one lock for writes, and the caches the screening queue reads.

SQLite in WAL mode lets readers work while one writer writes; the app takes its writes
through one lock as well, so concurrent requests wait in the app, never on SQLite's busy
timeout. A write returns only after its transaction committed (synchronous = FULL), so a
201 means the decision survives a crash.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from ipdmeta.review import open_store
from ipdmeta.review.store import ReviewStore

__all__ = ["AppState"]

T = TypeVar("T")


@dataclass
class AppState:
    folder: Path
    max_upload: int = 50 * 1024 * 1024
    secure_cookies: bool = False
    write_lock: threading.Lock = field(default_factory=threading.Lock)
    _local: threading.local = field(default_factory=threading.local)
    _cache: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    _cache_lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        # The first connection checks and migrates the store; later ones only connect.
        open_store(self.folder).close()

    @property
    def store(self) -> ReviewStore:
        """This thread's connection to the store."""
        store = getattr(self._local, "store", None)
        if store is None:
            store = open_store(self.folder, check=False)
            self._local.store = store
        return store

    @contextmanager
    def writing(self) -> Iterator[ReviewStore]:
        with self.write_lock:
            yield self.store

    def cached(self, name: str, key: Any, build: Callable[[], T]) -> T:
        """``build()`` once per ``key`` (a change counter of the store)."""
        with self._cache_lock:
            found = self._cache.get(name)
            if found is not None and found[0] == key:
                return found[1]
        value = build()
        with self._cache_lock:
            self._cache[name] = (key, value)
        return value
