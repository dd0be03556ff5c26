"""What `ipdmeta run` writes: the results.json contract, tables, figures, a
self-contained report, and output that is replaced only whole."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

from ipdmeta import mixed
from ipdmeta.cli import main
from ipdmeta.report.build import MARKER
from tests.conftest import EXAMPLE

# The JSON is rounded by nothing: a refit on the CSV the models saw must give the same
# numbers up to the CSV's own round trip of floats (repr, exact) and the optimiser's
# tolerance; 1e-8 relative is far tighter than any printed digit.
RTOL = 1e-8


def _results(out):
    return json.loads((out / "results.json").read_text())


def test_results_json_contract(example_report):
    results = _results(example_report)
    assert {"descriptive", "heterogeneity", "models", "robustness", "software"} <= set(results)
    assert [m["family"] for m in results["models"]] == ["gaussian", "gaussian", "binomial"]
    for model in results["models"]:
        if model["family"] == "binomial":
            assert {"name", "formula", "nagq", "fixed_effects", "anova", "pairwise"} <= set(model)
            fixed = {"term", "estimate", "se", "z", "pvalue", "odds_ratio", "or_ci_lower",
                     "or_ci_upper"}  # fmt: skip
            assert set(model["fixed_effects"][0]) >= fixed
            assert set(model["anova"][0]) >= {"term", "chisq", "df", "pvalue"}
            assert set(model["emmeans"][0]) >= {"level", "probability", "ci_lower", "ci_upper"}
            assert set(model["pairwise"][0]) >= {"contrast", "odds_ratio", "ci_lower",
                                                 "ci_upper", "z", "pvalue", "adjust"}  # fmt: skip
            continue
        assert {"name", "formula", "ddf", "fixed_effects", "anova", "pairwise"} <= set(model)
        assert set(model["fixed_effects"][0]) >= {"term", "estimate", "se", "df", "t", "pvalue"}
        assert set(model["anova"][0]) >= {"term", "num_df", "den_df", "F", "pvalue"}
        assert set(model["pairwise"][0]) >= {
            "contrast",
            "estimate",
            "se",
            "df",
            "t",
            "pvalue",
            "adjust",
        }
    assert results["heterogeneity"]["two_stage"]["I2"] is not None
    assert 0 < results["heterogeneity"]["one_stage"]["icc"] < 1


def test_results_equal_a_refit_on_the_analysis_data(example_report):
    data = pd.read_csv(example_report / "tables" / "analysis_data.csv")
    for model in _results(example_report)["models"]:
        if model["family"] == "binomial":
            _check_logistic_refit(model, data)
            continue
        fit = mixed.lmm(model["formula"], data, reml=model["reml"])
        fixed = fit.fixed_effects(ddf=model["ddf"])
        reported = pd.DataFrame(model["fixed_effects"])
        assert list(reported["term"]) == list(fixed["term"])
        for column in ("estimate", "se", "df", "t", "pvalue"):
            np.testing.assert_allclose(reported[column], fixed[column], rtol=RTOL)
        anova = fit.anova(type=3, ddf=model["ddf"])
        np.testing.assert_allclose(pd.DataFrame(model["anova"])["F"], anova["F"], rtol=RTOL)
        pairs = pd.DataFrame(model["pairwise"])
        for adjust, table in pairs.groupby("adjust"):
            expected = fit.pairwise(model["factor"], adjust=adjust, ddf=model["ddf"])
            np.testing.assert_allclose(table["pvalue"], expected["pvalue"], rtol=RTOL)


def _check_logistic_refit(model, data):
    """The responder model refitted on the CSV (its True/False column as read back)."""
    fit = mixed.glmm(model["formula"], data, family="binomial", nagq=model["nagq"])
    fixed = fit.fixed_effects()
    reported = pd.DataFrame(model["fixed_effects"])
    assert list(reported["term"]) == list(fixed["term"])
    for column in ("estimate", "se", "z", "pvalue"):
        np.testing.assert_allclose(reported[column], fixed[column], rtol=RTOL)
    np.testing.assert_allclose(reported["odds_ratio"], np.exp(fixed["estimate"]), rtol=RTOL)
    np.testing.assert_allclose(pd.DataFrame(model["anova"])["chisq"], fit.anova()["chisq"],
                               rtol=RTOL)  # fmt: skip
    emmeans = fit.emmeans(model["factor"])
    np.testing.assert_allclose(
        pd.DataFrame(model["emmeans"])["probability"], emmeans["estimate"], rtol=RTOL
    )
    pairs = pd.DataFrame(model["pairwise"])
    for adjust, table in pairs.groupby("adjust"):
        expected = fit.pairwise(model["factor"], adjust=adjust)
        np.testing.assert_allclose(table["odds_ratio"], expected["ratio"], rtol=RTOL)
        np.testing.assert_allclose(table["pvalue"], expected["pvalue"], rtol=RTOL)


def test_files_written(example_report):
    names = {p.name for p in (example_report / "figures").iterdir()}
    for figure in (
        "prisma",
        "quality",
        "forest",
        "relief_by_diagnosis",
        "emmeans_primary",
        "robustness_0",
        "diagnostics_primary",
    ):
        assert {f"{figure}.svg", f"{figure}.png"} <= names, figure
    tables = {p.name for p in (example_report / "tables").iterdir()}
    assert {"analysis_data.csv", "primary_fixed_effects.csv", "confounder_screen.csv"} <= tables
    assert not [p for p in example_report.parent.iterdir() if p.name.startswith(".out.")]


def test_report_is_self_contained(example_report):
    html = (example_report / "report.html").read_text()
    assert not re.search(r"""(src|href)=["']?(https?:|//)""", html)
    assert html.count("<svg") >= 10
    for section in (
        "PRISMA 2020",
        "Quality appraisal",
        "Heterogeneity",
        "Confounder screening",
        "Robustness of the headline findings",
        "Model diagnostics",
        "Methods and results paragraphs",
    ):
        assert section in html


