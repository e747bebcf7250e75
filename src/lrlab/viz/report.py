"""The HTML report of a comparison: one self-contained file (images embedded as base64, CSS inline,
no external URL) with the leaderboard, the training curves, the config of every run and the command
that reproduces it. Under the leaderboard a line says what it is ranked by (the comparison's `ranking`: the final
validation figure, the test figure beside it not ranking; or the final training loss, and why)."""

from __future__ import annotations

import base64
import html
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import _figure

CSS = """
body { font-family: -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; margin: 2em auto;
       max-width: 1180px; padding: 0 1em; color: #222; background: #fff; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; } h2 { font-size: 1.25em; margin-top: 1.6em;
     border-bottom: 1px solid #ddd; padding-bottom: 0.2em; }
.sub { color: #666; margin-top: 0; }
pre { background: #f5f5f5; border: 1px solid #e3e3e3; border-radius: 4px; padding: 0.7em; overflow-x: auto;
      white-space: pre-wrap; overflow-wrap: anywhere; }
.scroll { overflow-x: auto; max-width: 100%; }
table { border-collapse: collapse; font-size: 0.92em; margin: 0.5em 0; }
th, td { border: 1px solid #d8d8d8; padding: 0.3em 0.6em; text-align: right; }
td.num { white-space: nowrap; }
th { background: #f0f3f7; font-size: 0.92em; } td.text, th.text { text-align: left; font-family: monospace; }
td.text { max-width: 32em; overflow-wrap: anywhere; } td.text:first-child { min-width: 14em; }
tr:nth-child(even) td { background: #fafafa; }
tr.best td { background: #e8f5e9; font-weight: 600; }
tr.diverged td.text { color: #b71c1c; }
tr.stalled td.text { color: #8a5a00; } p.stalled { color: #8a5a00; margin: 0.2em 0; }
img { max-width: 100%; height: auto; border: 1px solid #eee; }
details { margin: 0.3em 0; } summary { cursor: pointer; font-family: monospace; }
details.seeds > summary { font-family: inherit; margin: 0.4em 0; }
.diverged { color: #b71c1c; }
@media (max-width: 820px) {
  table { font-size: 0.8em; } th, td { padding: 0.2em 0.35em; } td.text:first-child { min-width: 9em; }
}
"""


NARROW = 1000
"""The window width (CSS px) at or below which the report shows its narrow figures (panels stacked, drawn for a
~700 px column). Above it the wide figure (1320 px) is shown in at least 968 CSS px, so its smallest text stays
above 9 px; drawn for one width only, a 700 px window showed its legend and ticks at ~5 px."""

FONT_SIZE = 11.0  # points: the report's figures (matplotlib's 10 leaves the legend's "small" at 8.3 pt)
DPI = 110
WIDE = (12.0, 4.6)  # inches: the three panels side by side, 1320 px wide at DPI
STACKED = (6.2, 11.5)  # inches: the panels one above the other, 682 px wide, for a ~700 px window


@dataclass(frozen=True)
class Picture:
    """One figure of the report: the matplotlib Figure, the dpi it is embedded at, and the window widths it is
    shown at (`narrow`: at most NARROW px, else wider)."""

    figure: Any
    dpi: int
    narrow: bool
    per_seed: bool

    def png(self) -> bytes:
        """The figure as PNG bytes, drawn under the report's font size (tick labels are made while drawing)."""
        import matplotlib

        with matplotlib.rc_context({"font.size": FONT_SIZE}):
            return _figure.to_bytes(self.figure, "png", dpi=self.dpi)


def _task_name(comparison: Any) -> str:
    task = getattr(comparison, "task", None)
    return str(getattr(task, "name", task) or "comparison")


def _cell(value: Any) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "–"
        return f"{value:.4g}" if abs(value) >= 1e-3 or value == 0 else f"{value:.3e}"
    return html.escape(str(value))


def _heading(column: str) -> str:
    """A column name that may wrap after its underscores (narrow columns, same text)."""
    return "_<wbr>".join(html.escape(part) for part in str(column).split("_"))


