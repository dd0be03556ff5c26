"""One-stage linear mixed models, agreeing with lme4, lmerTest, emmeans and pbkrtest."""

__all__: list[str] = []
