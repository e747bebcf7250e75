"""The search-space grammar: every distribution reaches Optuna's suggest calls with its bounds, a sampled trial is
the branch's text with the values put in (so it parses to the schedule written by hand), branches do not share
parameter names, and bad spaces fail with one line."""

from __future__ import annotations

import math

import pytest

optuna = pytest.importorskip("optuna")

from lrlab.lab.studies.compare import split_entry  # noqa: E402
from lrlab.lab.studies.space import Space, default_space  # noqa: E402
from lrlab.schedules import cosine, one_cycle, parse, warmup, wsd  # noqa: E402

optuna.logging.set_verbosity(optuna.logging.WARNING)

ISSUE = ("one_cycle(loguniform(1e-3, 1)) | warmup(cosine(loguniform(1e-3, 1), alpha=uniform(0, 0.1)), "
         "steps=int(0, 200)) | wsd(loguniform(1e-3, 1), decay=choice('linear', '1-sqrt'))")


def test_the_issues_space_names_each_parameter_by_branch_kind_and_argument():
    space = Space(ISSUE)
    assert [b.label for b in space.branches] == ["0:one_cycle", "1:warmup", "2:wsd"]
    assert space.param_names == ["branch", "0.one_cycle.max_lr", "1.warmup.schedule.cosine.initial_lr",
                                 "1.warmup.schedule.cosine.alpha", "1.warmup.steps", "2.wsd.peak_lr", "2.wsd.decay"]


def test_a_fixed_trial_gives_the_branch_text_with_its_values():
    space = Space(ISSUE)
    trial = optuna.trial.FixedTrial({"branch": "1:warmup", "1.warmup.schedule.cosine.initial_lr": 0.05,
                                     "1.warmup.schedule.cosine.alpha": 0.02, "1.warmup.steps": 17})
    spec = space.sample(trial)
    assert spec == "warmup(cosine(0.05, alpha=0.02), steps=17)"
    assert parse(spec) == warmup(cosine(0.05, alpha=0.02), steps=17)
    trial = optuna.trial.FixedTrial({"branch": "2:wsd", "2.wsd.peak_lr": 0.3, "2.wsd.decay": "1-sqrt"})
    assert parse(space.sample(trial)) == wsd(0.3, decay="1-sqrt")
    trial = optuna.trial.FixedTrial({"branch": "0:one_cycle", "0.one_cycle.max_lr": 1e-3})
    assert parse(space.sample(trial)) == one_cycle(1e-3)


def test_a_space_without_distributions_is_its_own_only_sample():
    text = "cosine(0.1, alpha=0.01)"
    assert Space(text).sample(optuna.trial.FixedTrial({})) == text


def test_every_distribution_reaches_optuna_with_its_bounds():
    space = Space("cyclic(loguniform(1e-4, 1e-2), uniform(0.05, 0.5), step_size_up=int(5, 50), "
                  "step_size_down=logint(5, 500), mode=choice('triangular', 'triangular2'))")
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    trial = study.ask()
    space.sample(trial)
    dists = trial.distributions
    assert dists["0.cyclic.base_lr"] == optuna.distributions.FloatDistribution(1e-4, 1e-2, log=True)
    assert dists["0.cyclic.max_lr"] == optuna.distributions.FloatDistribution(0.05, 0.5)
    assert dists["0.cyclic.step_size_up"] == optuna.distributions.IntDistribution(5, 50)
    assert dists["0.cyclic.step_size_down"] == optuna.distributions.IntDistribution(5, 500, log=True)
    assert dists["0.cyclic.mode"] == optuna.distributions.CategoricalDistribution(("triangular", "triangular2"))


def test_samples_stay_in_bounds_and_parse_with_a_plateau():
    space = Space(ISSUE + " @plateau(factor=uniform(0.1, 0.9), patience=int(1, 5))")
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    seen = set()
    for _ in range(60):
        trial = study.ask()
        spec = space.sample(trial)
        sched, plat, own = split_entry(spec)
        seen.add(trial.params["branch"])
        if trial.params["branch"] == "2:wsd":
            assert own and 0.1 <= plat.factor <= 0.9 and 1 <= plat.patience <= 5
            assert sched.peak_lr == trial.params["2.wsd.peak_lr"]
        else:
            assert plat is None
        for name, value in trial.params.items():
            if name.endswith(("max_lr", "initial_lr", "peak_lr")):
                assert 1e-3 <= value <= 1
        study.tell(trial, 0.0)
    assert seen == {"0:one_cycle", "1:warmup", "2:wsd"}