def _table(frame: Any, best: int | None = 0) -> str:
    """A DataFrame as an HTML table; each "X_std" column folds into its "X" column as "mean ± std"; text
    columns left-aligned; row `best` highlighted, rows with diverged runs and runs that made no progress marked."""
    import pandas as pd

    columns = [c for c in frame.columns if not (str(c).endswith("_std") and str(c)[:-4] in frame.columns)]
    text_cols = {c for c in columns if not pd.api.types.is_numeric_dtype(frame[c]) and c != "reached"}
    head = "".join(f'<th class="{"text" if c in text_cols else "num"}">{_heading(c)}</th>' for c in columns)
    from .._shown import decimals, pm

    # one precision per column for the figures shown with a spread (the terminal's rule); others as _cell shows them
    places = {c: decimals(frame[c]) for c in columns if f"{c}_std" in frame.columns}
    rows = []
    for i, (_, row) in enumerate(frame.iterrows()):
        cells = []
        for c in columns:
            text = _cell(row[c])
            if c in places and text != "–":
                text = html.escape(pm(row[c], row.get(f"{c}_std"), places[c]))
            cells.append(f'<td class="{"text" if c in text_cols else "num"}">{text}</td>')
        status = str(row.get("status", ""))
        marks = (["best"] if i == best else []) + \
            (["diverged"] if (row.get("diverged") or 0) > 0 or "diverged" in status else []) + \
            (["stalled"] if (row.get("no_progress") or 0) > 0 or "no progress" in status else [])
        mark = f' class="{" ".join(marks)}"' if marks else ""
        rows.append(f"<tr{mark}>{''.join(cells)}</tr>")
    body = "\n".join(rows)
    return f'<div class="scroll"><table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody>\n</table></div>'


def _target_line(comparison: Any) -> str:
    """What epochs_to_target counts: the column, the comparison and the target value, and where it came from."""
    resolve = getattr(comparison, "resolved_target", None)
    if resolve is None:
        return ""
    target = resolve()
    column = comparison._val_column() if hasattr(comparison, "_val_column") else "val metric"
    rank = getattr(comparison, "ranking", None)
    higher = rank.higher_is_better if rank is not None and rank.metric == column else column.endswith("accuracy")
    if getattr(comparison, "target", None) is not None:
        source = "as given (--target)"
    elif higher:
        source = "by default 98% of the best value any run reached"
    else:
        source = "by default 1.1 × the best value any run reached"
    value = "none (no run has a finite value)" if not math.isfinite(target) else f"{target:.4g}"
    if getattr(comparison, "target_column", "epochs_to_target") == "steps_to_target":
        return (f'<p class="sub">steps_to_target: the optimizer steps done at the end of the first epoch whose '
                f"{html.escape(column)} is {'≥' if higher else '≤'} <b>{value}</b> ({source}); reached: runs that "
                "got there.</p>")
    return (f'<p class="sub">epochs_to_target: the first epoch whose {html.escape(column)} is '
            f"{'≥' if higher else '≤'} <b>{value}</b> ({source}); reached: runs that got there.</p>")



def _shown(comparison: Any, board: Any) -> Any:
    """The leaderboard as the terminal shows it: the schedule, the figures in the same order
    (`Comparison.shown_columns`, each with its std) and a status column (the counts behind it are in leaderboard.csv;
    the row marks read it)."""
    shown = getattr(comparison, "shown_columns", None)
    if shown is None:
        return board
    columns = ["schedule", "runs"]
    for name in shown(board):
        columns += [name, *([f"{name}_std"] if f"{name}_std" in board else [])]
    frame = board[columns].copy()
    frame["status"] = [comparison.status(row) for row in board.to_dict("records")]
    return frame


def _flags(comparison: Any) -> str:
    """One line per schedule whose runs learned nothing (`Comparison.flags`), as the terminal prints them."""
    flags = getattr(comparison, "flags", None)
    lines = flags() if callable(flags) else []
    noise = getattr(comparison, "noise_lines", None)  # is the order more than the seeds' noise? (lrlab.lab.ties)
    ties = noise() if callable(noise) else []
    return "\n".join([*(f'<p class="stalled">{html.escape(line)}</p>' for line in lines),
                      *(f'<p class="sub">{html.escape(line.strip())}</p>' for line in ties)])


