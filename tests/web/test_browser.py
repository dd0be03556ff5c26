"""The web app in Debian's Chromium (Playwright), as a reviewer uses it: sign in, screen
with the keyboard, attach and view a full text, resolve a conflict as the owner. No page
logs an error (a Content-Security-Policy violation would), and a record's markup never
runs. With IPDMETA_SCREENSHOTS=DIR the pages' screenshots are saved there (docs/web/)."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from ipdmeta.review import open_store
from ipdmeta.web.client import running_server
from tests.report.test_browser import CHROMIUM, FLAGS
from tests.web.conftest import PASSWORDS, make_team_review

TA = "title_abstract"


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    folder = make_team_review(tmp_path / "review")
    with running_server(folder) as (_, port):
        yield folder, f"http://127.0.0.1:{port}"


@pytest.fixture
def browser():
    if CHROMIUM is None:
        pytest.fail("chromium is not installed; `make test` installs Debian's chromium package")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield launched
        launched.close()


def _page(browser, problems: list[str]):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.on(
        "console",
        lambda m: (
            problems.append(f"{m.type}: {m.text}") if m.type in ("error", "warning") else None
        ),
    )
    page.on("pageerror", lambda e: problems.append(f"pageerror: {e}"))
    page.on("dialog", lambda d: (problems.append(f"dialog: {d.message}"), d.dismiss()))
    return page


def _sign_in(page, url: str, name: str, then: str = "/") -> None:
    page.goto(f"{url}/login?next={then}")
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", PASSWORDS[name])
    page.click("button[type=submit]")
    page.wait_for_url(f"{url}{then}")


def _shot(page, name: str, settle_ms: int = 0) -> None:
    folder = os.environ.get("IPDMETA_SCREENSHOTS")
    if folder:
        page.wait_for_timeout(settle_ms)  # the PDF viewer draws after the page has loaded
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)


def _paper(path: Path) -> Path:
    """A one-page PDF with a title and a few lines, as a journal's full text has."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    figure = plt.figure(figsize=(8.27, 11.69))
    figure.text(
        0.1,
        0.9,
        "Motor cortex stimulation for trigeminal neuropathic pain",
        fontsize=14,
        weight="bold",
    )
    figure.text(0.1, 0.86, "Au0 A. A simulated full text for the screening page.", fontsize=10)
    for i, line in enumerate(
        [
            "Methods: 12 consecutive patients, individual outcomes in Table 2.",
            "Results: pain relief at last follow-up per patient (VAS).",
            "Table 2. Patient, diagnosis, VAS before and after.",
        ]
    ):
        figure.text(0.1, 0.8 - 0.03 * i, line, fontsize=10)
    figure.savefig(path, format="pdf")
    plt.close(figure)
    return path


def _record_shown(page) -> int:
    found = re.search(r"Record (\d+)", page.inner_text("p.meta"))
    assert found is not None
    return int(found.group(1))


def test_sign_in_and_screen_with_the_keyboard(site, browser):
    folder, url = site
    problems: list[str] = []
    page = _page(browser, problems)
    page.goto(f"{url}/login")
    _shot(page, "login")
    _sign_in(page, url, "ben", "/screen/title_abstract")
    assert _record_shown(page) == 1
    assert page.inner_text("mark.include") == "Motor cortex"
    _shot(page, "screen")
    page.keyboard.press("i")  # include record 1
    page.wait_for_selector("text=Record 1: include")
    second = _record_shown(page)
    page.keyboard.press("1")  # the first reason of the list
    page.keyboard.press("e")
    page.wait_for_selector(f"text=Record {second}: exclude")
    page.keyboard.press("u")  # undo brings the excluded record back first
    page.wait_for_selector(f"text=Undone: record {second} exclude")
    assert _record_shown(page) == second
    page.keyboard.press("s")  # skip it for later
    page.wait_for_selector(f"text=Skipped record {second} for later")
    third = _record_shown(page)
    assert third != second
    page.keyboard.press("m")
    page.wait_for_selector(f"text=Record {third}: maybe")
    # The planted record's markup is text: no dialog, no element made from it.
    while _record_shown(page) != 4:
        page.keyboard.press("s")
        page.wait_for_load_state()
    assert page.inner_text("#record-title") == "<img src=x onerror=alert(1)>"
    assert page.locator("article img").count() == 0
    page.keyboard.press("i")
    page.wait_for_selector("text=Record 4: include")
    with open_store(folder) as store:
        mine = {r: by[2]["decision"] for r, by in store.latest_decisions(TA).items() if 2 in by}
    assert mine == {1: "include", third: "maybe", 4: "include"}
    assert problems == []


