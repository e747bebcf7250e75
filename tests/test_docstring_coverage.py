"""scripts/docstring_coverage.py grades docstrings as issue 15 defines a full one."""

import importlib.util
from pathlib import Path

import lrlab

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "docstring_coverage.py"
spec = importlib.util.spec_from_file_location("docstring_coverage", SCRIPT)
coverage = importlib.util.module_from_spec(spec)
spec.loader.exec_module(coverage)


def test_exponential_is_full_and_a_bare_kind_is_none():
    assert coverage.grade(lrlab.exponential, kind=True) == ("full", [])

    class bare:  # a kind's shape without a docstring (not a Schedule subclass: that would register a kind)
        def __init__(self, initial_lr: float) -> None:
            self.initial_lr = initial_lr

    assert coverage.grade(bare, kind=True) == ("none", ["docstring"])


def test_what_a_partial_docstring_lacks():
    def f(a, b=1):
        """Do it.

        Because.

        Args:
            a: the first.

        Example:
            >>> f(1)
        """

    assert coverage.grade(f) == ("partial", ["Args (every parameter)"])
    f.__doc__ = "One line."
    assert coverage.grade(f)[1] == ["what and why (a summary line and more)", "Args (every parameter)", "Example"]
    f.__doc__ = f.__doc__ + "\n\nWhy.\n\nArgs:\n    a: x\n    b: y\n\nExample:\n    >>> f(1)\n"
    assert coverage.grade(f) == ("full", [])
    assert coverage.grade(f, kind=True) == ("partial", ["formula", "Reference"])


def test_the_counts_cover_every_kind_and_command():
    names = {(group, name) for group, name, _, _ in coverage.public_names()}
    assert {name for group, name in names if group == "schedule kind"} == {f"lrlab.{k}" for k in lrlab.KINDS}
    assert {"lrlab compare", "lrlab runs show", "lrlab list"} <= {name for group, name in names
                                                                    if group == "CLI command"}


def test_every_public_name_has_a_full_docstring():
    # issue 15: a new public function, class, kind or command without what/why, Args, an example (and for a kind
    # the formula and the reference) fails here; the list says what each one lacks
    missing = [f"{name}: lacks {', '.join(lacks)}" for _, name, obj, options in coverage.public_names()
               for result, lacks in [coverage.grade(obj, **options)] if result != "full"]
    assert not missing, "\n".join(missing)


def test_examples_sections_are_titled_examples():
    # griffe (the docs site's parser) reads a Google "Example:" section as an admonition of plain markdown, so its
    # >>> lines render as quotes and its outputs as links (the strict build then fails); "Examples:" is code
    src = Path(__file__).resolve().parents[1] / "src"
    singular = [f"{path.relative_to(src)}:{i}" for path in sorted(src.rglob("*.py"))
                for i, line in enumerate(path.read_text().splitlines(), 1) if line.strip() == "Example:"]
    assert not singular, singular
