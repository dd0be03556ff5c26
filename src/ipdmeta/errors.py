"""The exceptions ipdmeta raises for problems a user can fix.

Every error a user can cause derives from :class:`IpdmetaError`; the command line turns
one into a single line on stderr and exit code 2. Anything else escaping is a bug.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "ConvergenceError",
    "DataError",
    "DisclosureError",
    "EstimationError",
    "IpdmetaError",
    "ModelSpecError",
    "ReadError",
    "ReportError",
    "SpecError",
    "ValidationError",
]


class IpdmetaError(Exception):
    """Root of every error ipdmeta raises on purpose."""


class DataError(IpdmetaError):
    """A data file could not be used."""


class ReadError(DataError):
    """A file could not be read as a table (missing, empty, binary, corrupt)."""


class ValidationError(DataError):
    """A table was read but its contents break the schema.

    ``problems`` holds every problem found, not only the first.
    """

    def __init__(
        self, problems: Sequence[object], header: str | None = None, notes: Sequence[object] = ()
    ) -> None:
        self.problems = list(problems)
        # How the readable cells were read ('8/10' as 8 on a 0-10 scale); not part of the
        # message, for a caller that shows them beside the problems.
        self.notes = list(notes)
        n = len(self.problems)
        lines = [(header or f"the data has {n} problem{'s' if n != 1 else ''}") + ":"]
        # A warning listed among the problems says so (--strict lists warnings as problems).
        lines += [
            f"  - {'warning: ' if getattr(p, 'severity', None) == 'warning' else ''}{p}"
            for p in self.problems
        ]
        super().__init__("\n".join(lines))


class EstimationError(IpdmetaError):
    """A model cannot be fitted to the data given (bad values, too few studies)."""


class ConvergenceError(EstimationError):
    """An iterative estimator did not converge."""


class ModelSpecError(EstimationError):
    """A model formula or option is invalid (unknown variable, bad grammar)."""


class SpecError(IpdmetaError):
    """The analysis specification (review.toml) is invalid."""


class ReportError(IpdmetaError):
    """The report could not be written."""


class DisclosureError(IpdmetaError):
    """A site's data break a federated plan's disclosure rules; nothing is written."""
