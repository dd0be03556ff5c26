"""One-stage linear mixed models, agreeing with lme4, lmerTest, emmeans and pbkrtest.

>>> from ipdmeta import mixed
>>> m = mixed.lmm("relief ~ diagnosis + age + (1 | study_id)", data)  # doctest: +SKIP
>>> m.fixed_effects(ddf="satterthwaite")  # doctest: +SKIP
"""

from ipdmeta.mixed._bootstrap import BootstrapResult
from ipdmeta.mixed._model import LmmResult, lmm, lrt
from ipdmeta.mixed._options import DDF, Adjust, ConfintMethod

__all__ = ["DDF", "Adjust", "BootstrapResult", "ConfintMethod", "LmmResult", "lmm", "lrt"]
