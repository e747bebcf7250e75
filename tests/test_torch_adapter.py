"""lrlab.torch.Scheduler in real torch training loops: rates, plateau, param groups, exact resume."""

from __future__ import annotations

import io
import json
import math
from typing import Any

import pytest

import lrlab

torch = pytest.importorskip("torch")
from lrlab.torch import Scheduler  # noqa: E402


def _net(seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(2, 10), torch.nn.ReLU(), torch.nn.Linear(10, 1))


def _data() -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(96, 2, generator=g)
    y = (x[:, :1] * x[:, 1:] > 0).float() + 0.1 * torch.randn(96, 1, generator=g)
    return x[:64], y[:64], x[64:], y[64:]


BATCH = 16  # 4 steps per epoch


def _train_epoch(model, opt, sched, x, y, lrs: list[float]) -> None:
    """One epoch in fixed batch order; records the lr used by every update."""
    for i in range(0, len(x), BATCH):
        lrs.append(opt.param_groups[0]["lr"])
        opt.zero_grad()
        torch.nn.functional.mse_loss(model(x[i : i + BATCH]), y[i : i + BATCH]).backward()
        opt.step()
        if sched is not None:
            sched.step()


def _val(model, xv, yv) -> float:
    with torch.no_grad():
        return float(torch.nn.functional.mse_loss(model(xv), yv))


# -- rates --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "spec", ["warmup(cosine(0.1, decay_steps=30), 5)", "one_cycle(0.5, total_steps=40)", "random_uniform(0.01, 0.1)"]
)
def test_rate_before_update_t_plus_1_is_schedule_t(spec: str) -> None:
    s = lrlab.parse(spec)
    model = _net(0)
    opt = torch.optim.SGD(model.parameters(), lr=123.0)  # replaced by the schedule
    sched = Scheduler(opt, spec)
    assert isinstance(sched, torch.optim.lr_scheduler.LRScheduler)
    x, y, _, _ = _data()
    lrs: list[float] = []
    for _ in range(10):
        _train_epoch(model, opt, sched, x, y, lrs)
    assert lrs == [s(t) for t in range(40)]
    assert sched.get_last_lr() == [s(40)]
    assert sched.last_epoch == 40


def test_same_rates_as_torch_own_schedulers() -> None:
    """step_decay vs StepLR and one_cycle vs OneCycleLR, driven the same way (torch computes recursively)."""
    cases = [
        ("step_decay(0.1, 0.5, 7)", lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=7, gamma=0.5)),
        ("one_cycle(0.3, total_steps=50)", lambda o: torch.optim.lr_scheduler.OneCycleLR(o, 0.3, total_steps=50)),
    ]
    for spec, make in cases:
        p = torch.nn.Parameter(torch.zeros(1))
        o1, o2 = torch.optim.SGD([p], lr=0.1), torch.optim.SGD([p], lr=0.1)
        mine, ref = Scheduler(o1, spec), make(o2)
        for _ in range(49):
            assert o1.param_groups[0]["lr"] == pytest.approx(o2.param_groups[0]["lr"], rel=1e-12, abs=1e-15), spec
            o1.step(), o2.step(), mine.step(), ref.step()


def test_plateau_on_constant_schedule_trains_exactly_like_reduce_lr_on_plateau() -> None:
    """Same model, data and metric path: every rate and every final weight identical to torch's class."""
    x, y, xv, yv = _data()
    settings = dict(factor=0.5, patience=1, threshold=0.01, cooldown=1, min_lr=1e-3)
    runs = []
    for use_lrlab in (False, True):
        model = _net(1)
        opt = torch.optim.SGD(model.parameters(), lr=0.4, momentum=0.9)
        if use_lrlab:
            sched = Scheduler(opt, lrlab.constant(0.4), plateau=lrlab.Plateau(**settings))
        else:
            ref = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, **settings)
        lrs: list[float] = []
        for _ in range(25):
            _train_epoch(model, opt, sched if use_lrlab else None, x, y, lrs)
            (sched.report if use_lrlab else ref.step)(_val(model, xv, yv))
        runs.append((lrs, [p.detach().clone() for p in model.parameters()]))
    (lrs_ref, w_ref), (lrs_mine, w_mine) = runs
    assert lrs_mine == lrs_ref
    assert len(set(lrs_ref)) >= 3  # the plateau did reduce
    assert all(torch.equal(a, b) for a, b in zip(w_ref, w_mine))


