"""The gradient-descent animation of the first seed: fitting y = a*x by gradient descent on one weight.

One row per schedule; panels: the data with the current fitted line, the loss over the weight with the
current point and its tangent (the gradient), a zoom around the minimum, and the step, lr, weight and loss.
The weights come from real training (`lrlab.lab.engines.train` on the `line` task, read through its callback);
the pictures are drawn from those arrays, so `render` also takes traces made any other way.
"""

from __future__ import annotations

import math
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from . import _figure

ANIMATION_SUFFIXES = (".gif", ".mp4")
WIDTH = 13.0  # inches: the animation's width (three panels a row)
TRANSPARENT = 255  # the GIF palette index of "as in the previous frame"


@dataclass(frozen=True)
class Trace:
    """A 1-D descent: weights[k] after k updates (weights[0] is the start), lrs[k] the rate of update k
    (lrs[0] is nan), and the data (x, y) whose mean squared error is the loss."""

    label: str
    weights: np.ndarray
    lrs: np.ndarray
    x: np.ndarray
    y: np.ndarray

    def loss(self, a: Any) -> Any:
        """Mean squared error of y = a*x for one weight or an array of weights."""
        a = np.asarray(a, dtype=float)
        residual = a[..., None] * self.x - self.y
        return np.mean(residual**2, axis=-1)

    def gradient(self, a: Any) -> Any:
        a = np.asarray(a, dtype=float)
        return np.mean(2 * (a[..., None] * self.x - self.y) * self.x, axis=-1)

    @property
    def optimum(self) -> float:
        """The weight of least squared error: sum(x*y) / sum(x*x)."""
        return float(np.dot(self.x, self.y) / np.dot(self.x, self.x))

    @property
    def losses(self) -> np.ndarray:
        return self.loss(self.weights)


def trace(schedule: Any, epochs: int | None = None, *, label: str | None = None, seed: int = 0) -> Trace:
    """Train the `line` task under `schedule` (full-batch gradient descent, one update per epoch) and
    record the weight after every update through the trainer's callback."""
    from ..lab.engines.train import train
    from ..lab.tasks.task import get_task
    from ..schedules import Schedule, parse

    task = get_task("line")
    sched = parse(schedule) if isinstance(schedule, str) else schedule
    data = task.load(seed).train
    start = next(float(p.detach().reshape(-1)[0]) for p in task.model(seed).parameters())
    weights, lrs = [start], [float("nan")]

    def record(step: int, model: Any, loss: float, lr: float) -> None:
        weights.append(float(next(iter(model.parameters())).detach().reshape(-1)[0]))
        lrs.append(float(lr))

    run = train(task, sched, epochs=epochs, seed=seed, callback=record)
    name = label or (repr(sched) if isinstance(sched, Schedule) else str(schedule))
    if run.status != "ok":
        name += " (diverged)"
    return Trace(name, np.array(weights), np.array(lrs), data.x.reshape(-1).astype(float),
                 data.y.reshape(-1).astype(float))


def _need_ffmpeg(path: Path) -> str | None:
    """The ffmpeg executable when `path` is an .mp4 (ValueError if it is not on PATH); None for a .gif."""
    if path.suffix.lower() != ".mp4":
        return None
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise ValueError(f"writing {path.name} needs ffmpeg on PATH (not found); write a .gif instead")
    return ffmpeg


def _frames_index(n_points: int, max_frames: int) -> np.ndarray:
    if n_points <= max_frames:
        return np.arange(n_points)
    return np.unique(np.round(np.linspace(0, n_points - 1, max_frames)).astype(int))


def _number(x: float, fixed: bool = True) -> str:
    """x in at most about 12 characters: 6 decimals (or 6 significant digits when not `fixed`) for everyday
    magnitudes, else scientific (1.2346e+40), so the info box never overflows."""
    if not math.isfinite(x):
        return str(x)
    if x == 0 or 1e-3 <= abs(x) < 1e5:
        return f"{x:.6f}" if fixed else f"{x:.6g}"
    return f"{x:.4e}"


def _limits(lo: float, hi: float, pad: float = 0.05) -> tuple[float, float]:
    span = hi - lo or 1.0
    return lo - pad * span, hi + pad * span


