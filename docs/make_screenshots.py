"""Regenerate the report screenshots in docs/ from the example review.

Run from the repository root after `make demo` (which writes examples/imcs-cnop/out):

    .venv/bin/python docs/make_screenshots.py

It opens the report in Debian's Chromium (headless, through Playwright) and saves one
PNG per section below into docs/, and the README's picture (docs/report.png).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from playwright.sync_api import sync_playwright

REPORT = Path("examples/imcs-cnop/out/report.html")
SECTIONS = {  # element id in the report -> screenshot file in docs/
    "studies": "report-studies.png",
    "subgroups": "report-subgroups.png",
    "small-study": "report-small-study.png",
    "grade": "report-grade.png",
    "robustness": "report-robustness.png",
    "methods": "report-methods.png",
    "prisma-checklist": "report-prisma-checklist.png",
    "data-notes": "report-data-notes.png",
}
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]


def main() -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None or not REPORT.exists():
        raise SystemExit("needs Debian's chromium and the example report (run `make demo`)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=FLAGS)
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.goto(REPORT.resolve().as_uri())
        for section, name in SECTIONS.items():
            # The section is its heading and everything up to the next h2.
            box = page.evaluate(
                """id => {
                    const start = document.getElementById(id);
                    let end = start.nextElementSibling;
                    while (end && end.tagName !== 'H2') end = end.nextElementSibling;
                    const top = start.getBoundingClientRect().top + window.scrollY;
                    const bottom = end ? end.getBoundingClientRect().top + window.scrollY
                                       : document.body.scrollHeight;
                    return {x: 0, y: top - 8, width: 1200, height: Math.min(bottom - top, 1600)};
                }""",
                section,
            )
            page.screenshot(path=str(Path("docs") / name), clip=box, full_page=True)
        # The README's picture: the first robustness panel, as a 1000 x 800 window shows it.
        page.set_viewport_size({"width": 1000, "height": 800})
        page.evaluate("document.getElementById('robustness').scrollIntoView()")
        page.screenshot(path=str(Path("docs") / "report.png"))
        browser.close()


if __name__ == "__main__":
    main()
