"""Responder proportions pooled by the binomial-normal model agree with lme4's glmer and
metafor's rma.glmm; rows that cannot be pooled say why."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import special

from ipdmeta.analysis.responders import pool_responders

REFERENCE = Path(__file__).parents[1] / "reference" / "glmm" / "responders-pooled.json"
# rma.glmm and glmer fit the same model to the same data and agree with each other to
# 6e-6; the tolerance for GLMM estimates is 1e-4.
RTOL = 1e-4


def _data() -> tuple[pd.DataFrame, dict]:
    ref = json.loads(REFERENCE.read_text())
    data = pd.DataFrame(ref["data"])
    data["responder_50"] = data["responder"].astype(bool)
    return data, ref


def test_pooled_proportion_agrees_with_rma_glmm_and_glmer():
    data, ref = _data()
    row = pool_responders(data, (50.0,), 0.95).table.iloc[0]
    rma = ref["rma_glmm"]
    assert row["k"] == rma["k"] == 23 and row["n"] == len(data) and row["note"] == ""
    np.testing.assert_allclose(special.logit(row["pooled"]), ref["glmer"]["estimate"],
                               rtol=RTOL)  # fmt: skip
    for ours, theirs in (("pooled", "b"), ("ci_lower", "ci_lb"), ("ci_upper", "ci_ub"),
                         ("pi_lower", "pi_lb"), ("pi_upper", "pi_ub")):  # fmt: skip
        np.testing.assert_allclose(special.logit(row[ours]), rma[theirs], rtol=RTOL)
    np.testing.assert_allclose(row["tau2"], rma["tau2"], rtol=RTOL)
    # wider than the Wilson interval, which treats every patient as independent
    assert row["ci_upper"] - row["ci_lower"] > 0.2


def test_rows_that_cannot_be_pooled_say_why():
    data, _ = _data()
    table = pool_responders(
        data.assign(responder_30=True, responder_40=False), (30.0, 40.0), 0.95
    ).table
    assert list(table["note"]) == ["every patient responded", "no patient responded"]
    assert table["pooled"].isna().all()
    one = data[data["study_id"] == data["study_id"].iloc[0]]
    assert pool_responders(one, (50.0,), 0.95).table["note"].iloc[0] == "fewer than 2 studies"
