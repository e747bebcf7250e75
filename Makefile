# Two commands: `make demo` runs the main job, `make test` runs the test suite.
# Both create .venv on first use; re-running is fast once it exists.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
export KERAS_BACKEND := torch

.PHONY: demo test lint bench clean browser

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	# torch first, pinned: this CPU build is on disk; the ranges in pyproject.toml are then already met.
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/lrlab plot "constant(0.1)" "step_decay(0.1, drop=0.5, step_size=30)" \
		"cosine(0.1, decay_steps=100)" "one_cycle(0.1, total_steps=100)" --steps 100

test: $(STAMP)
	$(VENV)/bin/ruff check src tests bench
	$(PY) -m pytest

bench: $(STAMP)
	$(PY) bench/lookup.py

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info
