"""The time a builder (lrlab.keras/lightning/transformers/jax.experiment) adds to a fit: one run through the lab's
function engine (seeding, the run's schedule, per-update loss, per-epoch report) against the plain hand-written fit
with the same schedule, data, model and epochs, rounds interleaved; prints the median wall time of each and their
ratio. Wall times are noisy on a shared machine; nothing here is asserted.

    KERAS_BACKEND=torch python bench/builders.py [--rounds 5] [--epochs 3] [--samples 4096] [--batch 64]
        [--frameworks keras,lightning,transformers,optax] [--threads 1]
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from typing import Any

os.environ.setdefault("KERAS_BACKEND", "torch")
SPEC = "cosine(0.1)"


def run_through_lab(fn: Callable[[Any], Any]) -> Any:
    """One run of a builder's function as a study runs it (the function engine), seed 0."""
    from lrlab.lab import experiment
    from lrlab.lab.engines.function import execute_function, plan_function
    from lrlab.lab.options import RunOptions

    run = execute_function(plan_function(experiment(fn), SPEC, RunOptions(seed=0)))
    assert run.status == "ok", (run.status, run.error)
    return run


def keras_pair(n: int, batch: int, epochs: int) -> tuple[Callable[[], Any], Callable[[], Any]]:
    import keras
    import numpy as np

    import lrlab
    import lrlab.keras

    rng = np.random.default_rng(0)
    x = rng.normal(size=(n + 512, 32)).astype("float32")
    y = (x[:, 0] * x[:, 1] > 0).astype("int64")
    x, y, xv, yv = x[:n], y[:n], x[n:], y[n:]

    def build(seed: int) -> Any:
        model = keras.Sequential([keras.Input((32,)), keras.layers.Dense(64, activation="relu"),
                                  keras.layers.Dense(2, activation="softmax")])
        model.compile(keras.optimizers.SGD(momentum=0.9), loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])
        return model

    steps = epochs * -(-n // batch)

    def plain() -> None:
        keras.utils.set_random_seed(0)
        model = build(0)
        model.optimizer.learning_rate = lrlab.keras.Schedule(lrlab.parse(SPEC).stretch(steps))
        model.fit(x, y, batch_size=batch, epochs=epochs, validation_data=(xv, yv), verbose=0)

    fn = lrlab.keras.experiment(build, x, y, validation_data=(xv, yv), epochs=epochs, batch_size=batch,
                                metric="val_accuracy")
    return plain, lambda: run_through_lab(fn)


def lightning_pair(n: int, batch: int, epochs: int) -> tuple[Callable[[], Any], Callable[[], Any]]:
    import lightning as L
    import torch

    import lrlab
    import lrlab.lightning
    import lrlab.torch

    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n + 512, 32, generator=g)
    y = (x[:, 0] * x[:, 1] > 0).long()
    train = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x[:n], y[:n]), batch_size=batch, shuffle=True)
    val = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x[n:], y[n:]), batch_size=512)
    steps = epochs * len(train)

    class Net(L.LightningModule):
        def __init__(self, schedule: Any = None) -> None:
            super().__init__()
            self.schedule = schedule
            self.net = torch.nn.Sequential(torch.nn.Linear(32, 64), torch.nn.ReLU(), torch.nn.Linear(64, 2))

        def training_step(self, b: Any, i: int) -> Any:
            return torch.nn.functional.cross_entropy(self.net(b[0]), b[1])

        def validation_step(self, b: Any, i: int) -> None:
            out = self.net(b[0])
            self.log("val_loss", torch.nn.functional.cross_entropy(out, b[1]))
            self.log("val_accuracy", (out.argmax(1) == b[1]).float().mean())

        def configure_optimizers(self) -> Any:
            opt = torch.optim.SGD(self.parameters(), lr=0.0, momentum=0.9)
            if self.schedule is None:  # the builder drives it
                return opt
            sched = lrlab.torch.Scheduler(opt, self.schedule)
            return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}

    quiet = {"logger": False, "enable_checkpointing": False, "enable_progress_bar": False,
             "enable_model_summary": False, "accelerator": "cpu"}

    def plain() -> None:
        torch.manual_seed(0)
        L.Trainer(max_epochs=epochs, **quiet).fit(Net(lrlab.parse(SPEC).stretch(steps)), train, val)

    fn = lrlab.lightning.experiment(Net, max_epochs=epochs, monitor="val_accuracy", train_dataloaders=train,
                                    val_dataloaders=val, trainer_kwargs={"accelerator": "cpu"})
    return plain, lambda: run_through_lab(fn)


