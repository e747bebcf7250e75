"""Hypothesis strategies: every schedule kind with valid parameters, and compositions of them."""

from __future__ import annotations

import sched_testutil  # noqa: F401  (registers the function custom("sched_testutil:seed_decay") names)
from hypothesis import reject
from hypothesis import strategies as st

import lrlab
from lrlab.schedules import Schedule

rates = st.one_of(
    st.floats(0.0, 10.0, allow_nan=False, allow_infinity=False),
    st.sampled_from([0.0, 5e-324, 1e-300, 1e-8, 0.1, 1e6]),
)
positive_rates = rates.filter(lambda x: x > 0)
lengths = st.one_of(st.integers(1, 200), st.integers(1, 20_000), st.sampled_from([1, 2, 3, 10**9]))
small_counts = st.integers(0, 300)
decay_factors = st.one_of(st.floats(1e-6, 1.0), st.sampled_from([1.0, 0.5, 0.1, 1e-300]))
growth_factors = st.one_of(decay_factors, st.floats(1.0, 3.0), st.sampled_from([1e300]))
unit = st.floats(0.0, 1.0)


@st.composite
def sorted_ints(draw, min_size=0, max_size=5, strict=True, low=0, high=30_000):
    items = sorted(draw(st.lists(st.integers(low, high), min_size=min_size, max_size=max_size)))
    return sorted(set(items)) if strict else items


@st.composite
def piecewise(draw):
    bounds = draw(sorted_ints(min_size=0, max_size=5))
    values = draw(st.lists(rates, min_size=len(bounds) + 1, max_size=len(bounds) + 1))
    return lrlab.piecewise(bounds, values)


@st.composite
def cosine(draw):
    target = draw(st.none() | rates)
    shape = st.just(1.0) | st.floats(1e-3, 8.0) | st.sampled_from([0.5, 2.0])
    return lrlab.cosine(
        draw(rates),
        draw(lengths),
        alpha=draw(unit),
        warmup_target=target,
        warmup_steps=draw(small_counts),
        exponent=draw(shape),
        k_decay=draw(shape),
    )


@st.composite
def one_cycle(draw):
    three_phase = draw(st.booleans())
    pct = draw(st.floats(1e-3, 0.499 if three_phase else 0.999))
    return lrlab.one_cycle(
        draw(rates),
        draw(st.integers(2, 20_000)),
        pct_start=pct,
        anneal=draw(st.sampled_from(["cos", "linear"])),
        div_factor=draw(st.floats(1.0, 1e4)),
        final_div_factor=draw(st.floats(1.0, 1e5)),
        three_phase=three_phase,
    )


momenta = st.floats(0.0, 1.0) | st.sampled_from([0.0, 0.85, 0.95, 1.0])


@st.composite
def one_cycle_momentum(draw):
    three_phase = draw(st.booleans())
    pct = draw(st.floats(1e-3, 0.499 if three_phase else 0.999))
    return lrlab.one_cycle_momentum(
        draw(momenta), draw(momenta), draw(st.integers(2, 20_000)), pct, draw(st.sampled_from(["cos", "linear"])),
        three_phase,
    )  # fmt: skip


@st.composite
def wsd(draw):
    total = draw(st.integers(1, 20_000))
    warmup = draw(st.integers(0, total))
    decay = draw(st.integers(0, total - warmup))
    peak = draw(rates)
    end = draw(st.floats(0.0, 1.0)) * peak
    return lrlab.wsd(
        peak, total, warmup, decay, end_lr=end, decay=draw(st.sampled_from(["linear", "cosine", "1-sqrt"]))
    )


@st.composite
def cyclic(draw):
    return lrlab.cyclic(
        draw(rates),
        draw(rates),
        draw(lengths),
        draw(st.none() | lengths),
        mode=draw(st.sampled_from(["triangular", "triangular2", "exp_range"])),
        gamma=draw(st.floats(1e-3, 1.0)),
    )


@st.composite
def tanh_decay(draw):
    lb = draw(st.floats(-30.0, 10.0) | st.sampled_from([-7.0, -1e6]))
    ub = lb + draw(st.floats(1e-3, 40.0) | st.sampled_from([10.0, 1e7]))
    return lrlab.tanh_decay(draw(rates), draw(lengths), lb=lb, ub=ub, end_lr=draw(rates))


