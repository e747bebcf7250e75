"""timm's schedulers as the reference, loaded without timm's package __init__.

`import timm` imports timm's models, which need torchvision; `timm.scheduler` itself needs only torch. So the
scheduler modules are loaded from timm's installed files as a private package (`_timm_scheduler`), never run
timm/__init__.py and never put a half-imported `timm` into sys.modules. Tests skip when timm is not installed.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from pathlib import Path
from typing import Any

import numpy as np
import pytest

_PACKAGE = "_timm_scheduler"


def scheduler_module(name: str) -> Any:
    """timm.scheduler.<name> (e.g. "cosine_lr"), or a pytest skip when timm is not installed."""
    if _PACKAGE not in sys.modules:
        spec = importlib.util.find_spec("timm")
        if spec is None or not spec.submodule_search_locations:
            pytest.skip("timm is not installed (pip install --no-deps timm)")
        folder = Path(next(iter(spec.submodule_search_locations))) / "scheduler"
        package = types.ModuleType(_PACKAGE)
        package.__path__ = [str(folder)]
        sys.modules[_PACKAGE] = package
    return importlib.import_module(f"{_PACKAGE}.{name}")


def timm_lrs(make: Any, n: int, base_lr: float = 0.1) -> np.ndarray:
    """The lr of updates 0..n-1 under the timm scheduler `make(optimizer)` builds, stepped per update
    (t_in_epochs=False): timm's step_update(t) sets the rate for update t."""
    import torch

    param = torch.zeros(1, requires_grad=True)
    optimizer = torch.optim.SGD([param], lr=base_lr)
    scheduler = make(optimizer)
    out = []
    for t in range(n):
        scheduler.step_update(t)
        out.append(optimizer.param_groups[0]["lr"])
    return np.array(out)
