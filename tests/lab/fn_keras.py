"""A user's own Keras 3 `model.fit`, as the lab's tests train it (torch backend): the rate is
`lrlab.keras.Schedule(run.schedule)`, a callback logs every update's loss and reports every epoch."""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras
import numpy as np
from fn_common import BATCH, EPOCHS, STEPS_PER_EPOCH, data, maybe_fail, seen

import lrlab.keras
from lrlab.lab import experiment


class LabCallback(keras.callbacks.Callback):
    """Tell the run what fit did: each update's loss (Keras's batch `logs["loss"]` is the mean of the epoch so far,
    so the update's own loss is k * mean_k - (k - 1) * mean_(k-1)), and each epoch's validation metrics; a plateau
    entry's reductions (run.plateau, fed by run.report) go to the optimizer's `lrlab.keras.Schedule`."""

    def __init__(self, run, schedule):
        super().__init__()
        self.run, self.schedule = run, schedule

    def on_epoch_begin(self, epoch, logs=None):
        self.mean = 0.0

    def on_train_batch_end(self, batch, logs=None):
        k, mean = batch + 1, float(logs["loss"])
        self.run.log_step(k * mean - (k - 1) * self.mean)
        self.mean = mean

    def on_epoch_end(self, epoch, logs=None):
        self.run.report(epoch + 1, val_accuracy=logs["val_accuracy"], val_loss=logs["val_loss"])
        if self.run.plateau is not None:
            self.schedule.scale, self.schedule.min_lr = self.run.plateau.scale, self.run.plateau.min_lr
        maybe_fail(self.run)


class Probe(keras.callbacks.Callback):
    """What the tests check: the rate of every update read from the optimizer, and the batch's loss computed by
    hand with the weights the update starts from (the data is in a fixed order: fit(shuffle=False))."""

    def __init__(self, record, x, y):
        super().__init__()
        self.record, self.x, self.y = record, x, y
        record.update(rates=[], losses=[])

    def on_train_batch_begin(self, batch, logs=None):
        self.record["rates"].append(lrlab.keras.current_lr(self.model.optimizer))
        xb, yb = self.x[batch * BATCH:(batch + 1) * BATCH], self.y[batch * BATCH:(batch + 1) * BATCH]
        loss = keras.losses.sparse_categorical_crossentropy(yb, self.model(xb, training=True))
        self.record["losses"].append(float(keras.ops.convert_to_numpy(keras.ops.mean(loss))))


def train(run):
    x, y, xv, yv = data()
    order = np.random.permutation(len(x))  # numpy's generator, seeded by the lab
    x, y = x[order], y[order]
    keras.backend.clear_session()
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, activation="relu"),
                              keras.layers.Dense(2, activation="softmax")])
    schedule = lrlab.keras.Schedule(run.schedule)
    model.compile(optimizer=keras.optimizers.SGD(schedule, momentum=0.9),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, batch_size=BATCH, epochs=run.epochs, validation_data=(xv, yv), shuffle=False, verbose=0,
              callbacks=[Probe(seen(run), x, y), LabCallback(run, schedule)])
    return {"test_accuracy": float(model.evaluate(xv, yv, verbose=0)[1])}


tiny_keras = experiment(train, epochs=EPOCHS, steps_per_epoch=STEPS_PER_EPOCH, metric="val_accuracy", version="1",
                        name="tiny_keras")
tiny_keras_v2 = experiment(train, epochs=EPOCHS, steps_per_epoch=STEPS_PER_EPOCH, metric="val_accuracy",
                           version="2", name="tiny_keras")
