"""lrlab.lab.studies.forecast: the two loss laws against hand-computed values, fitting on curves made by the laws
themselves, prediction of specs, the fit-quality warning, optimise, and the CLI's one-line errors."""

from __future__ import annotations

import numpy as np
import pytest

from lrlab.lab import forecast as F
from lrlab.schedules import parse

T = 300
PEAK = 0.01


def _rates() -> dict[str, np.ndarray]:
    t = np.arange(T)
    return {
        "constant": np.full(T, PEAK),
        "cosine": PEAK * 0.5 * (1 + np.cos(np.pi * t / T)),
        "wsd": np.where(t < 240, PEAK, PEAK * (1 - (t - 240) / 60)),
    }


def _curves(law: str, params: dict[str, float], noise: float = 0.005, seed: int = 0) -> list[F.Curve]:
    """Curves whose loss after t updates is the law's (rates in units of PEAK), times log-normal noise."""
    rng = np.random.default_rng(seed)
    fn = F.multi_power if law == "multi_power" else F.tissue
    out = []
    for name, lrs in _rates().items():
        after = fn(lrs / PEAK, **params)  # L(1..T)
        loss = np.concatenate([[5.0], after[:-1]]) * np.exp(rng.normal(0.0, noise, T))  # loss[t] observes L(t)
        out.append(F.Curve(name, lrs, loss))
    return out


TISSUE = {"L0": 0.5, "A": 2.0, "alpha": 0.6, "C": 0.004}
MPL = {"L0": 0.5, "A": 2.0, "alpha": 0.6, "B": 0.3, "C": 2.0, "beta": 0.5, "gamma": 0.5}


# -- the laws by hand -------------------------------------------------------------------------------------
def test_constant_rate_is_a_power_law_of_t_eta():
    """Constant rate: S1 = t * eta, S2 = 0 and no drop, so both laws are L0 + A * (t * eta)**-alpha."""
    lrs = np.full(5, 0.2)
    t = np.arange(1, 6)
    expected = 1.0 + 2.0 * (t * 0.2) ** -0.5
    assert np.allclose(F.tissue(lrs, 1.0, 2.0, 0.5, 0.7), expected, rtol=0, atol=1e-12)
    assert np.allclose(F.multi_power(lrs, 1.0, 2.0, 0.5, 3.0, 1.0, 0.5, 0.5), expected, rtol=0, atol=1e-12)


def test_tissue_two_step_drop_by_hand():
    """rates 1, 1, 0.5, 0.5 and lam 0.5: m = 0, 0, 0.5, 0.25; S2 = 0, 0, 0.5, 0.75; S1 = 1, 2, 2.5, 3."""
    got = F.tissue([1.0, 1.0, 0.5, 0.5], L0=1.0, A=2.0, alpha=1.0, C=0.4, lam=0.5)
    assert np.allclose(got, [3.0, 2.0, 1.0 + 2 / 2.5 - 0.4 * 0.5, 1.0 + 2 / 3 - 0.4 * 0.75], rtol=0, atol=1e-12)
    # evaluated at some steps only: the same values
    assert np.allclose(F.tissue([1.0, 1.0, 0.5, 0.5], 1.0, 2.0, 1.0, 0.4, lam=0.5, at=[2, 4]), [got[1], got[3]])


def test_multi_power_two_step_drop_by_hand():
    """rates 1, 1, 0.5, 0.5: one drop of 0.5 at update 3. With C = beta = gamma = 1, B = 2:
    S_3(3) = 0.5, S_3(4) = 1; x = eta_3**-1 * S_3 = 1, 2; G = 1 - 1/(1 + x) = 1/2, 2/3; LD = 2 * 0.5 * G."""
    got = F.multi_power([1.0, 1.0, 0.5, 0.5], L0=1.0, A=2.0, alpha=1.0, B=2.0, C=1.0, beta=1.0, gamma=1.0)
    assert np.allclose(got, [3.0, 2.0, 1.0 + 2 / 2.5 - 0.5, 1.0 + 2 / 3 - 2 / 3], rtol=0, atol=1e-12)


def test_grouped_terms_approximate_the_exact_law():
    lrs = _rates()["cosine"] / PEAK
    exact = F.multi_power(lrs, **MPL)
    grouped = F.multi_power_from(F.multi_power_terms(lrs, terms=64), **MPL)
    assert np.max(np.abs(grouped - exact) / exact) < 5e-3
    assert np.max(np.abs(grouped - exact)) > 0  # it is an approximation, not the same sum


