"""Each kind says where its regime changes (`Schedule.events`), beside its formula; hand-computed steps."""

from __future__ import annotations

import pytest

import lrlab
from lrlab.viz.schedule_plots import schedule_events


@pytest.mark.parametrize(
    ("spec", "steps", "expected"),
    [
        ("constant(0.1)", 100, []),
        ("step_decay(0.1, 0.5, 30)", 100, [(30, "boundary"), (60, "boundary"), (90, "boundary")]),
        ("step_decay(0.1, 0.5, 1)", 100, []),  # more than 40 drops: none marked
        ("exponential(0.1, 40, 0.5)", 100, []),
        ("inverse_time(0.1, 40, 0.5, staircase=True)", 100, [(40, "boundary"), (80, "boundary")]),
        ("polynomial(0.1, 60)", 100, [(60, "phase end")]),
        ("polynomial(0.1, 30, cycle=True)", 100, [(30, "restart"), (60, "restart"), (90, "restart")]),
        ("linear(0.1, 0.0, 20)", 100, [(20, "phase end")]),
        ("cosine(0.1, 50)", 100, [(50, "phase end")]),
        ("cosine(0.0, 50, warmup_target=0.1, warmup_steps=10)", 100, [(10, "warmup end"), (60, "phase end")]),
        ("cyclic(0.01, 0.1, 10, 15)", 60, [(25, "cycle end"), (50, "cycle end")]),  # a trough, no restart
        ("one_cycle(0.1, 100, three_phase=True)", 100, [(30, "warmup end"), (59, "phase end")]),
        # the momentum's minimum is no warmup's end
        ("one_cycle(0.1, 100, three_phase=True).momentum()", 100, [(30, "phase end"), (59, "phase end")]),
        ("inverse_sqrt(0.1, 10)", 100, [(10, "warmup end")]),
        ("wsd(0.1, 100, 10, 30)", 100, [(10, "warmup end"), (70, "phase end")]),
        ("per_epoch(multistep(0.1, [2, 5]), 10)", 100, [(20, "boundary"), (50, "boundary")]),
        ("cosine(0.1, 40) * 0.5", 100, [(40, "phase end")]),
        ("cosine(0.1, 40).clip(0.01)", 100, [(40, "phase end")]),
        ("random_uniform(0.0, 0.1)", 100, []),
    ],
)
def test_events_by_kind(spec, steps, expected):
    s = lrlab.parse(spec)
    assert schedule_events(s, steps) == expected


def test_events_are_the_kinds_own_and_unfiltered():
    """`events` is raw (may reach past the end); schedule_events sorts and keeps 0 < t < steps."""
    s = lrlab.parse("multistep(0.1, [0, 50, 200])")
    assert s.events(100) == [(0, "boundary"), (50, "boundary"), (200, "boundary")]
    assert schedule_events(s, 100) == [(50, "boundary")]
    assert lrlab.Schedule.events(s, 100) == []