def test_full_text_attached_and_viewed_beside_the_form(site, browser, tmp_path):
    folder, url = site
    with open_store(folder) as store:
        store.add_decisions([(1, 1, TA, "include", None), (1, 2, TA, "include", None)])
    problems: list[str] = []
    page = _page(browser, problems)
    _sign_in(page, url, "ben", "/screen/full_text")
    assert _record_shown(page) == 1
    pdf = _paper(tmp_path / "paper.pdf")
    page.set_input_files("#pdf", str(pdf))
    page.click("form.upload button")
    page.wait_for_selector("text=Full text attached to record 1")
    frame = page.locator("iframe.pdf")
    assert frame.count() == 1 and frame.get_attribute("src") == "/api/records/1/fulltext"
    _shot(page, "full-text", settle_ms=3000)
    # A full-text exclusion waits for its reason: e focuses the list, Enter excludes.
    page.keyboard.press("e")
    assert page.evaluate("document.activeElement.id") == "reason"
    page.select_option("#reason", "no individual patient data")
    page.keyboard.press("Enter")
    page.wait_for_selector("text=Record 1: exclude")
    assert problems == []


def test_the_owner_resolves_a_conflict(site, browser):
    folder, url = site
    with open_store(folder) as store:
        store.add_decisions([(3, 2, TA, "include", None), (3, 3, TA, "exclude", "not facial")])
    problems: list[str] = []
    page = _page(browser, problems)
    _sign_in(page, url, "ann", "/conflicts")
    section = page.locator("#conflict-title_abstract-3")
    assert "ben: include" in section.inner_text() and "cy: exclude" in section.inner_text()
    _shot(page, "conflicts")
    section.locator("input[name=reason]").fill("a case series after all")
    section.locator("button[value=include]").click()
    page.wait_for_selector("text=Record 3 resolved: include")
    with open_store(folder) as store:
        assert store.latest_resolutions(TA)[3]["reason"] == "a case series after all"
    page.goto(f"{url}/")
    page.wait_for_selector("img.prisma")
    assert page.evaluate("document.querySelector('img.prisma').naturalWidth") > 100
    _shot(page, "dashboard")
    assert problems == []


def test_a_reviewer_cannot_open_the_conflicts(site, browser):
    _, url = site
    problems: list[str] = []
    page = _page(browser, problems)
    _sign_in(page, url, "ben")
    assert page.locator("a[href='/conflicts']").count() == 0
    answer = page.goto(f"{url}/conflicts")
    assert answer is not None and answer.status == 403
    assert "only an owner" in page.inner_text("main")


def test_run_the_analysis_and_see_the_report(tmp_path, browser):
    from argon2 import PasswordHasher

    from ipdmeta.review import create_store
    from tests.conftest import copy_example

    folder = copy_example(tmp_path)
    with create_store(folder) as store:
        store.add_reviewer("ann", "owner", PasswordHasher().hash(PASSWORDS["ann"]))
    problems: list[str] = []
    with running_server(folder) as (_, port):
        url = f"http://127.0.0.1:{port}"
        page = _page(browser, problems)
        _sign_in(page, url, "ann", "/analysis")
        page.click("#run-analysis")
        page.wait_for_selector("#run-progress:not([hidden])")
        _shot(page, "analysis-running")
        page.wait_for_selector("iframe.report", timeout=240_000)
        assert "The last run finished" in page.inner_text("#run-state")
        report = page.frame_locator("iframe.report")
        assert "Study selection" in report.locator("h2#prisma").inner_text()
        _shot(page, "analysis", settle_ms=1000)
    assert problems == []


def test_appraise_a_study_and_set_the_consensus(site, browser):
    folder, url = site
    with open_store(folder) as store:
        store.link(1, "S01", None)
        for stage in ("title_abstract", "full_text"):
            store.add_decisions([(1, 2, stage, "include", None), (1, 3, stage, "include", None)])
    problems: list[str] = []
    page = _page(browser, problems)
    _sign_in(page, url, "ben", "/appraise")
    page.click("#studies a:text-is('appraise')")
    for item, said in (("Q1", "yes"), ("Q2", "no"), ("Q4", "unclear")):
        page.check(f"input[aria-label='{item} {said}']")
    page.fill("input[name=note_Q2]", "diagnosis by history only")
    _shot(page, "appraise")
    page.click("#save-appraisal")
    page.wait_for_selector("text=S01: 3 judgements stored")
    page.click("text=Sign out")
    _sign_in(page, url, "ann", "/appraise/jbi_case_series/consensus?study=S01")
    assert "diagnosis by history only" in page.inner_text("#item-Q2")
    page.select_option("#item-Q1 select", "yes")
    page.click("#save-consensus")
    page.wait_for_selector("text=S01: consensus on 1 items stored")
    assert problems == []


