"""Write a review's report folder: report.html, report.docx, results.json, tables.xlsx,
tables/ and figures/.

The output is built in a temporary folder beside the target and swapped in only when
complete, so a failed run leaves the previous output untouched and nothing partial.
A folder is only ever replaced if ipdmeta made it (it holds a marker file) or is empty.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from markupsafe import Markup

from ipdmeta._parallel import BackgroundMap
from ipdmeta.analysis.models import FittedModel
from ipdmeta.analysis.pipeline import (
    STAGES,
    FittedReview,
    ReviewRun,
    analyse_two_stage,
    call,
    fit_review,
    robustness_jobs,
    with_robustness,
)
from ipdmeta.analysis.robustness import ContrastRobustness
from ipdmeta.data.writers import temporary_folder, write_csv, write_text
from ipdmeta.errors import ReportError
from ipdmeta.report import figures
from ipdmeta.report.canvas import load_fonts
from ipdmeta.report.citations import references_in
from ipdmeta.report.findings import results_paragraph
from ipdmeta.report.html import render_report, report_template
from ipdmeta.report.methods import methods_paragraph
from ipdmeta.report.prisma_checklist import prisma_checklist
from ipdmeta.report.progress import StageReporter
from ipdmeta.report.results import relief_by_category, responders_table, results_json
from ipdmeta.report.rounding import ESTIMATE_DECIMALS, rounded_as_shown
from ipdmeta.report.searches import searches_table
from ipdmeta.report.study_table import included_studies
from ipdmeta.report.word import (
    figure_caption,
    finish_report_docx,
    start_report_docx,
    write_checklist_docx,
)
from ipdmeta.report.workbook import write_tables_xlsx

__all__ = ["MARKER", "run", "write_report"]

MARKER = ".ipdmeta-output"

Progress = Callable[[str], None]
FigureTask = tuple[str, Callable[[], Any]]

# The robustness table as the report shows it (results.json and the CSV keep the names).
ROBUSTNESS_COLUMNS = {
    "choice": "analysis choice",
    "estimate": "estimate",
    "pvalue": "p",
    "pvalue_low": "lowest p",
    "pvalue_high": "highest p",
    "holds": "holds",
    "note": "note",
}


STAGE_COUNT = len(STAGES) + 1  # the analysis' stages, then writing the report


def run(
    path: str | Path,
    out: str | Path | None = None,
    progress: bool | Progress = True,
    *,
    outcome: Mapping[str, Any] | None = None,
    strict: bool = False,
) -> ReviewRun:
    """Analyse the review folder ``path`` and write its report to ``out`` (``path/out``).

    Returns the :class:`~ipdmeta.analysis.pipeline.ReviewRun`, whose ``output`` is the
    report folder. The same as ``ipdmeta run PATH --out OUT``. ``progress``: True (the
    default) prints each stage with the time elapsed, in a terminal or a notebook; False
    prints nothing; a callable is called with each stage's name. ``outcome`` and
    ``strict`` are as :func:`~ipdmeta.analysis.pipeline.run_review` takes them.
    """
    folder = Path(path)
    target = Path(out) if out is not None else folder / "out"
    _check_target(folder, target)
    say: Progress
    if progress is True:
        say = reporter = StageReporter(STAGE_COUNT)
    else:
        reporter = None
        say = progress or (lambda stage: None)
    try:
        fitted = fit_review(folder, say, outcome=outcome, strict=strict)
        with _analysis_and_figures(fitted, say) as (result, drawn, workers):
            say("writing the report")
            write_report(result, target, drawn=drawn, workers=workers)
    except BaseException:
        if isinstance(progress, StageReporter):
            progress.close()
        if reporter is not None:
            reporter.close()
        raise
    if reporter is not None:
        reporter.done()
    return dataclasses.replace(result, output=target)


@contextmanager
def _analysis_and_figures(
    fitted: FittedReview, say: Progress
) -> Iterator[tuple[ReviewRun, dict[str, figures.SavedFigure], BackgroundMap[Any, Any]]]:
    """The rest of the analysis, and the figures that do not need the robustness panels;
    then the workers, for the report's files.

    The robustness jobs, and the figures of the data and the models, run in worker
    processes; this one meanwhile does the two-stage meta-analysis, draws its figures and
    readies the writers. The refits are most of the work, and the cores stay busy.
    """
    jobs = robustness_jobs(fitted)
    early = _fitted_figure_tasks(fitted)
    load_fonts()  # once, before the workers are forked
    work: list[Callable[[], Any]] = [
        *jobs.values(),
        *(partial(_render, make) for _, make in early),
    ]
    with BackgroundMap(call, work) as running:
        analysed = analyse_two_stage(fitted, say)
        drawn = {name: _render(make) for name, make in _two_stage_figure_tasks(analysed.run)}
        _prepare_writers()
        results = running.results()
        result = with_robustness(analysed, dict(zip(jobs, results[: len(jobs)], strict=True)))
        drawn.update(zip((name for name, _ in early), results[len(jobs) :], strict=True))
        yield result, drawn, running


def _prepare_writers() -> None:
    """Import the Word writer and load the HTML template while the refits run: this
    process writes the HTML report and the PRISMA checklist once they are done. (The
    workers, forked before, import what their files need themselves.)"""
    import docx

    del docx
    report_template()


def _render(make: Callable[[], Any]) -> figures.SavedFigure:
    return figures.render(make())


def _check_target(folder: Path, target: Path) -> None:
    if target.resolve() == folder.resolve():
        raise ReportError(f"{target}: the output folder cannot be the review folder itself")
    if target.exists():
        if not target.is_dir():
            raise ReportError(f"{target}: exists and is not a folder; choose another --out")
        if not (target / MARKER).exists() and any(target.iterdir()):
            raise ReportError(
                f"{target}: exists, is not empty and was not made by ipdmeta; it is left "
                "untouched. Choose another --out, or empty it"
            )


def write_report(
    result: ReviewRun,
    target: Path,
    drawn: Mapping[str, figures.SavedFigure] | None = None,
    workers: BackgroundMap[Any, Any] | None = None,
) -> None:
    """Write everything into a new folder, then swap it in for ``target``. ``drawn``:
    figures already rendered, by name (the others are drawn here). ``workers``: worker
    processes to write files in (by default, new ones are forked)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    building = temporary_folder(target.parent, f".{target.name}.building-")
    try:
        _write_all(result, building, drawn or {}, workers)
        (building / MARKER).write_text("made by ipdmeta run; safe to replace\n")
        if target.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
            target.rename(old / target.name)
            building.rename(target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            building.rename(target)
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise


# Written with every digit: the data as analysed, for anyone refitting them elsewhere.
_AS_ANALYSED = {"analysis_data"}
# Decimals of tables whose estimates are not shown to 2: proportions, which the report
# shows as percentages to 1 decimal.
_DECIMALS = {"responders": 3}


def _write_all(
    result: ReviewRun,
    folder: Path,
    drawn: Mapping[str, figures.SavedFigure],
    workers: BackgroundMap[Any, Any] | None,
) -> None:
    (folder / "tables").mkdir()
    (folder / "figures").mkdir()
    formats = result.spec.report.figure_formats
    tables = _tables(result)
    saved = {
        name: drawn[name] if name in drawn else _render(make)
        for name, make in _figure_tasks(result)
    }
    methods = methods_paragraph(result)
    paragraphs: dict[str, Any] = {
        "methods": methods,
        "findings": results_paragraph(result),
        "references": references_in(methods),
    }
    # The Word report, the Excel workbook and the CSV files are written in worker
    # processes, the Word report first (the longest); the figures' files, the HTML report,
    # results.json and the PRISMA checklist's Word file here meanwhile. What the workers
    # need is passed to them whole (pickled, when they were forked before).
    report = result.spec.report
    side: list[Callable[[], Any]] = [
        partial(
            _write_report_docx,
            folder / "report.docx",
            (report.title, report.authors, list(result.models)),
            tables,
            paragraphs,
            saved,
        ),
        partial(write_tables_xlsx, tables, folder / "tables.xlsx"),
        partial(_write_csvs, tables, folder / "tables"),
    ]
    writing = (
        BackgroundMap(call, side) if workers is None else nullcontext(workers.more(call, side))
    )
    with writing as working:
        for name, figure in saved.items():
            figures.write_figure(figure, folder / "figures", name, formats)
        svgs = {name: Markup(figure.svg) for name, figure in saved.items()}
        html = render_report(_context(result, tables, svgs, paragraphs))
        write_text(folder / "report.html", html)
        write_text(folder / "results.json", results_json(result))
        write_checklist_docx(
            folder / "prisma_checklist.docx", tables["prisma_checklist"], report.title
        )
        working.results()


def _write_report_docx(
    path: Path,
    report: tuple[str, Sequence[str], list[str]],
    tables: Mapping[str, pd.DataFrame],
    paragraphs: Mapping[str, Any],
    saved: Mapping[str, figures.SavedFigure],
) -> None:
    title, authors, models = report
    document = start_report_docx(
        title=title,
        authors=authors,
        methods=paragraphs["methods"],
        findings=paragraphs["findings"],
        references=paragraphs["references"],
        tables=tables,
        models=models,
    )
    finish_report_docx(
        document,
        path,
        figures={name: (f.png, f.placed_width_inches) for name, f in saved.items()},
        figure_captions={name: figure_caption(name, models) for name in saved},
    )


def _write_csvs(tables: Mapping[str, pd.DataFrame], folder: Path) -> None:
    for name, frame in tables.items():
        shown = (
            frame
            if name in _AS_ANALYSED
            else rounded_as_shown(frame, _DECIMALS.get(name, ESTIMATE_DECIMALS))
        )
        write_csv(shown, folder / f"{name}.csv")


def _tables(result: ReviewRun) -> dict[str, pd.DataFrame]:
    tables: dict[str, pd.DataFrame] = {
        "analysis_data": result.analysis_data,
        "studies": included_studies(result),
        "responders": responders_table(result),
        "two_stage_studies": result.two_stage.studies,
        "category_map": result.data.label_map,
    }
    for name, model in result.models.items():
        tables[f"{name}_fixed_effects"] = model.fixed_effects
        tables[f"{name}_anova"] = model.anova
        tables[f"{name}_emmeans"] = model.emmeans
        tables[f"{name}_pairwise"] = pd.concat(list(model.pairwise.values()), ignore_index=True)
        tables[f"{name}_variance_components"] = model.fit.variance_components
        by_factor = f"relief_by_{model.spec.factor}"
        if by_factor not in tables:  # two models of one factor share it
            tables[by_factor] = relief_by_category(result.analysis_data, model.spec.factor)
    if result.two_stage.egger is not None:
        tables["small_study_effects"] = _egger_table(result.two_stage.egger)
    if result.two_stage.sensitivity is not None:
        tables["pooled_mean_sensitivity"] = result.two_stage.sensitivity
    for factor, groups in result.subgroups.items():
        if groups.result is not None:
            tables[f"subgroups_{factor}"] = groups.result.to_frame()
    if result.grade is not None:
        tables["grade"] = result.grade.to_frame()
    tables["prisma_checklist"] = prisma_checklist(result)
    searches = searches_table(result.screening)
    if searches is not None:
        tables["searches"] = searches
    if result.confounders is not None:
        tables["confounder_screen"] = result.confounders.table
    for i, panel in enumerate(result.robustness):
        tables[f"robustness_{i}_{panel.model}"] = panel.table.assign(contrast=panel.contrast)
    if result.data.quality is not None:
        tables["quality"] = result.data.quality
    return tables


def _egger_table(egger: Any) -> pd.DataFrame:
    columns = ["statistic", "df", "pvalue", "limit_estimate", "limit_ci_lower", "limit_ci_upper"]
    return egger.to_frame()[columns]


def heterogeneity_sentence(result: ReviewRun) -> str:
    """What pooling the within-study variance does to I2, in one sentence."""
    table = result.two_stage.sensitivity
    if table is None or len(table) < 2 or table["measure"].iloc[1] != "I2 (%)":
        return ""
    own, pooled = table["heterogeneity"].iloc[0], table["heterogeneity"].iloc[1]
    icc = table.loc[table["measure"] == "ICC", "heterogeneity"]
    text = (
        f"With each study's own variance I² is {own:.1f} %; with the within-study variance "
        f"pooled across studies (small case series can have a variance near 0, which "
        f"inflates I²) it is {pooled:.1f} %."
    )
    if len(icc):
        text += (
            f" The one-stage model puts {100 * icc.iloc[0]:.0f} % of the variance between studies."
        )
    return text


def subgroup_sentence(groups: Any) -> str:
    """The test for subgroup differences in one plain sentence."""
    if groups.result is None:
        return f"No subgroup analysis: {groups.note}."
    r = groups.result
    label = groups.factor.replace("_", " ")
    p = f"p = {r.Q_between_pvalue:.3f}" if r.Q_between_pvalue >= 0.001 else "p < 0.001"
    differ = "differ" if r.Q_between_pvalue < 0.05 else "do not differ clearly"
    return (
        f"Pooling the mean relief of each study's patients within each {label}, the "
        f"{len(r.groups)} subgroups {differ} (test for subgroup differences {p}); this "
        f"two-stage view compares studies, the mixed model compares patients."
    )


def small_study_sentence(result: ReviewRun) -> str:
    """Egger's test in one plain sentence, with the warning below 10 studies."""
    two = result.two_stage
    if two.egger is None:
        return (
            f"With {two.k} studies in the two-stage analysis, Egger's test cannot be run (it "
            "needs at least 3)."
        )
    egger = two.egger
    p = f"p = {egger.pvalue:.3f}" if egger.pvalue >= 0.001 else "p < 0.001"
    if egger.pvalue < 0.1:
        finding = (
            f"The funnel plot is asymmetric (Egger's test {p}): smaller studies report "
            "different relief than larger ones, which small-study effects or selective "
            "publication can cause."
        )
    else:
        finding = f"Egger's test finds no funnel-plot asymmetry ({p})."
    if two.few_for_egger:
        finding += (
            f" With only {two.k} studies the test has little power, and fewer than 10 are "
            "too few to judge small-study effects reliably."
        )
    return finding


def _figure_tasks(result: ReviewRun) -> list[FigureTask]:
    """Every figure of the report, in its order, by name."""
    return [
        *_fitted_figure_tasks(result),
        *_two_stage_figure_tasks(result),
        *(
            (f"robustness_{i}", partial(figures.robustness_dot_plot, panel.table, panel.alpha))
            for i, panel in enumerate(result.robustness)
        ),
    ]


def _fitted_figure_tasks(fitted: FittedReview | ReviewRun) -> list[FigureTask]:
    """The figures of the data and of the mixed models."""
    tasks: list[FigureTask] = []
    if fitted.spec.prisma.given:
        counts = _prisma_counts(fitted)
        tasks.append(("prisma", lambda: figures.prisma_diagram(counts)))
    quality = fitted.data.quality
    if quality is not None:
        tasks.append(("quality", lambda: figures.quality_traffic_light(quality)))
    for model in fitted.models.values():
        # Two models of one factor share its relief-by-category figure.
        drawn = {name for name, _ in tasks}
        tasks += [t for t in _model_figure_tasks(fitted.analysis_data, model) if t[0] not in drawn]
    return tasks


def _two_stage_figure_tasks(result: ReviewRun) -> list[FigureTask]:
    tasks: list[FigureTask] = []
    two_stage = result.two_stage.result
    if two_stage is not None:
        tasks.append(
            (
                "forest",
                partial(
                    figures.forest,
                    two_stage,
                    "mean % relief per study (95% CI)\n"
                    "diamond: pooled mean; dotted line: 95% prediction interval",
                ),
            )
        )
        tasks.append(("funnel", partial(figures.funnel, two_stage, (0.90, 0.95, 0.99))))
    for factor, groups in result.subgroups.items():
        if groups.result is not None:
            tasks.append(
                (
                    f"subgroups_{factor}",
                    partial(figures.subgroup_forest, groups.cells, groups.result, factor),
                )
            )
    return tasks


def _model_figure_tasks(analysis_data: pd.DataFrame, model: FittedModel) -> list[FigureTask]:
    factor = model.spec.factor

    def diagnostics() -> Any:
        ranef = model.fit.ranef()
        caterpillar = pd.DataFrame(
            {"group": ranef["level"], "value": ranef["estimate"], "sd": ranef["se"]}
        )
        if model.binary:
            return figures.binary_diagnostics_panel(
                model.fit.fitted(), model.fit.residuals("response"), caterpillar
            )
        return figures.diagnostics_panel(model.fit.fitted(), model.fit.residuals(), caterpillar)

    if model.binary:
        emmeans = model.emmeans.rename(columns={"probability": "emmean"})
        label = "probability of responding (95% CI)"
    else:
        emmeans, label = model.emmeans, "estimated marginal mean % relief (95% CI)"
    return [
        (
            f"relief_by_{factor}",
            lambda: figures.relief_by_category(analysis_data, factor),
        ),
        (
            f"emmeans_{model.spec.name}",
            lambda: figures.emmeans_plot(emmeans, factor, xlabel=label),
        ),
        (f"diagnostics_{model.spec.name}", diagnostics),
    ]


def _prisma_counts(result: FittedReview | ReviewRun) -> dict[str, Any]:
    counts = dataclasses.asdict(result.spec.prisma)
    if counts["patients_included"] is None and result.prisma_source == "review store":
        counts["patients_included"] = result.summary.n_patients  # the patients analysed
    excluded = result.data.excluded
    counts["patients_excluded"] = (
        excluded["exclusion_reason"].value_counts(sort=False).to_dict() if len(excluded) else {}
    )
    return counts


def prisma_notes(result: ReviewRun) -> list[str]:
    """Where the PRISMA counts do not add up, or disagree with the data."""
    p = result.spec.prisma
    notes = list(result.prisma_notes)

    def check(label: str, left: int | None, right: int | None) -> None:
        if left is not None and right is not None and left != right:
            notes.append(f"PRISMA counts do not add up: {label} ({left} vs {right}).")

    identified = sum(p.records_identified.values()) if p.records_identified else None
    if identified is not None and p.duplicates_removed is not None:
        removed = (
            p.duplicates_removed
            + (p.records_removed_automation or 0)
            + (p.records_removed_other or 0)
        )
        check("identified - removed = screened", identified - removed, p.records_screened)
    if p.records_screened is not None and p.records_excluded is not None:
        check(
            "screened - excluded = sought",
            p.records_screened - p.records_excluded,
            p.reports_sought,
        )
    if p.reports_sought is not None and p.reports_not_retrieved is not None:
        check(
            "sought - not retrieved = assessed",
            p.reports_sought - p.reports_not_retrieved,
            p.reports_assessed,
        )
    if p.reports_assessed is not None and p.reports_excluded:
        check(
            "assessed - excluded = included",
            p.reports_assessed - sum(p.reports_excluded.values()),
            p.studies_included,
        )
    check("studies included vs studies in the data", p.studies_included, result.summary.n_studies)
    check(
        "patients included vs patients in the data", p.patients_included, result.summary.n_patients
    )
    return notes


def _context(
    result: ReviewRun,
    tables: dict[str, pd.DataFrame],
    svgs: dict[str, Markup],
    paragraphs: Mapping[str, Any],
) -> dict[str, Any]:
    spec = result.spec
    summary = result.summary.to_dict()
    patients = result.data.patients
    age = None
    if "age" in patients:
        values = patients["age"]
        age = {
            "median": values.median(),
            "min": values.min(),
            "max": values.max(),
            "missing": int(values.isna().sum()),
        }
    sex = patients["sex"].fillna("missing").value_counts().to_dict() if "sex" in patients else None
    primary = result.primary
    components = primary.fit.variance_components
    between = components.loc[components["group"] != "Residual", "variance"].sum()
    residual = components.loc[components["group"] == "Residual", "variance"].sum()
    models = [_model_context(name, model) for name, model in result.models.items()]
    quality = result.data.quality
    quality_items: list[str] = []
    quality_table = pd.DataFrame()
    if quality is not None:
        quality_items = list(dict.fromkeys(quality["item"]))
        wide = quality.pivot_table(
            index="study_id", columns="item", values="judgement", aggfunc="first", sort=False
        )
        wide.columns = [f"Q{quality_items.index(c) + 1}" for c in wide.columns]
        quality_table = wide.reset_index()
    two = result.two_stage
    excluded = two.studies[~two.studies["included"].astype(bool)][["study", "n", "reason"]]
    return {
        "spec_source": spec.source,
        "title": spec.report.title,
        "authors": list(spec.report.authors),
        "generated": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "folder": str(spec.folder),
        "software": result.software,
        "summary": result.summary,
        "relief": summary["relief_pct"],
        "per_study": summary["patients_per_study"],
        "age": age,
        "sex": sex,
        "responders": tables["responders"],
        "by_category": {
            m.spec.factor: tables[f"relief_by_{m.spec.factor}"] for m in result.models.values()
        },
        "figures": _Figures(svgs),
        "prisma_notes": prisma_notes(result) if spec.prisma.given else [],
        "prisma_source": result.prisma_source,
        "study_table": tables["studies"],
        "searches": tables.get("searches"),
        "quality_items": quality_items,
        "quality_table": quality_table,
        "two_stage": two,
        "excluded_studies": excluded,
        "small_study": small_study_sentence(result),
        "grade": result.grade,
        "prisma_checklist": tables["prisma_checklist"],
        "grade_table": tables.get("grade"),
        "subgroups": [
            {
                "factor": factor,
                "sentence": subgroup_sentence(groups),
                "table": tables.get(f"subgroups_{factor}"),
            }
            for factor, groups in result.subgroups.items()
        ],
        "heterogeneity_sentence": heterogeneity_sentence(result),
        "pooled_mean_sensitivity": tables.get("pooled_mean_sensitivity"),
        "egger_table": tables.get("small_study_effects"),
        "min_patients": spec.heterogeneity.min_patients_per_study,
        "tau2_method": spec.heterogeneity.method,
        "tau2_test": spec.heterogeneity.test,
        "icc": result.icc,
        "one_stage": {
            "between": between,
            "residual": residual,
            "singular": bool(primary.fit.is_singular),
        },
        "models": models,
        "reml": spec.inference.reml,
        "confounders": result.confounders,
        "robustness": result.robustness,
        "robustness_tables": [robustness_display(p) for p in result.robustness],
        "methods": paragraphs["methods"],
        "findings": paragraphs["findings"],
        "references": paragraphs["references"],
        "label_map": result.data.label_map,
        "warnings": [str(w) for w in result.data.warnings],
        "data_notes": [str(n) for n in result.data.notes],
        "excluded_patients": result.data.excluded,
        "overrides": result.overrides,
    }


def _model_context(name: str, model: FittedModel) -> dict[str, Any]:
    """One model's section: its tables with the columns a reader needs, in the model's
    own terms (differences with t and F tests, or odds ratios with z and chi-square)."""
    adjusts = list(model.pairwise)
    if model.binary:
        columns = ["contrast", "odds_ratio", "ci_lower", "ci_upper", "z", "pvalue"]
    else:
        columns = ["contrast", "estimate", "se", "df", "t", "pvalue"]
    pairwise = model.pairwise[adjusts[0]][columns]
    if model.binary:
        pairwise = pairwise.assign(odds_ratio=_runaway_as_infinite(pairwise["odds_ratio"]))
    for adjust in adjusts[1:]:
        pairwise = pairwise.assign(
            **{f"pvalue_{adjust}": model.pairwise[adjust]["pvalue"].to_numpy()}
        )
    caption = "unadjusted" if adjusts[0] == "none" else f"adjusted by {adjusts[0]}"
    if adjusts[1:]:
        caption += "; " + ", ".join(f"pvalue_{a}: adjusted by {a}" for a in adjusts[1:])
    if model.binary:
        caption = (
            f"Odds ratios of responding with their unadjusted 95% CIs; z-tests, p-values {caption}."
        )
        if model.test_note:  # under separation the headline's p is a likelihood-ratio test's
            headline = ", ".join(model.spec.headline)
            caption += f" {headline}, {adjusts[0]}: {model.test_note}."
        fixed = model.fixed_effects[
            ["term", "estimate", "se", "z", "pvalue", "odds_ratio", "or_ci_lower", "or_ci_upper"]
        ]
        anova = model.anova
        emmeans = model.emmeans[["level", "probability", "se", "ci_lower", "ci_upper"]]
    else:
        caption = f"p-values {caption}."
        fixed = model.fixed_effects
        anova = model.anova[["term", "num_df", "den_df", "F", "pvalue"]]
        emmeans = model.emmeans
    return {
        "name": name,
        "description": model.spec.description,
        "formula": model.formula,
        "nobs": model.fit.nobs,
        "ngroups": ", ".join(str(v) for v in model.fit.ngroups.values()),
        "singular": bool(model.fit.is_singular),
        "ddf": model.ddf,
        "binary": model.binary,
        "factor_label": model.spec.factor.replace("_", " "),
        "nagq": model.fit.nagq if model.binary else None,
        "notes": list(model.fit.notes) if model.binary else [],
        "fixed": fixed,
        "anova": anova,
        "emmeans": emmeans,
        "pairwise": pairwise,
        "adjust_caption": caption,
    }


# An odds ratio this large is a fit under separation running off to infinity (its true
# maximum-likelihood value): shown as such rather than as the digits where the fit stopped.
_RUNAWAY_ODDS_RATIO = 1e6


def robustness_display(panel: ContrastRobustness) -> pd.DataFrame:
    """A panel's table with readable headers; a 0/1 outcome's estimate is an odds ratio."""
    table = panel.table[list(ROBUSTNESS_COLUMNS)].copy()
    if panel.effect == "odds ratio":
        table["estimate"] = _runaway_as_infinite(table["estimate"])
        return table.rename(columns={**ROBUSTNESS_COLUMNS, "estimate": "odds ratio"})
    return table.rename(columns=ROBUSTNESS_COLUMNS)


def _runaway_as_infinite(odds_ratios: pd.Series) -> np.ndarray:
    values = odds_ratios.to_numpy(float)
    return np.where(values > _RUNAWAY_ODDS_RATIO, np.inf, values)


class _Figures(dict[str, Markup]):
    """Figures by name; a figure that was not drawn renders as nothing."""

    def __missing__(self, key: str) -> Markup:
        return Markup("")
