"""The example notebook runs end to end, headless, as a reader would run it.

``examples/imcs-cnop/walkthrough.ipynb`` is executed by nbclient in a kernel of this very
interpreter, with the notebook's folder as the working directory. A cell injected after
its ``parameters`` cell (as papermill injects one) sends the report to a temporary folder:
nothing may be written into the example folder, and the test checks that. The notebook
file is only read; the executed copy stays in memory.
"""

from __future__ import annotations

import base64
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest
from jupyter_client.kernelspec import NATIVE_KERNEL_NAME, KernelSpecManager
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient
from nbformat import NotebookNode

from ipdmeta import meta
from ipdmeta.data import load_review
from tests.conftest import EXAMPLE

pytestmark = pytest.mark.slow

NOTEBOOK = EXAMPLE / "walkthrough.ipynb"
CELL_TIMEOUT = 300  # seconds per cell; the whole notebook takes 12-20 s on 2 cores

# Follows the notebook's `parameters` cell; prints which Python the kernel runs.
INJECTED = """\
import sys

OUT = Path({out!r})
print(sys.executable)
print(sys.prefix)
"""

# Path -> (is a folder, size, modification time in ns).
Listing = dict[str, tuple[bool, int, int]]


@dataclass(frozen=True)
class Executed:
    notebook: NotebookNode
    out: Path
    before: Listing
    after: Listing


def listing(folder: Path) -> Listing:
    """Every entry under ``folder`` and the folder itself, hidden ones included."""
    entries: Listing = {}
    for path in [folder, *folder.rglob("*")]:
        stat = path.lstat()
        key = path.relative_to(folder).as_posix()
        entries[key] = (path.is_dir(), stat.st_size, stat.st_mtime_ns)
    return entries


def kernel_of_this_python(scratch: Path) -> AsyncKernelManager:
    """A kernel manager for ipykernel's built-in spec, whose argv[0] is ``sys.executable``.

    A "python3" kernel installed for the user or the system would win the usual lookup
    and could run another Python, without this project's packages.
    """
    specs = KernelSpecManager(kernel_dirs=[])
    argv = specs.get_kernel_spec(NATIVE_KERNEL_NAME).argv
    assert argv[0] == sys.executable, argv
    manager = AsyncKernelManager(kernel_name=NATIVE_KERNEL_NAME, kernel_spec_manager=specs)
    manager.connection_file = str(scratch / "kernel.json")
    return manager


