"""`lrlab.torch.find_lr`: the same curve as torch-lr-finder, its suggestion rule, and everything put back after.

torch-lr-finder (a test dependency) is the reference: with its smoothing off, its recorded rates and losses equal
ours bit for bit on the same model and data; its `plot(suggest_lr=True)` rate equals `rangetest.gradient` on its
own curve. "Everything put back" is checked the strong way: training after `find_lr` equals training without it,
bit for bit.
"""

from __future__ import annotations

import copy
import random

import numpy as np
import pytest

torch = pytest.importorskip("torch")
torch_lr_finder = pytest.importorskip("torch_lr_finder")

import lrlab.torch as lt  # noqa: E402
from lrlab import rangetest as rt  # noqa: E402


def data(n: int = 64, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 5, generator=g)
    y = (x[:, 0] - 0.5 * x[:, 1] + 0.1 * torch.randn(n, generator=g)).unsqueeze(1)
    return torch.utils.data.TensorDataset(x, y)


def mlp(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(5, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1))


def test_raw_curve_equals_torch_lr_finders() -> None:
    loader = torch.utils.data.DataLoader(data(), batch_size=16)  # 4 batches: both start the loader again
    ref_model = mlp()
    ref_opt = torch.optim.SGD(ref_model.parameters(), lr=1e-5, momentum=0.9)
    finder = torch_lr_finder.LRFinder(ref_model, ref_opt, torch.nn.MSELoss())
    finder.range_test(loader, start_lr=1e-5, end_lr=1.0, num_iter=30, smooth_f=0.0, diverge_th=1e300)

    model = mlp()
    opt = torch.optim.SGD(model.parameters(), lr=1e-5, momentum=0.9)
    got = lt.find_lr(model, opt, torch.nn.MSELoss(), loader, start_lr=1e-5, end_lr=1.0, steps=30, diverge=None)
    assert got.lrs.tolist() == finder.history["lr"]
    assert got.losses.tolist() == finder.history["loss"]
    assert got.smoothed.tolist() == rt.smooth(finder.history["loss"]).tolist()
    assert len(got.lrs) == 30 and got.stopped is None


def test_gradient_rule_equals_torch_lr_finders_suggestion() -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    checked = 0
    for seed, end_lr in ((0, 10.0), (1, 3.0), (2, 30.0)):
        model = mlp(seed)
        opt = torch.optim.Adam(model.parameters(), lr=1e-6)
        finder = torch_lr_finder.LRFinder(model, opt, torch.nn.MSELoss())
        loader = torch.utils.data.DataLoader(data(seed=seed), batch_size=8)
        finder.range_test(loader, start_lr=1e-6, end_lr=end_lr, num_iter=60)
        ax = Figure().add_subplot()
        FigureCanvasAgg(ax.figure)
        _, suggested = finder.plot(ax=ax, suggest_lr=True)
        assert rt.gradient(finder.history["lr"], finder.history["loss"]) == suggested
        checked += 1
    assert checked == 3


def test_the_test_stops_when_the_loss_diverges() -> None:
    model = mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    loader = torch.utils.data.DataLoader(data(), batch_size=16)
    got = lt.find_lr(model, opt, torch.nn.MSELoss(), loader, start_lr=1e-4, end_lr=1e4, steps=100)
    assert got.stopped in ("diverged", "not finite") and len(got.lrs) < 100
    last = got.smoothed[-1]
    assert not np.isfinite(last) or last > 4 * np.nanmin(got.smoothed[:-1])
    assert set(got.suggestions) == set(rt.RULES)
    assert all(isinstance(v, float) for v in got.suggestions.values())


