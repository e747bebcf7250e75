"""`lrlab.transformers.experiment`: a transformers Trainer in the lab with one line (issue 22), on a tiny BERT built
in memory (random weights, nothing downloaded), on the CPU: compare 3 schedules x 2 seeds (leaderboard, store reuse)
with the Trainer's own optimizer driven by the run's schedule, its seed the run's, the per-step losses the Trainer's
own training loss, and tune pruning trials inside train()."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

import lrlab.transformers  # noqa: E402
from lrlab import parse  # noqa: E402
from lrlab.lab import compare  # noqa: E402

SPECS = ["constant(0.1)", "cosine(0.1)", "one_cycle(0.2)"]
EPOCHS, SPE = 3, 6
STEPS = EPOCHS * SPE
SEEN: list[dict] = []  # per Trainer run, in order: the rate of every update, the evaluations begun


def data():
    g = torch.Generator().manual_seed(123)
    ids = torch.randint(1, 16, (256, 8), generator=g)
    labels = (ids[:, 0] + ids[:, 1] >= 16).long()
    rows = [{"input_ids": ids[i], "labels": labels[i]} for i in range(256)]
    return rows[:192], rows[192:]


TRAIN, VAL = data()


def tiny_bert():
    config = transformers.BertConfig(vocab_size=16, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                     intermediate_size=32, max_position_embeddings=8, num_labels=2)
    return transformers.BertForSequenceClassification(config)


def accuracy(pred):
    return {"accuracy": float((np.argmax(pred.predictions, axis=1) == pred.label_ids).mean())}


class Probe(transformers.TrainerCallback):
    def on_train_begin(self, args, state, control, **kwargs):
        SEEN.append({"rates": [], "epochs": 0, "seed": args.seed})

    def on_epoch_begin(self, args, state, control, **kwargs):
        SEEN[-1]["epochs"] += 1

    def on_step_begin(self, args, state, control, optimizer=None, **kwargs):
        SEEN[-1]["rates"].append(optimizer.param_groups[0]["lr"])


def tiny(tmp, version="1", epochs=EPOCHS):
    args = transformers.TrainingArguments(
        output_dir=str(tmp), num_train_epochs=epochs, per_device_train_batch_size=32, per_device_eval_batch_size=64,
        eval_strategy="epoch", save_strategy="no", report_to=[], use_cpu=True, disable_tqdm=True,
        logging_strategy="no")
    return lrlab.transformers.experiment(tiny_bert, args, TRAIN, VAL, metric="eval_accuracy",
                                         compute_metrics=accuracy, optimizer=lambda m: torch.optim.SGD(
                                             m.parameters(), lr=0.0, momentum=0.9),
                                         trainer_kwargs={"callbacks": [Probe()]}, version=version)


@pytest.fixture(scope="module")
def compared(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("hf")
    SEEN.clear()
    return tmp, compare(tiny(tmp), SPECS, seeds=2, db=tmp / "runs.db", progress=False), list(SEEN)


def test_compare_trains_ranks_and_reuses(compared):
    tmp, c, seen = compared
    assert [(r.label, r.seed, r.status) for r in c.runs] == [(s, seed, "ok") for seed in (0, 1) for s in SPECS]
    assert [s["seed"] for s in seen] == [r.seed for r in c.runs]  # the Trainer reseeded with the run's seed
    board = c.leaderboard
    assert sorted(board["schedule"]) == sorted(SPECS) and board["runs"].tolist() == [2, 2, 2]
    assert c.ranking.metric == "val_accuracy" and board["val_accuracy"].is_monotonic_decreasing
    for run in c.runs:
        assert list(run.history["epoch"]) == [1, 2, 3] and {"val_loss", "val_accuracy"} <= set(run.history.columns)
        assert not any(k.endswith("_runtime") for k in run.history.columns)
    SEEN.clear()
    again = compare(tiny(tmp), SPECS, seeds=2, db=tmp / "runs.db", progress=False)
    assert all(r.reused for r in again.runs) and SEEN == []
    bumped = compare(tiny(tmp, version="2"), SPECS[:1], seeds=1, db=tmp / "runs.db", progress=False)
    assert not bumped.runs[0].reused and bumped.runs[0].status == "ok"


def test_the_trainers_optimizer_ran_each_update_at_the_schedules_rate(compared):
    _, c, seen = compared
    for run, s in zip(c.runs, seen):
        want = parse(run.label).stretch(STEPS)(np.arange(STEPS))
        np.testing.assert_allclose(s["rates"], want, rtol=0, atol=0)


def test_the_logged_losses_are_the_trainers_training_loss(compared):
    _, c, _ = compared
    for run in c.runs:  # the Trainer's own mean training loss over the 18 updates
        assert len(run.step_loss) == STEPS
        assert np.mean(run.step_loss) == pytest.approx(run.metrics["train_loss"], rel=1e-6)


def test_the_same_seed_trains_the_same_run(compared):
    tmp, c, _ = compared
    first = c.runs[0]
    again = compare(tiny(tmp), [first.label], seeds=[first.seed], db=None, progress=False).runs[0]
    assert np.array_equal(again.step_loss, first.step_loss)


def test_tune_prunes_trials_inside_train(tmp_path):
    pytest.importorskip("optuna")
    from lrlab.lab import tune

    SEEN.clear()
    result = tune(tiny(tmp_path, epochs=4), "constant(loguniform(1e-4, 1))", trials=8, confirm=0,
                  storage=tmp_path / "t.db", progress=False, sampler="random")
    trials = result.trials
    assert set(trials["state"]) == {"COMPLETE", "PRUNED"}
    for (_, trial), s in zip(trials.iterrows(), SEEN[:8]):
        assert s["epochs"] == (trial["epochs"] if trial["state"] == "PRUNED" else 4)


def test_builder_settings_are_checked_in_one_line(tmp_path):
    args = transformers.TrainingArguments(str(tmp_path), num_train_epochs=1.5, report_to=[], use_cpu=True)
    with pytest.raises(ValueError, match="num_train_epochs must be a whole number"):
        lrlab.transformers.experiment(tiny_bert, args, TRAIN, metric=None)
    with pytest.raises(ValueError, match=r"args must be a transformers\.TrainingArguments"):
        lrlab.transformers.experiment(tiny_bert, {}, TRAIN, metric=None)


def test_a_plateau_reduces_the_very_next_update(tmp_path):
    # eval_loss is reported as val_loss, the plateau's default monitor; threshold=0.9: every epoch after the first
    # is a bad one, so (patience 0) the rate halves after epoch 2's evaluation, before the next update
    SEEN.clear()
    spec = "constant(0.1)@plateau(factor=0.5, patience=0, threshold=0.9)"
    run = compare(tiny(tmp_path), [spec], seeds=1, db=None, progress=False).runs[0]
    assert run.status == "ok"
    np.testing.assert_allclose(SEEN[-1]["rates"], [0.1] * 12 + [0.05] * 6, rtol=1e-12)
    np.testing.assert_allclose(run.step_lr, SEEN[-1]["rates"], rtol=1e-12)
