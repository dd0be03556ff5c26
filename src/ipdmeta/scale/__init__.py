"""IPD meta-analysis beyond one machine: federated fits from per-study blocks.

Sites share each study's patient count and cross-products, never rows; the one-stage
linear mixed model fitted from them is the fit on the pooled rows (see
docs/federated.md).

>>> from ipdmeta import scale
>>> plan = scale.make_plan("relief_pct ~ diagnosis + (1 | study_id)",
...                        {"diagnosis": ["TN", "AD", "DPS"]})  # doctest: +SKIP
>>> summary = scale.summarise_site(plan, patients)  # at each site  # doctest: +SKIP
"""

from ipdmeta.scale.federated import FederatedFit, fit_federated, read_summaries
from ipdmeta.scale.plan import Plan, make_plan, read_plan
from ipdmeta.scale.site import describe, disclosure_breaches, summarise_site

__all__ = [
    "FederatedFit",
    "Plan",
    "describe",
    "disclosure_breaches",
    "fit_federated",
    "make_plan",
    "read_plan",
    "read_summaries",
    "summarise_site",
]