class Noisy(torch.nn.Module):
    """Batch norm, dropout (RNG), a non-persistent buffer, a frozen submodule in eval mode."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.body = torch.nn.Sequential(torch.nn.Linear(5, 16), torch.nn.BatchNorm1d(16), torch.nn.ReLU(),
                                        torch.nn.Dropout(0.3), torch.nn.Linear(16, 1))
        self.side = torch.nn.Sequential(torch.nn.Linear(5, 1), torch.nn.Dropout(0.5))
        self.register_buffer("calls", torch.zeros(()), persistent=False)

    def forward(self, x):
        if self.training:
            self.calls += 1
        return self.body(x) + 0.1 * self.side(x) + 0.0 * self.calls


def collate(batch):
    """Consumes numpy's and Python's RNGs, so a test that left them moved would change what follows."""
    x, y = torch.utils.data.default_collate(batch)
    return x + float(np.random.normal(0, 0.01)) + random.random() * 0.01, y


def setup():
    model = Noisy()
    opt = torch.optim.AdamW([{"params": model.body.parameters(), "lr": 1e-3},
                             {"params": model.side.parameters(), "lr": 3e-4}], weight_decay=0.01)
    loader = torch.utils.data.DataLoader(data(), batch_size=16, shuffle=True, collate_fn=collate)
    torch.manual_seed(1)
    np.random.seed(1)
    random.seed(1)
    train(model, opt, loader, 3)  # the optimizer has state (step counters, moments) before the test
    model.side.eval()
    return model, opt, loader


def train(model, opt, loader, steps):
    it = iter(loader)
    for _ in range(steps):
        try:
            x, y = next(it)
        except StopIteration:
            it = iter(loader)
            x, y = next(it)
        opt.zero_grad()
        torch.nn.functional.mse_loss(model(x), y).backward()
        opt.step()


def fingerprint(model, opt):
    return ([t.clone() for t in model.state_dict().values()], model.calls.clone(),
            [p.grad.clone() for p in model.parameters() if p.grad is not None],
            copy.deepcopy(opt.state_dict()), [m.training for m in model.modules()],
            torch.get_rng_state(), np.random.get_state()[1].copy(), random.getstate())


def same(a, b) -> bool:
    if isinstance(a, torch.Tensor):
        return a.dtype == b.dtype and torch.equal(a, b)
    if isinstance(a, np.ndarray):
        return np.array_equal(a, b)
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return a == b


def test_everything_is_as_before_and_training_after_equals_training_without() -> None:
    model, opt, loader = setup()
    before = fingerprint(model, opt)
    params = [id(p) for p in model.parameters()]
    got = lt.find_lr(model, opt, torch.nn.MSELoss(), loader, start_lr=1e-6, end_lr=10.0, steps=40)
    assert len(got.lrs) >= 10  # the test really trained (and moved every piece of state)
    assert same(fingerprint(model, opt), before)
    assert [id(p) for p in model.parameters()] == params
    assert [g["lr"] for g in opt.param_groups] == [1e-3, 3e-4] and "initial_lr" not in opt.param_groups[0]
    train(model, opt, loader, 7)
    after_with = fingerprint(model, opt)

    model2, opt2, loader2 = setup()
    train(model2, opt2, loader2, 7)
    assert same(after_with, fingerprint(model2, opt2))


def test_without_restore_the_state_is_left_as_the_test_left_it() -> None:
    """The restore is what makes the test above pass: switched off, the weights have moved."""
    model, opt, loader = setup()
    before = [t.clone() for t in model.state_dict().values()]
    lt.find_lr(model, opt, torch.nn.MSELoss(), loader, steps=20, restore=False)
    assert not all(torch.equal(a, b) for a, b in zip(before, model.state_dict().values()))


def test_state_is_restored_when_the_loss_function_fails() -> None:
    model, opt, loader = setup()
    before = fingerprint(model, opt)
    calls = []

    def broken(out, y):
        calls.append(1)
        if len(calls) == 5:
            raise RuntimeError("boom")
        return torch.nn.functional.mse_loss(out, y)

    with pytest.raises(RuntimeError, match="boom"):
        lt.find_lr(model, opt, broken, loader, steps=20)
    assert same(fingerprint(model, opt), before)


def test_bad_input_is_a_value_error_naming_it() -> None:
    model = mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    loss = torch.nn.MSELoss()
    loader = torch.utils.data.DataLoader(data(), batch_size=16)
    with pytest.raises(ValueError, match="loader yielded no batches"):
        lt.find_lr(model, opt, loss, [], steps=5)
    with pytest.raises(ValueError, match="loader ran out after 4 batches"):
        lt.find_lr(model, opt, loss, iter(loader), steps=10)
    with pytest.raises(ValueError, match=r"start_lr must be < end_lr, got start_lr=1\.0, end_lr=0\.5"):
        lt.find_lr(model, opt, loss, loader, start_lr=1.0, end_lr=0.5)
    with pytest.raises(ValueError, match=r"steps must be a whole number in \[2, 2\*\*53\], got 1"):
        lt.find_lr(model, opt, loss, loader, steps=1)
    with pytest.raises(ValueError, match=r"optimizer must be a torch\.optim\.Optimizer"):
        lt.find_lr(model, "sgd", loss, loader)
