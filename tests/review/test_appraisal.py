"""Quality appraisal in the store: checklists as data, two raters, the consensus, their
agreement, and the report's quality table read from the consensus."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from ipdmeta.review.appraisal import CHECKLISTS, checklist
from tests.conftest import EXAMPLE, copy_example


def test_the_shipped_checklists():
    sizes = {key: len(checklist(key).items) for key in CHECKLISTS}
    assert sizes == {"jbi_case_series": 10, "murad_2018": 8, "nih_case_series": 9}
    murad = checklist("murad_2018")
    assert {i["domain"] for i in murad.items} == {"selection", "ascertainment", "causality",
                                                  "reporting"}  # fmt: skip
    jbi = checklist("jbi_case_series")
    assert jbi.item("4")["id"] == jbi.item("q4")["id"] == "Q4"
    assert jbi.item("Consecutive inclusion of participants")["id"] == "Q4"


def _appraise(run_cli, folder, *args):
    return run_cli("review", "appraise", folder, "--tool", "jbi_case_series", *args)


def test_two_raters_then_consensus(tmp_path, run_cli):
    folder = tmp_path / "r"
    run_cli("review", "init", folder)
    for name in ("ann", "ben"):
        run_cli("review", "user", "add", folder, name)
    for item, (a, b) in {"1": ("yes", "yes"), "2": ("yes", "no"), "3": ("unclear", "unclear"),
                         "4": ("no", "no")}.items():  # fmt: skip
        assert _appraise(run_cli, folder, "S01", item, a, "--reviewer", "ann").code == 0
        assert _appraise(run_cli, folder, "S01", item, b, "--reviewer", "ben").code == 0
    shown = json.loads(run_cli("review", "appraisal", folder, "--json").out)["jbi_case_series"]
    assert shown["raters"] == ["ann", "ben"] and shown["agreement_judgements"] == 4
    assert shown["disagreements_without_consensus"] == ["S01 Q2"]
    # p_o = 3/4; ann (yes 2, unclear 1, no 1), ben (yes 1, unclear 1, no 2):
    # p_e = (2 * 1 + 1 * 1 + 1 * 2) / 16 = 5/16
    assert shown["kappa"] == pytest.approx((0.75 - 5 / 16) / (1 - 5 / 16))
    assert _appraise(run_cli, folder, "S01", "2", "no", "--consensus", "--note",
                     "methods section").code == 0  # fmt: skip
    shown = json.loads(run_cli("review", "appraisal", folder, "--json").out)["jbi_case_series"]
    assert shown["disagreements_without_consensus"] == [] and shown["consensus_studies"] == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("S01", "11", "yes", "--reviewer", "ann"), "has no item '11'"),
        (("S01", "1", "probably", "--reviewer", "ann"), "'probably' is not a judgement"),
        (("S01", "1", "yes", "--reviewer", "zed"), "'zed' is not a registered reviewer"),
        (("", "1", "yes", "--reviewer", "ann"), "a study id is one line of text"),
    ],
)
def test_bad_judgements_write_nothing(tmp_path, run_cli, args, message):
    folder = tmp_path / "r"
    run_cli("review", "init", folder)
    run_cli("review", "user", "add", folder, "ann")
    result = _appraise(run_cli, folder, *args)
    assert result.code == 2 and message in result.err
    assert run_cli("review", "appraisal", folder).out.startswith("No appraisal yet")


def test_the_report_reads_the_consensus_from_the_store(tmp_path, run_cli):
    """The example's quality.csv imported as the consensus: the run's quality table is the
    store's, with the same judgements."""
    from ipdmeta.analysis.pipeline import run_review

    folder = copy_example(tmp_path)
    run_cli("review", "init", folder)
    quality = pd.read_csv(EXAMPLE / "quality.csv")
    sheet = tmp_path / "consensus.csv"
    quality[["study_id", "item", "judgement", "note"]].to_csv(sheet, index=False)
    result = run_cli("review", "import-appraisals", folder, sheet, "--tool", "jbi_case_series",
                     "--consensus")  # fmt: skip
    assert result.code == 0 and f"{len(quality)} judgements imported" in result.out
    (folder / "quality.csv").unlink()  # the store alone now holds the appraisal
    toml = folder / "review.toml"
    toml.write_text(toml.read_text().replace('quality = "quality.csv"\n', ""))
    run = run_review(folder)
    table = run.data.quality
    assert table is not None and len(table) == len(quality)
    merged = table.merge(quality, on=["study_id", "item"], suffixes=("", "_csv"))
    assert (merged["judgement"] == merged["judgement_csv"]).all()
    assert set(table["tool"]) == {"JBI case series"}