class _Row:
    """The artists of one schedule's row, updated in place for each frame."""

    def __init__(self, axes: Sequence[Any], tr: Trace, colour: str, zoom: float) -> None:
        self.tr = tr
        ax_data, ax_loss, ax_zoom = axes
        finite = tr.weights[np.isfinite(tr.weights)]
        a_star = tr.optimum
        lo = min(0.0, finite.min(), a_star - 2.0)
        hi = max(2 * a_star, finite.max(), a_star + 2.0)
        lo, hi = max(lo, a_star - 50), min(hi, a_star + 50)
        grid = np.linspace(*_limits(lo, hi), 400)
        curve = tr.loss(grid)

        ax_data.scatter(tr.x, tr.y, s=14, color="#1f77b4", zorder=2)
        ax_data.set_xlim(*_limits(tr.x.min(), tr.x.max()))
        ax_data.set_ylim(*_limits(min(tr.y.min(), 0), tr.y.max()))
        ax_data.set_xlabel("x")
        ax_data.set_ylabel("y")
        ax_data.set_title(tr.label, fontsize=10, loc="left", color=colour)
        (self.fit,) = ax_data.plot(tr.x, tr.weights[0] * tr.x, color="k", lw=2, zorder=3, animated=True)

        for ax, span in ((ax_loss, (grid[0], grid[-1])), (ax_zoom, (a_star - zoom, a_star + zoom))):
            g = np.linspace(*span, 400)
            ax.plot(g, tr.loss(g), color="#1f77b4", lw=2.5)
            ax.set_xlim(*span)
            ax.set_xlabel("weight a")
            ax.set_ylabel("loss (MSE)")
            ax.grid(True, alpha=0.3)
        ax_loss.set_ylim(-0.03 * curve.max(), 1.05 * curve.max())
        lmin, ledge = tr.loss(a_star), tr.loss(a_star + zoom)
        ax_zoom.set_ylim(lmin - 0.1 * (ledge - lmin), ledge + 0.05 * (ledge - lmin))
        ax_zoom.set_title(f"zoom: a* = {a_star:.4f}", fontsize=9)
        ax_zoom.axvline(a_star, color="0.6", ls=":", lw=1)
        self.spans = [(grid[-1] - grid[0]) * 0.12, zoom * 0.5]
        self.tangents = [ax.plot([], [], color="#2ca02c", lw=1.8, animated=True)[0] for ax in (ax_loss, ax_zoom)]
        self.points = [ax.plot([], [], marker="*", color="#d62728", ms=13, ls="none", zorder=4, animated=True)[0]
                       for ax in (ax_loss, ax_zoom)]
        self.text = ax_loss.text(0.5, 0.97, "", transform=ax_loss.transAxes, va="top", ha="center",
                                 family="monospace", fontsize=9, animated=True,
                                 bbox={"boxstyle": "round", "fc": "white", "ec": "0.7", "alpha": 0.9})
        self.artists = [self.fit, *self.tangents, *self.points, self.text]

    def update(self, k: int) -> None:
        tr = self.tr
        a = tr.weights[k]
        loss, grad = float(tr.loss(a)), float(tr.gradient(a))
        self.fit.set_ydata(a * tr.x)
        for tangent, point, half in zip(self.tangents, self.points, self.spans):
            xs = np.array([a - half, a + half])
            tangent.set_data(xs, loss + grad * (xs - a))
            point.set_data([a], [loss])
        lr = "start" if k == 0 else _number(tr.lrs[k], fixed=False)
        self.text.set_text(f"step {k:>4d}   lr {lr}\nweight {_number(a)}\nloss {_number(loss)}  grad {grad:+.3g}")


