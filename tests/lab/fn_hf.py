"""A user's own transformers Trainer, as the lab's tests train it: a tiny BERT classifier built in memory (random
weights, nothing downloaded), `optimizers=(opt, lrlab.torch.Scheduler(opt, run.schedule))`, a TrainerCallback that
logs each update's loss and reports each evaluation. Sequences of 8 tokens from a vocabulary of 16; the label is
whether the first two tokens sum to 16 or more."""

from __future__ import annotations

import tempfile

import numpy as np
import torch
import transformers
from fn_common import BATCH, EPOCHS, STEPS_PER_EPOCH, maybe_fail, seen

import lrlab.torch
from lrlab.lab import experiment


def data():
    g = torch.Generator().manual_seed(123)
    ids = torch.randint(1, 16, (256, 8), generator=g)
    labels = (ids[:, 0] + ids[:, 1] >= 16).long()
    rows = [{"input_ids": ids[i], "labels": labels[i]} for i in range(256)]
    return rows[:192], rows[192:]


def accuracy(pred):
    return {"accuracy": float((np.argmax(pred.predictions, axis=1) == pred.label_ids).mean())}


class LabCallback(transformers.TrainerCallback):
    """Each update's loss (logged every step) to `run.log_step`; each evaluation's metrics to `run.report`."""

    def __init__(self, run):
        self.run = run

    def on_log(self, args, state, control, logs=None, **kwargs):
        if "loss" in logs:
            self.run.log_step(logs["loss"])

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        self.run.report(round(state.epoch), val_accuracy=metrics["eval_accuracy"], val_loss=metrics["eval_loss"])
        maybe_fail(self.run)


class Probe(transformers.TrainerCallback):
    """What the tests check: the rate of every update, read in the optimizer's step (after the scheduler's own
    pre-hook, which applies a plateau reduction made since the last step)."""

    def __init__(self, record):
        self.record = record
        record.update(rates=[])

    def on_train_begin(self, args, state, control, optimizer=None, **kwargs):
        optimizer = getattr(optimizer, "optimizer", optimizer)  # accelerate's wrapper holds the torch optimizer
        optimizer.register_step_pre_hook(lambda opt, *_: self.record["rates"].append(opt.param_groups[0]["lr"]))


def train(run):
    train_rows, val_rows = data()
    config = transformers.BertConfig(vocab_size=16, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                     intermediate_size=32, max_position_embeddings=8, num_labels=2)
    model = transformers.BertForSequenceClassification(config)  # random weights from torch's seeded generator
    opt = torch.optim.SGD(model.parameters(), lr=0.0, momentum=0.9)
    sched = lrlab.torch.Scheduler(opt, run.schedule, plateau=run.plateau)
    with tempfile.TemporaryDirectory() as out:
        args = transformers.TrainingArguments(
            output_dir=out, num_train_epochs=run.epochs, per_device_train_batch_size=BATCH,
            per_device_eval_batch_size=64, eval_strategy="epoch", logging_strategy="steps", logging_steps=1,
            save_strategy="no", report_to=[], use_cpu=True, disable_tqdm=True,
            seed=run.seed)  # the Trainer seeds every generator with args.seed: give it the run's
        trainer = transformers.Trainer(model=model, args=args, train_dataset=train_rows, eval_dataset=val_rows,
                                       compute_metrics=accuracy, optimizers=(opt, sched),
                                       callbacks=[Probe(seen(run)), LabCallback(run)])
        trainer.remove_callback(transformers.PrinterCallback)
        result = trainer.train()
    return {"train_loss": result.training_loss}


tiny_hf = experiment(train, epochs=EPOCHS, steps_per_epoch=STEPS_PER_EPOCH, metric="val_accuracy", version="1",
                     name="tiny_hf")
tiny_hf_v2 = experiment(train, epochs=EPOCHS, steps_per_epoch=STEPS_PER_EPOCH, metric="val_accuracy", version="2",
                        name="tiny_hf")
