# Two commands for a new user: `make run` (serve the seeds) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INDEX ?= embeddings
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install install-test run test ingest bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# torch first and pinned: this takes the CPU wheel; an unpinned torch pulls a multi-GB CUDA build.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(BIN)/pip install --quiet -e '.[test]'
	# Debian packages the tests drive: Chromium (browser tests) and Tesseract (OCR of scanned PDF pages).
	(command -v chromium && command -v tesseract) >/dev/null || \
		(apt-get update -qq && apt-get install -y -qq chromium tesseract-ocr >/dev/null)
	touch $@

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test

$(INDEX)/qa.sqlite3: | $(VENV)/.installed
	$(BIN)/qa ingest --index $(INDEX) seeds/

ingest: install
	$(BIN)/qa ingest --index $(INDEX) seeds/

run: install $(INDEX)/qa.sqlite3
	$(BIN)/qa serve --index $(INDEX) --host $(HOST) --port $(PORT)

test: install-test
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) build *.egg-info
