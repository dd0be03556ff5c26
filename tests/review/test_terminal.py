"""The terminal screen: a scripted session as a reviewer would type it, blindness, undo,
skip, reasons from the review's list, and keyword highlighting."""

from __future__ import annotations

import io
import json

import pytest

from ipdmeta.review import open_store
from ipdmeta.review.terminal import screen

RECORDS = [
    {"title": "Motor cortex stimulation for trigeminal pain", "author": "Au0, A.",
     "year": 2001, "abstract": "A cohort of 12 patients with IPD."},
    {"title": "Deep brain stimulation in rats", "author": "Au1, A.", "year": 2002,
     "abstract": "An animal study."},
    {"title": "Cortical stimulation for facial pain", "author": "Au2, A.", "year": 2003,
     "abstract": "A case series."},
]  # fmt: skip


@pytest.fixture
def folder(team_review, run_cli):
    review = team_review(RECORDS)
    run_cli("review", "keywords", review, "--include", "motor cortex", "--exclude", "rats")
    run_cli("review", "reasons", review, "--stage", "title_abstract", "--add", "animal study",
            "not orofacial pain")  # fmt: skip
    return review


def _session(folder, reviewer, stage, answers, sample_only=False):
    """Runs a session with typed ``answers``; the prompts are shown in the output, as the
    terminal shows them."""
    replies = iter(answers)
    out = io.StringIO()

    def read(prompt: str) -> str:
        out.write(prompt + "\n")
        return next(replies)

    with open_store(folder) as store:
        made = screen(store, reviewer, stage, read=read, out=out, sample_only=sample_only)
    return made, out.getvalue()


def test_a_scripted_session(folder, run_cli):
    # Skip record 1; exclude 2 with the list's first reason; at 3, undo: 2 comes back and
    # is excluded with a typed reason; 3 is included; then the skipped 1 is a maybe.
    made, shown = _session(folder, "ann", "title_abstract",
                           ["s", "e", "1", "u", "e", "wrong design", "i", "m"])  # fmt: skip
    assert made == {"include": 1, "exclude": 2, "maybe": 1, "not_retrieved": 0, "undone": 1}
    assert "1. animal study" in shown and "Withdrawn: record 2 exclude" in shown
    assert "Nothing left for ann" in shown
    conflicts_view = json.loads(run_cli("review", "records", folder, "--json").out)
    assert len(conflicts_view) == 3
    with open_store(folder) as store:
        mine = store.latest_decisions("title_abstract")
        decided = {r: d[1]["decision"] for r, d in mine.items()}
        assert decided == {1: "maybe", 2: "exclude", 3: "include"}
        assert mine[2][1]["reason"] == "wrong design"
        # The withdrawn decision is still in the store, marked withdrawn.
        count = store.connection.execute("SELECT COUNT(*) FROM decisions").fetchone()[0]
        assert count == 4


def test_another_reviewer_sees_every_record_and_no_decision(folder):
    _session(folder, "ann", "title_abstract", ["i", "e", "animal", "i"])
    made, shown = _session(folder, "ben", "title_abstract", ["q"])
    assert made["include"] == 0 and "ben, title_abstract: 3 left" in shown
    before_prompt = shown.split("[i]nclude")[0]
    assert "ann" not in before_prompt and "animal" not in before_prompt


def test_keywords_are_highlighted(folder):
    from ipdmeta.review.terminal import _highlighted

    shown = _highlighted("Motor cortex stimulation in rats", {"include": ["motor cortex"],
                                                              "exclude": ["RATS"]})  # fmt: skip
    styles = {(span.start, span.end, str(span.style)) for span in shown.spans}
    assert styles == {(0, 12, "bold green"), (28, 32, "bold red")}


def test_full_text_offers_not_retrieved_and_needs_inclusion(folder):
    _session(folder, "ann", "title_abstract", ["i", "e", "1", "e", "2"])
    _session(folder, "ben", "title_abstract", ["i", "e", "1", "e", "2"])
    made, shown = _session(folder, "ann", "full_text", ["n"])
    assert "[n]ot retrieved" in shown and made["not_retrieved"] == 1
    made, shown = _session(folder, "ben", "full_text", ["e", "", "q"])
    assert "Not stored: a full-text exclusion needs its reason" in shown


def test_command_line_needs_a_registered_reviewer(folder, run_cli):
    result = run_cli("review", "screen", folder, "--reviewer", "zed")
    assert result.code == 2 and "'zed' is not a registered reviewer" in result.err


def test_the_prompt_is_shown_as_typed(folder, monkeypatch):
    """Through the console's own input, the prompt's [i]nclude is text, not rich markup."""
    monkeypatch.setattr("sys.stdin", io.StringIO("q\n"))
    out = io.StringIO()
    with open_store(folder) as store:
        screen(store, "ann", "title_abstract", out=out)
    assert "[i]nclude [e]xclude [m]aybe [s]kip [u]ndo [q]uit" in out.getvalue()


def test_stopping_rule_and_check_sample(folder, run_cli):
    assert run_cli("review", "stopping", folder, "--excluded-in-a-row", "2").code == 0
    made, shown = _session(folder, "ann", "title_abstract", ["e", "1", "e", "1", "q"])
    assert made["exclude"] == 2 and "stopping rule is reached: 2 records excluded in a row" in shown
    status = json.loads(run_cli("review", "status", folder, "--json").out)["stopping"]
    assert status["rule_excluded_in_a_row"] == 2 and status["reached"]
    assert status["excluded_in_a_row"] == {"ann": 2, "ben": 0}
    result = run_cli("review", "check-sample", folder, "--percent", "50", "--seed", "3")
    assert result.code == 0 and "check sample: 1 records" in result.out
    made, shown = _session(folder, "ben", "title_abstract", ["i"], sample_only=True)
    assert made["include"] == 1 and "1 left" in shown  # only the sample, nothing else
    assert "Nothing left for ben" in shown
    sample = json.loads(run_cli("review", "status", folder, "--json").out)["stopping"]
    assert sample["check_sample"] is not None and sample["check_sample"]["size"] == 1
    assert run_cli("review", "stopping", folder, "--excluded-in-a-row", "0").code == 2
    assert run_cli("review", "check-sample", folder, "--percent", "0").code == 2
    from ipdmeta.report.methods import _stopping_sentence

    status = json.loads(run_cli("review", "status", folder, "--json").out)["stopping"]
    text = _stopping_sentence(status)
    assert "a reviewer could stop after excluding 2 records in a row" in text
    assert "A random sample of 1 of the 1 records left unscreened (50 %)" in text
    assert "1 of 1 were included" in text
    assert _stopping_sentence({}) == ""