def _ranking_line(comparison: Any) -> str:
    """What the leaderboard is ranked by (`comparison.ranking.describe()`); empty for an object without a ranking."""
    rank = getattr(comparison, "ranking", None)
    if rank is None:
        return ""
    return f'<p class="sub">Best first: {html.escape(rank.describe())}.</p>'


def _image(data: bytes, mime: str, alt: str) -> str:
    encoded = base64.b64encode(data).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:{mime};base64,{encoded}">'


def _runs_section(comparison: Any) -> str:
    """Every run's config and metrics, folded, grouped by schedule (in the leaderboard's order), seeds in order."""
    runs = list(getattr(comparison, "runs", []) or [])
    board = getattr(comparison, "leaderboard", None)
    order = list(board["schedule"]) if board is not None and "schedule" in getattr(board, "columns", []) else []
    rank = {label: i for i, label in enumerate(order)}

    def key(item: tuple[int, Any]) -> tuple[int, int, int]:
        i, run = item
        label = getattr(run, "label", None)
        seed = (getattr(run, "config", {}) or {}).get("seed", 0)
        return (rank.get(label, len(rank)), seed if isinstance(seed, int) else 0, i)

    parts = []
    for _, run in sorted(enumerate(runs), key=key):
        config = getattr(run, "config", {}) or {}
        status = getattr(run, "status", "ok")
        schedule = getattr(run, "label", None) or config.get("label") or config.get("schedule", "?")
        seed = config.get("seed", "?")
        wall = getattr(run, "wall_s", None)
        label = f"{schedule} · seed {seed} · {status}" + (f" · {wall:.2f} s" if isinstance(wall, (int, float)) else "")
        css = ' class="diverged"' if status != "ok" else ""
        metrics = getattr(run, "metrics", {}) or {}
        body = json.dumps({"id": getattr(run, "id", None), "config": config, "metrics": metrics},
                          indent=2, sort_keys=False, default=str)
        parts.append(f"<details><summary{css}>{html.escape(label)}</summary>\n<pre>{html.escape(body)}</pre>"
                     "</details>")
    return "\n".join(parts) or "<p>No runs.</p>"


def curve_pictures(comparison: Any, band: str = "std", title: str | None = None) -> list[Picture]:
    """The report's training curves: the mean and spread over the seeds, wide and narrow, then (with several seeds)
    each seed's curves, wide and narrow."""
    import matplotlib

    from .run_curves import curves_figure

    history = getattr(comparison, "history", None)
    n_seeds = history["seed"].nunique() if history is not None and "seed" in history.columns else 1
    out = []
    with matplotlib.rc_context({"font.size": FONT_SIZE}):
        for per_seed in (False, True) if n_seeds > 1 else (False,):
            for narrow in (False, True):
                size = STACKED if narrow else WIDE
                fig = curves_figure(comparison, band=band, title=title, size=size, stacked=narrow, per_seed=per_seed)
                fig.canvas.draw()  # laid out under the report's font size
                out.append(Picture(fig, DPI, narrow, per_seed))
    return out


def _picture(wide: Picture, narrow: Picture, alt: str) -> str:
    """A <picture>: the narrow figure at or below NARROW px, the wide one above."""
    source = base64.b64encode(narrow.png()).decode("ascii")
    return (f'<picture><source media="(max-width: {NARROW}px)" srcset="data:image/png;base64,{source}">'
            f'{_image(wide.png(), "image/png", alt)}</picture>')


def _curves_section(comparison: Any, band: str, task: str) -> list[str]:
    """The training curves (mean and spread), and each seed's curves folded under them."""
    pictures = curve_pictures(comparison, band, task)
    out = ["<h2>Training curves</h2>", _picture(pictures[0], pictures[1], f"training curves on {task}")]
    if len(pictures) > 2:
        n_seeds = comparison.history["seed"].nunique()
        out.append(f'<details class="seeds"><summary>Each seed\'s curves ({n_seeds} seeds, one thin line each)'
                   f"</summary>\n{_picture(pictures[2], pictures[3], f'each seed’s training curves on {task}')}"
                   "</details>")
    return out