def test_failed_run_keeps_previous_output(tmp_path, small_review):
    # The small simulated review: what is tested is the output folder, not the example.
    out = tmp_path / "out"
    assert main(["run", str(small_review), "--out", str(out), "--quiet"]) == 0
    before = (out / "results.json").read_bytes()
    (small_review / "review.toml").write_text("[inference]\nddf = 'wald'\n")
    assert main(["run", str(small_review), "--out", str(out), "--quiet"]) == 2
    assert (out / "results.json").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "small"]


def test_foreign_output_folder_is_not_replaced(tmp_path, capsys):
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "thesis.docx").write_text("precious")
    assert main(["run", str(EXAMPLE), "--out", str(foreign)]) == 2
    assert "was not made by ipdmeta" in capsys.readouterr().err
    assert (foreign / "thesis.docx").read_text() == "precious"


def test_output_folder_marker(example_report):
    assert (example_report / MARKER).is_file()


@pytest.mark.parametrize("spec", ["[inference]\nddf = 'wald'\n", "[models]\n"])
def test_bad_spec_is_a_clear_error(tmp_path, spec, capsys):
    review = tmp_path / "review"
    review.mkdir()
    (review / "patients.csv").write_bytes((EXAMPLE / "patients.csv").read_bytes())
    (review / "review.toml").write_text(spec)
    assert main(["run", str(review)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ipdmeta: error:") and "review.toml" in err


@pytest.mark.parametrize(
    ("review", "explanation"),
    [
        ("singular_review", "Singular fit:"),
        ("one_eligible_study_review", "needs 2 or more, so none was run"),
        ("two_eligible_studies_review", "only 2 studies are eligible"),
        ("single_patient_category_review", "PHN"),
    ],
)
def test_awkward_reviews_give_an_explained_report(review, explanation, request, tmp_path):
    folder = request.getfixturevalue(review)
    out = tmp_path / "out"
    assert main(["run", str(folder), "--out", str(out), "--quiet"]) == 0
    html = (out / "report.html").read_text()
    assert explanation in html
    json.loads((out / "results.json").read_text())  # valid JSON: no NaN, no Infinity


def test_folder_without_spec_says_defaults_were_used(singular_review, tmp_path, capsys):
    (singular_review / "review.toml").unlink()
    out = tmp_path / "out"
    assert main(["run", str(singular_review), "--out", str(out)]) == 0
    assert "No review.toml in the folder: the default analysis was run" in capsys.readouterr().out
    html = " ".join((out / "report.html").read_text().split())
    assert "with the default analysis: the folder has no <code>review.toml</code>" in html


def test_report_names_its_spec(example_report):
    html = " ".join((example_report / "report.html").read_text().split())
    assert "as its <code>review.toml</code> specifies" in html


def test_robustness_table_reads_as_a_reviewer_would(example_report):
    html = (example_report / "report.html").read_text()
    assert "<th>analysis choice</th>" in html and "<th>lowest p</th>" in html
    header = (example_report / "tables" / "robustness_0_primary.csv").read_text().splitlines()[0]
    assert "pvalue_low" in header  # the files keep the names results.json uses


def test_tables_xlsx_has_every_table_with_numbers_as_numbers(example_report):
    import openpyxl

    book = openpyxl.load_workbook(example_report / "tables.xlsx")
    csvs = sorted(p.stem for p in (example_report / "tables").glob("*.csv"))
    assert len(book.sheetnames) == len(csvs)
    fixed = book["primary_fixed_effects"]
    header = [c.value for c in fixed[1]]
    estimate = fixed.cell(2, header.index("estimate") + 1)
    pvalue = fixed.cell(2, header.index("pvalue") + 1)
    saved = json.loads((example_report / "results.json").read_text())
    primary = next(m for m in saved["models"] if m["name"] == "primary")
    intercept = primary["fixed_effects"][0]
    # full precision in the cell (as results.json); the format rounds what Excel shows
    assert isinstance(estimate.value, float) and estimate.value == intercept["estimate"]
    assert estimate.number_format == "0.00" and pvalue.number_format == "0.000"
    assert fixed.freeze_panes == "A2"


def test_tables_xlsx_keeps_text_as_text_and_leaves_missing_cells_empty(tmp_path):
    """A note typed "=1+1" or a link is text in the sheet, not a formula or a hyperlink;
    missing, infinite and empty values are empty cells; counts, flags and numbers keep
    their types."""
    import openpyxl

    from ipdmeta.report.workbook import write_tables_xlsx

    frame = pd.DataFrame(
        {
            "note": ["=1+1", "http://example.org", "", None],
            "n": [1, 2, 3, 4],
            "estimate": [0.5, float("inf"), float("nan"), -1.25],
            "holds": [True, False, True, False],
        }
    )
    write_tables_xlsx({"t": frame}, tmp_path / "t.xlsx")
    sheet = openpyxl.load_workbook(tmp_path / "t.xlsx")["t"]
    rows = [[c.value for c in row] for row in sheet.iter_rows(min_row=2)]
    assert rows == [
        ["=1+1", 1, 0.5, True],
        ["http://example.org", 2, None, False],
        [None, 3, None, True],
        [None, 4, -1.25, False],
    ]
    assert sheet["A2"].data_type == "s" and not sheet["A3"].hyperlink
    assert sheet["B2"].number_format == "0" and sheet["C2"].number_format == "0.00"


def test_sheet_names_are_ones_excel_accepts():
    from ipdmeta.report.workbook import SHEET_NAME_LIMIT, sheet_names

    long = "robustness_0_primary_" + "x" * 40
    names = sheet_names(
        {long: pd.DataFrame(), long + "y": pd.DataFrame(), "a/b[c]": pd.DataFrame()}
    )
    assert all(len(n) <= SHEET_NAME_LIMIT for n in names.values())
    assert len(set(names.values())) == 3 and names["a/b[c]"] == "a_b_c_"


def test_python_run_shows_its_progress_unless_asked_not_to(small_review, tmp_path, capsys):
    import ipdmeta

    ipdmeta.run(small_review, tmp_path / "a")
    err = capsys.readouterr().err
    assert "[1/6] reading the data" in err and "[6/6] writing the report" in err and "done" in err
    ipdmeta.run(small_review, tmp_path / "b", progress=False)
    assert capsys.readouterr().err == ""
    seen: list[str] = []
    ipdmeta.run(small_review, tmp_path / "c", progress=seen.append)
    assert seen[0] == "reading the data" and seen[-1] == "writing the report"


def test_small_study_effects_section(example_report):
    html = (example_report / "report.html").read_text()
    saved = json.loads((example_report / "results.json").read_text())
    egger = saved["heterogeneity"]["two_stage"]["egger"]
    assert egger["predictor"] == "sei" and 0 <= egger["pvalue"] <= 1
    assert 'id="small-study"' in html and (example_report / "figures" / "funnel.svg").exists()
    assert f"Egger&#39;s test finds no funnel-plot asymmetry (p = {egger['pvalue']:.3f})" in html


def test_fewer_than_ten_studies_get_the_usual_warning(small_review, tmp_path):
    from ipdmeta.report.build import run, small_study_sentence

    result = run(small_review, tmp_path / "out", progress=False)
    assert result.two_stage.k < 10
    assert "fewer than 10 are too few to judge small-study effects" in small_study_sentence(result)


def test_included_studies_table_as_papers_print_it(example_report):
    table = pd.read_csv(example_report / "tables" / "studies.csv")
    expected = ["first_author", "year", "design", "n_patients", "n_extracted", "n_analysed"]
    expected += ["diagnoses", "electrode", "followup_months", "mean_relief", "quality"]
    assert set(expected) <= set(table.columns)
    s01 = table.set_index("study_id").loc["S01"]
    patients = pd.read_csv(EXAMPLE / "patients.csv")
    assert s01["n_extracted"] == (patients["study_id"] == "S01").sum()
    assert s01["diagnoses"].startswith("TN 3, ")  # most frequent first, counts from the data
    assert s01["quality"] == "3/10 yes"


def test_included_studies_leave_every_kind_of_missing_value_out():
    """Table 1's per-study summaries skip None, NaN and pandas' NA alike: a nullable text
    or integer column (an Excel sheet read with its types) must not print '<NA> 1'."""
    from ipdmeta.report.study_table import _by_study, _counts

    studies = pd.Series(["S1", "S1", "S1", "S2"])
    for values in (
        pd.Series(["TN", pd.NA, "TN", "DPS"], dtype="string"),
        pd.Series(["TN", None, "TN", "DPS"]),
        pd.Series(["TN", float("nan"), "TN", "DPS"]),
    ):
        assert _by_study(studies, values, _counts).to_dict() == {"S1": "TN 2", "S2": "DPS 1"}
    months = pd.Series([6, pd.NA, 12, 3], dtype="Int64")
    assert _by_study(studies, months, list).to_dict() == {"S1": [6, 12], "S2": [3]}


def test_pooled_mean_sensitivity(example_report):
    from ipdmeta import meta

    saved = json.loads((example_report / "results.json").read_text())
    rows = {r["analysis"]: r for r in saved["heterogeneity"]["two_stage"]["sensitivity"]}
    data = pd.read_csv(example_report / "tables" / "analysis_data.csv")
    per = data.groupby("study_id")["relief_pct"]
    mean, var, n = per.mean(), per.var(ddof=1), per.count()
    spread = n >= 2
    pooled = ((n[spread] - 1) * var[spread]).sum() / (n[spread] - 1).sum()
    direct = meta.random_effects(mean.to_numpy(), pooled / n.to_numpy(), method="REML")
    row = rows["two-stage, within-study variance pooled across studies"]
    # the same estimator on the same numbers, computed a second way: equal to rounding
    assert row["heterogeneity"] == pytest.approx(direct.I2, rel=1e-9)
    assert row["estimate"] == pytest.approx(direct.estimate, rel=1e-9)
    one = mixed.lmm("relief_pct ~ 1 + (1 | study_id)", data)
    assert rows["one-stage, all studies"]["heterogeneity"] == pytest.approx(one.icc, rel=1e-9)
    main = rows["two-stage, each study's own variance (main)"]
    assert main["heterogeneity"] == saved["heterogeneity"]["two_stage"]["I2"]


def test_subgroups_of_studies_by_each_model_factor(example_report):
    from ipdmeta import meta

    saved = json.loads((example_report / "results.json").read_text())
    by_factor = {s["factor"]: s for s in saved["subgroups"]}
    assert set(by_factor) == {"diagnosis", "lesion_location"}
    diagnosis = by_factor["diagnosis"]
    cells = pd.DataFrame(diagnosis["cells"])
    data = pd.read_csv(example_report / "tables" / "analysis_data.csv")
    s01_tn = data[(data["study_id"] == "S01") & (data["diagnosis"] == "TN")]["relief_pct"]
    cell = cells[(cells["study_id"] == "S01") & (cells["level"] == "TN")].iloc[0]
    assert cell["yi"] == pytest.approx(s01_tn.mean(), rel=1e-12)
    assert cell["vi"] == pytest.approx(s01_tn.var(ddof=1) / len(s01_tn), rel=1e-12)
    direct = meta.subgroups(cells["yi"], cells["vi"], cells["level"], method="REML")
    assert diagnosis["Q_between_pvalue"] == pytest.approx(direct.Q_between_pvalue, rel=1e-9)
    html = (example_report / "report.html").read_text()
    assert (
        'id="subgroups"' in html
        and (example_report / "figures" / "subgroups_diagnosis.svg").exists()
    )


def test_too_few_levels_for_subgroups_is_explained():
    from ipdmeta.analysis.spec import HeterogeneitySpec
    from ipdmeta.analysis.subgroups import factor_subgroups

    data = pd.DataFrame(
        {"study_id": ["S1", "S1", "S2", "S2", "S3"], "diagnosis": ["TN", "TN", "TN", "TN", "AD"],
         "relief_pct": [50.0, 70.0, 40.0, 60.0, 80.0]}
    )  # fmt: skip
    groups = factor_subgroups(data, "diagnosis", HeterogeneitySpec(), 0.95)
    assert groups.result is None and "fewer than 2 levels of diagnosis" in groups.note


def test_report_docx_reads_back_with_every_table_and_figure(example_report):
    import docx

    from ipdmeta.report.word import table_title

    document = docx.Document(str(example_report / "report.docx"))
    captions = [p.text for p in document.paragraphs if p.style.name == "Caption"]
    # Styles are set by id (python-docx's lookup by name is slow): Word sees their names.
    headings = [p.text for p in document.paragraphs if p.style.name == "Heading 1"]
    assert headings == ["Methods", "Results", "References", "Tables", "Figures"]
    assert {t.style.name for t in document.tables} == {"Light Grid Accent 1"}
    figures = sorted((example_report / "figures").glob("*.png"))
    assert len(document.inline_shapes) == len(figures)
    assert sum(c.startswith("Figure ") for c in captions) == len(figures)
    assert len(document.tables) == sum(c.startswith("Table ") for c in captions) >= 20
    text = "\n".join(p.text for p in document.paragraphs)
    assert "Percentage pain relief was computed per patient" in text
    fixed = document.tables[
        captions.index("Table 5. " + table_title("primary_fixed_effects", ["primary"]))
    ]
    saved = pd.read_csv(example_report / "tables" / "primary_fixed_effects.csv")
    assert fixed.rows[1].cells[1].text == f"{saved['estimate'].iloc[0]:,.2f}"  # as the report shows


def test_prisma_checklist_says_where_each_item_is(example_report):
    from ipdmeta.report.prisma_checklist import ITEMS, MANUSCRIPT

    checklist = pd.read_csv(example_report / "tables" / "prisma_checklist.csv")
    assert len(checklist) == len(ITEMS) == 42  # the 27 items with their sub-items
    assert {i.rstrip("abcdef") for i in checklist["item"].astype(str)} == {
        str(n) for n in range(1, 28)
    }
    where = checklist.set_index("item")["where"]
    assert where["1"] == MANUSCRIPT  # the title is the manuscript's
    assert where["15"] == "report: Certainty of the evidence (GRADE)"
    assert where["16a"].startswith("report: Study selection")  # the example gives PRISMA counts
    html = (example_report / "report.html").read_text()
    assert 'id="prisma-checklist"' in html


def test_csv_tables_are_rounded_as_the_report_shows_them(example_report):
    """Result tables carry the report's digits (never fewer than 2 significant ones); the
    data as analysed keep every digit, for anyone refitting them elsewhere."""
    fixed = (example_report / "tables" / "primary_fixed_effects.csv").read_text()
    row = fixed.splitlines()[1].split(",")
    assert row[0] == "Intercept" and re.fullmatch(r"-?\d+\.\d{1,2}", row[1])
    data = pd.read_csv(example_report / "tables" / "analysis_data.csv")
    assert data["relief_pct"].map(lambda v: len(repr(v))).max() > 8  # not rounded


def test_rounding_keeps_small_values_and_leaves_text_alone():
    from ipdmeta.report.rounding import rounded_as_shown

    frame = pd.DataFrame(
        {"term": ["a", "b", "c"], "estimate": [33.61234, 0.0042137, -1234.5678],
         "pvalue": [0.04567, 0.0000123456, float("nan")], "n": [1, 2, 3]}
    )  # fmt: skip
    out = rounded_as_shown(frame)
    assert out["estimate"].tolist() == [33.61, 0.0042, -1234.57]
    assert out["pvalue"].iloc[:2].tolist() == [0.046, 0.000012]
    assert np.isnan(out["pvalue"].iloc[2])
    assert out["term"].tolist() == ["a", "b", "c"] and out["n"].tolist() == [1, 2, 3]
    assert frame["estimate"].iloc[0] == 33.61234  # the caller's frame is not changed


def test_report_docx_figures_have_300_dpi_as_placed_and_fit_the_page(example_report):
    import io

    import docx
    from PIL import Image

    document = docx.Document(str(example_report / "report.docx"))
    section = document.sections[-1]  # the figures' pages
    text_width = section.page_width - section.left_margin - section.right_margin
    text_height = section.page_height - section.top_margin - section.bottom_margin
    assert len(document.inline_shapes) == 17
    for shape in document.inline_shapes:
        blip = shape._inline.graphic.graphicData.pic.blipFill.blip
        png = document.part.related_parts[blip.embed].blob
        with Image.open(io.BytesIO(png)) as image:
            pixels = image.width
        placed_inches = shape.width / 914400  # EMU per inch
        assert pixels / placed_inches >= 299.5  # rounding of the pixel count
        assert shape.width <= text_width and shape.height <= text_height


def test_figures_reach_word_even_when_no_png_files_are_asked_for(tmp_path):
    from ipdmeta.report import figures

    counts = {"records_identified": {"PubMed": 10}, "studies_included": 2}
    saved = figures.save_figure(figures.prisma_diagram(counts), tmp_path, "prisma", ("svg",))
    assert saved.png.startswith(b"\x89PNG") and "<svg" in saved.svg
    assert [p.name for p in tmp_path.iterdir()] == ["prisma.svg"]


def test_prisma_checklist_docx_is_ready_for_the_authors(example_report):
    import docx

    document = docx.Document(str(example_report / "prisma_checklist.docx"))
    (table,) = document.tables
    header = [c.text for c in table.rows[0].cells]
    assert header == ["Section", "Item", "Topic", "Covered by the ipdmeta report",
                      "Location in the manuscript"]  # fmt: skip
    assert len(table.rows) == 1 + 42
    assert all(row.cells[4].text == "" for row in table.rows[1:])  # for the authors
    first = [c.text for c in table.rows[1].cells[:4]]
    assert first == ["Title", "1", "Title", "to be reported in the manuscript"]


def test_report_docx_stores_its_images_and_deflates_the_rest(example_report):
    """PNGs are already compressed: deflating them again took a third of the time the
    Word file took to write, for nothing. The XML parts are still deflated."""
    import zipfile

    with zipfile.ZipFile(example_report / "report.docx") as archive:
        assert archive.testzip() is None
        kinds = {i.filename: i.compress_type for i in archive.infolist()}
    images = [name for name in kinds if name.startswith("word/media/")]
    assert len(images) == 17 and all(kinds[n] == zipfile.ZIP_STORED for n in images)
    assert kinds["word/document.xml"] == zipfile.ZIP_DEFLATED


def test_report_docx_is_saved_by_python_docx_where_its_writer_steps_are_missing(
    tmp_path, monkeypatch
):
    import docx

    from ipdmeta.report import word

    # A python-docx whose package writer has other steps than those used here.
    monkeypatch.setattr(word, "_WRITER_STEPS", ("_write_parts", "_write_a_step_renamed"))
    path = word.write_checklist_docx(
        tmp_path / "checklist.docx",
        pd.DataFrame({"section": ["Title"], "item": ["1"], "topic": ["Title"], "where": ["x"]}),
        "A review",
    )
    assert docx.Document(str(path)).tables[0].rows[1].cells[0].text == "Title"


def test_progress_in_a_terminal_shows_a_bar_under_the_lines_and_takes_it_down():
    import io

    from rich.console import Console

    from ipdmeta.report.progress import StageReporter

    console = Console(file=io.StringIO(), force_terminal=True, width=100, highlight=False)
    reporter = StageReporter(3, console)
    for stage in ("reading", "fitting", "writing"):
        reporter(stage)
    reporter.done()
    shown = console.file.getvalue()
    assert "[1/3] reading" in shown and "[3/3] writing" in shown and "done" in shown
    assert "\u2501" in shown  # the bar's line

    failing = StageReporter(3, Console(file=io.StringIO(), force_terminal=True, width=100))
    failing("reading")
    failing.close()  # a run that fails takes the bar down
    assert not failing._view.bar.live.is_started  # type: ignore[attr-defined]


def test_python_run_takes_the_bar_down_when_it_fails(tmp_path):
    import io

    from rich.console import Console

    import ipdmeta
    from ipdmeta.errors import IpdmetaError
    from ipdmeta.report.progress import StageReporter

    empty = tmp_path / "empty-review"
    empty.mkdir()
    reporter = StageReporter(6, Console(file=io.StringIO(), force_terminal=True, width=100))
    with pytest.raises(IpdmetaError):
        ipdmeta.run(empty, tmp_path / "out", progress=reporter)
    assert reporter.count == 1  # it got as far as reading the data
    assert not reporter._view.bar.live.is_started  # type: ignore[attr-defined]


def test_responders_are_pooled_over_studies_beside_the_count(example_report):
    saved = json.loads((example_report / "results.json").read_text())
    pooled = saved["descriptive"]["pooled_responders"]
    assert [row["threshold"] for row in pooled] == [30.0, 40.0, 50.0]
    fifty = pooled[-1]
    counted = saved["descriptive"]["responders"][-1]
    # the pooled interval is wider than the Wilson interval, which ignores the studies
    assert fifty["ci_upper"] - fifty["ci_lower"] > counted["ci_upper"] - counted["ci_lower"]
    assert fifty["pi_lower"] < fifty["ci_lower"] and fifty["pi_upper"] > fifty["ci_upper"]
    html = (example_report / "report.html").read_text()
    assert "<th>pooled over studies (95% CI)</th>" in html
    assert f"{100 * fifty['pooled']:.1f} %" in html
    table = pd.read_csv(example_report / "tables" / "responders.csv")
    assert {"wilson_ci_lower", "pooled", "pi_upper", "studies"} <= set(table.columns)
