"""The example review's whole flow before extraction: its simulated exports imported,
deduplicated and screened by two reviewers give the PRISMA counts its review.toml types,
and `ipdmeta run` draws the diagram from the store."""

from __future__ import annotations

import importlib.util
import json

from ipdmeta.analysis.pipeline import run_review
from ipdmeta.analysis.spec import load_spec
from tests.conftest import EXAMPLE, copy_example


def _build(folder):
    path = EXAMPLE / "search" / "build_store.py"
    spec = importlib.util.spec_from_file_location("build_store", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main([str(folder)]) == 0


def test_the_example_search_gives_the_example_prisma(tmp_path, run_cli, capsys):
    folder = copy_example(tmp_path)
    _build(folder)
    capsys.readouterr()
    status = json.loads(run_cli("review", "status", folder, "--json").out)
    assert (status["records"], status["duplicates"], status["pending_duplicates"]) == (827, 301, 0)
    for stage in ("title_abstract", "full_text"):
        assert status["stages"][stage]["unresolved"] == 0
        assert 0.6 < status["stages"][stage]["kappa"] <= 1 and status["stages"][stage]["ac1"] > 0.8
    appraisal = json.loads(run_cli("review", "appraisal", folder, "--json").out)
    jbi = appraisal["jbi_case_series"]
    assert jbi["raters"] == ["ann", "ben"] and jbi["consensus_studies"] == 23
    assert jbi["disagreements_without_consensus"] == [] and 0.5 < jbi["ac1"] < 1
    typed = load_spec(EXAMPLE).prisma
    run = run_review(folder)
    assert run.prisma_source == "review store" and run.prisma_notes == ()
    stored = run.spec.prisma
    for key in ("records_identified", "duplicates_removed", "records_screened",
                "records_excluded", "reports_sought", "reports_not_retrieved",
                "reports_assessed", "reports_excluded", "studies_included"):  # fmt: skip
        assert getattr(stored, key) == getattr(typed, key), key
    from ipdmeta.report.citations import references_in
    from ipdmeta.report.methods import methods_paragraph

    methods = methods_paragraph(run)
    assert methods.startswith("We searched PubMed, Embase and Cochrane on 15 February 2024.")
    assert "301 duplicates were removed" in methods
    assert "screened independently by two reviewers" in methods
    assert "Cohen's kappa (Cohen 1960; Fleiss et al. 1969) and Gwet's AC1 (Gwet 2008)" in methods
    assert any(entry.startswith("Page MJ") for entry in references_in(methods))
    # The quality table is the store's consensus: the same judgements as quality.csv.
    assert run.data.quality is not None and len(run.data.quality) == 230
    from ipdmeta.report.prisma_checklist import prisma_checklist

    checklist = prisma_checklist(run).set_index("item")["where"]
    assert checklist["8"].startswith("report: Methods paragraph (screening by two reviewers")
    # Items 6 and 7: the searches, their dates and query strings, as a table.
    assert checklist["6"] == "report: Study selection, Searches (sources and dates)"
    assert checklist["7"] == "report: Study selection, Searches (query strings)"
    from ipdmeta.report.searches import searches_table

    searches = searches_table(run.screening)
    assert searches is not None
    assert list(searches["source"]) == ["PubMed", "Embase", "Cochrane"]
    assert list(searches["records"]) == [412, 388, 27] == list(searches["imported"])
    assert searches["query"].iloc[0].startswith('("motor cortex stimulation"[tiab]')
    assert set(searches["searched"]) == {"2024-02-15"}
    assert list(searches["platform"]) == ["NCBI", "Embase.com", "Cochrane Library"]


def test_search_strategy_is_left_to_the_manuscript_without_query_strings(tmp_path, run_cli):
    from ipdmeta.analysis.pipeline import run_review
    from ipdmeta.report.prisma_checklist import prisma_checklist
    from tests.review.conftest import write_ris

    folder = copy_example(tmp_path)
    run_cli("review", "init", folder)
    run_cli("review", "import", folder, write_ris(tmp_path / "a.ris", [{"title": "A paper"}]),
            "--source", "PubMed")  # fmt: skip
    checklist = prisma_checklist(run_review(folder)).set_index("item")["where"]
    assert checklist["7"] == "to be reported in the manuscript"
    assert checklist["6"] == "report: Study selection, Searches (sources and dates)"