def render_report(comparison: Any, command: str | None = None, *, band: str = "std", title: str | None = None,
                  before: Sequence[str] = (), leaderboard: str = "Leaderboard") -> str:
    """The report of `comparison` as one HTML string (see write_report). `title`: its heading (default "lrlab report:
    TASK"); `before`: HTML sections placed before the leaderboard (a tune report's study); `leaderboard`: that
    section's heading."""
    task = _task_name(comparison)
    heading = title or f"lrlab report: {task}"
    board = getattr(comparison, "leaderboard", None)
    history = getattr(comparison, "history", None)
    runs = getattr(comparison, "runs", []) or []
    n_sched = history["schedule"].nunique() if history is not None and len(history) else 0
    n_seeds = history["seed"].nunique() if history is not None and "seed" in history.columns else 1
    sections = [
        f"<h1>{html.escape(heading)}</h1>",
        f'<p class="sub">{len(runs)} runs: {n_sched} schedules × {n_seeds} seed(s)</p>',
        "<h2>Reproduce</h2>",
        f"<pre><code>{html.escape(command or '(command not recorded)')}</code></pre>",
        *before,
        f"<h2>{html.escape(leaderboard)}</h2>",
        _ranking_line(comparison),
        _table(_shown(comparison, board)) if board is not None and len(board) else "<p>No finished runs.</p>",
        _flags(comparison),
        _target_line(comparison),
    ]
    if history is not None and len(history):
        sections += _curves_section(comparison, band, task)
    sections += ["<h2>Runs</h2>", _runs_section(comparison)]
    body = "\n".join(sections)
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{html.escape(heading)}</title>\n<style>{CSS}</style>\n</head>\n"
        f"<body>\n{body}\n</body>\n</html>\n"
    )


def write_report(comparison: Any, path: str | Path, command: str | None = None) -> Path:
    """Write the self-contained HTML report of a Comparison to `path`; returns the path.

    `command` is the shell command that reproduces the comparison (shown verbatim).
    """
    path = Path(path)
    if path.suffix.lower() not in (".html", ".htm"):
        raise ValueError(f"report path {str(path)!r} must end in .html")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_report(comparison, command), encoding="utf-8")
    return path


def render_tune_report(result: Any, command: str | None = None, pictures: Sequence[str | Path] = ()) -> str:
    """The report of a search (`lrlab.lab.studies.tune.TuneResult`) as one HTML string: its own title, the study
    (how many trials ended how, the study's pictures, every trial with its status, value, epochs and forecast, its
    spec rounded for reading: trials.csv keeps it exact), then the confirmed leaderboard and its runs as a
    comparison's report shows them."""
    import pandas as pd

    from ..schedules.spec import rounded

    comparison = result.comparison
    task = _task_name(comparison)
    trials = result.trials.copy()
    counts = trials["state"].value_counts().to_dict() if len(trials) else {}
    summary = ", ".join(f"{n} {state.lower()}" for state, n in counts.items()) or "no trials"
    trials["spec"] = [rounded(str(spec)) for spec in trials["spec"]]
    shown = trials[[c for c in ("number", "state", "status", "value", "epochs", "forecast", "spec") if c in trials]]
    shown = shown.sort_values("value", ascending=result.study is not None and
                              result.study.direction.name == "MINIMIZE", na_position="last", kind="stable")
    images = []
    for picture in pictures:
        path = Path(picture)
        if path.suffix == ".png" and path.is_file():
            images.append(_image(path.read_bytes(), "image/png", path.stem.replace("_", " ")))
    before = [
        "<h2>The search</h2>",
        f'<p class="sub">{len(trials)} trials: {html.escape(summary)}; the best {len(result.leaderboard)} '
        "confirmed on fresh seeds below (what the search ranked by, its value, is one seed's figure; the "
        "confirmation is the answer).</p>",
        *images,
        _table(pd.DataFrame(shown), best=None),
    ]
    return render_report(comparison, command, title=f"lrlab tune report: {task}", before=before,
                         leaderboard="The confirmation")


def write_tune_report(result: Any, path: str | Path, command: str | None = None,
                      pictures: Sequence[str | Path] = ()) -> Path:
    """Write `render_tune_report` to `path` (.html); returns the path."""
    path = Path(path)
    if path.suffix.lower() not in (".html", ".htm"):
        raise ValueError(f"report path {str(path)!r} must end in .html")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_tune_report(result, command, pictures), encoding="utf-8")
    return path