def test_bad_rates_are_one_line_errors():
    with pytest.raises(ValueError, match="learning rates must be finite numbers >= 0"):
        F.tissue([0.1, -0.1], 1, 1, 1, 1)
    with pytest.raises(ValueError, match="law must be one of"):
        F.fit(_curves("tissue", TISSUE), "chinchilla")


# -- fitting ----------------------------------------------------------------------------------------------
def test_fit_recovers_tissue_parameters_and_predicts_a_spec():
    fc = F.fit(_curves("tissue", TISSUE), "tissue")
    for name, value in TISSUE.items():
        assert fc.params[name] == pytest.approx(value, rel=0.1), name
    assert fc.warning is None
    assert fc.quality["in_sample_mean"] < 0.01
    assert fc.quality["held_out_final_worst"] < F.WARN_HELD_OUT
    # a schedule it never saw: the forecast follows the law's own curve
    pred = fc.predict("step_decay(0.01, 0.5, 100)", T)
    truth = F.tissue(parse("step_decay(0.01, 0.5, 100)")(np.arange(T)) / PEAK, **TISSUE)
    assert pred.spec == "step_decay(0.01, drop=0.5, step_size=100)"
    assert np.max(np.abs(pred.loss[30:] - truth[30:]) / truth[30:]) < 0.02
    assert pred.final == pytest.approx(truth[-4:].mean(), rel=0.03)


def test_fit_multi_power_predicts_a_held_out_schedule():
    """The multi-power law's seven parameters are not all identifiable from three curves; what matters, and
    what is checked, is the forecast of a schedule left out of the fit."""
    fc = F.fit(_curves("multi_power", MPL), "multi_power", check=False)
    assert fc.quality["in_sample_mean"] < 0.01
    spec = "wsd(0.01, decay_steps=120, decay='1-sqrt')"
    truth = F.multi_power(parse(spec).stretch(T)(np.arange(T)) / PEAK, **MPL)
    assert fc.predict(spec, T).final == pytest.approx(truth[-4:].mean(), rel=0.03)


def test_the_warning_fires_where_the_law_cannot_hold():
    """A loss that rises while the rate is constant is no power law of the rate area: the fit says so."""
    lrs = np.full(T, PEAK)
    rising = [F.Curve("rising", lrs, 0.5 + 0.004 * np.arange(T)),
              F.Curve("wavy", lrs, 1.0 + 0.5 * np.sin(np.arange(T) / 15.0))]
    with pytest.warns(UserWarning, match="does not hold"):
        fc = F.fit(rising, "tissue")
    assert fc.warning is not None and "Do not trust" in fc.warning


def test_the_warning_fires_on_runs_too_short_to_measure_their_noise():
    """Under 2 x bins updates every block is one step (no noise estimate): noise counts as 0, the check stays."""
    n = 40
    rising = F.Curve("rising", np.full(n, PEAK), 0.5 + 0.04 * np.arange(n))
    with pytest.warns(UserWarning, match="does not hold"):
        fc = F.fit([rising], "tissue", check=False)
    assert fc.quality["noise"] == 0.0 and "off by" in fc.warning


def test_rank_orders_by_forecast_final():
    fc = F.fit(_curves("tissue", TISSUE), "tissue", check=False)
    ranked = F.rank(fc, ["constant(0.01)", "cosine(0.01)", "constant(0.002)"], T)
    finals = [f for _, f in ranked]
    assert finals == sorted(finals)
    assert {s for s, _ in ranked} == {"constant(0.01)", "cosine(0.01)", "constant(0.002)"}
    assert ranked[-1][0] == "constant(0.002)"  # the smallest rate area: the highest forecast


def test_optimise_returns_a_parseable_spec_no_worse_than_the_fitted_runs():
    fc = F.fit(_curves("tissue", TISSUE), "tissue", check=False)
    best = F.optimise(fc, T, maxiter=15)
    sched = parse(best.spec)
    assert sched.is_bound
    assert repr(parse(repr(sched))) == repr(sched)
    rates = sched(np.arange(T))
    assert np.all(np.diff(rates) <= 1e-15)  # non-increasing (no warmup asked)
    assert best.final == pytest.approx(fc.final(rates))
    assert best.final <= min(fc.final(c.lrs) for c in fc.curves) + 1e-12
    assert set(best.families) == {"wsd linear", "wsd cosine", "wsd 1-sqrt", "cosine", "exponential"}


# -- the CLI ----------------------------------------------------------------------------------------------
def _cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    from lrlab.cli import main

    code = main(argv)
    err = capsys.readouterr().err.strip()
    return code, err


