"""Run a documentation page's ```pycon blocks as one doctest, in a working folder where its figures land.

The site's build runs every page that has examples through this file (docs/hooks.py, one process per page), so a
page whose code fails, or prints other numbers than the page shows, fails `make docs` and `make test`. A page saves
its pictures under `figures/` (relative: the working folder); the build publishes them beside the page, so the
page shows them as `![...](figures/NAME.png)`. The blocks of a page share their names, in page order.

    python docs/run_page.py docs/tutorials/PAGE.md [--out DIR]   # DIR keeps the figures (default: a temporary one)

The numbers a page prints come from training, whose float32 sums depend on the kernels the CPU gets: torch, MKL,
oneDNN and numpy pick AVX-512 code where the CPU has it, and a few printed digits then change. A page therefore
runs with one thread and with those libraries held to their AVX2 code (ENV; the script restarts itself with it),
so that its numbers are the same on every x86-64 CPU with AVX2.
"""

from __future__ import annotations

import argparse
import doctest
import os
import re
import sys
import tempfile
from pathlib import Path

ENV = {
    "OMP_NUM_THREADS": "1",  # the build runs pages side by side, one per core
    "ATEN_CPU_CAPABILITY": "avx2",
    "MKL_ENABLE_INSTRUCTIONS": "AVX2",
    "ONEDNN_MAX_CPU_ISA": "AVX2",
    "NPY_DISABLE_CPU_FEATURES": "X86_V4 AVX512_ICL AVX512_SPR",
    "MPLBACKEND": "Agg",
    "PYTHONHASHSEED": "0",
}
PYCON = re.compile(r"^```pycon\n(.*?)^```", re.S | re.M)
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def examples(text: str) -> str:
    """The page's ```pycon blocks in page order, each on its own lines of the page (everything else blanked, so
    that doctest's line numbers are the page's); '' when it has none."""
    blocks = list(PYCON.finditer(text))
    if not blocks:
        return ""
    lines = [""] * (text.count("\n") + 1)
    for block in blocks:
        first = text.count("\n", 0, block.start(1))
        body = block.group(1).split("\n")
        lines[first:first + len(body)] = body
    return "\n".join(lines)


def run(page: Path, out: Path) -> tuple[int, int, str]:
    """Run `page`'s examples with `out` as the working folder (its `figures/` made first).

    Returns (examples run, failures, doctest's report of the failures).
    """
    source = examples(page.read_text(encoding="utf-8"))
    test = doctest.DocTestParser().get_doctest(source, {"__name__": "__page__"}, page.name, str(page), 0)
    (out / "figures").mkdir(parents=True, exist_ok=True)
    here = os.getcwd()
    os.chdir(out)
    report: list[str] = []
    try:
        runner = doctest.DocTestRunner(optionflags=FLAGS)
        runner.run(test, out=report.append)
    finally:
        os.chdir(here)
    return len(test.examples), runner.failures, "".join(report)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("page", type=Path)
    parser.add_argument("--out", type=Path, default=None, help="working folder that keeps the figures")
    args = parser.parse_args(argv)
    if any(os.environ.get(k) != v for k, v in ENV.items()):  # before numpy or torch is imported by a page
        here = [sys.executable, str(Path(__file__).resolve()), *(sys.argv[1:] if argv is None else argv)]
        os.execve(sys.executable, here, {**os.environ, **ENV})
    page = args.page.resolve()
    if not page.is_file():
        parser.error(f"page: no such file: {args.page}")
    with tempfile.TemporaryDirectory() as tmp:
        count, failures, report = run(page, (args.out or Path(tmp)).resolve())
    if not count:
        print(f"{args.page}: no ```pycon examples", file=sys.stderr)
        return 1
    if failures:
        print(report, file=sys.stderr)
        print(f"{args.page}: {failures} of {count} examples failed", file=sys.stderr)
        return 1
    print(f"{args.page}: {count} examples passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
