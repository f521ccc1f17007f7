# Quick start: `make improve` (set up, then run the main job: the default improvement run) and
# `make test` (set up, then test). `make demo` shows tasks and verifiers at work without a model.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup improve demo test test-fast clean

setup: $(STAMP)

# torch is pinned and installed first: the CPU build lies on this machine's disk, while an
# unpinned or newer torch would pull a multi-GB CUDA build.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

# The default improvement run (configs/default.yaml) in ~/selfplay-runs/default; rerunning continues
# it (finished rounds are read back) and prints the round table again.
improve: setup
	$(VENV)/bin/lab improve --preset default --name default

demo: setup
	$(VENV)/bin/lab demo

test: setup
	$(PY) -m pytest

test-fast: setup
	$(PY) -m pytest -m "not slow"

clean:
	rm -rf $(VENV) build *.egg-info
