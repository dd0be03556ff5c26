"""The analysis specification (review.toml) and the pipeline that runs a whole review."""

from ipdmeta.analysis.pipeline import ReviewRun, run_review
from ipdmeta.analysis.spec import ReviewSpec, load_spec, parse_spec

__all__ = ["ReviewRun", "ReviewSpec", "load_spec", "parse_spec", "run_review"]
