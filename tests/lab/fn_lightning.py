"""A user's own Lightning Trainer, as the lab's tests train it: `configure_optimizers` returns
`lrlab.torch.Scheduler(opt, run.schedule, plateau=run.plateau)` stepped every update ("interval": "step"), and a
Callback logs each update's loss and reports `trainer.callback_metrics` after each validation epoch."""

from __future__ import annotations

import lightning as L
import torch
from fn_common import BATCH, EPOCHS, STEPS_PER_EPOCH, data, maybe_fail, seen
from torch import nn
from torch.nn import functional as F
from torch.utils.data import DataLoader, TensorDataset

import lrlab.torch
from lrlab.lab import experiment


class Net(L.LightningModule):
    def __init__(self, run):
        super().__init__()
        self.run = run
        self.net = nn.Sequential(nn.Linear(8, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(0.1), nn.Linear(16, 2))

    def training_step(self, batch, batch_idx):
        x, y = batch
        return F.cross_entropy(self.net(x), y)

    def validation_step(self, batch, batch_idx):
        x, y = batch
        out = self.net(x)
        self.log("val_loss", F.cross_entropy(out, y))
        self.log("val_accuracy", (out.argmax(1) == y).float().mean())

    def configure_optimizers(self):
        opt = torch.optim.SGD(self.parameters(), lr=0.0, momentum=0.9)
        sched = lrlab.torch.Scheduler(opt, self.run.schedule, plateau=self.run.plateau)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}


class LabCallback(L.Callback):
    """Each update's loss to `run.log_step`; each validation epoch's metrics to `run.report`."""

    def __init__(self, run):
        self.run = run

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.run.log_step(outputs["loss"])

    def on_validation_epoch_end(self, trainer, pl_module):
        if trainer.sanity_checking:  # Lightning's check before training is no epoch
            return
        metrics = trainer.callback_metrics
        self.run.report(trainer.current_epoch + 1, val_accuracy=metrics["val_accuracy"],
                        val_loss=metrics["val_loss"])
        maybe_fail(self.run)


class Probe(L.Callback):
    """What the tests check: the rate of every update, read in the optimizer's step (after the scheduler's own
    pre-hook, which applies a plateau reduction made since the last step)."""

    def __init__(self, record):
        self.record = record
        record.update(rates=[])

    def on_train_start(self, trainer, pl_module):
        optimizer = trainer.optimizers[0]
        optimizer.register_step_pre_hook(lambda opt, *_: self.record["rates"].append(opt.param_groups[0]["lr"]))


def train(run):
    x, y, xv, yv = (torch.from_numpy(a) for a in data())
    train_loader = DataLoader(TensorDataset(x, y), batch_size=BATCH, shuffle=True)  # torch's generator: seeded
    val_loader = DataLoader(TensorDataset(xv, yv), batch_size=len(xv))
    model = Net(run)
    trainer = L.Trainer(max_epochs=run.epochs, accelerator="cpu", logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False,
                        callbacks=[Probe(seen(run)), LabCallback(run)])
    trainer.fit(model, train_loader, val_loader)
    model.eval()
    with torch.no_grad():
        out = model.net(xv)
    return {"test_accuracy": float((out.argmax(1) == yv).float().mean()),
            "val_loss_after": float(F.cross_entropy(out, yv))}


tiny_lightning = experiment(train, epochs=EPOCHS, steps_per_epoch=STEPS_PER_EPOCH, metric="val_accuracy",
                            version="1", name="tiny_lightning")
tiny_lightning_v2 = experiment(train, epochs=EPOCHS, steps_per_epoch=STEPS_PER_EPOCH, metric="val_accuracy",
                               version="2", name="tiny_lightning")
