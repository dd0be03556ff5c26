"""The report as a reader sees it: opened in headless Chromium, every figure drawn, no
errors logged, a screenshot taken. Chromium is Debian's (make test installs it)."""

from __future__ import annotations

import shutil

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def test_report_renders_in_chromium(example_report, tmp_path):
    if CHROMIUM is None:
        pytest.fail("chromium is not installed; `make test` installs Debian's chromium package")
    from playwright.sync_api import sync_playwright

    messages: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.on("console", lambda m: messages.append(f"{m.type}: {m.text}"))
        page.on("pageerror", lambda e: messages.append(f"pageerror: {e}"))
        page.on("requestfailed", lambda r: messages.append(f"request failed: {r.url}"))
        page.goto((example_report / "report.html").as_uri())
        sizes = page.evaluate(
            "Array.from(document.querySelectorAll('.figure svg'))"
            ".map(s => { const r = s.getBoundingClientRect(); return [r.width, r.height]; })"
        )
        headings = page.evaluate(
            "Array.from(document.querySelectorAll('h2, h3')).map(h => h.textContent)"
        )
        # Text of a figure drawn outside its SVG's box is cut off on screen; the browser
        # measures with the font it really uses.
        outside = page.evaluate(
            """Array.from(document.querySelectorAll('.figure svg')).flatMap(svg => {
                 const box = svg.getBoundingClientRect();
                 return Array.from(svg.querySelectorAll('text'))
                   .filter(t => { const r = t.getBoundingClientRect();
                     return r.width > 0 && (r.left < box.left - 1 || r.right > box.right + 1
                       || r.top < box.top - 1 || r.bottom > box.bottom + 1); })
                   .map(t => t.textContent); })"""
        )
        rows = page.evaluate(
            """Object.fromEntries(['studies', 'subgroups', 'small-study', 'grade',
                 'prisma-checklist'].map(id => {
                 let n = 0, el = document.getElementById(id).nextElementSibling;
                 while (el && el.tagName !== 'H2') {
                   n += el.querySelectorAll('tr').length + (el.tagName === 'TR' ? 1 : 0);
                   el = el.nextElementSibling; }
                 return [id, n]; }))"""
        )
        shot = tmp_path / "report.png"
        page.screenshot(path=str(shot), full_page=True)
        browser.close()
    for section in (
        "Included studies",
        "Subgroups of studies",
        "Small-study effects",
        "Certainty of the evidence (GRADE)",
        "PRISMA 2020 checklist",
        "References",
        "How the data were read",
        "Patients excluded from the analysis",
    ):
        assert section in headings, section
    assert outside == []
    # Table 1 has a row per study, the PRISMA checklist one per item, and so on
    assert rows["studies"] > 23 and rows["prisma-checklist"] > 42, rows
    assert rows["subgroups"] > 4 and rows["small-study"] > 1 and rows["grade"] > 1, rows
    assert len(sizes) >= 11
    assert all(w > 100 and h > 100 for w, h in sizes), sizes
    assert messages == []
    assert shot.stat().st_size > 100_000
