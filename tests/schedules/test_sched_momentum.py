"""Momentum schedules equal the momentum (SGD) and betas[0] (Adam) that torch's OneCycleLR and CyclicLR set
with cycle_momentum=True, read from the optimizer's param group step by step (bit for bit)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from sched_testutil import assert_matches
from torch.optim import lr_scheduler as sched

import lrlab


def torch_momenta(make, n: int, optimizer: str) -> tuple[np.ndarray, np.ndarray]:
    """(lr, momentum) of updates 0..n-1 under the scheduler `make(optimizer)`; momentum is SGD's
    group["momentum"] or Adam's group["betas"][0]."""
    import torch

    params = [torch.zeros(1, requires_grad=True)]
    opt = torch.optim.SGD(params, lr=0.1, momentum=0.9) if optimizer == "sgd" else torch.optim.Adam(params, lr=0.1)
    scheduler = make(opt)
    lrs, momenta = [], []
    for i in range(n):
        if i:
            opt.step()
            scheduler.step()
        group = opt.param_groups[0]
        lrs.append(group["lr"])
        momenta.append(group["momentum"] if optimizer == "sgd" else group["betas"][0])
    return np.array(lrs), np.array(momenta)


def check(ours, ref, what):
    steps = list(range(len(ref)))
    assert_matches(ours(np.arange(len(ref))), ref, steps, rtol=0.0, what=what + " (array)")
    assert_matches([ours(t) for t in steps], ref, steps, rtol=0.0, what=what + " (scalar)")


ONE_CYCLE = [
    (anneal, three_phase, total, pct, base, high, opt)
    for anneal, three_phase in itertools.product(["cos", "linear"], [False, True])
    for total, pct in [(100, 0.3), (37, 0.25), (2, 0.3), (10, 0.05)]
    for base, high, opt in [(0.85, 0.95, "sgd"), (0.8, 0.99, "adam")]
]


@pytest.mark.parametrize(("anneal", "three_phase", "total", "pct", "base", "high", "opt"), ONE_CYCLE)
def test_one_cycle_momentum(anneal, three_phase, total, pct, base, high, opt):
    def make(optimizer):
        return sched.OneCycleLR(
            optimizer, 0.1, total_steps=total, pct_start=pct, anneal_strategy=anneal, three_phase=three_phase,
            cycle_momentum=True, base_momentum=base, max_momentum=high,
        )  # fmt: skip

    lrs, momenta = torch_momenta(make, total, opt)
    rate = lrlab.one_cycle(0.1, total, pct, anneal=anneal, three_phase=three_phase)
    check(rate, lrs, "OneCycleLR lr")
    check(rate.momentum(base_momentum=base, max_momentum=high), momenta, f"OneCycleLR momentum {opt}")


@pytest.mark.parametrize(
    ("mode", "gamma", "up", "down", "opt"),
    [
        (mode, gamma, up, down, opt)
        for (mode, gamma), (up, down), opt in itertools.product(
            [("triangular", 1.0), ("triangular2", 1.0), ("exp_range", 0.99)], [(10, None), (4, 6), (1, 1)],
            ["sgd", "adam"],
        )
    ],
)  # fmt: skip
def test_cyclic_momentum(mode, gamma, up, down, opt):
    def make(optimizer):
        return sched.CyclicLR(optimizer, 0.001, 0.1, up, down, mode, gamma, cycle_momentum=True)

    lrs, momenta = torch_momenta(make, 150, opt)
    rate = lrlab.cyclic(0.001, 0.1, up, down, mode, gamma)
    check(rate, lrs, "CyclicLR lr")
    check(rate.momentum(), momenta, f"CyclicLR momentum {mode} {opt}")
    check(rate.momentum(0.7, 0.95), torch_momenta(
        lambda o: sched.CyclicLR(o, 0.001, 0.1, up, down, mode, gamma, base_momentum=0.7, max_momentum=0.95),
        150, opt)[1], "CyclicLR momentum 0.7..0.95")  # fmt: skip


def test_momentum_by_hand_and_round_trips():
    m = lrlab.one_cycle(0.1, 10, pct_start=0.5, anneal="linear").momentum(0.8, 0.9)
    assert m == lrlab.one_cycle_momentum(0.8, 0.9, 10, 0.5, "linear")
    # phases end at steps 4 and 9: 0.9 -> 0.8 over steps 0..4, back to 0.9 by step 9, held after
    assert m(np.arange(12)) == pytest.approx([0.9, 0.875, 0.85, 0.825, 0.8, 0.82, 0.84, 0.86, 0.88, 0.9, 0.9, 0.9])
    c = lrlab.cyclic(0.01, 0.1, 2, mode="triangular2").momentum(0.8, 0.9)
    assert c(np.arange(9)) == pytest.approx([0.9, 0.85, 0.8, 0.85, 0.9, 0.875, 0.85, 0.875, 0.9])
    for s in (m, c, lrlab.one_cycle(0.1).momentum()):
        assert lrlab.parse(repr(s)) == s and lrlab.from_config(s.to_config()) == s
    assert repr(c) == 'cyclic_momentum(0.8, step_size_up=2, mode="triangular2")'
    assert m.events(20) == [(5, "phase end"), (10, "phase end")]  # a momentum has no warmup: its phases end
    assert not lrlab.one_cycle(0.1).momentum().is_bound
    assert lrlab.one_cycle(0.1).momentum().stretch(10) == lrlab.one_cycle(0.1, 10).momentum()
    with pytest.raises(ValueError, match=r"one_cycle_momentum: max_momentum must be in \[0, 1\], got 1.5"):
        lrlab.one_cycle(0.1, 10).momentum(max_momentum=1.5)
    with pytest.raises(ValueError, match="cyclic_momentum: base_momentum"):
        lrlab.cyclic(0.01, 0.1).momentum(base_momentum=-0.1)
    with pytest.raises(ValueError, match="cyclic_momentum: step_size_up"):
        lrlab.cyclic_momentum(step_size_up=0)


def test_momentum_in_the_spec_grammar():
    assert lrlab.parse("one_cycle(0.1, 100).momentum()") == lrlab.one_cycle(0.1, 100).momentum()
    assert lrlab.parse("cyclic(0.01, 0.1, 4).momentum(0.7, max_momentum=0.95)") == lrlab.cyclic_momentum(
        0.7, 0.95, 4
    )
    for text, column in [
        ("cosine(0.1).momentum()", 13),
        ("one_cycle(0.1).momentum(0.8, colour=1)", 16),
        ("one_cycle(0.1).momentum(2.0)", 16),
        ("one_cycle(0.1).moment()", 16),
    ]:
        with pytest.raises(ValueError) as info:
            lrlab.parse(text)
        message = str(info.value)
        assert f"column {column}" in message or "\n  " + " " * (column - 1) + "^" in message, message