def test_report_needs_a_plateau_and_rejects_nan() -> None:
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    with pytest.raises(ValueError, match="plateau"):
        Scheduler(opt, "constant(0.1)").report(1.0)
    sched = Scheduler(opt, "constant(0.1)", plateau=lrlab.Plateau(patience=0))
    with pytest.raises(ValueError, match="NaN"):
        sched.report(torch.tensor(math.nan))
    assert sched.report(torch.tensor(1.0)) is False
    assert sched.report(2.0) is True
    assert opt.param_groups[0]["lr"] == sched.get_last_lr()[0] == pytest.approx(0.01)


# -- param groups -------------------------------------------------------------------------------------
def test_param_groups_keep_their_ratio_to_group_0() -> None:
    model = _net(0)
    opt = torch.optim.SGD(
        [
            {"params": model[0].parameters()},
            {"params": model[2].weight, "lr": 0.03},
            {"params": model[2].bias, "lr": 0.1},
        ],
        lr=0.1,
    )
    s = lrlab.parse("cosine(0.2, decay_steps=20)")
    plateau = lrlab.Plateau(patience=0, min_lr=1e-3)
    sched = Scheduler(opt, s, plateau=plateau)
    for t in range(20):
        if t == 10:
            sched.report(1.0)
            sched.report(1.0)  # one reduction: scale 0.1
        want = [s(t), s(t) * 0.03 / 0.1, s(t)]
        want = [plateau.effective(v) for v in want]
        assert [g["lr"] for g in opt.param_groups] == want == sched.get_last_lr()
        opt.step()
        sched.step()
    assert opt.param_groups[1]["lr"] == 1e-3  # floored per group


def test_group_0_with_zero_lr_is_an_error() -> None:
    p, q = torch.nn.Parameter(torch.zeros(1)), torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([{"params": [p], "lr": 0.0}, {"params": [q], "lr": 0.1}], lr=0.1)
    with pytest.raises(ValueError, match=r"param group 0 has initial lr 0\.0"):
        Scheduler(opt, "constant(0.1)")
    single = torch.optim.SGD([p], lr=0.0)  # one group: no ratio needed
    assert Scheduler(single, "constant(0.1)").get_last_lr() == [0.1]


# -- construction errors --------------------------------------------------------------------------------
def test_bad_arguments() -> None:
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    with pytest.raises(ValueError, match=r"stretch\(total_steps\)"):
        Scheduler(opt, "cosine(0.1)")
    assert Scheduler(opt, lrlab.parse("cosine(0.1)").stretch(100)).schedule == lrlab.cosine(0.1, 100)
    with pytest.raises(ValueError, match="schedule must be"):
        Scheduler(opt, 0.1)
    with pytest.raises(ValueError, match="optimizer must be"):
        Scheduler([torch.zeros(1)], "constant(0.1)")
    with pytest.raises(ValueError, match="plateau must be"):
        Scheduler(opt, "constant(0.1)", plateau=torch.optim.lr_scheduler.ReduceLROnPlateau)


# -- state and exact resume ----------------------------------------------------------------------------
SPEC = "warmup(cosine(0.3, decay_steps=40), 4)"
PLATEAU = dict(factor=0.5, patience=0, threshold=0.05)


def _run(epochs: int, *, resume_from: bytes | None = None, seed: int = 1):
    x, y, xv, yv = _data()
    model = _net(seed)
    opt = torch.optim.SGD(model.parameters(), lr=0.3, momentum=0.9)
    sched = Scheduler(opt, SPEC, plateau=lrlab.Plateau(**PLATEAU))
    if resume_from is not None:
        ckpt = torch.load(io.BytesIO(resume_from), weights_only=True)
        model.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["optimizer"])
        sched.load_state_dict(ckpt["scheduler"])
    lrs: list[float] = []
    for _ in range(epochs):
        _train_epoch(model, opt, sched, x, y, lrs)
        sched.report(_val(model, xv, yv))
    buf = io.BytesIO()
    torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "scheduler": sched.state_dict()}, buf)
    return lrs, [p.detach().clone() for p in model.parameters()], buf.getvalue(), sched


