"""Importing search exports as reviewers have them: every record imported or reported with
its line, the parsers' traps, files that are not exports, and the command-line contract."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ipdmeta.review import create_store, import_file, open_store
from ipdmeta.review.imports import read_export
from ipdmeta.review.records import normalise_doi

RIS = (
    "\ufeffTY  - JOUR\r\n"  # a byte-order mark before the first record
    "TI  - Motor cortex stimulation for trigeminal\r\n"
    "      neuropathic pain\r\n"  # a title continued on an untagged line
    "AU  - Nguyen, J.P.\r\n"
    "AU  - Lefaucheur, J.P.\r\n"
    "PY  - 1997///\r\n"
    "DO  - https://doi.org/10.1016/S0304-3959(97)00123-4\r\n"
    "JO  - Pain\r\n"
    "ER  - \r\n"
    "\r\n"
    "TY  - JOUR\r\n"
    "AU  - Nobody, A.\r\n"
    "ER  - \r\n"
    "TY  - JOUR\r\n"  # no ER before the next TY
    "TI  - Second record, its ER missing\r\n"
    "PY  - 2001\r\n"
    "TY  - CONF\r\n"
    "T1  - Last record <i>without</i> an ER \x07line\r\n"
    "PY  - 2003\r\n"  # and the file ends without a newline after it
)

MEDLINE = """PMID- 12345678
OWN - NLM
TI  - A case series of motor cortex
      stimulation for facial pain.
AU  - Smith J
DP  - 2019 Mar 5
LID - 10.1000/ABC.123 [doi]
EIN - Pain. 2020 Jan;161(1):2. PMID: 2222222
RIN - Pain. 2021;162:3. PMID: 3333333

PMID- 12345679
TI  - Second record
FAU - Doe, Jane
AU  - Doe J
FAU - Roe, Richard
AU  - Roe R
DP  - 2020
AID - 10.1000/xyz [doi]

