"""PRISMA 2020 counts from the recorded decisions: every identity of the diagram, the
command's files, and `ipdmeta run` drawing its diagram from the store."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import copy_example


def _ris(path: Path, titles: list[str]) -> Path:
    lines = []
    for i, title in enumerate(titles):
        lines += [
            "TY  - JOUR",
            f"TI  - {title}",
            f"AU  - Writer{i}, A.",
            "PY  - 2015",
            "ER  - ",
            "",
        ]
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def _screened_review(tmp_path: Path, run_cli) -> Path:
    folder = tmp_path / "review"
    run_cli("review", "init", folder)
    for name in ("ann", "ben"):
        run_cli("review", "user", "add", folder, name)
    topics = ["trigeminal", "thalamic", "post-stroke", "phantom", "spinal", "brachial",
              "herpetic", "dental", "facial", "central"]  # fmt: skip
    titles = [f"Cortical stimulation for {topic} pain: a cohort" for topic in topics]
    run_cli("review", "import", folder, _ris(tmp_path / "pubmed.ris", titles[:6]), "--source",
            "PubMed")  # fmt: skip
    # Embase repeats 4 of PubMed's records (same author, year, title) and adds 2 more.
    run_cli("review", "import", folder, _ris(tmp_path / "embase.ris", titles[:4] + titles[6:8]),
            "--source", "Embase")  # fmt: skip
    run_cli("review", "import", folder, _ris(tmp_path / "ctgov.ris", ["Registered trial X"]),
            "--source", "ClinicalTrials.gov", "--kind", "register")  # fmt: skip
    run_cli("review", "import", folder, _ris(tmp_path / "hand.ris", ["Found by hand"]),
            "--source", "hand search", "--kind", "other")  # fmt: skip
    run_cli("review", "dedup", folder)
    records = json.loads(run_cli("review", "records", folder, "--json").out)
    unique = [r["id"] for r in records if r["duplicate_of"] is None]
    assert len(unique) == 10  # 8 + 1 register + 1 other

    def both(stage: str, record: int, decision: str, *extra: str) -> None:
        for who in ("ann", "ben"):
            result = run_cli("review", "decide", folder, "--reviewer", who, "--stage", stage,
                             str(record), decision, *extra)  # fmt: skip
            assert result.code == 0, result.err

    ta, ft = "title_abstract", "full_text"
    main, other = unique[:9], unique[9]
    for record in main[:3]:
        both(ta, record, "exclude")
    for record in main[3:9]:
        both(ta, record, "include")
    both(ta, other, "include")
    both(ft, main[3], "include")
    both(ft, main[4], "include")
    both(ft, main[5], "exclude", "--reason", "no individual patient data")
    both(ft, main[6], "exclude", "--reason", "no individual patient data")
    both(ft, main[7], "not_retrieved")
    # main[8]: the reviewers disagree at full text, then the conflict is resolved.
    run_cli("review", "decide", folder, "--reviewer", "ann", "--stage", ft, str(main[8]),
            "include")  # fmt: skip
    run_cli("review", "decide", folder, "--reviewer", "ben", "--stage", ft, str(main[8]),
            "exclude", "--reason", "overlapping cohort")  # fmt: skip
    run_cli("review", "resolve", folder, "--stage", ft, str(main[8]), "exclude", "--reason",
            "overlapping cohort")  # fmt: skip
    both(ft, other, "include")
    return folder


def test_every_box_and_identity(tmp_path, run_cli):
    folder = _screened_review(tmp_path, run_cli)
    p = json.loads(run_cli("review", "prisma", folder, "--json").out)
    assert p["database_results"] == 12
    assert p["database_specific_results"] == {"PubMed": 6, "Embase": 6}
    assert p["register_results"] == 1 and p["other_results"] == 1
    assert (p["citations_results"], p["website_results"], p["organisation_results"]) == (1, 0, 0)
    assert p["duplicates"] == 4
    assert p["records_screened"] == (p["database_results"] + p["register_results"]
                                     - p["duplicates"] - p["excluded_automatic"]
                                     - p["excluded_other"]) == 9  # fmt: skip
    assert (
        p["records_screened"]
        == p["records_excluded"] + p["dbr_sought_reports"] + p["records_pending"]
    )
    assert (p["records_excluded"], p["dbr_sought_reports"], p["records_pending"]) == (3, 6, 0)
    assert p["dbr_notretrieved_reports"] == 1
    assert (
        p["dbr_assessed"]
        == p["dbr_sought_reports"] - p["dbr_notretrieved_reports"] - p["reports_pending"]
        == 5
    )
    assert p["dbr_excluded"] == {"no individual patient data": 2, "overlapping cohort": 1}
    assert (p["other_sought_reports"], p["other_assessed"], p["other_excluded"]) == (1, 1, {})
    assert (
        p["new_reports"]
        == (
            p["dbr_assessed"]
            - sum(p["dbr_excluded"].values())
            + p["other_assessed"]
            - sum(p["other_excluded"].values())
        )
        == 3
    )
    assert p["new_studies"] == p["total_studies"] == 3


def test_unfinished_screening_is_counted_as_pending(tmp_path, run_cli):
    folder = tmp_path / "review"
    run_cli("review", "init", folder)
    run_cli("review", "user", "add", folder, "ann")
    run_cli("review", "import", folder, _ris(tmp_path / "a.ris", ["One paper", "Other paper"]),
            "--source", "PubMed")  # fmt: skip
    run_cli("review", "decide", folder, "--reviewer", "ann", "--stage", "title_abstract", "1",
            "include")  # fmt: skip
    p = json.loads(run_cli("review", "prisma", folder, "--json").out)
    assert (p["records_screened"], p["dbr_sought_reports"], p["records_pending"],
            p["reports_pending"]) == (2, 1, 1, 1)  # fmt: skip
    result = run_cli("review", "prisma", folder, "--out", tmp_path / "out")
    assert result.code == 0 and "screening is not finished" in result.out
    for name in ("prisma.svg", "prisma.png", "prisma.json"):
        assert (tmp_path / "out" / name).stat().st_size > 0


def test_ipdmeta_run_draws_its_diagram_from_the_store(tmp_path, run_cli):
    """With a store the report counts from it; review.toml's typed counts that disagree
    are named."""
    from ipdmeta.analysis.pipeline import run_review

    folder = copy_example(tmp_path)
    run_cli("review", "init", folder)
    run_cli("review", "user", "add", folder, "ann")
    run_cli("review", "import", folder, _ris(tmp_path / "a.ris", ["One paper", "Two paper"]),
            "--source", "PubMed")  # fmt: skip
    for record in ("1", "2"):
        run_cli("review", "decide", folder, "--reviewer", "ann", "--stage", "title_abstract",
                record, "include")  # fmt: skip
    run_cli("review", "decide", folder, "--reviewer", "ann", "--stage", "full_text", "1",
            "include")  # fmt: skip
    run_cli("review", "decide", folder, "--reviewer", "ann", "--stage", "full_text", "2",
            "exclude", "--reason", "no IPD")  # fmt: skip
    run = run_review(folder)
    assert run.prisma_source == "review store"
    assert run.spec.prisma.records_identified == {"PubMed": 2}
    assert run.spec.prisma.reports_excluded == {"no IPD": 1}
    assert any("records_screened: review.toml says 526, the review store 2" in n
               for n in run.prisma_notes)  # fmt: skip


def test_exports_and_the_audit_trail(tmp_path, run_cli):
    from ipdmeta.review.imports import read_export

    folder = _screened_review(tmp_path, run_cli)
    result = run_cli("review", "export", folder, tmp_path / "included.ris")
    assert result.code == 0 and "3 records included at full_text" in result.out
    parsed, _, _ = read_export(tmp_path / "included.ris")  # the export reads back
    assert len(parsed.records) == 3 and not parsed.reported
    assert run_cli("review", "export", folder, tmp_path / "ta.csv", "--stage",
                   "title_abstract").code == 0  # fmt: skip
    assert (tmp_path / "ta.csv").read_text().count("\n") == 1 + 7
    assert run_cli("review", "export", folder, tmp_path / "audit.csv", "--audit").code == 0
    audit = (tmp_path / "audit.csv").read_text()
    assert audit.startswith("time,event,who,record,stage,what,detail")
    assert "resolution" in audit and "overlapping cohort" in audit and ",ann," in audit
    bad = run_cli("review", "export", folder, tmp_path / "x.docx")
    assert bad.code == 2 and ".ris or .csv" in bad.err


def test_reports_linked_to_one_study_count_once(tmp_path, run_cli):
    folder = _screened_review(tmp_path, run_cli)
    records = json.loads(run_cli("review", "records", folder, "--json").out)
    included = [r["id"] for r in records if r["duplicate_of"] is None][3:5]  # both included
    for record in included:
        assert run_cli("review", "link", folder, str(record), "S07", "--reviewer", "ann").code == 0
    p = json.loads(run_cli("review", "prisma", folder, "--json").out)
    assert (p["new_reports"], p["new_studies"]) == (3, 2)
    assert "S07: records" in run_cli("review", "link", folder).out
    listed = json.loads(run_cli("review", "records", folder, "--json").out)
    assert [r["study_id"] for r in listed if r["id"] in included] == ["S07", "S07"]
    run_cli("review", "link", folder, str(included[1]), "")  # unlinked
    p = json.loads(run_cli("review", "prisma", folder, "--json").out)
    assert (p["new_reports"], p["new_studies"]) == (3, 3)
    assert run_cli("review", "link", folder, "999", "S01").code == 2
    assert run_cli("review", "link", folder, str(included[0])).code == 2


def test_stopping_screening_moves_the_unread_records_to_the_automation_box(tmp_path, run_cli):
    """After the team stops screening ranked records, the records nobody decided (the check
    sample apart) are PRISMA's "marked as ineligible by automation tools"; the identities
    still hold, and resuming takes it back."""
    from ipdmeta.report.methods import _stopping_sentence

    folder = tmp_path / "review"
    run_cli("review", "init", folder)
    run_cli("review", "user", "add", folder, "ann")
    titles = [f"Paper number {word}" for word in ("one", "two", "three", "four", "five", "six")]
    run_cli("review", "import", folder, _ris(tmp_path / "a.ris", titles), "--source", "PubMed")
    run_cli("review", "import", folder, _ris(tmp_path / "h.ris", ["Found by hand"]), "--source",
            "hand search", "--kind", "other")  # fmt: skip
    for record, decision in (("1", "include"), ("2", "exclude")):
        run_cli("review", "decide", folder, "--reviewer", "ann", "--stage", "title_abstract",
                record, decision)  # fmt: skip
    assert run_cli("review", "stopping", folder, "--resume").code == 2  # nothing to resume
    result = run_cli("review", "stopping", folder, "--stop", "--reason", "50 excluded in a row")
    assert result.code == 0, result.err
    assert "stopped on" in result.out and "5 left unscreened" in result.out
    assert run_cli("review", "stopping", folder, "--stop").code == 2  # already stopped
    p = json.loads(run_cli("review", "prisma", folder, "--json").out)
    # The hand-searched record stays with the people: the other-methods branch has no
    # automation box.
    assert (p["excluded_automatic"], p["records_screened"], p["records_pending"]) == (4, 2, 0)
    assert p["other_pending"] == 1
    assert p["records_screened"] == (p["database_results"] - p["duplicates"]
                                     - p["excluded_automatic"] - p["excluded_other"])  # fmt: skip
    # A check sample drawn after the stop is read by people: pending until decided, then
    # screened.
    assert run_cli("review", "check-sample", folder, "--percent", "20", "--seed", "1").code == 0
    sample = json.loads(run_cli("review", "status", folder, "--json").out)["stopping"]
    from ipdmeta.review import open_store
    from ipdmeta.review.stopping import check_sample

    with open_store(folder) as store:
        drawn = check_sample(store)
    assert len(drawn) == 1 and sample["stopped"]["excluded_automatic"] == 4 - (drawn[0] <= 6)
    run_cli("review", "decide", folder, "--reviewer", "ann", "--stage", "title_abstract",
            str(drawn[0]), "exclude")  # fmt: skip
    p = json.loads(run_cli("review", "prisma", folder, "--json").out)
    in_main = drawn[0] <= 6
    assert p["excluded_automatic"] == 4 - in_main and p["records_screened"] == 2 + in_main
    status = json.loads(run_cli("review", "status", folder, "--json").out)["stopping"]
    text = _stopping_sentence({**status, "rule_excluded_in_a_row": 50})
    assert "Screening stopped on" in text and "(50 excluded in a row)" in text
    assert f"the {4 - in_main} records nobody screened are reported as marked ineligible" in text
    # The diagram draws the box; resuming returns the records to pending.
    from ipdmeta.report.figures import prisma_diagram
    from ipdmeta.review.prisma import prisma_counts, prisma_spec_fields

    with open_store(folder) as store:
        fields = prisma_spec_fields(prisma_counts(store))
    drawn_text = " ".join(t[0] for t in prisma_diagram(fields).text_extents())
    assert f"automation tools (n = {4 - in_main})" in drawn_text
    assert run_cli("review", "stopping", folder, "--resume").code == 0
    p = json.loads(run_cli("review", "prisma", folder, "--json").out)
    assert p["excluded_automatic"] == 0 and p["records_pending"] == 4 - in_main
