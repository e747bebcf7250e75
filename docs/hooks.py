"""MkDocs hooks: pages that lrlab draws and writes itself while the site builds, never committed.

- gallery.md and gallery/*.png: every schedule kind's curve (lrlab.viz.schedule_plots), one example spec per kind;
  the build fails when a kind has no example here, so a new kind cannot be missing from the gallery.
- cli.md: the usage and options of every `lrlab` subcommand, from the argparse parser (lrlab.cli.build_parser).
- every page with ```pycon examples is run (docs/run_page.py, one process per page, as many at once as there are
  cores): a failing example fails the build, and the figures the page saves under figures/ are published beside it.

The files are handed to MkDocs in memory (File.generated), so nothing is written into docs/.
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import os
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, Files

DOCS = Path(__file__).resolve().parent

GALLERY_STEPS = 100
# The content column is 1015 CSS px at its widest (docs/stylesheets/extra.css's 1600 px grid, measured in Chromium):
# a figure 10.5 inches wide shows its text at its point size there (96 px an inch), and at 192 dpi it has 2 pixels
# a px, sharp on a high-density screen.
PAGE_FIGURE = (10.5, 4.2)
PAGE_DPI = 192

# One example per kind: (spec, steps drawn). Composites wrap a simple schedule so their effect is visible.
GALLERY: dict[str, str] = {
    "constant": "constant(0.1)",
    "step_decay": "step_decay(0.1, drop=0.5, step_size=25)",
    "multistep": "multistep(0.1, [30, 60, 80], gamma=0.5)",
    "piecewise": "piecewise([20, 50, 75], [0.1, 0.05, 0.02, 0.01])",
    "exponential": "exponential(0.1, decay_steps=20, decay_rate=0.5)",
    "inverse_time": "inverse_time(0.1, decay_steps=10, decay_rate=0.5)",
    "polynomial": "polynomial(0.1, decay_steps=80, end_lr=0.001, power=2.0)",
    "linear": "linear(0.1, 0.01, 80)",
    "cosine": "cosine(0.0, 80, alpha=0.05, warmup_target=0.1, warmup_steps=20)",
    "cosine_restarts": "cosine_restarts(0.1, 10, t_mul=2.0, m_mul=0.8, alpha=0.01)",
    "cyclic": 'cyclic(0.01, 0.1, 10, 15, mode="triangular2")',
    "cyclic_momentum": 'cyclic_momentum(0.8, 0.95, 10, 15, mode="triangular2")',
    "one_cycle": "one_cycle(0.1, 100)",
    "one_cycle_momentum": "one_cycle_momentum(0.85, 0.95, 100)",
    "inverse_sqrt": "inverse_sqrt(0.1, 10)",
    "wsd": 'wsd(0.1, 100, 10, 20, decay="1-sqrt")',
    "tanh_decay": "tanh_decay(0.1, 100, end_lr=0.001)",
    "noise": 'noise(cosine(0.1, 100), [20, 80], noise_pct=0.3, noise_type="uniform", noise_seed=4)',
    "random_uniform": "random_uniform(0.01, 0.1, seed=3)",
    "warmup": "warmup(cosine(0.1, 80), 20)",
    "join": "join([linear(0.0, 0.1, 20), constant(0.1), exponential(0.1, 10, 0.5)], [20, 50])",
    "per_epoch": "per_epoch(exponential(0.1, 1, 0.8), 10)",
    "scale": "cosine(0.1, 100) * 0.5",
    "product": "cosine(0.1, 100) * step_decay(1.0, 0.5, 30)",
    "clip": "cosine(0.1, 100).clip(0.02, 0.08)",
    "custom": None,  # built in _gallery_schedules: a function has no spec until it is registered
}


def _custom_rate(step: int) -> float:
    """The gallery's custom schedule: 0.1 / sqrt(1 + step / 10)."""
    return 0.1 / math.sqrt(1.0 + step / 10.0)


def _gallery_schedules() -> dict[str, Any]:
    import lrlab

    missing = sorted(set(lrlab.KINDS) - set(GALLERY))
    if missing:
        raise ValueError(f"docs/hooks.py: no gallery example for the kind(s) {', '.join(missing)}")
    out = {}
    for kind, spec in GALLERY.items():
        s = lrlab.custom(_custom_rate) if spec is None else lrlab.parse(spec)
        if s.kind != kind:
            raise ValueError(f"docs/hooks.py: the gallery example of {kind} is a {s.kind}: {spec}")
        out[kind] = s
    return out


