"""Screening: blind decisions, conflicts and their resolution, the stage rules, and
agreement (kappa with its CI, AC1) against values computed by hand."""

from __future__ import annotations

import json

import pytest

from ipdmeta.review.screening import agreement


def test_kappa_and_ac1_by_hand():
    pairs = ([("include", "include")] * 3 + [("exclude", "exclude")] * 5
             + [("include", "exclude"), ("exclude", "include")])  # fmt: skip
    found = agreement(pairs, ("ann", "ben"))
    assert found is not None and found.n == 10
    # p_o = 0.8; both rate include 4 times in 10: p_e = 0.4^2 + 0.6^2 = 0.52
    assert found.observed == pytest.approx(0.8)
    assert found.kappa == pytest.approx((0.8 - 0.52) / 0.48)
    # Gwet: pi_include = 0.4, p_e = 2 * 0.4 * 0.6 / (2 - 1) = 0.48
    assert found.ac1 == pytest.approx((0.8 - 0.48) / 0.52)
    # Fleiss, Cohen and Everitt (1969): the three sums are 0.258333, 0.034722 and 0.134444,
    # over n (1 - p_e)^2 = 2.304: se 0.262376
    diagonal = 0.3 * (1 - 0.8 * 5 / 12) ** 2 + 0.5 * (1 - 1.2 * 5 / 12) ** 2
    off_diagonal = (5 / 12) ** 2 * 0.2
    correction = (7 / 12 - 0.52 * 5 / 12) ** 2
    se = (diagonal + off_diagonal - correction) ** 0.5 / (10**0.5 * 0.48)
    assert se == pytest.approx(0.262376, rel=1e-5)
    assert found.kappa_ci == pytest.approx((7 / 12 - 1.96 * se, 7 / 12 + 1.96 * se))


def test_ac1_where_kappa_fails():
    """18 of 20 excluded by both: 90 % agreement, yet kappa is below 0; AC1 is not."""
    pairs = [("exclude", "exclude")] * 18 + [("include", "exclude"), ("exclude", "include")]
    found = agreement(pairs, ("ann", "ben"))
    assert found is not None
    assert found.kappa == pytest.approx((0.9 - 0.905) / 0.095)
    assert found.ac1 == pytest.approx((0.9 - 0.095) / 0.905)


def test_no_pairs_no_agreement():
    assert agreement([], ("a", "b")) is None


@pytest.fixture
def review(team_review):
    return team_review(
        [{"title": f"Record {i} on stimulation number {i * 7}", "author": f"Author{i}, A.",
          "year": 2000 + i} for i in range(6)]
    )  # fmt: skip


def _decide(run_cli, folder, who, stage, record, decision, *extra):
    return run_cli("review", "decide", folder, "--reviewer", who, "--stage", stage,
                   str(record), decision, *extra)  # fmt: skip


def test_blind_dual_screening_conflicts_and_resolution(review, run_cli):
    ta = "title_abstract"
    plan = {1: ("include", "include"), 2: ("exclude", "exclude"), 3: ("include", "exclude"),
            4: ("exclude", "exclude"), 5: ("maybe", "include")}  # fmt: skip
    for record, (a, b) in plan.items():
        first = _decide(run_cli, review, "ann", ta, record, a)
        assert first.code == 0 and "ben" not in first.out  # never the other's decision
        second = _decide(run_cli, review, "ben", ta, record, b)
        assert second.code == 0 and "ann" not in second.out and a not in second.out.split(": ")[0]
    conflicts = json.loads(run_cli("review", "conflicts", review, "--json").out)
    assert [c["record"] for c in conflicts] == [3, 5]
    status = json.loads(run_cli("review", "status", review, "--json").out)["stages"][ta]
    assert (status["screened"], status["included"], status["excluded"], status["conflicts"],
            status["unresolved"]) == (5, 1, 2, 2, 2)  # fmt: skip
    assert status["agreement_reviewers"] == ["ann", "ben"] and status["agreement_records"] == 5
    assert status["kappa"] is not None and status["ac1"] is not None
    # Resolve one; the other stays a conflict.
    assert run_cli("review", "resolve", review, "--stage", ta, "3", "include",
                   "--reason", "population matches on re-reading").code == 0  # fmt: skip
    status = json.loads(run_cli("review", "status", review, "--json").out)["stages"][ta]
    assert (status["included"], status["conflicts"], status["unresolved"]) == (2, 2, 1)
    # A changed mind is a new row: ann now includes 2, which becomes a conflict.
    assert _decide(run_cli, review, "ann", ta, 2, "include").code == 0
    status = json.loads(run_cli("review", "status", review, "--json").out)["stages"][ta]
    assert status["conflicts"] == 3


def test_full_text_rules(review, run_cli):
    ta, ft = "title_abstract", "full_text"
    for who in ("ann", "ben"):
        _decide(run_cli, review, who, ta, 1, "include")
        _decide(run_cli, review, who, ta, 2, "exclude")
    refused = _decide(run_cli, review, "ann", ft, 2, "include")
    assert refused.code == 2 and "not included at title and abstract ('exclude')" in refused.err
    refused = _decide(run_cli, review, "ann", ft, 6, "include")
    assert refused.code == 2 and "not screened" in refused.err
    no_reason = _decide(run_cli, review, "ann", ft, 1, "exclude")
    assert no_reason.code == 2 and "needs its reason" in no_reason.err
    assert _decide(run_cli, review, "ann", ft, 1, "exclude", "--reason", "no IPD").code == 0
    assert _decide(run_cli, review, "ben", ft, 1, "not_retrieved").code == 0
    wrong_stage = _decide(run_cli, review, "ann", ta, 3, "not_retrieved")
    assert wrong_stage.code == 2 and "full-text decision" in wrong_stage.err
    status = json.loads(run_cli("review", "status", review, "--json").out)["stages"][ft]
    assert (status["screened"], status["conflicts"]) == (1, 1)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("decide", "--reviewer", "cy", "--stage", "title_abstract", "1", "include"),
            "'cy' is not a registered reviewer",
        ),
        (
            ("decide", "--reviewer", "ann", "--stage", "title_abstract", "99", "include"),
            "there is no record 99",
        ),
        (("resolve", "--stage", "title_abstract", "1", "include"), "no conflict to resolve"),
    ],
)
def test_bad_decisions_write_nothing(review, run_cli, args, message):
    before = run_cli("review", "status", review, "--json").out
    result = run_cli("review", args[0], review, *args[1:])
    assert result.code == 2 and message in result.err and "Traceback" not in result.err
    assert run_cli("review", "status", review, "--json").out == before


