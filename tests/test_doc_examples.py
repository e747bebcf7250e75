"""The examples in the docstrings of src/lrlab and in the pages of docs/ run as tests, so they cannot rot.

Every module whose source holds a `>>>` example is run through doctest (one test per module), and every
```pycon block of a docs/*.md page (one test per page, its blocks in order, sharing their names). The modules
are found by reading their source, so collecting imports nothing; a module is imported by its own test.
"""

from __future__ import annotations

import doctest
import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
DOCS = ROOT / "docs"
FLAGS = doctest.ELLIPSIS
PYCON = re.compile(r"^```pycon\n(.*?)^```", re.S | re.M)


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = sorted(_module_name(p) for p in (SRC / "lrlab").rglob("*.py") if ">>>" in p.read_text(encoding="utf-8"))
PAGES = sorted(p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md") if PYCON.search(p.read_text("utf-8")))


def test_the_examples_are_found():
    """The collector sees the examples it is meant to run (a broken pattern would silently run none)."""
    assert "lrlab.schedules.decay" in MODULES
    assert "getting-started.md" in PAGES


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


@pytest.mark.parametrize("page", PAGES)
def test_page_examples(page):
    path = DOCS / page
    source = "\n".join(block for block in PYCON.findall(path.read_text(encoding="utf-8")))
    test = doctest.DocTestParser().get_doctest(source, {}, page, str(path), 0)
    assert test.examples
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    failures: list[str] = []
    runner.run(test, out=failures.append)
    assert runner.failures == 0, "".join(failures)
