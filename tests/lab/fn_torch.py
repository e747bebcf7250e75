"""A user's own PyTorch training function, as the tests of the function engine train it: a DataLoader with
shuffling and augmentation, BatchNorm and Dropout, label smoothing; importable by worker processes."""

from __future__ import annotations

import os
import time
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import lrlab
from lrlab.lab import experiment

STEPS_PER_EPOCH = 6  # 192 training samples, batches of 32


def _data() -> tuple[TensorDataset, TensorDataset]:
    g = torch.Generator().manual_seed(123)
    x = torch.randn(256, 8, generator=g)
    y = (x[:, 0] + x[:, 1] > 0).long()
    return TensorDataset(x[:192], y[:192]), TensorDataset(x[192:], y[192:])


def train(run) -> dict:
    """Train once under run.schedule; report each epoch; a few options steer the tests (raise, block, diverge)."""
    if run.options.get("block_seed") == run.seed and os.environ.get("LRLAB_TEST_BLOCK"):
        Path(os.environ["LRLAB_TEST_BLOCK"]).write_text(str(os.getpid()))
        time.sleep(120)  # killed here by the test
    train_set, val = _data()
    loader = DataLoader(train_set, batch_size=32, shuffle=True)
    model = nn.Sequential(nn.Linear(8, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(0.1), nn.Linear(16, 2))
    opt = torch.optim.SGD(model.parameters(), lr=0.0, momentum=0.9)
    sched = lrlab.torch.Scheduler(opt, run.schedule, plateau=run.plateau)
    lossf = nn.CrossEntropyLoss(label_smoothing=0.1)
    for epoch in range(1, run.epochs + 1):
        model.train()
        for x, y in loader:
            x = x + 0.01 * torch.randn_like(x)  # augmentation: the global generator, seeded by the lab
            opt.zero_grad()
            loss = lossf(model(x), y)
            loss.backward()
            opt.step()
            sched.step()
            run.log_step(loss)
        model.eval()
        with torch.no_grad():
            xv, yv = val.tensors
            out = model(xv)
            run.report(epoch, val_loss=lossf(out, yv), val_accuracy=(out.argmax(1) == yv).float().mean())
        if run.options.get("raise_seed") == run.seed:
            raise RuntimeError(f"boom on seed {run.seed}")
    return {"test_accuracy": float((model(val.tensors[0]).argmax(1) == val.tensors[1]).float().mean()),
            "pid": os.getpid()}


tiny_torch = experiment(train, epochs=3, steps_per_epoch=STEPS_PER_EPOCH, metric="val_accuracy", version="1",
                        name="tiny_torch")
tiny_torch_v2 = experiment(train, epochs=3, steps_per_epoch=STEPS_PER_EPOCH, metric="val_accuracy", version="2",
                           name="tiny_torch")
