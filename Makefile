# Quick start: `make improve` (set up, then run the main job: the default improvement run) and
# `make test` (set up, then test). `make demo` shows tasks and verifiers at work without a model.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup lock improve demo test test-fast clean

setup: $(STAMP)

# Every package comes at the exact version in constraints.txt, so a release elsewhere never changes
# what a fresh clone installs. torch is installed first from the same pin: the CPU build lies on this
# machine's disk, while an unpinned or newer torch would pull a multi-GB CUDA build.
$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -c constraints.txt torch
	$(PY) -m pip install -q -c constraints.txt -e '.[dev]'
	touch $(STAMP)

# Refresh constraints.txt on purpose: resolve pyproject.toml in a scratch venv and pin what it got.
lock:
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/pip install -q torch==$$(sed -n 's/^torch==//p' constraints.txt) && .lock-venv/bin/pip install -q '.[dev]'
	{ sed -n '1,3p' constraints.txt; .lock-venv/bin/pip freeze --exclude-editable | grep -v '^selfplay' \
	  | sed 's/^torch==\([0-9.]*\)+cpu$$/torch==\1/'; } > constraints.txt.new && mv constraints.txt.new constraints.txt
	rm -rf .lock-venv

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
