"""lrlab.torch.Scheduler handed to transformers' Trainer as its lr_scheduler: the Trainer steps it once per
optimizer step and the rates it logs are the schedule's, step by step."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
pytest.importorskip("accelerate")

import lrlab  # noqa: E402
import lrlab.torch  # noqa: E402


class _Tiny(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.lin = torch.nn.Linear(2, 1)

    def forward(self, x, labels=None):
        out = self.lin(x)
        return {"loss": torch.nn.functional.mse_loss(out, labels), "logits": out}


def test_trainer_steps_the_schedule_once_per_update(tmp_path):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(32, 2, generator=g)
    y = x.sum(1, keepdim=True)
    data = [{"x": x[i], "labels": y[i]} for i in range(32)]
    model = _Tiny()
    before = model.lin.weight.detach().clone()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    schedule = lrlab.parse("warmup(cosine(0.1, decay_steps=6), steps=2)")
    sched = lrlab.torch.Scheduler(opt, schedule)
    args = transformers.TrainingArguments(
        output_dir=str(tmp_path), per_device_train_batch_size=8, num_train_epochs=2, logging_steps=1,
        report_to=[], save_strategy="no", use_cpu=True, disable_tqdm=True,
    )
    trainer = transformers.Trainer(model=model, args=args, train_dataset=data, optimizers=(opt, sched))
    trainer.train()
    logged = [h["learning_rate"] for h in trainer.state.log_history if "learning_rate" in h]
    assert logged == [schedule(t) for t in range(8)]  # 32 samples / 8 per batch x 2 epochs = 8 updates
    assert sched.last_epoch == 8
    assert not torch.equal(before, model.lin.weight)