def test_extract_two_patients_with_one_invalid_cell(site, browser):
    folder, url = site
    problems: list[str] = []
    page = _page(browser, problems)
    _sign_in(page, url, "ben", "/extract/study?study=S01")
    page.fill("input[data-study-column=first_author]", "Au0")
    page.fill("input[data-study-column=year]", "2001")
    values = [
        {"patient_id": "S01-P1", "diagnosis": "TN", "age": "54", "sex": "F",
         "pain_scale": "VAS-10", "pain_pre": "8", "pain_post": "2"},
        {"patient_id": "S01-P2", "diagnosis": "PHN", "age": "540", "sex": "M",
         "pain_scale": "VAS-10", "pain_pre": "9", "pain_post": "4"},
    ]  # fmt: skip
    for i, row in enumerate(values):
        page.click("#add-row")
        for column, value in row.items():
            page.fill(f"#grid tbody tr:nth-child({i + 1}) input[data-column={column}]", value)
    bad = page.locator("#grid tbody tr:nth-child(2) input[data-column=age]")
    page.wait_for_selector("#grid input.invalid")
    assert "out of range" in bad.get_attribute("title")
    assert "row 2, age" in page.inner_text("#problems")
    _shot(page, "extraction")
    bad.fill("54")
    page.wait_for_selector("#problems li.ok")
    page.click("#save")
    page.wait_for_selector("text=Saved 2 rows.")
    with open_store(folder) as store:
        saved = store.latest_extractions("S01")
    assert [r["reviewer"] for r in saved] == ["ben"]
    assert [p["age"] for p in saved[0]["data"]["patients"]] == ["54", "54"]
    # cy extracted the study too, with one cell read differently; the owner compares.
    theirs = saved[0]["data"]
    theirs["patients"][1] = dict(theirs["patients"][1], pain_post="4.5")
    with open_store(folder) as store:
        store.add_extraction("S01", 3, theirs)
    page.click("text=Sign out")
    _sign_in(page, url, "ann", "/extract/compare?study=S01")
    assert "1 cell differ" in page.inner_text("main")
    assert page.locator("#compared td.differs").inner_text() == "4 4.5"
    _shot(page, "compare")
    assert problems == []


def test_rows_pasted_from_a_spreadsheet_fill_the_grid_and_say_how_they_were_read(site, browser):
    _, url = site
    problems: list[str] = []
    page = _page(browser, problems)
    _sign_in(page, url, "ben", "/extract/study?study=S02")
    page.click("#add-row")
    # As copied from Excel: tabs between cells, a line per patient, units in cells, a
    # label the category map does not know, a trailing line break.
    copied = ("S02-P1\ttrigeminal neuralgia\t\t45 yrs\tfemale\tL\tVAS 0-10\t8/10\t3\n"
              "S02-P2\tTN\t\t61\tM\tright\tVAS-10\t7\t2\n"
              "S02-P3\tpost-herpetic\t\t70\tF\tleft\tVAS-10\t9\t1\n")  # fmt: skip
    page.evaluate(
        """(text) => {
            const cell = document.querySelector("#grid tbody tr input[data-column=patient_id]");
            const data = new DataTransfer();
            data.setData("text/plain", text);
            cell.dispatchEvent(new ClipboardEvent("paste", {clipboardData: data, bubbles: true,
                                                              cancelable: true}));
        }""",
        copied,
    )
    assert page.locator("#grid tbody tr").count() == 3
    assert page.input_value("#grid tbody tr:nth-child(3) input[data-column=diagnosis]") == (
        "post-herpetic"
    )
    page.wait_for_selector("#grid input.invalid")
    listed = page.inner_text("#problems")
    assert (
        "row 3, diagnosis: unknown diagnosis label" in listed
        and "Closest category: 'PHN'" in listed
    )
    assert "'45 yrs' as 45 years" in listed and "'8/10' as 8 on a 0-10 scale" in listed
    age = page.locator("#grid tbody tr:nth-child(1) input[data-column=age]")
    assert "read-as" in age.get_attribute("class")
    _shot(page, "extraction-pasted")
    assert problems == []
