"""One-stage mixed models: linear (agreeing with lme4, lmerTest, emmeans and pbkrtest)
and generalized with a random intercept (agreeing with lme4's glmer and emmeans).

>>> from ipdmeta import mixed
>>> m = mixed.lmm("relief ~ diagnosis + age + (1 | study_id)", data)  # doctest: +SKIP
>>> m.fixed_effects(ddf="satterthwaite")  # doctest: +SKIP
>>> r = mixed.glmm("responder ~ diagnosis + (1 | study_id)", data)  # doctest: +SKIP
>>> r.pairwise("diagnosis", adjust="holm")  # odds ratios  # doctest: +SKIP
"""

from ipdmeta.mixed._bootstrap import BootstrapResult
from ipdmeta.mixed._glmm_model import GlmmResult, glmm
from ipdmeta.mixed._model import LmmResult, lmm, lmm_from_blocks, lrt
from ipdmeta.mixed._options import DDF, Adjust, ConfintMethod
from ipdmeta.mixed._study_blocks import StudyBlocks, study_blocks

__all__ = [
    "DDF",
    "Adjust",
    "BootstrapResult",
    "ConfintMethod",
    "GlmmResult",
    "LmmResult",
    "StudyBlocks",
    "glmm",
    "lmm",
    "lmm_from_blocks",
    "lrt",
    "study_blocks",
]