def test_resume_is_bit_for_bit() -> None:
    lrs_full, w_full, _, full = _run(12)
    lrs_a, _, ckpt, _ = _run(5)
    lrs_b, w_b, _, resumed = _run(7, resume_from=ckpt, seed=99)  # new objects, other initial weights
    assert lrs_a + lrs_b == lrs_full
    assert full.plateau.reductions >= 2
    assert all(torch.equal(a, b) for a, b in zip(w_full, w_b))
    assert resumed.state_dict() == full.state_dict()


def test_resume_mid_epoch_and_scheduler_loaded_before_optimizer() -> None:
    s = lrlab.parse(SPEC)
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=0.3)
    sched = Scheduler(opt, s)
    for _ in range(7):
        opt.step()
        sched.step()
    state = json.loads(json.dumps(sched.state_dict()))  # plain data: JSON round trip too
    opt2 = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.3)
    sched2 = Scheduler(opt2, SPEC)
    assert opt2.param_groups[0]["lr"] == s(0)
    sched2.load_state_dict(state)  # the optimizer's lr is set too, without loading the optimizer
    assert opt2.param_groups[0]["lr"] == sched2.get_last_lr()[0] == s(7)
    opt2.step()
    sched2.step()
    assert opt2.param_groups[0]["lr"] == s(8)


def test_load_state_with_another_schedule_or_plateau_is_an_error() -> None:
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.3)
    state = Scheduler(opt, SPEC, plateau=lrlab.Plateau(**PLATEAU)).state_dict()
    with pytest.raises(ValueError, match=r"checkpoint's schedule is warmup\(cosine"):
        Scheduler(opt, "warmup(cosine(0.3, decay_steps=41), 4)", plateau=lrlab.Plateau(**PLATEAU)).load_state_dict(
            state
        )
    with pytest.raises(ValueError, match="has a plateau"):
        Scheduler(opt, SPEC).load_state_dict(state)
    with pytest.raises(ValueError, match="patience"):
        Scheduler(opt, SPEC, plateau=lrlab.Plateau(factor=0.5, patience=3, threshold=0.05)).load_state_dict(state)
    with pytest.raises(ValueError, match="not a state of this scheduler"):
        Scheduler(opt, SPEC).load_state_dict(torch.optim.lr_scheduler.StepLR(opt, 3).state_dict())
    rebuilt = Scheduler.from_state_dict(opt, state)  # the documented replacement
    assert rebuilt.schedule == lrlab.parse(SPEC) and rebuilt.plateau.factor == 0.5


def test_unnamed_function_schedule_resumes_only_with_the_same_object() -> None:
    s = lrlab.custom(lambda t: 0.1 / (1 + t))
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    sched = Scheduler(opt, s)
    opt.step()
    sched.step()
    buf = io.BytesIO()
    torch.save(sched.state_dict(), buf)
    state = torch.load(io.BytesIO(buf.getvalue()), weights_only=True)
    assert state["schedule"] is None and state["schedule_repr"] == repr(s)
    again = Scheduler(opt, s)
    again.load_state_dict(state)
    assert again.get_last_lr() == [0.05]
    with pytest.raises(ValueError, match="importable"):
        Scheduler(opt, lrlab.custom(lambda t: 0.1 / (1 + t))).load_state_dict(state)
    with pytest.raises(ValueError, match="cannot be rebuilt"):
        Scheduler.from_state_dict(opt, state)


def test_state_is_plain_data() -> None:
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.3)
    sched = Scheduler(opt, SPEC, plateau=lrlab.Plateau(**PLATEAU))
    sched.report(1.0)

    def plain(v) -> bool:
        if isinstance(v, dict):
            return all(isinstance(k, str) and plain(x) for k, x in v.items())
        if isinstance(v, list):
            return all(plain(x) for x in v)
        return v is None or type(v) in (int, float, str, bool)

    assert plain(sched.state_dict())


