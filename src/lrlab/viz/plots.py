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
    "warmup end": "^",
    "phase end": "s",
}


def schedule_events(schedule: Schedule, steps: int) -> list[tuple[int, str]]:
    """The steps in [0, steps) where `schedule` changes regime, as sorted (step, kind) pairs.

    A step is the first one with the new regime: for piecewise (right-inclusive) boundary b that is b + 1.
    Kinds: "boundary", "restart", "warmup end", "phase end".
    """
    out = sorted(set(schedule.events(steps)))
    return [(t, kind) for t, kind in out if 0 < t < steps]


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
    `steps_per_epoch` is given), with event markers and a legend."""
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps!r}")
    if steps_per_epoch is not None and steps_per_epoch < 1:
        raise ValueError(f"steps_per_epoch must be >= 1, got {steps_per_epoch!r}")
    if labels is not None and len(labels) != len(schedules):
        raise ValueError(f"labels: expected {len(schedules)} labels, got {len(labels)}")
    labels = list(labels) if labels is not None else [_short(repr(s)) for s in schedules]
    t = np.arange(steps)
    scale = float(steps_per_epoch or 1)
    used_events: set[str] = set()
    for i, (s, label) in enumerate(zip(schedules, labels)):
        lr = np.asarray(s(t), dtype=float)
        if log:
            lr = np.where(lr > 0, lr, np.nan)  # zero has no place on a log axis
        draw = "steps-post" if steps <= 60 else "default"
        ax.plot(t / scale, lr, color=_figure.color(i), lw=1.8, label=label, drawstyle=draw)
        if not markers:
            continue
        for kind, marker in EVENT_STYLE.items():
            at = [e for e, k in schedule_events(s, steps) if k == kind]
            if at:
                ax.plot(np.array(at) / scale, lr[at], ls="none", marker=marker, ms=6, mfc="white",
                        mec=_figure.color(i), mew=1.5)
                used_events.add(kind)
    if log:
        ax.set_yscale("log")
    ax.set_xlabel("epoch" if steps_per_epoch else "step")
    ax.set_ylabel("learning rate")
    ax.grid(True, alpha=0.3)
    handles, names = ax.get_legend_handles_labels()
    for kind in EVENT_STYLE:
        if kind in used_events:
            (h,) = ax.plot([], [], ls="none", marker=EVENT_STYLE[kind], ms=6, mfc="white", mec="0.3", mew=1.5)
            handles.append(h)
            names.append(kind)
    legend(ax, handles, names)


def legend(ax: Any, handles: list[Any], names: list[str]) -> None:
    """A readable legend: inside the axes for a few short entries, below the axes otherwise."""
    if len(names) <= 4 and max(len(n) for n in names) <= 40:
        ax.legend(handles, names, fontsize="small", loc="best", framealpha=0.85)
        return
    ncol = 2 if max(len(n) for n in names) <= 45 else 1
    ax.legend(handles, names, fontsize="small", loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=ncol,
              frameon=False)


def _short(text: str, width: int = 70) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


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
    names = list(labels) if labels is not None else [_short(repr(s)) for s in schedules]
    if len(names) > 2 or max(len(n) for n in names) > 40:  # the legend goes below the axes: make room
        height += 0.2 * (len(names) + 2)
    fig = _figure.new_figure(width, height)
    ax = fig.add_subplot()
    draw_schedules(ax, schedules, steps, log=log, labels=labels, steps_per_epoch=steps_per_epoch)
    if title:
        ax.set_title(title)
    return fig


def plot_schedules(
    schedules: Sequence[Schedule] | Schedule,
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

    Unbound schedules (`cosine(0.1)`) are stretched to `steps`.
    """
    path = _figure.check_suffix(path)
    if isinstance(schedules, Schedule):
        schedules = [schedules]
    schedules = [s if s.is_bound else s.stretch(steps) for s in schedules]
    fig = schedules_figure(
        schedules, steps, log=log, labels=labels, steps_per_epoch=steps_per_epoch, title=title, size=size
    )
    return _figure.save(fig, path)
