"""Deduplication on planted duplicates and near misses, and its command-line contract."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ipdmeta.review.dedup import find_duplicates, normal_title


def _record(
    i: int,
    title: str,
    year: int | None = 2019,
    authors: tuple[str, ...] = ("Nguyen, J.P.",),
    doi: str | None = None,
    pmid: str | None = None,
    journal: str = "Pain",
    pages: str | None = None,
) -> dict:
    return {
        "id": i, "title": title, "year": year, "authors": list(authors), "doi": doi,
        "pmid": pmid, "journal": journal, "pages": pages,
    }  # fmt: skip


TITLE = "Motor cortex stimulation for central and neuropathic facial pain: a case series"


def _pairs(records):
    return {(m.record, m.of, m.sure) for m in find_duplicates(records)}


def test_same_doi_or_pmid_whatever_the_title():
    records = [
        _record(1, TITLE, doi="10.1000/abc"),
        _record(2, "MOTOR CORTEX STIMULATION (EMBASE FORM)", doi="10.1000/abc"),
        _record(3, "Another title", pmid="123456"),
        _record(4, "Yet another", pmid="123456", year=None),
    ]
    assert _pairs(records) == {(2, 1, True), (4, 3, True)}


def test_every_record_of_a_group_points_at_its_head():
    """A DOI joins the first two; the third (no DOI, a typo) joins the second by title:
    both later records are duplicates of the first, whatever order the rules meet them in."""
    records = [
        _record(1, TITLE, doi="10.1000/abc"),
        _record(2, TITLE.replace("central", "centrl")),
        _record(3, TITLE.upper(), doi="https://doi.org/10.1000/ABC"),
    ]
    assert _pairs(records) == {(2, 1, True), (3, 1, True)}


def test_a_title_differing_by_a_character_or_two_is_merged():
    records = [
        _record(1, TITLE),
        _record(2, TITLE.replace("neuropathic", "neuropatic")),  # a typo
        _record(3, "Motor cortex stimulation for tumour pain after surgery: a case series"),
        _record(4, "Motor cortex stimulation for tumor pain after surgery: a case series"),
        _record(
            5,
            "<i>Motor cortex</i> stimulation for central and neuropathic facial pain: "
            "a case series.",
        ),
    ]
    assert _pairs(records) == {(2, 1, True), (4, 3, True), (5, 1, True)}


@pytest.mark.parametrize(
    ("other", "why"),
    [
        (_record(2, TITLE, year=2021), "a follow-up paper in another year"),
        (_record(2, TITLE, doi="10.1000/two"), "another DOI (the first has one)"),
        (
            _record(2, "Motor cortex stimulation for facial pain in 40 patients", journal="Brain"),
            "a merely similar title",
        ),
        (
            _record(2, TITLE, authors=("Smith, A.",), journal="Neurosurgery"),
            "same title, other first author and journal",
        ),
    ],
)
def test_near_misses_are_not_merged(other, why):
    first = _record(1, TITLE, doi="10.1000/one")
    assert not [m for m in find_duplicates([first, other]) if m.sure], why


def test_pairs_the_rules_are_unsure_of_wait_for_a_person():
    records = [
        _record(1, TITLE, doi="10.1000/one"),
        # The same paper with a wrong DOI in one database: same title, year, author.
        _record(2, TITLE, doi="10.1000/oen"),
        # A title shortened in one export, same year, journal and first page.
        _record(
            3,
            "Motor cortex stimulation for central and neuropathic facial pain",
            authors=("Lefaucheur, J.P.",),
            pages="100-109",
        ),
        _record(4, TITLE, authors=("Lefaucheur, J-P",), pages="100-9"),
    ]
    found = {(m.record, m.of): m.sure for m in find_duplicates(records)}
    assert found.get((2, 1)) is False and found.get((4, 3)) is False


def test_normal_titles():
    assert (
        normal_title("  <b>Motor</b> Cortex—Stimulation: Café!  ")
        == "motor cortex stimulation cafe"
    )
    assert normal_title(None) == ""


def _ris(path: Path, rows: list[tuple[str, str, str, str]]) -> Path:
    lines = []
    for title, author, year, doi in rows:
        lines += ["TY  - JOUR", f"TI  - {title}", f"AU  - {author}", f"PY  - {year}"]
        lines += [f"DO  - {doi}"] if doi else []
        lines += ["JO  - Pain", "ER  - ", ""]
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def test_command_line(tmp_path, run_cli):
    folder = tmp_path / "review"
    run_cli("review", "init", folder)
    run_cli("review", "user", "add", folder, "ann")
    pubmed = _ris(tmp_path / "pubmed.ris", [
        (TITLE, "Nguyen, J.P.", "2019", "10.1000/one"),
        ("Deep brain stimulation for cluster headache", "Leone, M.", "2004", ""),
    ])  # fmt: skip
    embase = _ris(tmp_path / "embase.ris", [
        (TITLE.upper(), "Nguyen, J.P.", "2019", "https://doi.org/10.1000/ONE"),
        (TITLE, "Nguyen, J.P.", "2019", "10.1000/oen"),
        ("Deep brain stimulation for cluster headache", "Leone, M.", "2004", ""),
        ("Deep brain stimulation for cluster headache", "Leone, M.", "2009", ""),
    ])  # fmt: skip
    run_cli("review", "import", folder, pubmed, "--source", "PubMed")
    run_cli("review", "import", folder, embase, "--source", "Embase")
    result = run_cli("review", "dedup", folder)
    assert result.code == 0 and "6 records: 2 duplicates, 4 unique; 1 pairs wait" in result.out
    records = json.loads(run_cli("review", "records", folder, "--json").out)
    assert [r["duplicate_of"] for r in records] == [None, None, 1, None, 2, None]
    pending = json.loads(run_cli("review", "duplicates", folder, "--json").out)
    assert [(p["record"], p["of"]) for p in pending] == [(4, 1)]
    again = run_cli("review", "dedup", folder)
    assert "0 new verdicts" in again.out  # a second run changes nothing
    assert run_cli("review", "duplicates", folder, "--confirm", "4", "1").code == 2  # who?
    assert (
        run_cli("review", "duplicates", folder, "--confirm", "4", "1", "--reviewer", "bob").code
        == 2
    )
    assert (
        run_cli("review", "duplicates", folder, "--confirm", "4", "1", "--reviewer", "ann").code
        == 0
    )
    assert (
        run_cli("review", "duplicates", folder, "--reject", "5", "1", "--reviewer", "ann").code == 2
    )
    status = json.loads(run_cli("review", "status", folder, "--json").out)
    assert (status["records"], status["duplicates"], status["unique"],
            status["pending_duplicates"]) == (6, 3, 3, 0)  # fmt: skip