# -- works where an LRScheduler is accepted -------------------------------------------------------------
def test_trainer_style_checkpoint_and_chained_scheduler(tmp_path) -> None:
    """transformers' Trainer(optimizers=(opt, sched)) needs an LRScheduler with step()/get_last_lr(), saves
    state_dict() with torch.save and reloads it with torch.load(..., weights_only=True): done the same way here.
    (A real Trainer run needs `accelerate`, which is not installed.) Also inside torch's ChainedScheduler."""
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    sched = Scheduler(opt, "exponential(0.1, decay_steps=1, decay_rate=0.5)", plateau=lrlab.Plateau())
    assert isinstance(sched, torch.optim.lr_scheduler.LRScheduler)
    chained = torch.optim.lr_scheduler.ChainedScheduler([sched])
    for t in range(1, 5):
        opt.step()
        chained.step()
        assert chained.get_last_lr() == sched.get_last_lr() == [0.1 * 0.5**t]
    torch.save(sched.state_dict(), tmp_path / "scheduler.pt")
    fresh = Scheduler(opt, "exponential(0.1, decay_steps=1, decay_rate=0.5)", plateau=lrlab.Plateau())
    fresh.load_state_dict(torch.load(tmp_path / "scheduler.pt", weights_only=True))
    assert fresh.get_last_lr() == [0.1 * 0.5**4] and fresh.last_epoch == 4


# -- momentum driven by a schedule ----------------------------------------------------------------------
def _one_cycle_linear_momentum(total: int, pct_start: float, base: float, peak: float) -> lrlab.Schedule:
    """OneCycleLR's momentum for anneal_strategy="linear" from existing kinds: down from max_momentum to
    base_momentum over phase 1 (its last step is pct_start * total - 1), back up to the end (step total - 1)."""
    end_up = int(pct_start * total) - 1
    return lrlab.join([lrlab.linear(peak, base, end_up), lrlab.linear(base, peak, total - 1 - end_up)], [end_up])


@pytest.mark.parametrize("make_opt", [
    lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9),
    lambda ps: torch.optim.Adam(ps, lr=0.1, betas=(0.9, 0.99)),
])
def test_momentum_equals_one_cycle_lr_cycle_momentum(make_opt) -> None:
    """Same optimizer, data and model: OneCycleLR(anneal_strategy="linear", cycle_momentum=True) against lrlab's
    one_cycle for the rate and join/linear for the momentum; every rate, momentum (or beta1) and weight agrees."""
    total, pct = 40, 0.25
    lr_spec = f"one_cycle(0.3, total_steps={total}, pct_start={pct}, anneal='linear')"
    momentum = _one_cycle_linear_momentum(total, pct, 0.85, 0.95)
    x, y, _, _ = _data()
    runs = []
    for use_lrlab in (False, True):
        model = _net(3)
        opt = make_opt(model.parameters())
        if use_lrlab:
            sched = Scheduler(opt, lr_spec, momentum=momentum)
        else:
            sched = torch.optim.lr_scheduler.OneCycleLR(
                opt, 0.3, total_steps=total, pct_start=pct, anneal_strategy="linear", cycle_momentum=True
            )
        seen = []
        for t in range(total):
            g = opt.param_groups[0]
            seen.append((g["lr"], g["betas"] if "betas" in g else g["momentum"]))
            i = (t * BATCH) % len(x)
            opt.zero_grad()
            torch.nn.functional.mse_loss(model(x[i : i + BATCH]), y[i : i + BATCH]).backward()
            opt.step()
            if t < total - 1:  # OneCycleLR refuses a step past total_steps
                sched.step()
        runs.append((seen, [p.detach().clone() for p in model.parameters()]))
    (ref, w_ref), (mine, w_mine) = runs
    assert len({m for _, m in ref}) > 10  # the momentum did move
    for (lr_r, m_r), (lr_m, m_m) in zip(ref, mine):
        assert lr_m == pytest.approx(lr_r, rel=1e-14, abs=1e-16)
        if isinstance(m_r, tuple):
            assert isinstance(m_m, tuple) and m_m[1] == m_r[1] == 0.99  # beta2 kept
            m_r, m_m = m_r[0], m_m[0]
        assert m_m == pytest.approx(m_r, rel=1e-15)
    for a, b in zip(w_ref, w_mine):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7)


