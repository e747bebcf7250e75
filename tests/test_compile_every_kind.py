"""The scalar fast path (schedules/_compile.py): every kind that is not host-only compiles (no silent fallback
to the slow path), its values equal the formula on Python floats, and one_cycle builds its phases once."""

from __future__ import annotations

import math

import numpy as np
import pytest

import lrlab
from every_kind import SPECS as EVERY_KIND
from lrlab.schedules import SCALAR
from lrlab.schedules._compile import Untraceable, scalar_functions

SPECS = [s for s in EVERY_KIND if not lrlab.parse(s).host_only] + [
    "constant(0.1)",
    "step_decay(0.1, 0.5, 7)",
    "multistep(0.1, [3, 10, 20], gamma=0.5)",
    "piecewise([5, 12], [0.1, 0.05, 0.01])",
    "exponential(0.1, 5, 0.95, staircase=True)",
    "inverse_time(0.1, 5, 0.5, staircase=True)",
    "polynomial(0.1, 20, end_lr=0.001, power=2.0)",
    "polynomial(0.1, 10, cycle=True)",
    "cosine(0.0, 30, warmup_target=0.1, warmup_steps=5)",
    "cosine_restarts(0.1, 5, t_mul=2.0, m_mul=0.8, alpha=0.01)",
    "cosine_restarts(0.1, 5, t_mul=1.0)",
    'cyclic(0.01, 0.1, 4, 6, mode="triangular2")',
    'cyclic(0.01, 0.1, 4, mode="exp_range", gamma=0.9)',
    'one_cycle(0.1, 40, anneal="linear", three_phase=True)',
    "linear(0.1, 0.01, 20)",
    "warmup(cosine(0.1, 30), 5)",
    "join([constant(0.1), cosine(0.1, 20)], [10])",
    "inverse_sqrt(0.1, 5)",
    'wsd(0.1, 50, 5, 10, decay="1-sqrt", end_lr=0.01)',
    "per_epoch(exponential(0.1, 1, 0.9), 4)",
    "cosine(0.1, 30).clip(0.02, 0.08) * 0.5",
]


def test_specs_cover_every_kind_that_is_not_host_only():  # tests/every_kind.py holds one spec of every kind
    kinds = set()
    for spec in SPECS:
        stack = [lrlab.parse(spec)]
        while stack:
            s = stack.pop()
            kinds.add(s.kind)
            stack.extend(s.children())
    assert kinds == {k for k, cls in lrlab.KINDS.items() if not cls.host_only}


@pytest.mark.parametrize("spec", SPECS)
def test_every_kind_compiles(spec):
    s = lrlab.parse(spec)
    assert scalar_functions(s.apply, s._call) is not None
    s(0)
    assert "def _scalar(t):" in s._scalar.source  # the compiled function, not the formula-as-written fallback
    steps = range(0, 120)
    assert [s(t) for t in steps] == [s.apply(SCALAR, t) for t in steps] == s(np.arange(120)).tolist()


def test_host_only_kinds_and_lengths_left_out_keep_the_formula_as_written():
    for s in (lrlab.random_uniform(0.0, 0.1), lrlab.custom(math.sqrt), lrlab.warmup(lrlab.random_uniform(0, 1), 3)):
        s(4)
        assert not hasattr(s._scalar, "source")
    with pytest.raises(ValueError, match="length"):
        lrlab.cosine(0.1)(3)


def test_untraceable_formulas_fall_back_and_other_errors_surface():
    def branches(xp, t):
        return 0.1 if t < 5 else 0.01  # a Python branch on the step

    assert scalar_functions(branches, lambda t: None) is None

    def buggy(xp, t):
        raise KeyError("a bug in a formula")

    with pytest.raises(KeyError):
        scalar_functions(buggy, lambda t: None)

    def unset(xp, t):
        return t / None

    with pytest.raises(Untraceable):
        unset(lrlab.schedules._compile.TRACE, lrlab.schedules._compile._Node(lrlab.schedules._compile._Tracer(), "t"))
    assert scalar_functions(unset, lambda t: None) is None


def test_deep_formulas_fall_back_without_error():
    s = lrlab.multistep(0.1, list(range(1, 3000)), gamma=0.999)  # a graph deeper than Python's stack
    assert s(2500) == pytest.approx(0.1 * 0.999**2500)
    deep = lrlab.constant(0.1)
    for _ in range(120):  # ifs nested deeper than Python's compiler allows
        deep = lrlab.warmup(deep, 1)
    assert deep(200) == 0.1


def test_one_cycle_builds_its_phases_once(monkeypatch):
    s = lrlab.one_cycle(0.1, 100)
    calls = []
    original = lrlab.one_cycle._make_phases
    monkeypatch.setattr(lrlab.one_cycle, "_make_phases", lambda self: calls.append(1) or original(self))
    s(np.arange(100))
    s(30)
    assert calls == []
    assert s.phases() == [(29.0, 0.004, 0.1), (99, 0.1, 0.1 / 25 / 1e4)]
    assert lrlab.one_cycle(0.1, 100) == s and calls == [1]