def render(
    traces: Sequence[Trace],
    path: str | Path,
    *,
    fps: float = 4.0,
    dpi: int = 72,
    max_frames: int = 200,
    zoom: float = 0.2,
    hold_last: int = 4,
    width: int | None = None,
) -> Path:
    """Write the descent animation of `traces` (one row each) to a .gif (Pillow) or .mp4 (ffmpeg).

    Frame k shows every trace after k updates; traces of different lengths hold their last point. `width`: the
    picture's width in pixels (the figure is WIDTH inches wide, so this sets the dpi; e.g. 2030 for a 1015 px page
    column at 2 device pixels per CSS px); else `dpi` sets it.
    """
    path = _figure.check_suffix(path, ANIMATION_SUFFIXES)
    if not traces:
        raise ValueError("traces: give at least one trace")
    if fps <= 0:
        raise ValueError(f"fps must be > 0, got {fps!r}")
    ffmpeg = _need_ffmpeg(path)
    if width is not None:
        if width < 100:
            raise ValueError(f"width must be >= 100 pixels, got {width!r}")
        dpi = width / WIDTH
    n_points = max(len(t.weights) for t in traces)
    fig = _figure.new_figure(WIDTH, 3.3 * len(traces), dpi=dpi)
    axes = fig.subplots(len(traces), 3, squeeze=False, gridspec_kw={"width_ratios": [1, 1.1, 1]})
    rows = [_Row(axes[i], tr, _figure.color(i), zoom) for i, tr in enumerate(traces)]
    title = fig.suptitle("gradient descent on y = a·x, step 0000", animated=True)
    canvas = fig.canvas
    # Lay out and draw everything static (animated artists are left out). Twice: the layout engine settles on
    # the second pass; with one, the first animation a process renders differed by a few pixels from later ones.
    canvas.draw()
    canvas.draw()
    fig.set_layout_engine("none")
    background = canvas.copy_from_bbox(fig.bbox)
    frames = []
    for k in _frames_index(n_points, max_frames):
        canvas.restore_region(background)
        for row in rows:
            row.update(min(int(k), len(row.tr.weights) - 1))
            for artist in row.artists:
                artist.axes.draw_artist(artist)
        title.set_text(f"gradient descent on y = a·x, step {k}")
        fig.draw_artist(title)
        frames.append(_figure.frame_image(fig))
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".gif":
        ms = round(1000 / fps)
        durations = [ms] * (len(frames) - 1) + [ms * max(hold_last, 1)]
        _write_gif(frames, path, durations)
    else:
        _write_mp4(ffmpeg, frames, path, fps)
    return path


def _write_gif(frames: list[Any], path: Path, durations: list[int]) -> None:
    """One palette for every frame (taken from the last, which holds every colour the lines use), no
    dithering: frames then differ only where something moved. Each frame after the first stores only those pixels:
    the ones equal to the previous frame's are the transparent index 255 (the palette uses 0-254), whose long runs
    LZW packs into almost nothing, and the frame is drawn over the previous one (disposal 1). A 2030 px wide
    descent animation of 31 frames takes ~0.5 MB so, against ~2.5 MB stored whole (the moving parts span the
    frame, so cropping alone saves nothing)."""
    import numpy as np
    from PIL import Image

    palette = frames[-1].quantize(colors=255, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    indexed = [np.asarray(f.quantize(palette=palette, dither=Image.Dither.NONE)) for f in frames]
    colours = palette.getpalette()
    stored = []
    for k, pixels in enumerate(indexed):
        if k:
            pixels = np.where(pixels == indexed[k - 1], np.uint8(TRANSPARENT), pixels)
        image = Image.fromarray(pixels, "P")
        image.putpalette(colours)
        stored.append(image)
    stored[0].save(path, save_all=True, append_images=stored[1:], duration=durations, loop=0, optimize=False,
                   disposal=1, transparency=TRANSPARENT)


def _write_mp4(ffmpeg: str | None, frames: list[Any], path: Path, fps: float) -> None:
    width, height = frames[0].size
    cmd = [str(ffmpeg), "-y", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}",
           "-r", f"{fps}", "-i", "-", "-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2", "-pix_fmt", "yuv420p",
           "-c:v", "libx264", str(path)]
    proc = subprocess.run(cmd, input=b"".join(f.tobytes() for f in frames), capture_output=True, check=False)
    if proc.returncode != 0:
        raise ValueError(f"ffmpeg failed writing {path}: {proc.stderr.decode(errors='replace').strip()[:300]}")


def animate(
    schedules: Sequence[Any], path: str | Path, *, epochs: int | None = None, labels: Sequence[str] | None = None,
    **render_options: Any,
) -> tuple[Path, list[Trace]]:
    """Train `line` under each schedule and write the descent animation; returns the path and the traces."""
    path = _figure.check_suffix(path, ANIMATION_SUFFIXES)
    _need_ffmpeg(path)  # before any training
    if labels is not None and len(labels) != len(schedules):
        raise ValueError(f"labels: expected {len(schedules)} labels, got {len(labels)}")
    traces = [trace(s, epochs, label=None if labels is None else labels[i]) for i, s in enumerate(schedules)]
    return render(traces, path, **render_options), traces
