"""Helpers shared by the schedule tests: step grids with boundaries, and a comparison that names the step."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

import lrlab


def grid(n: int, marks: Iterable[float] = (), spread: int = 1) -> list[int]:
    """Steps 0..n plus every mark and its neighbours within `spread` (negative ones dropped)."""
    steps = set(range(n + 1))
    for mark in marks:
        for d in range(-spread, spread + 1):
            if mark + d >= 0:
                steps.add(int(mark + d))
    return sorted(steps)


def assert_matches(
    ours: Sequence[float], ref: Sequence[float], steps: Sequence[int], *, rtol: float, atol: float = 0.0, what: str = ""
) -> None:
    """Every value within rtol (and atol) of the reference; on failure, the first step that is not."""
    ours_a, ref_a = np.asarray(ours, dtype=np.float64), np.asarray(ref, dtype=np.float64)
    assert ours_a.shape == ref_a.shape, f"{what}: {ours_a.shape} values against {ref_a.shape}"
    if rtol == 0 and atol == 0:
        bad = ours_a != ref_a
    else:
        bad = np.abs(ours_a - ref_a) > atol + rtol * np.abs(ref_a)
    bad |= np.isnan(ours_a) != np.isnan(ref_a)
    if bad.any():
        i = int(np.argmax(bad))
        raise AssertionError(
            f"{what}: {int(bad.sum())} of {len(bad)} steps differ; first at step {steps[i]}: "
            f"lrlab {ours_a[i]!r}, reference {ref_a[i]!r} (rtol {rtol}, atol {atol})"
        )


def max_rel(ours: Sequence[float], ref: Sequence[float]) -> float:
    ours_a, ref_a = np.asarray(ours, dtype=np.float64), np.asarray(ref, dtype=np.float64)
    scale = np.maximum(np.abs(ref_a), np.finfo(np.float64).tiny)
    return float(np.max(np.abs(ours_a - ref_a) / scale))


def torch_lrs(make, base_lr: float, n: int, momentum: float = 0.0) -> np.ndarray:
    """The lr of each of the first n optimizer steps under the scheduler `make(optimizer)` builds."""
    import torch

    param = torch.zeros(1, requires_grad=True)
    optimizer = torch.optim.SGD([param], lr=base_lr, momentum=momentum)
    scheduler = make(optimizer)
    out = []
    for i in range(n):
        if i:
            optimizer.step()
            scheduler.step()
        lr = optimizer.param_groups[0]["lr"]
        assert scheduler.get_last_lr()[0] == lr
        out.append(lr)
    return np.array(out)


@lrlab.register_function
def seed_decay(step: int) -> float:
    """The first seed's hand-made decay: 0.025, then /2, /3, /4, each for 5 steps (registered for custom())."""
    return 0.025 / (1 + min(step // 5, 3))
