"""The error contract of Plateau's state (issue 9): a mutated state dict (wrong types, huge ints, NaN, missing
keys) given to Plateau.load_state_dict / Plateau.from_state_dict, alone or inside lrlab.torch.Scheduler's state,
raises ValueError and nothing else, and a refused state changes nothing."""

from __future__ import annotations

import json
import math

import pytest

import lrlab
from lrlab import Plateau

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

ODD = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**400), 10**400),
    st.sampled_from([-1, 0, 1, 2**53, 2**53 + 1, 10**30, 10**400]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
    st.lists(st.one_of(st.floats(), st.integers(-5, 5), st.none()), max_size=3),
    st.dictionaries(st.text(max_size=4), st.integers(), max_size=2),
)


def _state(convention: str) -> dict:
    p = Plateau(factor=0.5, patience=1, cooldown=1, min_lr=1e-4, convention=convention)
    for value in (1.0, 0.9, 0.95, 0.97, 0.99, 1.2):
        p.step(value)
    assert p.reductions >= 1
    return json.loads(json.dumps(p.state_dict()))


@st.composite
def mutated(draw):
    convention = draw(st.sampled_from(["torch", "keras"]))
    state = _state(convention)
    key = draw(st.sampled_from(sorted(state)) | st.text(max_size=4))
    if draw(st.integers(0, 4)) == 0:
        state.pop(key, None)
    else:
        state[key] = draw(ODD)
    return convention, state


def _huge_ints_refused() -> bool:
    """Whether Plateau's checks are lrlab._check's (a huge int is a ValueError, not float()'s OverflowError)."""
    try:
        Plateau(patience=10**400)
    except ValueError:
        return True
    except OverflowError:
        return False
    return True


# Plateau's constructor and load_state_dict move to lrlab._check on the branch that adds Plateau.parse/spec
# (the "lab" worktree, not yet merged when this was written); until then float(10**400) raises OverflowError
# there. Once merged, this marker no longer applies and the test runs as an ordinary test.
needs_check_plateau = pytest.mark.xfail(
    not _huge_ints_refused(), reason="Plateau's checks are not yet lrlab._check's (huge ints: OverflowError)",
    strict=True,
)


@needs_check_plateau
@settings(max_examples=300, deadline=None)
@given(mutated())
def test_mutated_plateau_state_raises_only_value_error(case) -> None:
    convention, state = case
    p = Plateau(factor=0.5, patience=1, cooldown=1, min_lr=1e-4, convention=convention)
    p.step(3.0)
    before = p.state_dict()
    try:
        p.load_state_dict(state)
    except ValueError:
        assert p.state_dict() == before
    else:
        for lr in (0.1, 0.0):  # a loaded state gives rates
            assert math.isfinite(p.effective(lr))
    try:
        Plateau.from_state_dict(state)
    except ValueError:
        pass


@needs_check_plateau
@settings(max_examples=200, deadline=None)
@given(mutated())
def test_mutated_plateau_inside_a_torch_scheduler_state(case) -> None:
    torch = pytest.importorskip("torch")
    from lrlab.torch import Scheduler

    convention, plateau_state = case
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    settings_ = dict(factor=0.5, patience=1, cooldown=1, min_lr=1e-4, convention=convention)
    sched = Scheduler(opt, "constant(0.1)", Plateau(**settings_))
    state = {**sched.state_dict(), "plateau": plateau_state}
    before = sched.state_dict()
    try:
        sched.load_state_dict(state)
    except ValueError:
        assert sched.state_dict() == before
    try:
        Scheduler.from_state_dict(opt, state)
    except ValueError:
        pass


def test_plateau_state_errors_name_the_key() -> None:
    state = _state("torch")
    for key, value in [("best", "abc"), ("scale", math.nan), ("scale", 2.0), ("reductions", -1), ("epochs", 1.5)]:
        with pytest.raises(ValueError, match=key):
            Plateau.from_state_dict({**state, key: value})
    with pytest.raises(ValueError, match="'best'"):
        Plateau.from_state_dict({k: v for k, v in state.items() if k != "best"})
    assert Plateau.from_state_dict(state).state_dict() == state
    assert lrlab.Plateau is Plateau
