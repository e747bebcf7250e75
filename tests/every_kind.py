"""One schedule spec of every kind, shared by the adapter tests (the host-only custom kind through a
registered function)."""

import math

import lrlab

lrlab.register_function(math.sqrt)  # as "math:sqrt"

SPECS = [
    "constant(0.1)",
    "step_decay(0.1, 0.5, 7)",
    "multistep(0.1, [3, 10, 20], gamma=0.5)",
    "piecewise([5, 12], [0.1, 0.05, 0.01])",
    "exponential(0.1, 5, 0.95, staircase=True)",
    "exponential(0.1, 5, 0.95)",
    "inverse_time(0.1, 5, 0.5)",
    "inverse_time(0.1, 5, 0.5, staircase=True)",
    "polynomial(0.1, 20, end_lr=0.001, power=2.0)",
    "polynomial(0.1, 10, cycle=True)",
    "cosine(0.1, 30, alpha=0.1)",
    "cosine(0.0, 30, warmup_target=0.1, warmup_steps=5)",
    "cosine(0.1, 30, alpha=0.1, exponent=2.0, k_decay=1.5)",
    "cosine_restarts(0.1, 5, t_mul=2.0, m_mul=0.8, alpha=0.01)",
    "cosine_restarts(0.1, 5, t_mul=1.0)",
    "cosine_restarts(0.1, 3, t_mul=1.5)",
    'cyclic(0.01, 0.1, 4, 6, mode="triangular2")',
    'cyclic(0.01, 0.1, 4, mode="exp_range", gamma=0.9)',
    "cyclic(0.01, 0.1, 4)",
    "one_cycle(0.1, 40)",
    'one_cycle(0.1, 40, anneal="linear", three_phase=True)',
    "one_cycle_momentum(0.85, total_steps=40)",
    'one_cycle_momentum(0.8, 0.99, 40, anneal="linear", three_phase=True)',
    'cyclic_momentum(0.8, 0.9, 4, 6, mode="triangular2")',
    'cyclic_momentum(0.8, step_size_up=4, mode="exp_range", gamma=0.9)',
    "linear(0.1, 0.01, 20)",
    "warmup(cosine(0.1, 30), 5)",
    "join([constant(0.1), cosine(0.1, 20)], [10])",
    "inverse_sqrt(0.1, 5)",
    'wsd(0.1, 50, 5, 10, decay="cosine")',
    'wsd(0.1, 50, 5, 10, decay="1-sqrt", end_lr=0.01)',
    "wsd(0.1, 50, 5, 10)",
    "per_epoch(exponential(0.1, 1, 0.9), 4)",
    "constant(0.1) * 0.5",
    "cosine(0.1, 60) * step_decay(1.0, 0.5, 20)",
    "warmup(exponential(0.1, 10, 0.9), 5) * (multistep(1.0, [30]) * 0.5) * cyclic(0.5, 1.0, 6)",
    "cosine(0.1, 30).clip(0.02, 0.08)",
    "random_uniform(0.01, 0.1, seed=3)",
    "tanh_decay(0.1, 60, end_lr=0.001)",
    "tanh_decay(0.1, 30, lb=-3.0, ub=5.0)",
    'noise(cosine(0.1, 60), [10, 50], noise_pct=0.3, noise_type="uniform", noise_seed=4)',
    "noise(tanh_decay(0.1, 60), 5)",
    'custom("math:sqrt")',
]
