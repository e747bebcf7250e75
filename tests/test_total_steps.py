"""`total_steps=` on the adapters (issue 22): a length-free spec spans the run the framework knows, as
`.stretch(total_steps)`, with no `.stretch` by hand; lengths a spec sets stay."""

from __future__ import annotations

import os

import numpy as np
import pytest

from lrlab import parse

os.environ.setdefault("KERAS_BACKEND", "torch")


def test_torch_scheduler_spans_total_steps():
    torch = pytest.importorskip("torch")
    import lrlab.torch

    def rates(spec, **kw):
        opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.0, momentum=0.9)
        sched = lrlab.torch.Scheduler(opt, spec, **kw)
        out = []
        for _ in range(10):
            out.append((opt.param_groups[0]["lr"], opt.param_groups[0]["momentum"]))
            opt.step()
            sched.step()
        return np.array(out)

    got = rates("cosine(0.1)", total_steps=10, momentum="linear(0.85, 0.95)")
    np.testing.assert_array_equal(got[:, 0], parse("cosine(0.1)").stretch(10)(np.arange(10)))
    np.testing.assert_allclose(got[:, 1], parse("linear(0.85, 0.95)").stretch(10)(np.arange(10)), rtol=1e-12)
    kept = rates("cosine(0.1, decay_steps=4)", total_steps=10)  # a set length stays
    np.testing.assert_array_equal(kept[:, 0], parse("cosine(0.1, decay_steps=4)")(np.arange(10)))
    with pytest.raises(ValueError, match="total_steps must be"):
        rates("cosine(0.1)", total_steps=0)


def test_keras_schedule_spans_total_steps_and_saves_bound():
    keras = pytest.importorskip("keras")
    import lrlab.keras

    s = lrlab.keras.Schedule("one_cycle(0.2)", total_steps=12)
    want = parse("one_cycle(0.2)").stretch(12)(np.arange(12))
    got = [float(keras.ops.convert_to_numpy(s(t))) for t in range(12)]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-8)
    again = lrlab.keras.Schedule.from_config(s.get_config())  # the config holds the bound schedule
    assert again.schedule == s.schedule and again.schedule.is_bound
    with pytest.raises(ValueError, match="total_steps must be"):
        lrlab.keras.Schedule("cosine(0.1)", total_steps=-1)
