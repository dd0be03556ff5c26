# Every target sets itself up: the virtual environment is created and the package
# installed on first use, and again whenever pyproject.toml changes.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test demo lint typecheck pytest browser office bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

test: lint typecheck pytest

PY_DIRS := $(wildcard src tests benchmarks examples)

lint: $(STAMP)
	$(BIN)/ruff check $(PY_DIRS)
	$(BIN)/ruff format --check $(PY_DIRS)

typecheck: $(STAMP)
	$(BIN)/mypy

# On every core, each test file whole on one worker (a file's fixtures, such as the
# example's report, are then made once).
pytest: $(STAMP) browser office
	$(BIN)/pytest -q -n auto --dist loadfile

# The report tests open report.html in Debian's Chromium; install it when it is absent.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
		echo "Installing Debian's chromium for the report tests"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; }

# report.docx is converted to PDF by Debian's LibreOffice and its pages read with
# poppler-utils in the report tests; install them when they are absent.
office:
	@{ command -v soffice >/dev/null 2>&1 && command -v pdftoppm >/dev/null 2>&1; } || { \
		echo "Installing Debian's libreoffice-writer-nogui and poppler-utils for the report tests"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq \
			libreoffice-writer-nogui poppler-utils >/dev/null; }

demo: $(STAMP)
	$(BIN)/ipdmeta validate examples/imcs-cnop
	$(BIN)/python examples/imcs-cnop/search/build_store.py examples/imcs-cnop
	$(BIN)/ipdmeta run examples/imcs-cnop

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) build dist .pytest_cache .mypy_cache .ruff_cache