def test_momentum_cos_one_cycle_by_hand() -> None:
    """anneal="cos": OneCycleLR's momentum, by the formula written here, through a custom schedule."""
    total, pct, base, peak = 30, 0.3, 0.8, 0.95
    end_up = pct * total - 1  # 8.0

    def by_hand(t: int) -> float:
        def cos(start: float, end: float, frac: float) -> float:
            return end + (start - end) / 2.0 * (math.cos(math.pi * frac) + 1)

        if t <= end_up:
            return cos(peak, base, t / end_up)
        return cos(base, peak, (t - end_up) / (total - 1 - end_up))

    p = torch.nn.Parameter(torch.zeros(1))
    o1, o2 = torch.optim.SGD([p], lr=0.1, momentum=0.9), torch.optim.SGD([p], lr=0.1, momentum=0.9)
    mine = Scheduler(o1, f"one_cycle(0.3, total_steps={total}, pct_start={pct})", momentum=lrlab.custom(by_hand))
    ref = torch.optim.lr_scheduler.OneCycleLR(o2, 0.3, total_steps=total, pct_start=pct, base_momentum=base,
                                              max_momentum=peak)
    for t in range(total):
        assert o1.param_groups[0]["momentum"] == o2.param_groups[0]["momentum"] == by_hand(t)
        assert mine.get_last_momentum() == [by_hand(t)]
        o1.step(), o2.step()
        if t < total - 1:
            mine.step(), ref.step()


def test_momentum_per_group_and_errors() -> None:
    p, q = torch.nn.Parameter(torch.zeros(1)), torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([{"params": [p]}, {"params": [q], "lr": 0.01}], lr=0.1, momentum=0.5)
    sched = Scheduler(opt, "constant(0.1)", momentum=["linear(0.9, 0.5, 4)", "constant(0.7)"])
    for t in range(6):
        assert [g["momentum"] for g in opt.param_groups] == [lrlab.linear(0.9, 0.5, 4)(t), 0.7]
        opt.step()
        sched.step()
    one = Scheduler(opt, "constant(0.1)", momentum="constant(0.3)")  # one schedule: every group
    assert [g["momentum"] for g in opt.param_groups] == [0.3, 0.3] == one.get_last_momentum()
    assert "momentum=constant(0.3)" in repr(one)
    with pytest.raises(ValueError, match=r"momentum is a list of 1 schedules but the optimizer has 2 param groups"):
        Scheduler(opt, "constant(0.1)", momentum=["constant(0.9)"])
    with pytest.raises(ValueError, match=r"momentum\[1\]: schedule must be"):
        Scheduler(opt, "constant(0.1)", momentum=["constant(0.9)", 0.9])
    adagrad = torch.optim.Adagrad([{"params": [p]}, {"params": [q]}], lr=0.1)
    with pytest.raises(ValueError, match=r"param group 0 has neither 'momentum' nor 'betas' \(Adagrad"):
        Scheduler(adagrad, "constant(0.1)", momentum="constant(0.9)")
    assert Scheduler(adagrad, "constant(0.1)").get_last_momentum() == []


def _run_momentum(steps: int, resume_from: bytes | None = None, seed: int = 1):
    x, y, xv, yv = _data()
    model = _net(seed)
    opt = torch.optim.Adam(model.parameters(), lr=0.01, betas=(0.9, 0.98))
    sched = Scheduler(opt, "warmup(cosine(0.02, decay_steps=30), 3)", lrlab.Plateau(factor=0.5, patience=0),
                      momentum=_one_cycle_linear_momentum(20, 0.3, 0.85, 0.95))
    if resume_from is not None:
        ckpt = torch.load(io.BytesIO(resume_from), weights_only=True)
        model.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["optimizer"])
        sched.load_state_dict(ckpt["scheduler"])
    seen = []
    for _ in range(steps):
        t = sched.last_epoch
        seen.append((opt.param_groups[0]["lr"], opt.param_groups[0]["betas"]))
        i = (t * BATCH) % len(x)
        opt.zero_grad()
        torch.nn.functional.mse_loss(model(x[i : i + BATCH]), y[i : i + BATCH]).backward()
        opt.step()
        sched.step()
        if sched.last_epoch % 4 == 0:
            sched.report(_val(model, xv, yv))
    buf = io.BytesIO()
    torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "scheduler": sched.state_dict()}, buf)
    return seen, [p.detach().clone() for p in model.parameters()], buf.getvalue(), sched


