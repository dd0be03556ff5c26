"""ipdmeta: systematic reviews with individual-patient-data (IPD) meta-analysis.

Importing the package is cheap: plotting, templating and the command line are loaded only
by the parts that need them. Subpackages:

- :mod:`ipdmeta.data`: read, check and explain the extraction spreadsheet;
- :mod:`ipdmeta.meta`: two-stage (study-level) random-effects meta-analysis;
- :mod:`ipdmeta.mixed`: one-stage linear mixed models;
- :mod:`ipdmeta.scale`: federated fits from per-study summaries;
- :mod:`ipdmeta.simulate`: simulated IPD meta-analysis data sets;
- :mod:`ipdmeta.analysis` and :mod:`ipdmeta.report`: ``ipdmeta.run(folder)`` analyses a
  review folder as its ``review.toml`` says and writes the report.
"""

from __future__ import annotations

import importlib
from typing import Any

from ipdmeta.errors import IpdmetaError

__version__ = "0.1.0"

__all__ = [
    "IpdmetaError",
    "__version__",
    "analysis",
    "data",
    "meta",
    "mixed",
    "report",
    "run",
    "scale",
    "simulate",
]

_SUBMODULES = {"analysis", "data", "meta", "mixed", "report", "scale", "simulate"}


def __getattr__(name: str) -> Any:
    # Subpackages load on first use so that `import ipdmeta` stays fast.
    if name in _SUBMODULES:
        return importlib.import_module(f"ipdmeta.{name}")
    if name == "run":
        return importlib.import_module("ipdmeta.report.build").run
    raise AttributeError(f"module 'ipdmeta' has no attribute {name!r}")