def gallery_files(config: Any) -> list[File]:
    """gallery.md and one PNG per kind, drawn by lrlab.viz.schedule_plots."""
    import lrlab
    from lrlab.viz import _figure
    from lrlab.viz.schedule_plots import schedules_figure

    lines = [
        "# Schedule gallery",
        "",
        f"Every schedule kind of lrlab, drawn by lrlab over {GALLERY_STEPS} steps while this site was built "
        "(`lrlab.viz.schedule_plots`; the same figure as `lrlab plot SPEC --steps 100 -o FILE.png`). Markers show "
        "where a kind changes regime (`Schedule.events`). The line under each title is the spec that draws it, and "
        "reads back with `lrlab.parse`. `lrlab list` prints the same kinds with their parameters.",
        "",
    ]
    files = []
    for kind, schedule in _gallery_schedules().items():
        cls = lrlab.KINDS[kind]
        fig = schedules_figure([schedule], GALLERY_STEPS, labels=[kind], size=PAGE_FIGURE)
        files.append(File.generated(config, f"gallery/{kind}.png", content=_figure.to_bytes(fig, "png", dpi=PAGE_DPI)))
        spec = repr(schedule) if GALLERY[kind] is not None else "custom(fn)  # fn(step) = 0.1 / sqrt(1 + step / 10)"
        lines += [f"## {kind}", "", cls.summary, "", "```python", spec, "```", "",
                  f"![{kind}: learning rate over {GALLERY_STEPS} steps](gallery/{kind}.png)", ""]
    files.append(File.generated(config, "gallery.md", content="\n".join(lines)))
    return files


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _command_section(name: str, parser: argparse.ArgumentParser, helps: dict[str, str], level: int) -> list[str]:
    lines = ["#" * level + f" {name}", ""]
    if helps.get(name):
        lines += [helps[name][0].upper() + helps[name][1:] + ".", ""]
    lines += ["```text", parser.format_help().rstrip(), "```", ""]
    sub = _subcommands(parser)
    sub_helps = _help_lines(parser)
    for child, child_parser in sub.items():
        lines += _command_section(f"{name} {child}", child_parser, {f"{name} {child}": sub_helps.get(child, "")},
                                  level + 1)
    return lines


def _help_lines(parser: argparse.ArgumentParser) -> dict[str, str]:
    """The one-line help each subcommand was registered with."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return {a.dest: a.help or "" for a in action._choices_actions}
    return {}


def cli_file(config: Any) -> File:
    """cli.md: `lrlab --help` and every subcommand's help, as argparse prints them (100 columns)."""
    from lrlab.cli import build_parser

    previous = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "100"
    try:
        parser = build_parser()
        lines = [
            "# CLI reference",
            "",
            "Generated from the argparse parser (`lrlab.cli.build_parser`) while this site was built: each section "
            "is what `lrlab COMMAND --help` prints. Bad input to any command prints one line to stderr and exits "
            "with status 2.",
            "",
            "```text",
            parser.format_help().rstrip(),
            "```",
            "",
        ]
        helps = _help_lines(parser)
        for name, sub in _subcommands(parser).items():
            lines += _command_section(name, sub, helps, 2)
    finally:
        if previous is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = previous
    return File.generated(config, "cli.md", content="\n".join(lines))


def _run_page(page: Path, out: Path) -> subprocess.CompletedProcess:
    # run_page sets its own environment (one thread, AVX2 kernels): see its docstring
    return subprocess.run([sys.executable, str(DOCS / "run_page.py"), str(page), "--out", str(out)],
                          capture_output=True, text=True)


def page_files(config: Any, files: Files) -> list[File]:
    """Run every page that has examples; its figures/ become files beside it. A failing page fails the build."""
    spec = importlib.util.spec_from_file_location("run_page", DOCS / "run_page.py")
    run_page = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(run_page)
    pages = [f for f in files.documentation_pages() if run_page.examples(Path(f.abs_src_path).read_text("utf-8"))]
    if not pages:
        return []
    with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        outs = {f.src_uri: Path(tmp) / str(i) for i, f in enumerate(pages)}
        done = dict(zip(outs, pool.map(lambda f: _run_page(Path(f.abs_src_path), outs[f.src_uri]), pages)))
        failed = [f"{uri}:\n{result.stderr[-6000:]}" for uri, result in done.items() if result.returncode]
        if failed:
            raise PluginError("examples failed on " + "\n".join(failed))
        generated: dict[str, File] = {}
        for uri, out in outs.items():
            folder = Path(uri).parent
            for figure in sorted((out / "figures").rglob("*")):
                if figure.is_file():
                    dest = (folder / "figures" / figure.relative_to(out / "figures")).as_posix()
                    if dest in generated:
                        raise PluginError(f"{uri} writes {dest}, which another page writes too")
                    generated[dest] = File.generated(config, dest, content=figure.read_bytes())
    return list(generated.values())


def on_files(files: Files, config: Any) -> Files:
    for file in [*gallery_files(config), cli_file(config), *page_files(config, files)]:
        files.append(file)
    return files
