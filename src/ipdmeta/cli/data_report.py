"""How a review's data were read, as the commands that read data print it."""

from __future__ import annotations

import sys
from typing import TextIO

__all__ = ["print_data_report"]


def print_data_report(review: object, out: TextIO | None = None) -> None:
    """How the data were read (notes), who was excluded, and every warning."""
    target = out or sys.stdout
    notes = getattr(review, "notes", ())
    excluded = getattr(review, "excluded", None)
    warnings = getattr(review, "warnings", ())
    if notes:
        print("\nHow the data were read:", file=target)
        for problem in notes:
            print(f"  - {problem}", file=target)
    if excluded is not None and len(excluded):
        print(f"\nExcluded from the analysis ({len(excluded)} patients):", file=target)
        for row in excluded.itertuples():
            print(
                f"  - study {row.study_id}, patient {row.patient_id} (row {row.source_row}): "
                f"{row.exclusion_reason}",
                file=target,
            )
    if warnings:
        print(f"\n{len(warnings)} warning{'s' if len(warnings) != 1 else ''}:", file=target)
        for problem in warnings:
            print(f"  - {problem}", file=target)
