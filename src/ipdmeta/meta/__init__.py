"""Two-stage (study-level) random-effects meta-analysis, agreeing with R's metafor."""

__all__: list[str] = []
