"""One report of the example review, written once for the report tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from ipdmeta.cli import main
from tests.conftest import EXAMPLE


@pytest.fixture(scope="session")
def example_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("report") / "out"
    assert main(["run", str(EXAMPLE), "--out", str(out), "--quiet"]) == 0
    return out
