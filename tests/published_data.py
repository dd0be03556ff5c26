"""Published data sets used by several test modules, each with its citation."""

from __future__ import annotations

import numpy as np

# BCG vaccine trials (Colditz et al. 1994, JAMA 271:698-702; metafor's dat.bcg): log risk
# ratios and their sampling variances as metafor's escalc(measure = "RR") gives them, and
# each trial's absolute latitude.
BCG_YI = np.array(
    [
        -0.8893113339202054,
        -1.5853886572014306,
        -1.348073148299693,
        -1.4415511900213054,
        -0.2175473222112957,
        -0.786115585818864,
        -1.6208982235983924,
        0.0119523335238405,
        -0.4694176487381487,
        -1.3713448034727176,
        -0.3393588283383906,
        0.4459134005713683,
        -0.0173139482168798,
    ]
)
BCG_VI = np.array(
    [
        0.3255847650039614,
        0.1945811213981438,
        0.4153679653679654,
        0.0200100319022476,
        0.0512101721696309,
        0.0069056184559087,
        0.2230172475723152,
        0.0039615792978177,
        0.0564342104632489,
        0.0730247936130253,
        0.0124122139715597,
        0.5325058452001528,
        0.0714046596839124,
    ]
)
BCG_ABLAT = np.array([44, 55, 42, 52, 13, 44, 19, 13, 27, 42, 18, 33, 33])
