"""The stacked optimizers equal torch.optim member by member: K real torch optimizers, one per member, step on
the same gradients with the same per-step rates (and momentum / betas[0] schedules); in float64 every member's
parameters and buffers agree with its own optimizer's to 1e-12 relative."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from lrlab.lab.engines.stacked_optim import stacked_optimizer  # noqa: E402

SHAPES = [(3, 4), (4,), (2, 1, 3)]
STEPS = 25


def _members_params(k: int, seed: int) -> list[list[torch.Tensor]]:
    gen = torch.Generator().manual_seed(seed)
    return [[torch.randn(s, generator=gen, dtype=torch.float64) for s in SHAPES] for _ in range(k)]


def _run(kind: str, members: list[dict], *, momentum_schedule: bool = False, inactive: dict[int, int] | None = None):
    """Step K torch optimizers and one stacked optimizer on the same gradients; return both parameter sets."""
    k = len(members)
    init = _members_params(k, seed=1)
    refs = [[p.clone().requires_grad_(True) for p in ps] for ps in init]
    cls = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW}[kind]
    opts = [cls(ps, lr=0.1, **m) for ps, m in zip(refs, members)]
    stacked = [torch.stack([init[i][j] for i in range(k)]).clone() for j in range(len(SHAPES))]
    opt = stacked_optimizer(kind, stacked, members)
    gen = torch.Generator().manual_seed(2)
    stopped = inactive or {}
    for t in range(STEPS):
        grads = [torch.randn((k, *s), generator=gen, dtype=torch.float64) for s in SHAPES]
        lrs = [0.05 * (1 + i) * (0.9**t) for i in range(k)]
        moms = [0.5 + 0.4 * ((t + i) % 5) / 4 for i in range(k)]
        active = torch.tensor([t < stopped.get(i, STEPS) for i in range(k)])
        for i, (ps, o) in enumerate(zip(refs, opts)):
            if not active[i]:
                continue
            for j, p in enumerate(ps):
                p.grad = grads[j][i].clone()
            for group in o.param_groups:
                group["lr"] = lrs[i]
                if momentum_schedule and "betas" in group:
                    group["betas"] = (moms[i], group["betas"][1])
                elif momentum_schedule:
                    group["momentum"] = moms[i]
            o.step()
        extra = {}
        if momentum_schedule:
            extra = {"beta1": moms} if kind != "sgd" else {"momentum": moms}
        opt.step(grads, torch.tensor(lrs, dtype=torch.float64), active=active, **extra)
    return refs, stacked


def _assert_equal(refs, stacked) -> None:
    for i, ps in enumerate(refs):
        for j, p in enumerate(ps):
            torch.testing.assert_close(stacked[j][i], p.detach(), rtol=1e-12, atol=1e-14, msg=f"member {i} param {j}")


SGD_MEMBERS = [
    {},
    {"momentum": 0.9},
    {"momentum": 0.9, "nesterov": True},
    {"momentum": 0.8, "dampening": 0.3, "weight_decay": 1e-3},
    {"weight_decay": 0.01},
]
ADAM_MEMBERS = [{}, {"betas": (0.8, 0.99)}, {"eps": 1e-6, "weight_decay": 0.01}, {"amsgrad": True}]


@pytest.mark.parametrize("schedule", [False, True])
def test_sgd_equals_torch_per_member(schedule: bool) -> None:
    members = SGD_MEMBERS if not schedule else [m for m in SGD_MEMBERS if m.get("momentum")]
    _assert_equal(*_run("sgd", members, momentum_schedule=schedule))


@pytest.mark.parametrize("kind", ["adam", "adamw"])
@pytest.mark.parametrize("schedule", [False, True])
def test_adam_and_adamw_equal_torch_per_member(kind: str, schedule: bool) -> None:
    _assert_equal(*_run(kind, ADAM_MEMBERS, momentum_schedule=schedule))


@pytest.mark.parametrize("kind", ["sgd", "adam"])
def test_an_inactive_member_is_left_as_it_is(kind: str) -> None:
    """Member 1 stops after 7 steps (as a diverged run does); it and the others still equal their own optimizers."""
    members = SGD_MEMBERS[:3] if kind == "sgd" else ADAM_MEMBERS[:3]
    refs, stacked = _run(kind, members, inactive={1: 7})
    _assert_equal(refs, stacked)
    assert not torch.equal(refs[1][0].detach(), _members_params(3, seed=1)[1][0])  # it did move for 7 steps


def test_unsupported_options_and_shapes_are_value_errors() -> None:
    p = [torch.zeros(2, 3, dtype=torch.float64)]
    with pytest.raises(ValueError, match="member 1 has option 'foreach'"):
        stacked_optimizer("sgd", p, [{}, {"foreach": True}])
    with pytest.raises(ValueError, match="leading member dimension of 3"):
        stacked_optimizer("adam", p, [{}, {}, {}])
    with pytest.raises(ValueError, match="kind must be one of"):
        stacked_optimizer("rmsprop", p, [{}, {}])
    opt = stacked_optimizer("sgd", p, [{}, {}])
    with pytest.raises(ValueError, match="lr needs 2 values"):
        opt.step([torch.zeros(2, 3, dtype=torch.float64)], [0.1, 0.2, 0.3])


def test_a_plain_sgd_step_takes_a_gradient_product() -> None:
    """step_product(i, left, right, lr) is step() on the gradient left @ right, to rounding; plain() says when it is
    allowed (every member active, no momentum, no weight decay)."""
    gen = torch.Generator().manual_seed(3)
    left, right, weight, bias, grad_b = (torch.randn(s, generator=gen, dtype=torch.float64)
                                         for s in ((2, 3, 5), (2, 5, 4), (2, 3, 4), (2, 3), (2, 3)))
    start = [weight, bias]
    folded, general = [p.clone() for p in start], [p.clone() for p in start]
    opt = stacked_optimizer("sgd", folded, [{}, {}])
    assert opt.plain() and not opt.plain(torch.tensor([True, False]))
    opt.step_product(0, left, right, [0.1, 0.2])
    opt.step([None, grad_b], [0.1, 0.2])  # None: that parameter was updated by the product
    stacked_optimizer("sgd", general, [{}, {}]).step([left @ right, grad_b], [0.1, 0.2])
    for a, b in zip(folded, general):
        torch.testing.assert_close(a, b, rtol=1e-14, atol=0)
    for members in ([{}, {"momentum": 0.9}], [{"weight_decay": 1e-3}, {}]):
        assert not stacked_optimizer("sgd", [p.clone() for p in start], members).plain()