def test_cli_one_line_errors(tmp_path, capsys):
    from lrlab.lab.store import Store

    db = tmp_path / "runs.db"
    Store(db).close()
    code, err = _cli(["forecast", "mnist1d", "--db", str(db), "--predict", "cosine(0.01)"], capsys)
    assert code == 2 and err.startswith("lrlab forecast: error: --fit is required") and "\n" not in err
    code, err = _cli(["forecast", "mnist1d", "--db", str(db), "--fit", "7", "--predict", "cosine(0.01)"], capsys)
    assert code == 2 and "no run with id 7" in err and "\n" not in err
    code, err = _cli(["forecast", "mnist1d", "--fit", "1", "--law", "chinchilla", "--predict", "cosine(0.01)"],
                     capsys)
    assert code == 2 and "--law must be one of 'multi_power', 'tissue'" in err and "\n" not in err
    code, err = _cli(["forecast", "mnist1d", "--fit", "cosine(0.01", "--predict", "cosine(0.01)"], capsys)
    assert code == 2 and err.startswith("lrlab forecast: error:")  # the spec parser's message, with its caret line


def test_cli_fits_checks_optimises_and_writes(tmp_path, capsys):
    """A real forecast on quantiles (10 epochs = 120 updates): specs trained, candidates checked, then the same
    runs fitted again by id and an optimised spec that parses."""
    import csv

    from lrlab.cli import main

    db, out = str(tmp_path / "runs.db"), tmp_path / "out"
    fit = ["constant(0.005)", "cosine(0.005)", "wsd(0.005, decay_steps=24)"]
    code = main(["forecast", "quantiles", "--fit", *fit, "--predict", "step_decay(0.005, 0.5, 40)", "--check",
                 "--epochs", "10", "--law", "tissue", "--db", db, "--out", str(out), "--no-progress"])
    text = capsys.readouterr().out
    assert code == 0
    assert "fitted on 3 runs" in text and "step_decay(0.005, 0.5, 40)" in text and "measured" in text
    assert (out / "forecast.png").stat().st_size > 0
    with open(out / "forecast.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["schedule"] for r in rows] == ["step_decay(0.005, 0.5, 40)"]
    assert float(rows[0]["measured_final"]) > 0 and float(rows[0]["forecast_final"]) > 0
    assert float(rows[0]["final_error"]) == pytest.approx(
        abs(float(rows[0]["forecast_final"]) - float(rows[0]["measured_final"])) / float(rows[0]["measured_final"]))

    code = main(["forecast", "quantiles", "--fit", "1,2", "3", "--optimise", "--law", "tissue", "--db", db])
    text = capsys.readouterr().out
    assert code == 0 and "optimised schedule over 120 updates" in text
    spec = text.split("optimised schedule over 120 updates")[1].splitlines()[1].strip()
    assert parse(spec).is_bound


def test_cli_steps_is_the_training_budget_and_the_horizon(tmp_path, capsys):
    """--steps N trains the fitting specs and the --check candidates for exactly N updates (not whole epochs:
    quantiles has 12 updates per epoch) and forecasts over N; with --epochs too, RunOptions' one-line error."""
    from lrlab.cli import main
    from lrlab.lab.store import Store

    db = tmp_path / "runs.db"
    code, err = _cli(["forecast", "quantiles", "--fit", "constant(0.005)", "--predict", "cosine(0.005)", "--epochs",
                      "3", "--steps", "50", "--db", str(db)], capsys)
    assert code == 2 and "epochs and steps are exclusive" in err and "\n" not in err
    assert not db.exists()  # refused before any training
    fit = ["constant(0.005)", "cosine(0.005)", "wsd(0.005, decay_steps=20)"]
    code = main(["forecast", "quantiles", "--fit", *fit, "--predict", "step_decay(0.005, 0.5, 30)", "--check",
                 "--steps", "100", "--law", "tissue", "--db", str(db), "--no-progress"])
    text = capsys.readouterr().out
    assert code == 0 and "over 100 updates" in text and "measured" in text
    with Store(db, readonly=True) as store:
        runs = [store.get(i) for i in range(1, 5)]
    assert sorted(r.label for r in runs) == sorted(repr(parse(s)) for s in [*fit, "step_decay(0.005, 0.5, 30)"])
    for run in runs:
        assert run.config["steps"] == 100 and run.step_lr.size == 100 and run.config["epochs"] == 9


def test_a_curve_no_law_can_fit_is_one_line():
    lrs = np.full(20, 0.1)
    for loss, match in [(np.zeros(20), "losses > 0"), (np.full(19, 1.0), "one length"),
                        (np.r_[np.ones(19), np.nan], "finite")]:
        with pytest.raises(ValueError, match=match) as info:
            F.Curve("bad", lrs, loss)
        assert "\n" not in str(info.value)
