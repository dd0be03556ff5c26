"""Two-stage (study-level) random-effects meta-analysis, agreeing with R's metafor.

Every function names the metafor function it agrees with. Importing this package does
not import matplotlib; the plotting functions do, when called.
"""

from ipdmeta.meta._options import Method, Test
from ipdmeta.meta.batch import BatchResult, random_effects_batch
from ipdmeta.meta.bias import EggerResult, TrimFillResult, egger_test, trim_and_fill
from ipdmeta.meta.diagnostics import (
    InfluenceResult,
    LeaveOneOutResult,
    influence,
    leave_one_out,
)
from ipdmeta.meta.effect_sizes import (
    EffectSizes,
    Measure,
    StudySummaries,
    back_transform,
    escalc,
    study_summaries,
    transf_ipft,
)
from ipdmeta.meta.glmm import GlmmMetaResult, random_effects_glmm
from ipdmeta.meta.permutation import PermutationResult, permutation_test
from ipdmeta.meta.plots import forest_plot, funnel_plot
from ipdmeta.meta.regression import MetaRegressionResult, meta_regression
from ipdmeta.meta.subgroups import CommonTau2, SubgroupResult, Tau2Model, subgroups
from ipdmeta.meta.univariate import HeterogeneityCI, MetaResult, random_effects

__all__ = [
    "BatchResult",
    "CommonTau2",
    "EffectSizes",
    "EggerResult",
    "GlmmMetaResult",
    "HeterogeneityCI",
    "InfluenceResult",
    "LeaveOneOutResult",
    "Measure",
    "MetaRegressionResult",
    "MetaResult",
    "Method",
    "PermutationResult",
    "StudySummaries",
    "SubgroupResult",
    "Tau2Model",
    "Test",
    "TrimFillResult",
    "back_transform",
    "egger_test",
    "escalc",
    "forest_plot",
    "funnel_plot",
    "influence",
    "leave_one_out",
    "meta_regression",
    "permutation_test",
    "random_effects",
    "random_effects_batch",
    "random_effects_glmm",
    "study_summaries",
    "subgroups",
    "transf_ipft",
    "trim_and_fill",
]
