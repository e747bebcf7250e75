"""Count lrlab's public names by docstring: full, partial (some docstring), none. The baseline of issue 15.

    KERAS_BACKEND=torch .venv/bin/python scripts/docstring_coverage.py [--list] [--fail-under N]

Public names: the functions and classes defined in the public modules (their public names, not ones imported from
elsewhere), the public methods each class defines itself, every schedule kind (lrlab.KINDS), and every CLI command
(the function a subcommand runs). A docstring is *full* when it has what issue 15 asks for:

- what and why: a summary line, and at least one more sentence after it;
- the arguments: an `Args:` section naming every parameter (for a class: its `__init__`'s);
- an example: an `Examples:` section (`Example:` is read too, but the docs site renders only `Examples:` as
  code) with a `>>>` line (for a CLI command: a `$ lrlab` line);
- for a schedule kind also the formula (a `Formula` paragraph or an `lr(t) =` line) and a `Reference:` section
  naming the library schedule it equals and where it differs.

Anything less is *partial*; a name without a docstring of its own (inherited ones do not count) is *none*.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import os
import re
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

os.environ.setdefault("KERAS_BACKEND", "torch")

MODULES = (
    "lrlab.schedules.base", "lrlab.schedules.compose", "lrlab.schedules.cosine", "lrlab.schedules.cyclic",
    "lrlab.schedules.decay", "lrlab.schedules.host", "lrlab.schedules.spec", "lrlab.schedules.timm_style",
    "lrlab.schedules.transformer", "lrlab.plateau", "lrlab.rangetest", "lrlab.rangetest_rules", "lrlab.rangetest_plot",
    "lrlab.torch", "lrlab.keras", "lrlab.jax", "lrlab.lightning", "lrlab.transformers",
    "lrlab.lab.studies.compare", "lrlab.lab.studies.comparison", "lrlab.lab.studies.find", "lrlab.lab.studies.tune",
    "lrlab.lab.studies.cooldowns", "lrlab.lab.studies.forecast", "lrlab.lab.studies.forecast_fit",
    "lrlab.lab.studies.forecast_paper", "lrlab.lab.studies.forecast_checks",
    "lrlab.lab.store", "lrlab.lab.studies.tune_function", "lrlab.lab.studies.pbt", "lrlab.lab.studies.pbt_result",
    "lrlab.lab.studies.pbt_export", "lrlab.lab.studies.pbt_state", "lrlab.lab.studies.tune_trials",
    "lrlab.lab.studies.objective", "lrlab.lab.studies.rungs", "lrlab.lab.studies.tune_workers",
    "lrlab.lab.studies.tune_batches", "lrlab.lab.store_claims", "lrlab.lab.store_schema",
)


def _params(obj: Any) -> list[str]:
    target = obj.__init__ if inspect.isclass(obj) else obj
    try:
        sig = inspect.signature(target)
    except (TypeError, ValueError):
        return []
    return [p.name for p in sig.parameters.values()
            if p.name not in ("self", "cls") and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]


def _section(doc: str, *names: str) -> str:
    """The text of the first `Name:` section (the indented lines after it), '' when there is none."""
    lines = doc.splitlines()
    for i, line in enumerate(lines):
        if line.strip() in {f"{n}:" for n in names}:
            body = []
            for nxt in lines[i + 1 :]:
                if nxt.strip() and not nxt.startswith((" ", "\t")):
                    break
                body.append(nxt)
            return "\n".join(body)
    return ""


def grade(obj: Any, *, kind: bool = False, command: bool = False) -> tuple[str, list[str]]:
    """('full' | 'partial' | 'none', what a full docstring still lacks)."""
    doc = obj.__doc__
    if not doc or not doc.strip():
        return "none", ["docstring"]
    doc = inspect.cleandoc(doc)
    lacks = []
    paragraphs = [p for p in re.split(r"\n\s*\n", doc) if p.strip()]
    if len(paragraphs) < 2:
        lacks.append("what and why (a summary line and more)")
    params = [] if command else _params(obj)
    args = _section(doc, "Args", "Arguments", "Parameters")
    if params and (not args or any(not re.search(rf"^\s*{re.escape(p)}\b", args, re.M) for p in params)):
        lacks.append("Args (every parameter)")
    example = _section(doc, "Example", "Examples")
    if not re.search(r"^\s*\$ lrlab" if command else r"^\s*>>>", example, re.M):
        lacks.append("Example")
    if kind:
        if not re.search(r"Formula|lr\(t\) =", doc):
            lacks.append("formula")
        if not _section(doc, "Reference", "References"):
            lacks.append("Reference")
    return ("full" if not lacks else "partial"), lacks


def public_names() -> Iterator[tuple[str, str, Any, dict[str, bool]]]:
    """(group, qualified name, object, grade options) of every public name counted."""
    import lrlab

    kinds = set(lrlab.KINDS.values())
    for name in MODULES:
        module = importlib.import_module(name)
        for attr, obj in vars(module).items():
            if attr.startswith("_") or getattr(obj, "__module__", None) != name:
                continue
            if not (inspect.isfunction(obj) or inspect.isclass(obj)):
                continue
            if obj in kinds:
                continue  # counted with the kinds
            yield "function/class", f"{name}.{attr}", obj, {}
            if inspect.isclass(obj):
                yield from _methods(f"{name}.{attr}", obj)
    for kind, cls in sorted(lrlab.KINDS.items()):
        yield "schedule kind", f"lrlab.{kind}", cls, {"kind": True}
        yield from _methods(f"lrlab.{kind}", cls, group="method")
    for command, func in _commands():
        yield "CLI command", f"lrlab {command}", func, {"command": True}


def _methods(prefix: str, cls: type, group: str = "method") -> Iterator[tuple[str, str, Any, dict[str, bool]]]:
    for attr, member in vars(cls).items():
        if attr.startswith("_") or not inspect.isfunction(member):
            continue
        if any(attr in vars(base) for base in cls.__mro__[1:]):  # an override: documented where it is declared
            continue
        yield group, f"{prefix}.{attr}", member, {}


def _commands() -> Iterator[tuple[str, Callable[..., Any]]]:
    from lrlab.cli import build_parser

    def walk(parser: argparse.ArgumentParser, prefix: str) -> Iterator[tuple[str, Callable[..., Any]]]:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    func = sub.get_default("func")
                    if func is not None:
                        yield f"{prefix}{name}", func
                    yield from walk(sub, f"{prefix}{name} ")

    yield from walk(build_parser(), "")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--list", action="store_true", help="print every name with its grade and what it lacks")
    parser.add_argument("--fail-under", type=float, default=None, metavar="PERCENT",
                        help="exit 1 when fewer than PERCENT of the names have a full docstring")
    args = parser.parse_args(argv)
    counts: Counter[tuple[str, str]] = Counter()
    rows = []
    for group, name, obj, options in public_names():
        result, lacks = grade(obj, **options)
        counts[group, result] += 1
        rows.append((group, name, result, lacks))
    if args.list:
        for group, name, result, lacks in rows:
            print(f"{result:7s}  {group:14s}  {name}" + (f"   lacks: {', '.join(lacks)}" if lacks else ""))
        print()
    groups = list(dict.fromkeys(group for group, *_ in rows))
    print(f"{'':16s}{'full':>7s}{'partial':>9s}{'none':>7s}{'total':>7s}")
    for group in [*groups, "all"]:
        c = {g: sum(n for (gr, g2), n in counts.items() if g2 == g and (group == "all" or gr == group))
             for g in ("full", "partial", "none")}
        print(f"{group:16s}{c['full']:7d}{c['partial']:9d}{c['none']:7d}{sum(c.values()):7d}")
    total = len(rows)
    full = sum(1 for r in rows if r[2] == "full")
    print(f"full docstrings: {full} of {total} public names ({100 * full / total:.1f}%)")
    if args.fail_under is not None and 100 * full / total < args.fail_under:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