def test_momentum_resume_is_bit_for_bit() -> None:
    seen_full, w_full, _, full = _run_momentum(24)
    seen_a, _, ckpt, _ = _run_momentum(10)
    seen_b, w_b, _, resumed = _run_momentum(14, resume_from=ckpt, seed=99)
    assert seen_a + seen_b == seen_full
    assert len({b[0] for _, b in seen_full}) > 10
    assert all(torch.equal(a, b) for a, b in zip(w_full, w_b))
    assert resumed.state_dict() == full.state_dict()
    state = full.state_dict()
    assert state["momentum"] == _one_cycle_linear_momentum(20, 0.3, 0.85, 0.95).to_config()
    rebuilt = Scheduler.from_state_dict(torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))]), state)
    assert rebuilt.momentum == full.momentum and rebuilt.get_last_momentum() == full.get_last_momentum()
    opt = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))])
    with pytest.raises(ValueError, match="has a momentum schedule"):
        Scheduler(opt, full.schedule, lrlab.Plateau(factor=0.5, patience=0)).load_state_dict(state)
    with pytest.raises(ValueError, match="checkpoint's momentum is join"):
        Scheduler(opt, full.schedule, lrlab.Plateau(factor=0.5, patience=0), momentum="constant(0.9)").load_state_dict(
            state
        )


# -- one schedule per param group ------------------------------------------------------------------------
def test_one_schedule_per_group() -> None:
    model = _net(0)
    opt = torch.optim.SGD([{"params": model[0].parameters(), "lr": 0.0}, {"params": model[2].parameters()}], lr=0.5)
    s0, s1 = lrlab.parse("linear(0.0, 0.1, 5)"), lrlab.parse("step_decay(0.3, 0.5, 2)")
    plateau = lrlab.Plateau(patience=0, min_lr=0.02)
    sched = Scheduler(opt, [s0, "step_decay(0.3, 0.5, 2)"], plateau)  # group 0 may start at 0: no ratio rule
    assert sched.schedule == [s0, s1]
    for t in range(8):
        if t == 4:
            sched.report(1.0), sched.report(1.0)  # one reduction: scale 0.1, floored at 0.02
        want = [plateau.effective(s0(t)), plateau.effective(s1(t))]
        assert [g["lr"] for g in opt.param_groups] == want == sched.get_last_lr()
        opt.step()
        sched.step()
    assert opt.param_groups[1]["lr"] == 0.02
    assert repr(sched).startswith("lrlab.torch.Scheduler([linear(0.0, end_lr=0.1, steps=5), step_decay(")
    state = json.loads(json.dumps(sched.state_dict()))
    assert state["schedule"] == [s0.to_config(), s1.to_config()]
    again = Scheduler(opt, [s0, s1], lrlab.Plateau(patience=0, min_lr=0.02))
    again.load_state_dict(state)
    assert again.get_last_lr() == sched.get_last_lr() and again.last_epoch == 8
    rebuilt = Scheduler.from_state_dict(opt, state)
    assert rebuilt.schedule == [s0, s1] and rebuilt.get_last_lr() == sched.get_last_lr()
    other = torch.optim.SGD([{"params": model[0].parameters()}, {"params": model[2].parameters()}], lr=0.5)
    with pytest.raises(ValueError, match=r"checkpoint's schedule is \["):
        Scheduler(other, s0, lrlab.Plateau(patience=0, min_lr=0.02)).load_state_dict(state)
    with pytest.raises(ValueError, match="checkpoint's schedule is step_decay"):
        Scheduler(opt, [s0, s0], lrlab.Plateau(patience=0, min_lr=0.02)).load_state_dict(state)
    with pytest.raises(ValueError, match="schedule is a list of 3 schedules but the optimizer has 2 param groups"):
        Scheduler(opt, [s0, s1, s1])


