"""The analysis specification (review.toml) and the pipeline that runs a whole review."""

from ipdmeta.analysis.spec import ReviewSpec, load_spec, parse_spec

__all__ = ["ReviewSpec", "load_spec", "parse_spec"]
