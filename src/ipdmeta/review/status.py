"""Where a review stands: records, duplicates, sources, imports, the team, each stage's
screening and agreement, and the stopping rule (``ipdmeta review status --json`` and the
web app's ``GET /api/status``)."""

from __future__ import annotations

from typing import Any

from ipdmeta.review.screening import STAGES, stage_status
from ipdmeta.review.stopping import stopping_status
from ipdmeta.review.store import ReviewStore

__all__ = ["review_status"]

_IMPORT_KEYS = ("file_name", "format", "source", "kind", "platform", "searched", "query",
                "raw_count", "imported", "reported", "created")  # fmt: skip


def review_status(store: ReviewStore) -> dict[str, Any]:
    sources = store.counts_by_source()
    total = sum(sources.values())
    duplicates = len(store.duplicate_of())
    return {
        "records": total,
        "duplicates": duplicates,
        "unique": total - duplicates,
        "pending_duplicates": len(store.pending_duplicates()),
        "sources": sources,
        "imports": [{k: i[k] for k in _IMPORT_KEYS} for i in store.imports()],
        "reviewers": [{"name": r["name"], "role": r["role"]} for r in store.reviewers()],
        "stages": {stage: stage_status(store, stage) for stage in STAGES},
        "stopping": stopping_status(store),
    }