# -- the state's error contract -------------------------------------------------------------------------
def _state_and_factory():
    p, q = torch.nn.Parameter(torch.zeros(1)), torch.nn.Parameter(torch.zeros(1))

    def make():
        opt = torch.optim.SGD([{"params": [p]}, {"params": [q], "lr": 0.05}], lr=0.1, momentum=0.9)
        return opt, Scheduler(opt, SPEC, lrlab.Plateau(**PLATEAU), momentum="linear(0.95, 0.85, 10)")

    opt, sched = make()
    for _ in range(3):
        opt.step()
        sched.step()
    sched.report(1.0)
    return sched.state_dict(), make


@pytest.mark.parametrize(
    ("key", "value", "match"),
    [
        ("base_lrs", "abc", r"the state's base_lrs must be a list of numbers, got 'abc'"),
        ("base_lrs", [0.1], r"the state's base_lrs must be a list of 2 rates \(one per param group\), got \[0\.1\]"),
        ("base_lrs", [0.1, math.nan], r"base_lrs must be a list of finite numbers >= 0"),
        ("last_lr", [0.1, 0.2, 0.3], r"the state's last_lr must be a list of 2 rates"),
        ("last_epoch", 10**400, r"the state's last_epoch must be a whole number in \[0, 2\*\*53\], got 1000"),
        ("last_epoch", -1, r"the state's last_epoch must be a whole number"),
        ("step_count", "3", r"the state's step_count must be a whole number"),
        ("schedule", [SPEC], r"the state's schedule must be a schedule config"),
        ("schedule_repr", 5, r"the state's schedule_repr must be a string or a list of strings, got 5"),
        ("momentum", "linear", r"the state's momentum must be a schedule config"),
        ("plateau", [1], r"the state's plateau must be a Plateau state"),
        ("last_momentum", [True], r"last_momentum must be a list of numbers"),
    ],
)
def test_load_state_dict_names_the_bad_key(key: str, value, match: str) -> None:
    state, make = _state_and_factory()
    _, sched = make()
    before = sched.state_dict()
    with pytest.raises(ValueError, match=match):
        sched.load_state_dict({**state, key: value})
    assert sched.state_dict() == before  # nothing was loaded
    with pytest.raises(ValueError, match=match):
        Scheduler.from_state_dict(make()[0], {**state, key: value})
    missing = {k: v for k, v in state.items() if k != key}
    if key not in ("momentum", "last_momentum"):  # states saved before momentum= have none of these
        with pytest.raises(ValueError, match=f"the state has no {key!r}"):
            sched.load_state_dict(missing)


hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_ODD = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**400), 10**400),
    st.sampled_from([-1, 0, 1, 2**53, 2**53 + 1, 10**30]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
    st.lists(st.one_of(st.floats(), st.integers(-5, 5), st.none(), st.text(max_size=3)), max_size=4),
    st.dictionaries(st.text(max_size=6), st.one_of(st.integers(), st.text(max_size=4)), max_size=3),
)


@st.composite
def mutated(draw, state: dict, inner: tuple[str, ...] = ("schedule", "momentum")):
    """A valid state with one field (top level, or inside one of its `inner` dicts) replaced or removed."""
    state = json.loads(json.dumps(state))
    where = state
    if inner and draw(st.booleans()):
        where = state[draw(st.sampled_from(inner))]
    key = draw(st.sampled_from(sorted(where)) | st.text(max_size=5))
    if draw(st.integers(0, 4)) == 0:
        where.pop(key, None)
    else:
        where[key] = draw(_ODD)
    return state


def only_value_error(call) -> bool:
    """Run call(); True when it returned, False when it raised ValueError (any other exception escapes)."""
    try:
        call()
    except ValueError:
        return False
    return True


