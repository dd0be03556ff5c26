"""The searches behind the review, one row per imported export, as PRISMA-S asks them to
be reported: where (source, kind, platform), when, with what query, and how many records
the export held and how many were read from it."""

from __future__ import annotations

from typing import Any

import pandas as pd

__all__ = ["searches_table"]

_KINDS = {"database": "database", "register": "register", "other": "other method"}


def searches_table(screening: dict[str, Any] | None) -> pd.DataFrame | None:
    """None without a review store (the searches were recorded elsewhere)."""
    if not screening or not screening.get("imports"):
        return None
    rows = [
        {
            "source": i["source"],
            "kind": _KINDS.get(i["kind"], i["kind"]),
            "platform": i["platform"] or "",
            "searched": i["searched"] or "not recorded",
            "query": i["query"] or "not recorded",
            "records": i["raw_count"],
            "imported": i["imported"],
            "reported": i["reported"],
            "file": i["file_name"],
        }
        for i in screening["imports"]
    ]
    return pd.DataFrame(rows)
