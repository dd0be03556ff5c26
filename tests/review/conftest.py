"""Helpers the review-store tests share: a RIS file from a few fields, and a review folder
with two registered reviewers."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import pytest


def write_ris(path: Path, records: Sequence[dict[str, object]]) -> Path:
    """``records``: dicts with ``title`` and optionally ``author``, ``year``, ``abstract``,
    ``doi``, ``journal``."""
    tags = (("author", "AU"), ("year", "PY"), ("abstract", "AB"), ("doi", "DO"),
            ("journal", "JO"))  # fmt: skip
    lines: list[str] = []
    for record in records:
        lines += ["TY  - JOUR", f"TI  - {record['title']}"]
        lines += [f"{tag}  - {record[key]}" for key, tag in tags if record.get(key)]
        lines += ["ER  - ", ""]
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


@pytest.fixture
def team_review(tmp_path: Path, run_cli: Callable[..., object]) -> Callable[[Sequence[dict]], Path]:
    """A factory: a review folder with reviewers ann and ben and ``records`` imported."""

    def make(records: Sequence[dict[str, object]]) -> Path:
        folder = tmp_path / "review"
        run_cli("review", "init", folder)
        for name in ("ann", "ben"):
            run_cli("review", "user", "add", folder, name)
        run_cli("review", "import", folder, write_ris(tmp_path / "search.ris", records),
                "--source", "PubMed")  # fmt: skip
        return folder

    return make
