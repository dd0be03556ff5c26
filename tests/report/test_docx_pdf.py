"""report.docx as a word processor prints it: LibreOffice (Debian's libreoffice-writer-nogui)
converts it to PDF, every figure and table caption reaches the PDF, and no page has
anything cut off or drawn into the paper's margins. The PDF is read with poppler-utils
(pdftoppm, pdftotext, pdfimages)."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

SOFFICE = shutil.which("soffice") or shutil.which("libreoffice")
POPPLER = ("pdftoppm", "pdftotext", "pdfimages")
DPI = 50  # enough to see a table or figure in the margin; a page is 425 x 550 pixels
INK = 250  # a grey level below this is ink; the page is 255
MM = 1 / 25.4  # inches
# word.py keeps python-docx's page: Letter, margins 1.25 in left and right, 1 in top and
# bottom, so a 6.0 x 9.0 in text area; wide tables are on landscape pages with the same
# margins (8.5 x 6.5 in of text). Each page is checked against its own section's layout,
# found by its size. LibreOffice draws a little outside it on its own: a
# table's borders sit its cell padding (0.08 in, 2 mm) left of the left margin, and an
# inline picture without distL/distR is set 0.125 in (3 mm) right of it. So the strips
# that must hold no ink start TOLERANCE outside the text area and run to the paper's edge,
# 27 mm wide at the sides and 20 mm at top and bottom: a table wider than the text or an
# oversized figure draws there. The docx has no header or footer; one (page numbers, say)
# would draw in the top or bottom strip.
TOLERANCE = 5 * MM


@dataclass(frozen=True)
class Layout:
    """The page of one of report.docx's sections, in inches."""

    width: float
    height: float
    left: float
    right: float
    top: float
    bottom: float

    @property
    def text_width(self) -> float:
        return self.width - self.left - self.right

    @property
    def text_height(self) -> float:
        return self.height - self.top - self.bottom


@dataclass(frozen=True)
class Converted:
    pdf: Path
    layouts: dict[tuple[int, int], Layout]  # by the page's size at DPI, in pixels
    figure_layout: Layout  # the figures' section: the last
    captions: list[str]
    headings: list[str]
    figures: int


def _run(*args: str | Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, timeout=timeout, check=False
    )