@st.composite
def noisy(draw, children):
    noise_type = draw(st.sampled_from(["normal", "uniform"]))
    std = draw(st.floats(0.0, 3.0) | st.just(1.0))
    pct = draw(st.floats(max(std / 100, 1e-6), 1.0) | st.just(1.0))
    start = draw(st.integers(0, 12_000))
    window = draw(st.none() | st.integers(0, 3000))
    noise_range = start if window is None else [start, start + window]
    seed = draw(st.integers(0, 2**40))
    return lrlab.noise(draw(children), noise_range, pct, std, noise_type, seed)


leaves = st.one_of(
    st.builds(lrlab.constant, rates),
    st.builds(lrlab.step_decay, rates, growth_factors, lengths),
    st.builds(lrlab.multistep, rates, sorted_ints(strict=False), growth_factors),
    piecewise(),
    st.builds(lrlab.exponential, rates, lengths, growth_factors, st.booleans()),
    st.builds(lrlab.inverse_time, rates, lengths, st.floats(0.0, 100.0), st.booleans()),
    st.builds(
        lrlab.polynomial, rates, lengths, rates, st.floats(1e-3, 5.0) | st.sampled_from([0.5, 1.0, 2.0]), st.booleans()
    ),
    st.builds(lrlab.linear, rates, rates, lengths),
    cosine(),
    st.builds(
        lrlab.cosine_restarts,
        rates,
        lengths,
        st.floats(1.0, 4.0) | st.sampled_from([1.0, 2.0, 3.0]),
        growth_factors,
        unit,
    ),
    cyclic(),
    one_cycle(),
    st.builds(lrlab.inverse_sqrt, rates, small_counts, st.none() | st.floats(1e-3, 1e5)),
    wsd(),
    tanh_decay(),
    one_cycle_momentum(),
    cyclic().map(lambda c: c.momentum(*sorted([c.base_lr % 1.0, c.max_lr % 1.0]))),
    st.builds(
        lambda low, width, seed: lrlab.random_uniform(low, low + width, seed), rates, rates, st.integers(0, 2**64 - 1)
    ),
    st.just(lrlab.custom("sched_testutil:seed_decay")),
)


@st.composite
def joined(draw, children):
    pieces = draw(st.lists(children, min_size=1, max_size=3))
    bounds = draw(sorted_ints(min_size=len(pieces) - 1, max_size=len(pieces) - 1, low=0, high=5000))
    while len(bounds) < len(pieces) - 1:  # duplicates removed: pad upwards
        bounds.append((bounds[-1] if bounds else 0) + 1)
    return lrlab.join(pieces, bounds)


@st.composite
def clipped(draw, children):
    low = draw(rates)
    high = draw(st.none() | rates.map(lambda x: x + low))
    return draw(children).clip(low, high)


@st.composite
def warmed(draw, children):
    """warmup(child): a child that overflows at step 0 has no peak to ramp to, and warmup says so (a ValueError when
    it is built); such a draw is dropped, any other error is not."""
    child, steps, start = draw(children), draw(small_counts), draw(rates)
    try:
        return lrlab.warmup(child, steps, start)
    except ValueError as exc:
        assert "overflows at step 0" in str(exc), exc
        reject()


def compose(children):
    return st.one_of(
        warmed(children),
        joined(children),
        st.builds(lrlab.per_epoch, children, st.integers(1, 500)),
        st.builds(lambda s, k: s * k, children, st.floats(0.0, 10.0) | st.sampled_from([0.0, 1e-300, 1e6])),
        clipped(children),
        noisy(children),
        st.builds(lambda a, b: a * b, children, children),
        st.lists(children, min_size=2, max_size=4).map(lrlab.product),
    )


schedules = st.recursive(leaves, compose, max_leaves=4)


def may_grow(s: Schedule) -> bool:
    """True when a parameter asks for growth without bound (so inf is an allowed value)."""
    kind = s.kind
    if kind == "step_decay" and s.drop > 1:
        return True
    if kind == "multistep" and s.gamma > 1:
        return True
    if kind == "exponential" and s.decay_rate > 1:
        return True
    if kind == "cosine_restarts" and s.m_mul > 1:
        return True
    return any(may_grow(c) for c in s.children())