PMID- 12345680
AB  - An abstract without a title.
DP  - 2021
"""

PUBMED_CSV = (
    "PMID,Title,Authors,Citation,First Author,Journal/Book,Publication Year,Create Date,"
    "PMCID,NIHMS ID,DOI\n"
    '31000001,"Stimulation, motor cortex","Lee A, Kim B.",cit,Lee A,Pain,2018,2019/01/01,,,'
    "10.1234/ABC\n"
    '31000002,,"Park C.",cit,Park C,Pain,2017,2018/01/01,,,\n'
)


def _write(folder: Path, name: str, content: str | bytes) -> Path:
    path = folder / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8", newline="")
    return path


@pytest.fixture
def store(tmp_path):
    with create_store(tmp_path / "review") as opened:
        yield opened


def test_ris_traps(tmp_path, store):
    path = _write(tmp_path, "embase.ris", RIS)
    result = import_file(store, path, source="Embase")
    assert result.starts == 4 == result.imported + len(result.reported)
    assert [r.line for r in result.reported] == [11]
    assert "no title" in result.reported[0].problem
    records = store.records()
    assert [r["line"] for r in records] == [1, 14, 17]
    first = records[0]
    assert first["title"] == "Motor cortex stimulation for trigeminal neuropathic pain"
    assert first["authors"] == ["Nguyen, J.P.", "Lefaucheur, J.P."]
    assert first["year"] == 1997 and first["doi"] == "10.1016/s0304-3959(97)00123-4"
    # Markup and control characters are kept as text, never interpreted.
    assert records[2]["title"] == "Last record <i>without</i> an ER \x07line"
    assert any("ends before its ER" in n for n in result.notes)
    assert any("ER line is missing" in n for n in result.notes)


def test_medline_traps(tmp_path, store):
    path = _write(tmp_path, "pubmed.nbib", MEDLINE)
    result = import_file(store, path, source="PubMed", query='"motor cortex"[tiab]')
    assert result.starts == 3 and result.imported == 2
    assert [(r.line, "no title" in r.problem) for r in result.reported] == [(20, True)]
    one, two = store.records()
    assert one["title"] == "A case series of motor cortex stimulation for facial pain."
    assert one["authors"] == ["Smith J"]  # AU when there is no FAU
    assert two["authors"] == ["Doe, Jane", "Roe, Richard"]  # FAU when there is
    assert one["doi"] == "10.1000/abc.123" and two["doi"] == "10.1000/xyz"
    assert one["pmid"] == "12345678" and one["year"] == 2019
    assert [link["kind"] for link in one["links"]] == ["erratum in", "retraction in"]
    assert store.imports()[0]["query"] == '"motor cortex"[tiab]'


def test_csv_exports_and_hand_search_sheets(tmp_path, store):
    result = import_file(store, _write(tmp_path, "pubmed.csv", PUBMED_CSV), source="PubMed")
    assert (result.starts, result.imported, [r.line for r in result.reported]) == (2, 1, [3])
    record = store.records()[0]
    assert record["authors"] == ["Lee A", "Kim B"] and record["doi"] == "10.1234/abc"
    sheet = "title;authors;year\nCase of MCS;Müller K., Ito T.;2015\n"
    result = import_file(store, _write(tmp_path, "hand.csv", sheet), source="hand search",
                         kind="other")  # fmt: skip
    assert result.imported == 1 and store.records()[1]["authors"] == ["Müller K", "Ito T"]


BIBTEX = r"""% Scopus export
@ARTICLE{Smith2019,
  title = {Motor cortex {S}timulation
           for facial pain},
  author = {M{\"u}ller, Karl and Doe, Jane},
  year = {2019},
  journal = {Pain},
  pages = {10--19},
  doi = {https://doi.org/10.1000/ABC}
}

@article{Smith2019,
  title = "A different paper under the same key",
  author = "Smith, John",
  year = 2020
}
@inproceedings{broken,
  title = {Its braces never close,
@misc{untitled, year = {2001}}
@string{pain = {Pain}}
"""


def test_bibtex_traps(tmp_path, store):
    result = import_file(store, _write(tmp_path, "scopus.bib", BIBTEX), source="Scopus")
    assert result.format == "BibTeX"
    assert result.starts == 4 == result.imported + len(result.reported)
    assert [(r.line, r.problem.split(" (")[0]) for r in result.reported] == [
        (17, "the entry cannot be read"),
        (19, "the entry has no title and cannot be screened"),
    ]
    first, second = store.records()
    assert first["title"] == "Motor cortex Stimulation for facial pain"
    assert first["authors"] == ["Müller, Karl", "Doe, Jane"]
    assert first["doi"] == "10.1000/abc" and first["pages"] == "10-19" and first["line"] == 2
    assert second["title"] == "A different paper under the same key" and second["year"] == 2020
    assert any("'Smith2019' is used twice" in n for n in result.notes)


def test_a_latin_1_file_is_read_as_such(tmp_path, store):
    text = (
        "TY  - JOUR\nTI  - Douleur neuropathique: stimulation corticale\n"
        "AU  - Lefèvre, É.\nER  - \n"
    )
    result = import_file(store, _write(tmp_path, "old.ris", text.encode("latin-1")), source="X")
    assert result.encoding.startswith("Windows-1252")
    assert store.records()[0]["authors"] == ["Lefèvre, É."]


def test_the_same_file_again_adds_nothing(tmp_path, store):
    path = _write(tmp_path, "pubmed.nbib", MEDLINE)
    import_file(store, path, source="PubMed")
    again = import_file(store, path, source="PubMed")
    assert again.already and again.imported == 0
    assert len(store.records()) == 2 and len(store.imports()) == 1


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty"),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj", "is a PDF"),
        (b"\x00\x01\x02binary", "binary file"),
        (b"@string{pain = {Pain}}\n", "holds no records"),
        (b"Dear colleague,\nhere are the results\n", "not a search export"),
        (b"name,age\nx,3\n", "no title column"),
    ],
)
def test_files_that_are_not_exports_write_nothing(tmp_path, store, content, message):
    from ipdmeta.errors import ReadError

    name = "export.csv" if content.startswith(b"name") else "export.ris"
    path = _write(tmp_path, name, content)
    with pytest.raises(ReadError, match=message):
        import_file(store, path, source="X")
    assert store.imports() == [] and store.records() == []
    assert path.read_bytes() == content  # the user's file is never changed


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10.1016/J.PAIN.2019.01.001", "10.1016/j.pain.2019.01.001"),
        ("https://doi.org/10.1016/j.pain.2019.01.001", "10.1016/j.pain.2019.01.001"),
        ("http://dx.doi.org/10.1000/abc.", "10.1000/abc"),
        ("doi: 10.1000/ABC", "10.1000/abc"),
        ("not a doi", None),
        ("", None),
    ],
)
def test_dois_are_normalised(text, expected):
    assert normalise_doi(text) == expected


def test_record_starts_equal_imported_plus_reported_on_every_parser(tmp_path):
    for name, text in (("a.ris", RIS), ("b.nbib", MEDLINE), ("c.csv", PUBMED_CSV),
                       ("d.bib", BIBTEX)):  # fmt: skip
        parsed, _, _ = read_export(_write(tmp_path, name, text))
        assert parsed.starts == len(parsed.records) + len(parsed.reported), name


def test_command_line_contract(tmp_path, run_cli):
    folder = tmp_path / "review"
    assert run_cli("review", "init", folder).code == 0
    ris = _write(tmp_path, "embase.ris", RIS)
    result = run_cli("review", "import", folder, ris, "--source", "Embase",
                     "--searched", "2026-03-01")  # fmt: skip
    assert result.code == 1  # some records reported
    assert f"{ris}: line 11: the record has no title" in result.out
    assert "4 records; 3 imported from Embase, 1 reported" in result.out
    nbib = _write(tmp_path, "pubmed.nbib", MEDLINE.split("\nPMID- 12345680")[0])
    assert run_cli("review", "import", folder, nbib, "--source", "PubMed").code == 0
    records = json.loads(run_cli("review", "records", folder, "--json").out)
    assert {"id", "title", "year", "doi", "source", "duplicate_of"} <= set(records[0])
    assert [r["source"] for r in records] == ["Embase"] * 3 + ["PubMed"] * 2
    status = json.loads(run_cli("review", "status", folder, "--json").out)
    assert status["records"] == 5 and status["sources"] == {"Embase": 3, "PubMed": 2}
    assert status["imports"][0]["searched"] == "2026-03-01"
    assert status["imports"][0]["raw_count"] == 4


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("import", "{folder}", "{missing}", "--source", "X"), "no such file"),
        (("import", "{nostore}", "{missing}", "--source", "X"), "has no review store"),
        (("status", "{nostore}"), "has no review store"),
        (
            ("import", "{folder}", "{missing}", "--source", "X", "--searched", "1 March"),
            "YYYY-MM-DD",
        ),
        (
            ("import", "{folder}", "{missing}", "--source", "X", "--kind", "journal"),
            "invalid choice",
        ),
        (("user", "add", "{folder}", "ann", "--role", "admin"), "invalid choice"),
    ],
)
def test_command_line_bad_input(tmp_path, run_cli, args, message):
    folder = tmp_path / "review"
    assert run_cli("review", "init", folder).code == 0
    places = {"folder": folder, "missing": tmp_path / "none.ris", "nostore": tmp_path}
    try:
        result = run_cli("review", *[a.format(**places) for a in args])
        code, text = result.code, result.err
    except SystemExit as exc:  # argparse's own refusals
        code, text = exc.code, ""
    assert code == 2
    if text:
        assert message in text and "Traceback" not in text
    assert not (tmp_path / "review.sqlite").exists()  # no store made where there was none


def test_a_store_opened_again_keeps_everything(tmp_path):
    folder = tmp_path / "review"
    with create_store(folder) as store:
        import_file(store, _write(tmp_path, "p.nbib", MEDLINE), source="PubMed")
    with open_store(folder) as store:
        assert len(store.records()) == 2 and store.integrity_ok()


def test_a_utf_16_export_is_read_not_refused_as_binary(tmp_path, store):
    """Windows tools save "Unicode" text as UTF-16 with a byte-order mark: NUL bytes that
    are text, not a binary file (the data layer reads tables the same way)."""
    text = "TY  - JOUR\r\nTI  - Un titre accentué\r\nAU  - Lefèvre, É.\r\nER  - \r\n"
    result = import_file(store, _write(tmp_path, "wos.ris", text.encode("utf-16")), source="WoS")
    assert result.encoding == "UTF-16" and result.imported == 1
    assert store.records()[0]["title"] == "Un titre accentué"


def test_medline_as_real_exports_write_it(tmp_path, store):
    """Seen in real exports: "PMID-" with no space (CINAHL's MEDLINE format), a tag
    followed by one space only, a comment link whose PMID wraps onto the next line, and a
    book chapter whose only AID is a bookaccession, not a DOI."""
    text = (
        "PMID-36521234\nTI  - Some title\nAU - Smith J\nDP  - 2022\n\n"
        "PMID- 31978945\nDP  - 2020 Feb 20\nTI  - A paper with comments.\n"
        "LID - 10.1056/NEJMoa2001017 [doi]\n"
        "CIN - N Engl J Med. 2020;382(8):760-762. doi: 10.1056/NEJMe2001126. PMID:\n"
        "      31978944\n\n"
        "PMID- 11111111\nTI  - A book chapter\nAID - NBK12345 [bookaccession]\n"
    )
    result = import_file(store, _write(tmp_path, "cinahl.txt", text), source="CINAHL")
    assert result.starts == 3 and result.imported == 3 and not result.notes
    first, second, third = store.records()
    assert (first["pmid"], first["authors"]) == ("36521234", ["Smith J"])
    assert second["links"] == [{"kind": "comment in", "text": "N Engl J Med. 2020;382(8):"
                                "760-762. doi: 10.1056/NEJMe2001126. PMID: 31978944"}]  # fmt: skip
    assert third["doi"] is None