def test_the_same_kind_twice_in_one_branch_gets_two_names():
    space = Space("join([cosine(uniform(0.1, 0.2)), cosine(uniform(0.01, 0.02))], boundaries=[10])")
    assert space.param_names == ["0.join.schedules[0].cosine.initial_lr", "0.join.schedules[1].cosine.initial_lr"]
    spec = space.sample(optuna.trial.FixedTrial({"0.join.schedules[0].cosine.initial_lr": 0.15,
                                                 "0.join.schedules[1].cosine.initial_lr": 0.015}))
    assert spec == "join([cosine(0.15), cosine(0.015)], boundaries=[10])"
    parse(spec.replace("cosine(0.15)", "cosine(0.15, decay_steps=10)").replace("0.015)", "0.015, decay_steps=5)"))


def test_bars_and_ats_inside_strings_are_not_separators():
    space = Space("wsd(uniform(0.1, 0.2), decay=choice('linear', 'cosine')) | constant(0.1)")
    assert len(space.branches) == 2
    assert Space("cosine(0.1)@plateau(mode='min')").branches[0].plateau is not None


@pytest.mark.parametrize("steps, peak", [(200, 0.1), (2, 1.0), (9, 0.003), (20, 0.05)])
def test_the_default_space_covers_the_families_and_samples_parse(steps, peak):
    text = default_space(steps, peak)
    space = Space(text)
    kinds = [b.label.split(":")[1] for b in space.branches]
    assert kinds == ["constant", "step_decay", "exponential", "warmup", "one_cycle", "wsd"]
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=3))
    for _ in range(40):
        trial = study.ask()
        sched = parse(space.sample(trial))
        bound = sched if sched.is_bound else sched.stretch(steps)
        rate = max(bound(t) for t in range(steps))
        assert rate <= peak * 100 * (1 + 1e-9)  # two decades either side (space.DECADES)
        lr = next(v for k, v in trial.params.items() if k != "branch")
        assert peak / 100 * (1 - 1e-3) <= lr <= peak * 100 * (1 + 1e-3)
        study.tell(trial, 0.0)


@pytest.mark.parametrize("text, message", [
    ("cosine(lognormal(1, 2))", "unknown distribution or schedule kind 'lognormal'"),
    ("cosine(uniform(2, 1))", "uniform(2, 1) needs low < high, got low 2.0 and high 1.0"),
    ("cosine(uniform(1, 1))", "needs low < high"),
    ("cosine(loguniform(0, 1))", "loguniform(0, 1) needs low > 0"),
    ("cosine(loguniform(-1, 1))", "needs low > 0"),
    ("warmup(cosine(0.1), steps=int(0.5, 3))", "int(0.5, 3) takes whole numbers, got 0.5"),
    ("warmup(cosine(0.1), steps=logint(0, 3))", "logint(0, 3) needs low >= 1"),
    ("cosine(uniform(1))", "takes two numbers (low, high), got 1 argument(s)"),
    ("cosine(uniform(0, 1*2))", "expected ',' or ')'"),
    ("cosine(uniform(0, 'a'))", "takes two finite numbers, got 'a'"),
    ("cosine(uniform(0, cosine(1)))", "a number inside uniform(...)"),
    ("wsd(0.1, decay=choice())", "choice() needs at least one option"),
    ("wsd(0.1, decay=choice('linear', 'linear'))", "lists 'linear' twice"),
    ("wsd(0.1, decay=uniform(0, 1))", "wsd: decay must be one of"),
    ("warmup(cosine(0.1), steps=uniform(0, 100))", "warmup: steps must be a whole number"),
    ("cosine(uniform(-1, 1))", "is not a schedule"),
    ("cosine(0.1) | ", "branch 2 is empty"),
    ("cosine(0.1)@foo(1)", "after '@' a branch takes plateau(...)"),
    ("cosine(0.1)@plateau(factor=uniform(0.5, 2))", "factor must be in [0, 1)"),
    ("cosine(0.1)@plateau()@plateau()", "more than one '@'"),
    ("cosine(0.1 $", "space: cannot read schedule spec"),
    ("", "a non-empty space"),
])
def test_bad_spaces_fail_with_one_line(text, message):
    with pytest.raises(ValueError) as info:
        Space(text)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_probe_values_are_inside_the_bounds():
    space = Space("cosine(loguniform(1e-4, 1), alpha=uniform(0, 0.1)) | warmup(cosine(0.1), steps=logint(1, 1000))")
    for branch in space.branches:
        for dist in branch.dists:
            low, high = dist.args
            assert all(low <= v <= high for v in dist.probes())
            assert math.isclose(min(dist.probes()), low) and math.isclose(max(dist.probes()), high)
