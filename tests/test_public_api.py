"""The public names are pinned: removing or renaming one is a deliberate, visible change."""

from __future__ import annotations

import subprocess
import sys

import ipdmeta
import ipdmeta.analysis
import ipdmeta.data
import ipdmeta.errors
import ipdmeta.meta
import ipdmeta.mixed
import ipdmeta.report
import ipdmeta.review
import ipdmeta.scale
import ipdmeta.simulate

PUBLIC = {
    ipdmeta: [
        "IpdmetaError",
        "__version__",
        "analysis",
        "data",
        "meta",
        "mixed",
        "report",
        "run",
        "scale",
        "simulate",
    ],
    ipdmeta.analysis: ["ReviewRun", "ReviewSpec", "load_spec", "parse_spec", "run_review"],
    ipdmeta.report: ["run", "write_report"],
    ipdmeta.mixed: [
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
    ],
    ipdmeta.meta: [
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
        "random_effects_glmm",
        "random_effects_batch",
        "study_summaries",
        "subgroups",
        "transf_ipft",
        "trim_and_fill",
    ],
    ipdmeta.errors: [
        "ConvergenceError",
        "DataError",
        "DisclosureError",
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
    ipdmeta.review: [
        "ImportResult",
        "ReviewStore",
        "StoreError",
        "create_store",
        "import_file",
        "open_store",
    ],
    ipdmeta.scale: [
        "FederatedFit",
        "Plan",
        "describe",
        "disclosure_breaches",
        "fit_federated",
        "make_plan",
        "read_plan",
        "read_summaries",
        "summarise_site",
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


def test_engines_import_light():
    # scipy.stats alone takes ~0.5 s to import; the engines use scipy.special's
    # distribution functions (the same ones scipy.stats calls) and load scipy.stats only
    # for Tukey's studentized range.
    code = (
        "import sys, ipdmeta.meta, ipdmeta.mixed, ipdmeta.analysis, ipdmeta.data;"
        "print(sorted(m for m in ('matplotlib', 'scipy.stats') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