STATE, MAKE = _state_and_factory()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated(STATE))
def test_mutated_state_raises_only_value_error(state: dict) -> None:
    opt, sched = MAKE()
    before = sched.state_dict()
    if not only_value_error(lambda: sched.load_state_dict(state)):
        assert sched.state_dict() == before  # a refused state changes nothing
    only_value_error(lambda: Scheduler.from_state_dict(opt, state))


@pytest.mark.parametrize("make_opt", [
    lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9),
    lambda ps: torch.optim.Adam(ps, lr=0.1, betas=(0.9, 0.99)),
], ids=["sgd", "adam"])
@pytest.mark.parametrize("which", ["one_cycle", "one_cycle_three_phase", "cyclic_triangular2"])
def test_momentum_schedules_drive_the_scheduler_like_torch(make_opt, which: str) -> None:
    """End to end: `one_cycle(...).momentum()` / `cyclic(...).momentum()` given to the Scheduler set the same rate
    and momentum (or betas[0]) as torch's OneCycleLR / CyclicLR with cycle_momentum=True, bit for bit, and train
    to the same weights."""
    total = 40
    if which.startswith("one_cycle"):
        three = which.endswith("three_phase")
        rate = lrlab.one_cycle(0.3, total_steps=total, pct_start=0.25, three_phase=three)
        momentum = rate.momentum(base_momentum=0.8, max_momentum=0.95)

        def reference(opt: Any) -> Any:
            return torch.optim.lr_scheduler.OneCycleLR(opt, 0.3, total_steps=total, pct_start=0.25,
                                                       three_phase=three, base_momentum=0.8, max_momentum=0.95)
    else:
        rate = lrlab.cyclic(0.01, 0.3, step_size_up=7, step_size_down=5, mode="triangular2")
        momentum = rate.momentum(base_momentum=0.8, max_momentum=0.95)

        def reference(opt: Any) -> Any:
            return torch.optim.lr_scheduler.CyclicLR(opt, 0.01, 0.3, step_size_up=7, step_size_down=5,
                                                     mode="triangular2", base_momentum=0.8, max_momentum=0.95)
    x, y, _, _ = _data()
    runs = []
    for use_lrlab in (False, True):
        model = _net(3)
        opt = make_opt(model.parameters())
        sched = Scheduler(opt, rate, momentum=momentum) if use_lrlab else reference(opt)
        seen = []
        for t in range(total):
            g = opt.param_groups[0]
            seen.append((g["lr"], g["betas"][0] if "betas" in g else g["momentum"]))
            i = (t * BATCH) % len(x)
            opt.zero_grad()
            torch.nn.functional.mse_loss(model(x[i : i + BATCH]), y[i : i + BATCH]).backward()
            opt.step()
            if t < total - 1:
                sched.step()
        runs.append((seen, [p.detach().clone() for p in model.parameters()]))
    (ref, w_ref), (mine, w_mine) = runs
    assert len({m for _, m in ref}) > 5  # the momentum did move
    assert mine == ref
    for a, b in zip(w_ref, w_mine):
        assert torch.equal(a, b)


def test_a_plateau_fed_outside_the_scheduler_reduces_the_next_update():
    # lrlab.lab's run.report steps the plateau directly, after the epoch's last scheduler.step(): the next update
    # must run at the reduced rate all the same (the scheduler follows the plateau before every optimizer step)
    from lrlab import Plateau

    w = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([w], lr=0.1)
    plateau = Plateau(factor=0.5, patience=0)
    sched = Scheduler(opt, "constant(0.1)", plateau)
    used = []
    for _epoch in range(3):
        for _ in range(2):
            w.grad = torch.ones(1)
            before = w.detach().clone()
            opt.step()
            used.append(round(float(before - w.detach()), 6))
            sched.step()
        plateau.step(1.0)  # never improves: reduces after every epoch but the first
    assert used == [0.1, 0.1, 0.1, 0.1, 0.05, 0.05]
    w.grad = torch.ones(1)
    opt.step()  # the third reduction, taken before this update
    assert opt.param_groups[0]["lr"] == 0.025 and sched.get_last_lr() == [0.025]
