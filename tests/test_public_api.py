"""The public names are pinned: removing or renaming one is a deliberate, visible change."""

from __future__ import annotations

import ipdmeta
import ipdmeta.data
import ipdmeta.errors
import ipdmeta.simulate

PUBLIC = {
    ipdmeta: ["IpdmetaError", "__version__", "data", "meta", "mixed", "simulate"],
    ipdmeta.errors: [
        "ConvergenceError",
        "DataError",
        "EstimationError",
        "IpdmetaError",
        "ModelSpecError",
        "ReadError",
        "ReportError",
        "SpecError",
        "ValidationError",
    ],
    ipdmeta.data: [
        "BUILTIN_VOCABULARIES",
        "PATIENTS",
        "QUALITY",
        "STUDIES",
        "CategoryMap",
        "DataSummary",
        "OutcomeOptions",
        "Problem",
        "ReviewData",
        "Severity",
        "Worsening",
        "find_review_files",
        "load_review",
        "normalise_label",
        "responder_column",
        "summarise",
    ],
    ipdmeta.simulate: [
        "Categorical",
        "Covariate",
        "ReviewExtras",
        "SimulatedReview",
        "SimulationDesign",
        "design_from_toml",
        "simulate_ipd",
        "simulate_review",
    ],
}


def test_public_names_are_pinned():
    for module, names in PUBLIC.items():
        assert sorted(module.__all__) == sorted(names), module.__name__
        for name in names:
            assert hasattr(module, name), f"{module.__name__}.{name}"


def test_every_error_derives_from_the_root():
    for name in ipdmeta.errors.__all__:
        assert issubclass(getattr(ipdmeta.errors, name), ipdmeta.errors.IpdmetaError)
