"""The value `tune` hands Optuna for a trial: validation accuracy with its ties broken by validation loss, in one
number, so the sampler, the pruner and the best trials all see one order that still puts accuracy first.

A validation accuracy on n samples moves in steps of 1/n (280 on quantiles), so many trials of a good space tie on
it. The value is lexicographic: `accuracy - g(val_loss) / n` with `g(l) = l / (1 + l)` in [0, 1) (1 for a loss that
is not finite). Two trials with different accuracies keep their order (the loss term is less than one step), and two
with equal accuracy are ordered by their loss, lower first. Where the objective is not an accuracy (a loss, bits per
byte) or the task has no validation loss, the value is the metric itself. The trials table keeps both parts
(`val_accuracy`, `val_loss`), and the confirmation still ranks by the mean accuracy alone (`compare`'s ranking).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

LOSS = "val_loss"
"""The history column that breaks accuracy ties."""


def tie_break(metric: str, n_val: int, has_loss: bool) -> int:
    """The n_val that `value` divides by, or 0 where the metric is kept as it is (no tie-break).

    The tie-break applies where the objective is a validation accuracy on n_val > 0 samples and the task reports a
    validation loss.

    Args:
        metric: the objective's history column (val_accuracy, val_loss, ...).
        n_val: the number of validation samples.
        has_loss: whether the history has a val_loss column.

    Examples:
        >>> from lrlab.lab.studies.objective import tie_break
        >>> tie_break("val_accuracy", 280, True), tie_break("val_loss", 280, True), tie_break("val_accuracy", 0, True)
        (280, 0, 0)
    """
    return int(n_val) if metric.endswith("accuracy") and metric.startswith("val_") and n_val > 0 and has_loss else 0


def value(row: Mapping[str, Any], metric: str, n_val: int = 0) -> float | None:
    """The objective of one history row (an epoch's, or the last): the metric, less g(val_loss) / n_val.

    Args:
        row: the history row (a mapping with the metric and val_loss).
        metric: the objective's column.
        n_val: `tie_break`'s result (0: the metric alone).

    Returns:
        The value, or None where the metric is missing or not finite (nothing to report).

    Examples:
        Equal accuracies are ordered by loss; a higher accuracy wins whatever the losses:

        >>> from lrlab.lab.studies.objective import value
        >>> a = value({"val_accuracy": 0.9, "val_loss": 0.2}, "val_accuracy", 280)
        >>> b = value({"val_accuracy": 0.9, "val_loss": 0.5}, "val_accuracy", 280)
        >>> c = value({"val_accuracy": 0.9 + 1 / 280, "val_loss": 1e9}, "val_accuracy", 280)
        >>> c > a > b
        True
        >>> value({"val_accuracy": 0.9, "val_loss": 0.2}, "val_accuracy", 0)
        0.9
    """
    got = row.get(metric)
    if got is None or not math.isfinite(float(got)):
        return None
    got = float(got)
    if not n_val:
        return got
    loss = row.get(LOSS)
    loss = math.nan if loss is None else float(loss)
    g = loss / (1.0 + loss) if math.isfinite(loss) and loss >= 0 else 1.0
    # a loss so large that g rounds to 1 is still ordered above a non-finite one (which is exactly one step down)
    return got - min(g, 1.0 - 1e-12) / n_val if math.isfinite(loss) else got - 1.0 / n_val