def test_a_duplicate_is_screened_through_its_head(tmp_path, run_cli):
    folder = tmp_path / "r"
    run_cli("review", "init", folder)
    run_cli("review", "user", "add", folder, "ann")
    path = tmp_path / "d.ris"
    path.write_text("TY  - JOUR\nTI  - Same paper\nDO  - 10.1000/x\nER  - \n"
                    "TY  - JOUR\nTI  - Same paper\nDO  - 10.1000/X\nER  - \n")  # fmt: skip
    run_cli("review", "import", folder, path, "--source", "A")
    run_cli("review", "dedup", folder)
    result = _decide(run_cli, folder, "ann", "title_abstract", 2, "include")
    assert result.code == 2 and "duplicate of record 1" in result.err


def test_decisions_made_elsewhere_are_imported_all_or_nothing(review, tmp_path, run_cli):
    sheet = tmp_path / "decisions.csv"
    sheet.write_text(
        "record_id,title,reviewer,decision,reason\n"
        "1,,ann,Included,\n"
        ",Record 2 on stimulation number 14,ann,excluded,wrong population\n"
        "1,,ben,yes,\n",
        encoding="utf-8",
    )
    result = run_cli("review", "import-decisions", review, sheet, "--stage", "title_abstract")
    assert result.code == 0 and "3 decisions imported" in result.out
    status = json.loads(run_cli("review", "status", review, "--json").out)
    assert status["stages"]["title_abstract"]["included"] == 1
    # Rayyan's export: each reviewer's decision in the notes column.
    rayyan = tmp_path / "articles.csv"
    rayyan.write_text(
        "key,title,notes\n"
        '1,"Record 3 on stimulation number 21","RAYYAN-INCLUSION: {""ann""=>""Excluded"", '
        '""ben""=>""Included""} | RAYYAN-EXCLUSION-REASONS: not orofacial"\n',
        encoding="utf-8",
    )
    assert run_cli("review", "import-decisions", review, rayyan, "--stage",
                   "title_abstract").code == 0  # fmt: skip
    conflicts = json.loads(run_cli("review", "conflicts", review, "--json").out)
    assert [c["record"] for c in conflicts] == [4]
    assert conflicts[0]["decisions"]["ann"] == {"decision": "exclude", "reason": "not orofacial"}
    # One bad row: nothing of the file is stored.
    before = run_cli("review", "status", review, "--json").out
    bad = tmp_path / "bad.csv"
    bad.write_text("record_id,reviewer,decision\n5,ann,include\n6,zed,include\n77,ann,include\n",
                   encoding="utf-8")  # fmt: skip
    result = run_cli("review", "import-decisions", review, bad, "--stage", "title_abstract")
    assert result.code == 2 and "nothing imported" in result.err
    assert "no record matches" in result.err and "'zed' is not a registered" in result.err
    assert run_cli("review", "status", review, "--json").out == before
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("id,who,what\n1,ann,in\n", encoding="utf-8")
    result = run_cli("review", "import-decisions", review, wrong, "--stage", "title_abstract")
    assert result.code == 2 and "expected the columns reviewer and decision" in result.err


def test_one_records_reads_agree_with_the_whole_stores(team_review):
    """A single decision reads its own record's duplicate chain and outcome
    (duplicate_head, stage_outcomes(record=...)); they agree with the whole-store maps."""
    from ipdmeta.review import open_store
    from ipdmeta.review.screening import stage_outcomes

    folder = team_review([{"title": f"Paper {i}", "author": f"A{i}, B.", "year": 2000 + i}
                          for i in range(8)])  # fmt: skip
    with open_store(folder) as store:
        # 2 duplicates 1; 3 duplicates 2 (a chain); 5 duplicates 4 then 6; 7 pending of 1.
        store.add_duplicate_verdicts([(2, 1, "doi", 1.0, "duplicate"),
                                      (3, 2, "title", 0.99, "duplicate"),
                                      (5, 6, "title", 0.98, "duplicate"),
                                      (5, 4, "title", 0.97, "duplicate"),
                                      (7, 1, "title", 0.9, "pending")])  # fmt: skip
        store.decide_duplicate(7, 1, confirm=False, reviewer="ann")
        store.add_decisions([(1, 1, "title_abstract", "include", None),
                             (1, 2, "title_abstract", "exclude", None),
                             (4, 1, "title_abstract", "include", None)])  # fmt: skip
        store.add_resolution(1, "title_abstract", "include", "discussed", None)
        whole = store.duplicate_of()
        assert whole == {2: 1, 3: 1, 5: 4}
        for record in range(1, 9):
            assert store.duplicate_head(record) == whole.get(record), record
        every = stage_outcomes(store, "title_abstract")
        for record in range(1, 9):
            assert stage_outcomes(store, "title_abstract", record) == (
                {record: every[record]} if record in every else {}
            )
