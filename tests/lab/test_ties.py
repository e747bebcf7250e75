"""lrlab.lab.ties against scipy's paired t-test, and its sentences (issue 25: ties said out loud)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from lrlab.lab.ties import LEVEL, compare_to_best, headline, seeds_needed, versus


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("higher", [True, False])
def test_the_paired_test_is_scipys(seed, higher):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 9))
    a, b = rng.normal(0.9, 0.02, n), rng.normal(0.89, 0.02, n)
    v = versus(dict(enumerate(a)), dict(enumerate(b)), "b", higher_is_better=higher)
    want = stats.ttest_rel(a, b, alternative="greater" if higher else "less")
    assert v.seeds == n and math.isclose(v.p_value, want.pvalue, rel_tol=1e-9, abs_tol=1e-12)
    assert v.tied == (want.pvalue >= LEVEL) and math.isclose(v.p_better, 1 - want.pvalue, abs_tol=1e-12)


def test_seeds_needed_is_the_first_n_that_passes():
    for mean, sd in [(0.01, 0.01), (0.005, 0.02), (0.02, 0.005)]:
        n = seeds_needed(mean, sd)
        t = [mean / (sd / math.sqrt(k)) if k else 0.0 for k in range(n + 1)]
        assert t[n] > stats.t.ppf(1 - LEVEL, n - 1) and (n == 2 or t[n - 1] <= stats.t.ppf(1 - LEVEL, n - 2))


def test_seeds_pair_only_where_both_finished():
    v = versus({0: 0.9, 1: 0.92, 2: math.nan}, {0: 0.8, 1: 0.85, 3: 0.5}, "b", True)
    assert v.seeds == 2 and math.isclose(v.mean, 0.085)


def test_the_headlines():
    clear = {"a": {0: 0.95, 1: 0.96, 2: 0.97}, "b": {0: 0.90, 1: 0.92, 2: 0.91}}
    assert headline(compare_to_best(clear, ["a", "b"], True), "a", 3) == (
        "a is better than every other entry on 3 seeds (paired t-test, one-sided 5%)")
    noisy = {"a": {0: 0.95, 1: 0.93, 2: 0.94}, "b": {0: 0.94, 1: 0.93, 2: 0.92}}  # d = 0.01, 0, 0.02
    line = headline(compare_to_best(noisy, ["a", "b"], True), "a", 3)
    assert line == ("no schedule is better than the others on 3 seeds (paired t-test, one-sided 5%); run more seeds: "
                    "about 5 would tell a from b at the measured spread")
    even = {"a": {0: 0.95, 1: 0.91, 2: 0.93}, "b": {0: 0.94, 1: 0.93, 2: 0.92}}  # d = 0.01, -0.02, 0.01
    assert headline(compare_to_best(even, ["a", "b"], True), "a", 3).endswith("are even on average: more seeds may "
                                                                             "still not separate them)")
    mixed = {**clear, "c": {0: 0.94, 1: 0.97, 2: 0.96}}
    assert headline(compare_to_best(mixed, ["a", "c", "b"], True), "a", 3) == (
        "a is tied with c on 3 seeds (paired t-test, one-sided 5%); better than the rest")
    exact = {"a": {0: 0.95, 1: 0.95}, "b": {0: 0.90, 1: 0.90}}  # a task the seed does not change
    assert headline(compare_to_best(exact, ["a", "b"], True), "a", 2).endswith("the order holds on every seed")
    same = {"a": {0: 0.95, 1: 0.90}, "b": {0: 0.95, 1: 0.90}}
    assert headline(compare_to_best(same, ["a", "b"], True), "a", 2).endswith("they are tied")
    one = {"a": {0: 0.95}, "b": {0: 0.90}}
    assert headline(compare_to_best(one, ["a", "b"], True), "a", 1).startswith("one seed: the order is not tested")
