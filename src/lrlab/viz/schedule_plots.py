"""Schedule curves: one or many schedules on one axis, with markers where the schedule changes regime.

The markers come from each schedule's parameters, not from the curve: each kind says where its regime changes
(`Schedule.events`: piecewise boundaries, multistep milestones, cosine_restarts restarts, warmup ends, ...).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..schedules import Schedule
from . import _figure

EVENT_STYLE = {  # event kind -> matplotlib marker
    "boundary": "o",
    "restart": "v",
    "cycle end": "D",
    "warmup end": "^",
    "phase end": "s",
}


def schedule_events(schedule: Schedule, steps: int) -> list[tuple[int, str]]:
    """The steps in [0, steps) where `schedule` changes regime, as sorted (step, kind) pairs.

    A step is the first one with the new regime: for piecewise (right-inclusive) boundary b that is b + 1.
    Kinds: "boundary", "restart", "cycle end", "warmup end", "phase end".
    """
    out = sorted(set(schedule.events(steps)))
    return [(t, kind) for t, kind in out if 0 < t < steps]


FULL_STEPS = 1_000_000  # up to this many steps a curve is computed at every step and reduced exactly
POINTS = 2000  # bins a curve is reduced to (a figure is at most a few thousand pixels wide)


def curve_points(schedule: Schedule, steps: int, points: int = POINTS) -> tuple[np.ndarray, np.ndarray]:
    """(steps, rates) to draw `schedule` over 0..steps-1 with at most about 6 * points values.

    Up to FULL_STEPS steps every step is computed and each of `points` bins keeps its first, last, lowest and
    highest value (and the step before the extremes), so every jump and extreme is exact. Past that,
    4 * `points` evenly spaced steps plus the step before and at each regime change are computed (a period far
    below steps / points can alias)."""
    if steps <= 4 * points:
        t = np.arange(steps)
        return t, np.asarray(schedule(t), dtype=float)
    if steps <= FULL_STEPS:
        lr = np.asarray(schedule(np.arange(steps)), dtype=float)
        edges = np.linspace(0, steps, points + 1).astype(np.int64)
        starts, ends = edges[:-1], edges[1:] - 1
        safe = np.where(np.isnan(lr), np.inf, lr)
        lows = starts + np.array([np.argmin(safe[a : b + 1]) for a, b in zip(starts, ends)])
        highs = starts + np.array([np.argmax(np.where(np.isnan(lr[a : b + 1]), -np.inf, lr[a : b + 1]))
                                   for a, b in zip(starts, ends)])
        # the step before each extreme too, so a jump is drawn upright, not as a slope across its bin
        t = np.unique(np.concatenate([starts, ends, lows, highs, np.maximum(lows - 1, 0), np.maximum(highs - 1, 0)]))
        return t, lr[t]
    events = [e for e, _ in schedule_events(schedule, steps)]
    t = np.concatenate([np.linspace(0, steps - 1, 4 * points).round(), events, np.subtract(events, 1)])
    t = np.unique(np.clip(t, 0, steps - 1).astype(np.int64))
    return t, np.asarray(schedule(t), dtype=float)


def _as_schedules(schedules: Sequence[Schedule | str] | Schedule | str) -> list[Schedule]:
    """A list of Schedules from a Schedule, a spec string, or a sequence of either."""
    from ..schedules import parse

    if isinstance(schedules, (Schedule, str)):
        schedules = [schedules]
    return [parse(s) if isinstance(s, str) else s for s in schedules]


def draw_schedules(
    ax: Any,
    schedules: Sequence[Schedule],
    steps: int,
    *,
    log: bool = False,
    labels: Sequence[str] | None = None,
    steps_per_epoch: int | None = None,
    markers: bool = True,
) -> None:
    """Draw the curves of `schedules` over steps 0..steps-1 on a matplotlib Axes (x in epochs if
    `steps_per_epoch` is given), with event markers and a legend.

    On a log axis a schedule that is never > 0 is named in the legend as not drawn; when none is ever > 0
    the axis stays linear and a note in the axes says why."""
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps!r}")
    if steps_per_epoch is not None and steps_per_epoch < 1:
        raise ValueError(f"steps_per_epoch must be >= 1, got {steps_per_epoch!r}")
    if labels is not None and len(labels) != len(schedules):
        raise ValueError(f"labels: expected {len(schedules)} labels, got {len(labels)}")
    labels = _figure.labels(labels if labels is not None else [repr(s) for s in schedules])
    scale = float(steps_per_epoch or 1)
    curves = [curve_points(s, steps) for s in schedules]
    if log and not any((lr > 0).any() for _, lr in curves):
        log = False
        ax.text(0.5, 0.5, "no rate is > 0: a log axis cannot show these curves,\nso the axis is linear",
                transform=ax.transAxes, ha="center", va="center", color="#b71c1c", fontsize="small",
                bbox={"boxstyle": "round", "fc": "white", "ec": "#b71c1c", "alpha": 0.9})
    used_events: set[str] = set()
    momentum = [is_momentum(s) for s in schedules]
    twin = ax.twinx() if any(momentum) and not all(momentum) else None  # a momentum has its own axis
    for i, (s, label, (t, lr)) in enumerate(zip(schedules, labels, curves)):
        look = _figure.style(i)
        where = twin if twin is not None and momentum[i] else ax
        if log:
            if not (lr > 0).any():
                label += " (never > 0: not drawn on a log axis)"
            lr = np.where(lr > 0, lr, np.nan)  # zero has no place on a log axis
        if where is twin:
            label += " (momentum, right axis)"
        if steps <= 60:  # few steps: each step's rate drawn as a flat segment over its own step
            where.plot(np.append(t, steps) / scale, np.append(lr, lr[-1]), lw=1.8, label=label,
                       drawstyle="steps-post", **look)
        else:
            where.plot(t / scale, lr, lw=1.8, label=label, **look)
        if not markers:
            continue
        for kind, marker in EVENT_STYLE.items():
            at = np.array([e for e, k in schedule_events(s, steps) if k == kind], dtype=np.int64)
            if at.size:
                y = np.asarray(s(at), dtype=float)
                if log:
                    y = np.where(y > 0, y, np.nan)
                where.plot(at / scale, y, ls="none", marker=marker, ms=6, mfc="white", mec=look["color"], mew=1.5,
                           zorder=4)  # on top of every line
                used_events.add(kind)
    if log:
        ax.set_yscale("log")
    ax.set_xlabel("epoch" if steps_per_epoch else "step")
    ax.set_ylabel("momentum" if all(momentum) else "learning rate")
    ax.grid(True, alpha=0.3)
    handles, names = ax.get_legend_handles_labels()
    if twin is not None:
        twin.set_ylabel("momentum")
        more = twin.get_legend_handles_labels()
        handles, names = [*handles, *more[0]], [*names, *more[1]]
    for kind in EVENT_STYLE:
        if kind in used_events:
            (h,) = ax.plot([], [], ls="none", marker=EVENT_STYLE[kind], ms=6, mfc="white", mec="0.3", mew=1.5)
            handles.append(h)
            names.append(kind)
    legend(ax, handles, names)


def is_momentum(schedule: Schedule) -> bool:
    """Whether a schedule gives a momentum, not a learning rate (cyclic_momentum, one_cycle_momentum: drawn on
    an axis of their own).

    Examples:
        >>> from lrlab import parse
        >>> from lrlab.viz.schedule_plots import is_momentum
        >>> is_momentum(parse("one_cycle(0.1, 100).momentum()")), is_momentum(parse("cosine(0.1)"))
        (True, False)
    """
    return type(schedule).__name__.endswith("_momentum")


def legend(ax: Any, handles: list[Any], names: list[str]) -> None:
    """A readable legend: inside the axes for a few short entries, below the axes otherwise."""
    longest = max(len(line) for n in names for line in n.splitlines())
    lines = sum(n.count("\n") + 1 for n in names)
    if len(names) <= 4 and lines <= 5 and longest <= 40:
        ax.legend(handles, names, fontsize="small", loc="best", framealpha=0.85)
        return
    ncol = 2 if longest <= 45 else 1
    ax.legend(handles, names, fontsize="small", loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=ncol,
              frameon=False)


def schedules_figure(
    schedules: Sequence[Schedule],
    steps: int,
    *,
    log: bool = False,
    labels: Sequence[str] | None = None,
    steps_per_epoch: int | None = None,
    title: str | None = None,
    size: tuple[float, float] = (8.0, 4.5),
) -> Any:
    """A matplotlib Figure with the schedule curves (see `draw_schedules`)."""
    if not schedules:
        raise ValueError("schedules: give at least one schedule")
    width, height = size
    names = _figure.labels(labels if labels is not None else [repr(s) for s in schedules])
    lines = sum(n.count("\n") + 1 for n in names)
    if len(names) > 2 or lines > len(names) or max(len(n) for n in names) > 40:  # legend below: make room
        height += 0.2 * (lines + 2)
    fig = _figure.new_figure(width, height)
    ax = fig.add_subplot()
    draw_schedules(ax, schedules, steps, log=log, labels=labels, steps_per_epoch=steps_per_epoch)
    if title:
        ax.set_title(title)
    return fig


def plot_schedules(
    schedules: Sequence[Schedule | str] | Schedule | str,
    steps: int,
    path: str | Path,
    log: bool = False,
    *,
    labels: Sequence[str] | None = None,
    steps_per_epoch: int | None = None,
    title: str | None = None,
    size: tuple[float, float] = (8.0, 4.5),
) -> Path:
    """Write the curves of `schedules` over `steps` steps to `path` (.png, .svg or .pdf); returns the path.

    Schedules or spec strings; unbound schedules (`cosine(0.1)`) are stretched to `steps`.
    """
    path = _figure.check_suffix(path)
    schedules = [s if s.is_bound else s.stretch(steps) for s in _as_schedules(schedules)]
    fig = schedules_figure(
        schedules, steps, log=log, labels=labels, steps_per_epoch=steps_per_epoch, title=title, size=size
    )
    return _figure.save(fig, path)
