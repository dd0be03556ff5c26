"""Kenward-Roger on the general path holds dense q x q matrices: a model whose matrices
would not fit is refused with a message that names the way out, not left to exhaust the
machine's memory."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ipdmeta import mixed
from ipdmeta.errors import EstimationError
from ipdmeta.mixed import _inference


def test_kenward_roger_too_large_is_refused_and_satterthwaite_still_works(monkeypatch) -> None:
    rng = np.random.default_rng(3)
    g = rng.integers(0, 30, 300)
    h = rng.integers(0, 20, 300)
    x = rng.normal(size=g.size)
    y = 1 + x + rng.normal(size=30)[g] + rng.normal(size=20)[h] + rng.normal(size=g.size)
    fit = mixed.lmm("y ~ x + (1 | g) + (1 | h)", pd.DataFrame({"y": y, "x": x, "g": g, "h": h}))
    # Crossed terms keep the dense pieces: 50 random effects, (2 + 12) x 50^2 x 8 bytes =
    # 280,000 bytes, over this limit.
    monkeypatch.setattr(_inference, "KR_MAX_BYTES", 200_000)
    with pytest.raises(EstimationError, match=r"q = 50 random effects.*ddf='satterthwaite'"):
        fit.fixed_effects(ddf="kenward-roger")
    assert np.isfinite(fit.fixed_effects(ddf="satterthwaite")["df"]).all()
