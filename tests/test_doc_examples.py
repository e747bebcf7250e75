"""The examples in the docstrings of src/lrlab run as tests, so they cannot rot.

Every module whose source holds a `>>>` example is run through doctest (one test per module). The modules are
found by reading their source, so collecting imports nothing; a module is imported by its own test. The ```pycon
examples of the docs/ pages run while the site builds (docs/run_page.py, from docs/hooks.py; tests/docs/), and
the runner itself is tested here: a wrong number fails with the page's line, figures land in figures/.
"""

from __future__ import annotations

import doctest
import importlib
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
DOCS = ROOT / "docs"
FLAGS = doctest.ELLIPSIS


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = sorted(_module_name(p) for p in (SRC / "lrlab").rglob("*.py") if ">>>" in p.read_text(encoding="utf-8"))


def test_the_examples_are_found():
    """The collector sees the examples it is meant to run (a broken pattern would silently run none)."""
    assert "lrlab.schedules.decay" in MODULES


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    tests = [t for t in doctest.DocTestFinder(exclude_empty=True).find(module, name) if t.examples]
    assert tests, f"{name} has '>>>' in its source but no doctest example was found"
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    failures: list[str] = []
    for test in tests:
        runner.run(test, out=failures.append)
    assert runner.failures == 0, "".join(failures)


def _run_page(page: Path, out: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(DOCS / "run_page.py"), str(page), "--out", str(out)],
                          capture_output=True, text=True, timeout=120)


def test_a_page_runs_with_its_figures(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("""# A page

```pycon
>>> import matplotlib
>>> matplotlib.use("Agg")
>>> import matplotlib.pyplot as plt
>>> fig, ax = plt.subplots()
>>> _ = ax.plot([0, 1], [1, 0])
>>> fig.savefig("figures/line.png")
```

Text between blocks; names carry over, and the page runs with one thread and AVX2 kernels:

```pycon
>>> print(round(1 / 3, 4))
0.3333
>>> import os
>>> os.environ["OMP_NUM_THREADS"], os.environ["ATEN_CPU_CAPABILITY"], os.environ["MKL_ENABLE_INSTRUCTIONS"]
('1', 'avx2', 'AVX2')
```
""")
    done = _run_page(page, tmp_path / "out")
    assert done.returncode == 0, done.stderr
    assert "9 examples passed" in done.stdout
    assert (tmp_path / "out" / "figures" / "line.png").read_bytes().startswith(b"\x89PNG")


def test_a_wrong_number_fails_with_the_page_line(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("# A page\n\nSome text.\n\n```pycon\n>>> 1 + 1\n2\n>>> print(2 ** 10)\n1000\n```\n")
    done = _run_page(page, tmp_path / "out")
    assert done.returncode == 1
    assert 'page.md", line 8' in done.stderr and "Got:\n    1024" in done.stderr
    assert "1 of 2 examples failed" in done.stderr
    empty = tmp_path / "empty.md"
    empty.write_text("# Nothing to run\n")
    assert _run_page(empty, tmp_path / "out2").returncode == 1


def test_the_pages_with_examples_are_found():
    """The pages the site's build runs (a broken pattern would silently run none)."""
    spec = importlib.util.spec_from_file_location("run_page", DOCS / "run_page.py")
    run_page = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(run_page)
    pages = {p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md") if run_page.examples(p.read_text("utf-8"))}
    assert {"getting-started.md", "tutorials/keras-schedules.md"} <= pages
