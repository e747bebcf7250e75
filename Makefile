# Two commands: `make demo` runs the main job, `make test` runs the test suite.
# Both create .venv on first use; re-running is fast once it exists.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
export KERAS_BACKEND := torch

.PHONY: demo test docs docs-serve bench browser clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	# torch first, pinned: this CPU build is on disk; the ranges in pyproject.toml are then already met.
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[dev]'
	# timm's schedulers are a test reference; its requirements would replace the CPU torch with a CUDA build
	$(PY) -m pip install -q --no-deps 'timm>=1.0,<2'
	touch $(STAMP)

# The main job: six schedules on the fourth seed's task (Adam, 3 seeds), a leaderboard and lrlab-out/report.html.
# Runs are kept in lrlab-runs/runs.db, so a second `make demo` reuses them. The 18 runs train as one stack
# (--engine auto: lrlab.lab.stacked, equal to one run after another); --engine sequential trains them one by one.
DEMO_SPECS := 'constant(0.01)' 'step_decay(0.01, drop=0.5, step_size=150)' \
	'exponential(0.01, decay_steps=100, decay_rate=0.7)' 'cosine(0.01)' 'one_cycle(0.02)' \
	'constant(0.05)@plateau(factor=0.5, patience=5, min_lr=1e-5)'

demo: $(STAMP)
	$(VENV)/bin/lrlab compare quantiles $(DEMO_SPECS) --optimizer adam --epochs 50 --seeds 3 --engine auto --out lrlab-out
	@echo "report: $(CURDIR)/lrlab-out/report.html"

test: $(STAMP)
	$(VENV)/bin/ruff check src tests bench scripts docs
	# two workers (a file's tests stay together: module fixtures such as the docs build run once)
	$(PY) -m pytest -n 2 --dist loadfile

# The documentation site into site/ (mkdocs.yml; --strict: a broken link or reference fails). docs/hooks.py draws
# the schedule gallery, writes the CLI reference and runs every page's examples (docs/run_page.py) while it builds;
# `make test` builds it too (tests/docs/).
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --site-dir site

docs-serve: docs  # the built site over http: its search needs a server (a page opened from the file system has none)
	$(PY) -m http.server --directory site 8000

bench: $(STAMP)
	$(PY) bench/lookup.py
	$(PY) bench/train_throughput.py
	$(PY) bench/stacked.py
	$(PY) bench/tune_quantiles.py
	# issue 25 on quantiles only (minutes); digits and mnist1d: bench/tune_vs_optuna.py --tasks quantiles,digits,mnist1d
	$(PY) bench/tune_vs_optuna.py --tasks quantiles

# Debian's Chromium, so the report test renders report.html headless and checks the leaderboard fits at 1400 and
# 700 px and the figures' text shows at 9 px or more (the test skips without it; .ci/run installs it first).
browser:
	command -v chromium >/dev/null || (apt-get update -q && apt-get install -y -q chromium)

clean:
	rm -rf $(VENV) build site *.egg-info src/*.egg-info