def transformers_pair(n: int, batch: int, epochs: int) -> tuple[Callable[[], Any], Callable[[], Any]]:
    import torch
    import transformers

    import lrlab
    import lrlab.torch
    import lrlab.transformers

    g = torch.Generator().manual_seed(0)
    ids = torch.randint(1, 16, (n + 256, 8), generator=g)
    labels = (ids[:, 0] + ids[:, 1] >= 16).long()
    rows = [{"input_ids": ids[i], "labels": labels[i]} for i in range(len(ids))]
    train, val = rows[:n], rows[n:]
    out = tempfile.mkdtemp()
    args = transformers.TrainingArguments(
        output_dir=out, num_train_epochs=epochs, per_device_train_batch_size=batch, per_device_eval_batch_size=256,
        eval_strategy="epoch", save_strategy="no", logging_strategy="no", report_to=[], use_cpu=True,
        disable_tqdm=True, seed=0)

    def model() -> Any:
        config = transformers.BertConfig(vocab_size=16, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                                         intermediate_size=64, max_position_embeddings=8, num_labels=2)
        return transformers.BertForSequenceClassification(config)

    steps = epochs * -(-n // batch)

    def plain() -> None:
        torch.manual_seed(0)
        m = model()
        opt = torch.optim.SGD(m.parameters(), lr=0.0, momentum=0.9)
        sched = lrlab.torch.Scheduler(opt, lrlab.parse(SPEC).stretch(steps))
        trainer = transformers.Trainer(model=m, args=args, train_dataset=train, eval_dataset=val,
                                       optimizers=(opt, sched))
        trainer.remove_callback(transformers.PrinterCallback)  # as the builder does: no printed logs
        trainer.train()

    fn = lrlab.transformers.experiment(model, args, train, val, metric="eval_loss",
                                       optimizer=lambda m: torch.optim.SGD(m.parameters(), lr=0.0, momentum=0.9))
    return plain, lambda: run_through_lab(fn)


def optax_pair(n: int, batch: int, epochs: int) -> tuple[Callable[[], Any], Callable[[], Any]]:
    import jax
    import jax.numpy as jnp
    import numpy as np
    import optax

    import lrlab
    import lrlab.jax

    rng = np.random.default_rng(0)
    x = rng.normal(size=(n + 512, 32)).astype("float32")
    y = (x[:, 0] * x[:, 1] > 0).astype("int32")
    batches = [(x[i:i + batch], y[i:i + batch]) for i in range(0, n, batch)]
    steps = epochs * len(batches)

    def init(key: Any) -> Any:
        k1, k2 = jax.random.split(key)
        return {"w1": jax.random.normal(k1, (32, 64)) * 0.2, "b1": jnp.zeros(64),
                "w2": jax.random.normal(k2, (64, 2)) * 0.2, "b2": jnp.zeros(2)}

    def logits(p: Any, xb: Any) -> Any:
        return jax.nn.relu(xb @ p["w1"] + p["b1"]) @ p["w2"] + p["b2"]

    def loss_fn(p: Any, b: Any) -> Any:
        return optax.softmax_cross_entropy_with_integer_labels(logits(p, b[0]), b[1]).mean()

    def evaluate(p: Any) -> dict[str, Any]:
        return {"val_accuracy": (logits(p, x[n:]).argmax(1) == y[n:]).mean()}

    def plain() -> None:
        tx = optax.sgd(lrlab.jax.schedule(lrlab.parse(SPEC).stretch(steps)), momentum=0.9)
        params = init(jax.random.key(0))
        state = tx.init(params)

        @jax.jit
        def update(p: Any, s: Any, b: Any) -> Any:
            loss, grads = jax.value_and_grad(loss_fn)(p, b)
            updates, s = tx.update(grads, s, p)
            return optax.apply_updates(p, updates), s, loss

        for _ in range(epochs):
            for b in batches:
                params, state, loss = update(params, state, b)
                float(loss)  # the hand-written loop reads its loss too
            float(evaluate(params)["val_accuracy"])

    fn = lrlab.jax.experiment(init, loss_fn, batches, epochs=epochs, evaluate=evaluate, metric="val_accuracy")
    return plain, lambda: run_through_lab(fn)


PAIRS = {"keras": keras_pair, "lightning": lightning_pair, "transformers": transformers_pair, "optax": optax_pair}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--samples", type=int, default=4096)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--frameworks", default="keras,lightning,transformers,optax")
    parser.add_argument("--threads", type=int, default=1)
    a = parser.parse_args()

    import torch

    torch.set_num_threads(a.threads)
    print(f"{a.samples} samples, batches of {a.batch}, {a.epochs} epochs, {a.rounds} rounds (interleaved), "
          f"{a.threads} thread(s); median seconds per fit")
    print(f"{'framework':<13} {'plain':>8} {'builder':>8} {'ratio':>6}")
    for name in a.frameworks.split(","):
        plain, builder = PAIRS[name](a.samples, a.batch, a.epochs)
        plain(), builder()  # warm-up: imports, first-call compilation
        times: dict[str, list[float]] = {"plain": [], "builder": []}
        for _ in range(a.rounds):
            for label, f in (("plain", plain), ("builder", builder)):
                begin = time.perf_counter()
                f()
                times[label].append(time.perf_counter() - begin)
        p, b = statistics.median(times["plain"]), statistics.median(times["builder"])
        print(f"{name:<13} {p:8.3f} {b:8.3f} {b / p:6.3f}")


if __name__ == "__main__":
    main()