@pytest.fixture(scope="module")
def executed(tmp_path_factory: pytest.TempPathFactory) -> Executed:
    scratch = tmp_path_factory.mktemp("notebook")
    out = scratch / "out"
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    params = [i for i, c in enumerate(notebook.cells) if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1, "the notebook needs one cell tagged 'parameters'"
    injected = nbformat.v4.new_code_cell(INJECTED.format(out=str(out)), id="injected")
    notebook.cells.insert(params[0] + 1, injected)
    env = {
        **os.environ,
        # The backend a Jupyter session gives, whatever MPLBACKEND this test run has.
        "MPLBACKEND": "module://matplotlib_inline.backend_inline",
        "IPYTHONDIR": str(scratch / "ipython"),  # IPython's history and profile
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    before = listing(EXAMPLE)
    client = NotebookClient(
        notebook,
        km=kernel_of_this_python(scratch),
        timeout=CELL_TIMEOUT,
        kernel_name=NATIVE_KERNEL_NAME,
        allow_errors=False,
        resources={"metadata": {"path": str(NOTEBOOK.parent)}},  # the working directory
    )
    client.execute(env=env, cleanup_kc=True)  # raises CellExecutionError on a failing cell
    return Executed(notebook, out, before, listing(EXAMPLE))


def cell(notebook: NotebookNode, cell_id: str) -> NotebookNode:
    cells: list[NotebookNode] = notebook.cells
    for c in cells:
        if c.get("id") == cell_id:
            return c
    raise AssertionError(f"the notebook has no cell {cell_id!r}")


def data(notebook: NotebookNode, cell_id: str, mime: str) -> list[str]:
    """The ``mime`` parts of a cell's results and displays, in order."""
    outputs = cell(notebook, cell_id).outputs
    return [o["data"][mime] for o in outputs if mime in o.get("data", {})]


def html(notebook: NotebookNode, cell_id: str) -> str:
    parts = data(notebook, cell_id, "text/html")
    assert parts, f"cell {cell_id!r} shows no HTML"
    return parts[-1]


def stdout(notebook: NotebookNode, cell_id: str) -> str:
    outputs = cell(notebook, cell_id).outputs
    return "".join(o["text"] for o in outputs if o.get("name") == "stdout")


def test_every_cell_ran_without_error(executed: Executed) -> None:
    code = [c for c in executed.notebook.cells if c.cell_type == "code"]
    assert all(isinstance(c.execution_count, int) for c in code)
    errors = [o for c in code for o in c.outputs if o["output_type"] == "error"]
    assert errors == []


def test_the_kernel_ran_this_python(executed: Executed) -> None:
    assert stdout(executed.notebook, "injected") == f"{sys.executable}\n{sys.prefix}\n"


def test_nothing_is_written_into_the_example_folder(executed: Executed) -> None:
    assert executed.after == executed.before
    # The report went where the injected parameter sent it.
    assert (executed.out / "report.html").is_file()
    assert "report.html" in data(executed.notebook, "files", "text/plain")[0]


def test_the_run_shows_one_progress_bar_and_its_headlines(executed: Executed) -> None:
    # One display, updated in place stage by stage; nbclient keeps its last state.
    bars = [h for h in data(executed.notebook, "run", "text/html") if "<progress" in h]
    assert len(bars) == 1
    assert 'value="1" max="1"' in bars[0] and "done" in bars[0]
    texts = data(executed.notebook, "run", "text/plain")
    assert len(texts) == 2 and texts[0].endswith("done")  # the bar's text, then the run
    shown = html(executed.notebook, "run")
    assert "studies," in shown and "patients; median relief" in shown
    assert f"Report: {executed.out / 'report.html'}" in shown


def test_the_mixed_model_shows_as_html_tables(executed: Executed) -> None:
    nb = executed.notebook
    fit = html(nb, "lmm")
    assert fit.startswith('<div class="ipdmeta-result">')
    assert "Fixed effects (Satterthwaite df)" in fit and fit.count("<table") == 2
    assert data(nb, "same", "text/plain") == ["('relief_pct ~ diagnosis + (1 | study_id)', 0.0)"]
    assert html(nb, "summary").startswith('<pre class="ipdmeta-summary">Linear mixed model')
    for table in ("fixef", "emmeans", "pairs"):
        assert "<table" in html(nb, table)
    assert "diagnosis[T.TN]" in html(nb, "fixef")
    assert "TN - TNP" in html(nb, "pairs")


def test_the_two_stage_analysis_shows_its_pooled_estimate_and_forest_plot(
    executed: Executed,
) -> None:
    review = load_review(EXAMPLE)
    studies = meta.study_summaries(review.patients, study="study_id", outcome="relief_pct")
    expected = studies.random_effects(method="REML")
    nb = executed.notebook
    assert "<table" in html(nb, "studies")
    pooled = html(nb, "rma")
    assert f"Random-effects meta-analysis (REML), k = {expected.k}" in pooled
    assert f"<td>{expected.estimate:.4f}</td>" in pooled
    estimates = data(nb, "compare", "text/plain")
    assert estimates == [repr((expected.estimate, expected.estimate))]
    images = data(nb, "forest", "image/png")
    assert len(images) == 1
    assert base64.b64decode(images[0]).startswith(b"\x89PNG\r\n\x1a\n")