@pytest.fixture(scope="module")
def converted(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Converted:
    if SOFFICE is None:
        pytest.skip(
            "LibreOffice (soffice) is not on PATH; apt-get install libreoffice-writer-nogui"
        )
    missing = [tool for tool in POPPLER if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"{', '.join(missing)} not on PATH; apt-get install poppler-utils")
    import docx

    # Asked for only now, so that a skip does not first wait for the report to be written.
    example_report: Path = request.getfixturevalue("example_report")
    docx_path = example_report / "report.docx"
    document = docx.Document(str(docx_path))
    layouts: dict[tuple[int, int], Layout] = {}
    for section in document.sections:
        lengths = (
            section.page_width,
            section.page_height,
            section.left_margin,
            section.right_margin,
            section.top_margin,
            section.bottom_margin,
        )
        assert all(length is not None for length in lengths), lengths
        layout = Layout(*(length.inches for length in lengths if length is not None))
        size = (round(layout.height * DPI), round(layout.width * DPI))
        assert layouts.setdefault(size, layout) == layout, "two layouts of one page size"
    paragraphs = document.paragraphs
    captions = [p.text for p in paragraphs if p.style is not None and p.style.name == "Caption"]
    headings = [
        p.text
        for p in paragraphs
        if p.style is not None and (p.style.name == "Title" or p.style.name.startswith("Heading"))
    ]

    # Its own LibreOffice profile, so that a LibreOffice the user has open (which would
    # take the job over, or lock the profile) and earlier runs do not matter.
    work = tmp_path_factory.mktemp("docx_pdf")
    profile = work / "lo-profile"
    result = _run(
        SOFFICE,
        f"-env:UserInstallation={profile.as_uri()}",
        "--headless",
        "--norestore",
        "--convert-to",
        "pdf",
        "--outdir",
        work,
        docx_path,
        timeout=180,
    )
    pdf = work / "report.pdf"
    assert result.returncode == 0 and pdf.is_file(), result.stdout + result.stderr
    return Converted(pdf, layouts, layout, captions, headings, len(document.inline_shapes))


def _pages(pdf: Path) -> list[Path]:
    """Every page as a greyscale image at DPI, written next to the PDF (PGM: a third of
    the time PNG takes)."""
    result = _run("pdftoppm", "-r", str(DPI), "-gray", pdf, pdf.with_name("page"))
    assert result.returncode == 0, result.stderr
    return sorted(pdf.parent.glob("page-*.pgm"))


def test_report_docx_converts_to_pdf_with_every_page_inside_its_margins(
    converted: Converted,
) -> None:
    from PIL import Image

    pages = _pages(converted.pdf)
    # 25 tables and 14 figures take 30-odd Letter pages; a few would mean content was lost,
    # very many a table laid out a character per line.
    assert 15 <= len(pages) <= 80, len(pages)

    inked: list[str] = []
    for number, page in enumerate(pages, start=1):
        with Image.open(page) as image:
            grey = np.asarray(image.convert("L"))
        assert grey.shape in converted.layouts, (page, grey.shape)
        layout = converted.layouts[grey.shape]
        # The strips along the four edges outside the text area (and TOLERANCE) hold no
        # ink exactly when all of a page's ink lies inside these bounds, in inches.
        x0, x1 = layout.left - TOLERANCE, layout.width - layout.right + TOLERANCE
        y0, y1 = layout.top - TOLERANCE, layout.height - layout.bottom + TOLERANCE
        rows, columns = np.nonzero(grey < INK)
        if not len(rows):
            continue
        left, right = columns.min() / DPI, (columns.max() + 1) / DPI
        top, bottom = rows.min() / DPI, (rows.max() + 1) / DPI
        if left < x0 or right > x1 or top < y0 or bottom > y1:
            inked.append(
                f"page {number}: ink from {left:.2f} to {right:.2f} in across and "
                f"{top:.2f} to {bottom:.2f} in down; the text area is {layout.left:.2f} to "
                f"{layout.width - layout.right:.2f} across, {layout.top:.2f} to "
                f"{layout.height - layout.bottom:.2f} down ({page})"
            )
    assert not inked, "\n".join(inked)


def test_every_figure_in_the_pdf_fits_the_text_area(converted: Converted) -> None:
    """LibreOffice clips an inline picture taller than the text area at the bottom margin
    (the margins stay blank); poppler reports each picture's drawn size, so compare it."""
    result = _run("pdfimages", "-list", converted.pdf)
    assert result.returncode == 0, result.stderr
    layout = converted.figure_layout
    images: list[tuple[int, float, float]] = []  # page, drawn width and height in inches
    for line in result.stdout.splitlines()[2:]:
        # page num type width height color comp bpc enc interp object ID x-ppi y-ppi size ratio
        field = line.split()
        if field[2] == "image":  # not the "smask" transparency of each PNG
            images.append(
                (int(field[0]), int(field[3]) / int(field[12]), int(field[4]) / int(field[13]))
            )
    assert len(images) >= converted.figures, result.stdout
    slack = 1.02  # pdfimages rounds the resolution to whole dots per inch
    too_big = [
        f"page {page}: a picture {width:.2f} x {height:.2f} in, the text area is "
        f"{layout.text_width:.2f} x {layout.text_height:.2f} in"
        for page, width, height in images
        if width > layout.text_width * slack or height > layout.text_height * slack
    ]
    assert not too_big, "\n".join(too_big)


def test_pdf_text_has_every_heading_and_caption(converted: Converted) -> None:
    # -raw: the text in the order LibreOffice wrote it (the document's), not re-sorted by
    # position, which can put a short table's caption before the table above it.
    result = _run("pdftotext", "-raw", "-enc", "UTF-8", converted.pdf, "-")
    assert result.returncode == 0, result.stderr
    text = " ".join(result.stdout.split())  # a caption may wrap over lines

    def words(line: str) -> str:
        return " ".join(line.split())

    assert sum(c.startswith("Table ") for c in converted.captions) >= 20
    assert sum(c.startswith("Figure ") for c in converted.captions) == converted.figures
    missing = [line for line in converted.headings + converted.captions if words(line) not in text]
    assert not missing, missing
    # In order: Table 1 before Table 2 ... before Figure 1 ...
    places = [text.find(words(c)) for c in converted.captions]
    assert places == sorted(places)
