"""Plateau: reduce-on-plateau as a controller that multiplies any schedule.

Feed it one metric per epoch with `step(metric)`; it keeps a multiplier `scale` (1.0, then
`factor`, `factor**2`, ...) and the effective rate of a schedule value `lr` is
`effective(lr) = max(lr * scale, min_lr)`. Two rule sets, chosen by `convention`:

- `"torch"`: torch.optim.lr_scheduler.ReduceLROnPlateau. `threshold` is relative (`best * (1 - threshold)`)
  or absolute (`threshold_mode="abs"`); the rate is reduced on the (patience + 1)-th bad epoch in a row;
  a reduction that would lower a rate by no more than `eps` is skipped, as torch skips it.
- `"keras"`: keras.callbacks.ReduceLROnPlateau. `threshold` is Keras's `min_delta`, an absolute delta;
  the rate is reduced on the patience-th bad epoch; comparisons are made in float32, as Keras does with its
  default floatx. `eps` is not used.

Both count bad epochs during cooldown differently; each convention follows its library line by line.

Rules lrlab adds (both libraries would silently count these as bad epochs and reduce):
- a NaN metric raises ValueError and leaves the state unchanged;
- an infinite metric (+inf or -inf) is never an improvement and never becomes the best value.
  (Keras treats the very first value as an improvement even when it is +inf, and both libraries take -inf
  as an improvement in "min" mode; lrlab does not.)

With a constant schedule the rates `effective(lr)` equal the learning rates the library's own class would
set, epoch by epoch (tests/test_plateau.py checks this against the real classes). Where they differ:
- a rate below `min_lr` is raised to `min_lr` here (the libraries leave a rate that starts below it alone);
- Keras stores the rate in a float32 variable, so its values differ from these in the 8th digit;
- Keras only counts a reduction (cooldown, reset of the bad-epoch count) when the rate was above
  `min_lr`; lrlab counts every reduction. Once a constant rate sits at `min_lr` it never moves again, so the
  rates are the same; only `step()`'s return value and the counters differ.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from . import _check

CONVENTIONS = ("torch", "keras")
_SETTINGS = (
    "factor",
    "patience",
    "mode",
    "threshold",
    "threshold_mode",
    "cooldown",
    "min_lr",
    "eps",
    "convention",
    "monitor",
)
_WHO = "Plateau"

MONITOR_MODES = {"loss": "min", "accuracy": "max"}
"""The mode a monitored metric needs, by its name without the "val_" prefix: a loss is better when lower, an
accuracy when higher. A monitor not named here takes either mode."""


def monitor_mode(monitor: str | None) -> str | None:
    """The mode a monitored metric needs ("min" for a loss, "max" for an accuracy); None when unknown.

    Plateau uses it to refuse a mode that contradicts its monitor (mode="max" on a loss would reduce the rate
    while the loss falls). The "val_" prefix is ignored; names other than those in `MONITOR_MODES` take either
    mode, hence None.

    Args:
        monitor: a metric name such as "val_loss" or "accuracy", or None (no monitor named).

    Returns:
        "min", "max", or None when the name is not known (or is None).

    Examples:
        >>> from lrlab.plateau import monitor_mode
        >>> monitor_mode("val_loss"), monitor_mode("accuracy"), monitor_mode("f1"), monitor_mode(None)
        ('min', 'max', None, None)
    """
    return None if monitor is None else MONITOR_MODES.get(monitor.removeprefix("val_"))


def _short(value: Any) -> str:
    """A setting as spec text: strings quoted, numbers as %g when that reads back exactly, else repr."""
    if isinstance(value, str):
        return repr(value)
    text = f"{value:g}"
    return text if float(text) == value else repr(value)


def _f32(x: float) -> float:
    """x rounded to float32, as Keras compares monitored values (default floatx)."""
    return float(np.float32(x))


class Plateau:
    """Reduce a multiplier when a monitored metric stops improving (torch or Keras rules).

    `step(metric)` once per epoch; `scale` is the multiplier; `effective(lr)` the rate to use.
    `threshold_mode` defaults to "rel" for convention="torch" and "abs" (Keras's min_delta) for "keras".
    `monitor` names the metric its feeder passes to `step` (the lab feeds that history column; None: the feeder's
    default, the lab's val_loss). A mode that does not fit the monitor is refused (see MONITOR_MODES).

    Options as text or a dict: `Plateau.parse("factor=0.5, patience=10")`, `Plateau.from_options(value)`;
    `p.spec()` writes them back ("plateau(factor=0.5, patience=10)").

    The counters are public attributes: `scale`, `reductions`, `epochs` (metrics fed), `best` (None before the
    first finite value), `num_bad_epochs`, `cooldown_counter`; `in_cooldown` is True while the cooldown runs.
    A plateau is counted in epochs: one `step` per epoch, and `patience` and `cooldown` are numbers of those calls.

    Args:
        factor: the multiplier applied at each reduction, in [0, 1) (scale becomes 1, factor, factor**2, ...).
        patience: bad epochs tolerated (an integer >= 0, in epochs, i.e. `step` calls). torch reduces on the
            (patience + 1)-th bad epoch in a row, Keras on the patience-th; each convention keeps its own.
        mode: "min" (the metric improves when it falls, e.g. a loss) or "max" (e.g. an accuracy).
        threshold: how much better a metric must be to count as an improvement (>= 0; in [0, 1) for mode="min"
            with threshold_mode="rel"). torch's `threshold`; Keras's `min_delta` with convention="keras".
        threshold_mode: "rel" (better than `best * (1 - threshold)`, or `best * (1 + threshold)` for "max") or
            "abs" (better than `best -+ threshold`); None picks "rel" for torch and "abs" for Keras, which
            allows only "abs".
        cooldown: epochs after a reduction during which bad epochs are not counted (an integer >= 0).
        min_lr: the floor of the effective rate (>= 0): `effective(lr)` never returns less.
        eps: torch's minimal change (>= 0): a reduction that lowers a rate by no more than this is skipped
            (convention="torch" only; unused by "keras").
        convention: "torch" (torch.optim.lr_scheduler.ReduceLROnPlateau's rules) or "keras"
            (keras.callbacks.ReduceLROnPlateau's).
        monitor: the name of the metric its feeder passes to `step` (a Python identifier such as "val_loss"),
            or None for the feeder's default (the lab's val_loss); "loss"/"accuracy" names must fit `mode`.

    Raises:
        ValueError: a setting out of range, threshold_mode="rel" with convention="keras", or a mode that does
            not fit the monitor; the message names the parameter and the value.

    Reference:
        With a constant schedule `effective(lr)` equals the rate torch's ReduceLROnPlateau (bit for bit) and
        Keras's ReduceLROnPlateau (to float32, the 8th digit) set epoch by epoch, tested in tests/test_plateau.py
        (test_torch_convention_matches_reduce_lr_on_plateau_every_epoch,
        test_keras_convention_matches_keras_callback_every_epoch). Differences: NaN metrics are refused,
        infinities never improve, a rate below min_lr is raised to it (see the module docstring).

    Examples:
        >>> from lrlab import Plateau
        >>> p = Plateau(factor=0.5, patience=1)
        >>> [p.step(loss) for loss in (1.0, 1.0, 1.0, 0.5)]   # reduced on the 2nd bad epoch (torch)
        [False, False, True, False]
        >>> p.scale, p.effective(0.1), p.best
        (0.5, 0.05, 0.5)
        >>> k = Plateau(factor=0.5, patience=1, convention="keras")
        >>> [k.step(loss) for loss in (1.0, 1.0, 1.0)]       # Keras: on the 1st bad epoch, and again
        [False, True, True]
    """

    def __init__(
        self,
        factor: float = 0.1,
        patience: int = 10,
        mode: str = "min",
        threshold: float = 1e-4,
        threshold_mode: str | None = None,
        cooldown: int = 0,
        min_lr: float = 0.0,
        eps: float = 1e-8,
        convention: str = "torch",
        monitor: str | None = None,
    ) -> None:
        convention = _check.choice(_WHO, "convention", convention, CONVENTIONS)
        mode = _check.choice(_WHO, "mode", mode, ("min", "max"))
        if threshold_mode is None:
            threshold_mode = "rel" if convention == "torch" else "abs"
        threshold_mode = _check.choice(_WHO, "threshold_mode", threshold_mode, ("rel", "abs"))
        if convention == "keras" and threshold_mode != "abs":
            raise ValueError(
                f"Plateau: threshold_mode must be 'abs' with convention='keras' (Keras's min_delta is an "
                f"absolute delta), got {threshold_mode!r}"
            )
        if monitor is not None and (not isinstance(monitor, str) or not monitor.isidentifier()):
            raise _check.fail(_WHO, "monitor", "a metric name such as 'val_loss' (or None)", monitor)
        needed = monitor_mode(monitor)
        if needed is not None and needed != mode:
            raise ValueError(
                f"Plateau: mode={mode!r} does not fit monitor={monitor!r}: a "
                f"{monitor.removeprefix('val_') if monitor else ''} is better when "
                f"{'lower' if needed == 'min' else 'higher'}, so mode must be {needed!r}"
            )
        self.factor = _check.in_range(_WHO, "factor", factor, 0.0, 1.0, high_open=True)
        self.patience = _check.whole(_WHO, "patience", patience, 0)
        self.mode = mode
        if threshold_mode == "rel" and mode == "min":
            self.threshold = _check.number(
                _WHO, "threshold", threshold, 0.0, 1.0, high_open=True,
                what="in [0, 1) with mode='min', threshold_mode='rel'",
            )
        else:
            self.threshold = _check.rate(_WHO, "threshold", threshold)
        self.threshold_mode = threshold_mode
        self.cooldown = _check.whole(_WHO, "cooldown", cooldown, 0)
        self.min_lr = _check.rate(_WHO, "min_lr", min_lr)
        self.eps = _check.rate(_WHO, "eps", eps)
        self.convention = convention
        self.monitor = monitor
        self._cache: tuple[float, int, float] | None = None
        self.scale = 1.0
        self.reductions = 0
        self.epochs = 0
        self.reset()

    # -- options: text, dicts, the spec ---------------------------------------------------------------
    @classmethod
    def from_options(cls, value: Any) -> Plateau | None:
        """A fresh Plateau from None/False (no plateau: None), options text (`parse`), a dict of constructor
        arguments (unknown keys refused), or a Plateau (its settings, not its state).

        The one reader behind every `plateau=` option (the lab, the CLI), so they all accept the same forms.

        Args:
            value: None, False, options text, a dict of settings, or a Plateau.

        Returns:
            A new Plateau, or None for None/False.

        Raises:
            ValueError: an unknown option, a bad setting, or a value of another type.

        Examples:
            >>> from lrlab import Plateau
            >>> Plateau.from_options(None), Plateau.from_options("factor=0.5"), Plateau.from_options({"patience": 3})
            (None, Plateau(factor=0.5, convention='torch'), Plateau(patience=3, convention='torch'))
        """
        if value is None or value is False:
            return None
        if isinstance(value, str):
            return cls.parse(value)
        if isinstance(value, Plateau):
            return cls(**value.settings())
        if isinstance(value, Mapping):
            return cls._from_kwargs(dict(value), _check.shown(dict(value)))
        raise ValueError(f"plateau must be a Plateau, a dict or options text such as 'factor=0.5, patience=10', "
                         f"got {_check.shown(value)}")

    @classmethod
    def parse(cls, text: str) -> Plateau:
        """The Plateau of "factor=0.5, patience=10" or "plateau(factor=0.5, ...)" (a bare "plateau": the
        defaults), read with the schedule spec grammar: numbers, quoted strings (mode='max'), True/False/None.

        The inverse of `spec()`.

        Args:
            text: the options text.

        Returns:
            A new Plateau.

        Raises:
            ValueError: a syntax error (with its column), an unknown option or a bad setting, all starting
                "plateau".

        Examples:
            >>> from lrlab import Plateau
            >>> Plateau.parse("factor=0.5, mode='max'")
            Plateau(factor=0.5, mode='max', convention='torch')
            >>> Plateau.parse("factor=0.5, paitence=3")
            Traceback (most recent call last):
            ...
            ValueError: plateau: unknown option 'paitence' in 'factor=0.5, paitence=3'; known: ...
        """
        from .schedules.spec import parse_call

        body = "plateau()" if isinstance(text, str) and text.strip() == "plateau" else text
        try:
            kwargs = parse_call(body, "plateau")
        except ValueError as exc:  # keep the parser's column and caret lines under the first line
            first, _, rest = str(exc).partition("\n")
            hint = " (strings are quoted: mode='max')" if "schedule kind" in first else ""
            raise ValueError(f"plateau: {first}{hint}" + (f"\n{rest}" if rest else "")) from None
        return cls._from_kwargs(kwargs, repr(text))

    @classmethod
    def _from_kwargs(cls, kwargs: dict[str, Any], shown: str) -> Plateau:
        """cls(**kwargs), refusing unknown keys; errors say "plateau" and the options as given."""
        for key in kwargs:
            if key not in _SETTINGS:
                raise ValueError(f"plateau: unknown option {key!r} in {shown}; known: {', '.join(_SETTINGS)}")
        try:
            return cls(**kwargs)
        except ValueError as exc:
            raise ValueError(f"plateau {shown}: {str(exc).removeprefix('Plateau: ')}") from None

    def spec(self) -> str:
        """The plateau as spec text, "plateau(factor=0.5, patience=10)": the settings that differ from `Plateau()`'s.

        `Plateau.parse` reads it back to a plateau with equal settings (the counters are not part of it: use
        `state_dict` for those). Numbers are written short (%g) unless that would lose digits.

        Returns:
            The text, "plateau()" for the defaults.

        Examples:
            >>> from lrlab import Plateau
            >>> Plateau(factor=0.5, patience=3).spec()   # patience=10 is the default, so not shown
            'plateau(factor=0.5, patience=3)'
            >>> Plateau.parse("plateau(factor=0.5, patience=3)").settings() == Plateau(0.5, 3).settings()
            True
        """
        defaults = Plateau().settings()
        shown = {k: v for k, v in self.settings().items() if v != defaults[k]}
        return "plateau(" + ", ".join(f"{k}={_short(v)}" for k, v in shown.items()) + ")"

    # -- the controller ---------------------------------------------------------------------------
    def reset(self) -> None:
        """Forget the best value, the bad-epoch count and the cooldown; keep `scale` (like Keras's _reset).

        Useful when the metric changes meaning (a new data set, a new phase): the next value becomes the best
        without undoing the reductions already made. `reductions` and `epochs` are kept too.

        Examples:
            >>> from lrlab import Plateau
            >>> p = Plateau(factor=0.5, patience=0)
            >>> p.step(1.0), p.step(2.0)
            (False, True)
            >>> p.reset()
            >>> p.best, p.num_bad_epochs, p.scale
            (None, 0, 0.5)
        """
        self.best: float | None = None
        self.num_bad_epochs = 0
        self.cooldown_counter = 0

    @property
    def in_cooldown(self) -> bool:
        """True while the cooldown after a reduction runs (`cooldown_counter > 0`)."""
        return self.cooldown_counter > 0

    def step(self, metric: float) -> bool:
        """Feed one epoch's metric; True when this call reduced the scale.

        Call it once per epoch (after validation): it updates the best value, the bad-epoch count and the
        cooldown by the rules of `convention`, and multiplies `scale` by `factor` when patience runs out.
        NaN raises ValueError (the state is left as it was); +-inf counts as no improvement.

        Args:
            metric: the monitored value of this epoch: a number or a 0-d tensor/array (not a bool or string).

        Returns:
            True when this call reduced `scale`, else False.

        Raises:
            ValueError: the metric is NaN or not a number.

        Examples:
            >>> from lrlab import Plateau
            >>> p = Plateau(factor=0.1, patience=0)
            >>> p.step(1.0), p.step(1.0), p.step(float("inf"))
            (False, True, True)
            >>> round(p.scale, 6), p.reductions, p.epochs
            (0.01, 2, 3)
        """
        value = _metric(metric)
        self.epochs += 1
        if self.convention == "torch":
            return self._step_torch(value)
        return self._step_keras(value)

    def _step_torch(self, value: float) -> bool:
        # torch.optim.lr_scheduler.ReduceLROnPlateau.step, line by line
        if self._is_better(value):
            self.best = value
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.in_cooldown:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            self._reduce()
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
            return True
        return False

    def _step_keras(self, value: float) -> bool:
        # keras.callbacks.ReduceLROnPlateau.on_epoch_end, line by line
        if self.in_cooldown:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self._is_better(value):
            self.best = value
            self.num_bad_epochs = 0
        elif not self.in_cooldown:
            self.num_bad_epochs += 1
            if self.num_bad_epochs >= self.patience:
                self._reduce()
                self.cooldown_counter = self.cooldown
                self.num_bad_epochs = 0
                return True
        return False

    def _is_better(self, value: float) -> bool:
        if not math.isfinite(value):
            return False
        best = self.best
        if best is None:
            return True
        thr = self.threshold
        if self.convention == "keras":
            if self.mode == "min":
                return _f32(value + thr) < _f32(best)
            return _f32(value - thr) > _f32(best)
        if self.mode == "min":
            return value < (best * (1.0 - thr) if self.threshold_mode == "rel" else best - thr)
        return value > (best * (thr + 1.0) if self.threshold_mode == "rel" else best + thr)

    def _reduce(self) -> None:
        self.reductions += 1
        self.scale = self.scale * self.factor
        self._cache = None

    # -- the rate ---------------------------------------------------------------------------------
    def effective(self, lr: Any) -> Any:
        """The rate to use for schedule value `lr` (a float or a numpy array): `max(lr * scale, min_lr)`.

        With convention="torch" the reductions are applied one by one as torch does
        (`new = max(old * factor, min_lr)`, skipped when `old - new <= eps`, and all later ones with it), so
        for a constant schedule the result equals torch's rate bit for bit, and the rate stops falling at
        about `eps / (1 - factor)`. With convention="keras" it is `max(lr * scale, min_lr)`.
        Both are `scaled_rate` (the one place where "rate times scale, with a floor" is written).

        Args:
            lr: the schedule's rate for this step (a float >= 0, or a numpy array of rates, one per step).

        Returns:
            A float for a float, a float64 numpy array for an array.

        Raises:
            ValueError: lr is not a number or is negative (a float; arrays are not checked).

        Examples:
            >>> import numpy as np
            >>> from lrlab import Plateau
            >>> p = Plateau(factor=0.5, patience=0, min_lr=0.03)
            >>> p.step(1.0), p.step(1.0)
            (False, True)
            >>> p.effective(0.1), p.effective(np.array([0.1, 0.05]))
            (0.05, array([0.05, 0.03]))
        """
        if isinstance(lr, np.ndarray):
            return self._effective_array(lr.astype(np.float64))
        try:
            rate = float(lr)
        except (TypeError, ValueError):
            raise ValueError(f"Plateau.effective: lr must be a number or a numpy array, got {lr!r}") from None
        if not rate >= 0:
            raise ValueError(f"Plateau.effective: lr must be >= 0, got {lr!r}")
        from .schedules import SCALAR

        if self.convention == "keras" or self.reductions == 0:
            return scaled_rate(SCALAR, rate, self.scale, self.min_lr)
        cache = self._cache
        if cache is not None and cache[0] == rate and cache[1] == self.reductions:
            return cache[2]
        out = scaled_rate(SCALAR, rate, self.scale, self.min_lr, **self._eps_rule())
        self._cache = (rate, self.reductions, out)
        return out

    def _effective_array(self, lr: np.ndarray) -> np.ndarray:
        from .schedules import NUMPY

        rule = self._eps_rule() if self.convention == "torch" else {}
        return scaled_rate(NUMPY, lr, self.scale, self.min_lr, **rule)

    def _eps_rule(self) -> dict[str, Any]:
        """scaled_rate's arguments for torch's one-by-one reductions."""
        return {"factor": self.factor, "reductions": self.reductions, "eps": self.eps}

    # -- state ------------------------------------------------------------------------------------
    def settings(self) -> dict[str, Any]:
        """The constructor arguments, resolved (threshold_mode filled in).

        `Plateau(**p.settings())` builds a fresh plateau with the same rules (and none of the state).

        Returns:
            A dict from setting name to value, in the constructor's order.

        Examples:
            >>> from lrlab import Plateau
            >>> s = Plateau(convention="keras").settings()
            >>> s["threshold_mode"], s["patience"], s["factor"]
            ('abs', 10, 0.1)
        """
        return {name: getattr(self, name) for name in _SETTINGS}

    def state_dict(self) -> dict[str, Any]:
        """Settings and counters as plain numbers and strings (JSON-safe; best is None before any value).

        Save it with a checkpoint; `load_state_dict` (or `Plateau.from_state_dict`) resumes exactly where it
        stopped.

        Returns:
            The `settings()` plus best, num_bad_epochs, cooldown_counter, reductions, scale and epochs.

        Examples:
            >>> from lrlab import Plateau
            >>> p = Plateau(factor=0.5, patience=0)
            >>> p.step(1.0), p.step(1.0)
            (False, True)
            >>> {k: p.state_dict()[k] for k in ("best", "reductions", "scale", "epochs")}
            {'best': 1.0, 'reductions': 1, 'scale': 0.5, 'epochs': 2}
        """
        return {
            **self.settings(),
            "best": self.best,
            "num_bad_epochs": self.num_bad_epochs,
            "cooldown_counter": self.cooldown_counter,
            "reductions": self.reductions,
            "scale": self.scale,
            "epochs": self.epochs,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore the counters of a `state_dict()`; its settings must equal this plateau's (ValueError otherwise).

        To rebuild a plateau from a state alone, use `Plateau.from_state_dict(state)`. A state saved before
        plateaus had a `monitor` (or an `epochs` count) still loads.

        Args:
            state: a dict from `state_dict()`.

        Raises:
            ValueError: state is not a dict, lacks a key, holds other settings, or holds an invalid counter.

        Examples:
            >>> from lrlab import Plateau
            >>> p = Plateau(factor=0.5, patience=0)
            >>> p.step(1.0), p.step(1.0)
            (False, True)
            >>> q = Plateau(factor=0.5, patience=0)
            >>> q.load_state_dict(p.state_dict())
            >>> q.scale, q.best, q.epochs
            (0.5, 1.0, 2)
        """
        if not isinstance(state, dict):
            raise ValueError(f"Plateau.load_state_dict: state must be a dict, got {type(state).__name__}")
        missing = [
            k
            for k in (*_SETTINGS, "best", "num_bad_epochs", "cooldown_counter", "reductions", "scale")
            if k not in state and k != "monitor"  # states saved before plateaus had a monitor have none
        ]
        if missing:
            raise ValueError(f"Plateau.load_state_dict: state has no {missing[0]!r}")
        for name in _SETTINGS:
            mine, theirs = getattr(self, name), state.get(name)
            if mine != theirs:
                raise ValueError(
                    f"Plateau.load_state_dict: the state has {name}={theirs!r} but this plateau has {name}={mine!r}; "
                    "build the plateau with the saved settings (Plateau.from_state_dict) or start afresh"
                )
        who = "Plateau.load_state_dict"
        best = state["best"]
        if best is not None:
            best = _check.number(who, "best", best, what="a finite number or None")
        scale = _check.in_range(who, "scale", state["scale"], 0.0, 1.0)
        counts = {k: _check.whole(who, k, state[k], 0) for k in ("num_bad_epochs", "cooldown_counter", "reductions")}
        epochs = _check.whole(who, "epochs", state.get("epochs", 0), 0)
        self.best = best
        self.num_bad_epochs = counts["num_bad_epochs"]
        self.cooldown_counter = counts["cooldown_counter"]
        self.reductions = counts["reductions"]
        self.scale = scale
        self.epochs = epochs
        self._cache = None

    @classmethod
    def from_state_dict(cls, state: dict[str, Any]) -> Plateau:
        """A plateau with the settings and counters of a `state_dict()`.

        Resumes a saved plateau without knowing its settings beforehand.

        Args:
            state: a dict from `state_dict()`.

        Returns:
            A new Plateau in the saved state.

        Raises:
            ValueError: state is not a dict or holds invalid settings or counters.

        Examples:
            >>> from lrlab import Plateau
            >>> p = Plateau(factor=0.5, patience=0)
            >>> p.step(1.0), p.step(1.0)
            (False, True)
            >>> q = Plateau.from_state_dict(p.state_dict())
            >>> q, q.scale, q.epochs
            (Plateau(factor=0.5, patience=0, convention='torch'), 0.5, 2)
        """
        if not isinstance(state, dict):
            raise ValueError(f"Plateau.from_state_dict: state must be a dict, got {type(state).__name__}")
        plateau = cls(**{k: state[k] for k in _SETTINGS if k in state})
        plateau.load_state_dict(state)
        return plateau

    def __repr__(self) -> str:
        defaults = Plateau()
        parts = [f"{k}={v!r}" for k, v in self.settings().items() if k == "convention" or v != getattr(defaults, k)]
        return f"Plateau({', '.join(parts)})"


def _metric(metric: Any) -> float:
    """The metric as a float; NaN and non-numbers raise ValueError."""
    if isinstance(metric, (bool, str, bytes)):
        raise ValueError(f"Plateau.step: metric must be a number, got {metric!r}")
    try:
        value = float(metric)
    except (TypeError, ValueError, RuntimeError):
        raise ValueError(f"Plateau.step: metric must be a number (or a 0-d tensor), got {metric!r}") from None
    if math.isnan(value):
        raise ValueError(
            "Plateau.step: metric is NaN; a NaN metric is rejected rather than counted as a bad epoch. "
            "Stop or skip this epoch (the plateau's state is unchanged)"
        )
    return value


def scaled_rate(
    xp: Any,
    lr: Any,
    scale: Any,
    min_lr: Any,
    *,
    factor: float | None = None,
    reductions: int = 0,
    eps: float | None = None,
) -> Any:
    """A rate times a plateau's scale, floored at min_lr: `max(lr * scale, min_lr)`, written once for every
    caller (Plateau.effective on floats and arrays, the Keras schedule and callback, the torch adapter).

    `xp` is a schedules Namespace (SCALAR, NUMPY, keras's, ...). With `eps` (torch's convention) the
    `reductions` are applied one by one instead, `new = max(old * factor, min_lr)`, each skipped, with all later
    ones, when it lowers the rate by no more than `eps` (torch.optim.lr_scheduler.ReduceLROnPlateau's rule);
    `scale` is then unused. That rule stops early, so it needs concrete values (Python floats or numpy arrays).

    Args:
        xp: the array namespace to compute with (`lrlab.schedules.SCALAR` for floats, `NUMPY` for arrays, or a
            framework's).
        lr: the schedule's rate (a float or an array of the namespace).
        scale: the plateau's multiplier (its `scale`).
        min_lr: the floor.
        factor: the plateau's factor; required with `eps`.
        reductions: how many reductions the plateau made (used only with `eps`).
        eps: torch's minimal change, or None for the plain `max(lr * scale, min_lr)`.

    Returns:
        The rate (a value of the namespace's type).

    Raises:
        ValueError: eps is given with reductions but factor is not.

    Examples:
        >>> from lrlab.plateau import scaled_rate
        >>> from lrlab.schedules import SCALAR
        >>> scaled_rate(SCALAR, 0.1, 0.25, 0.0), scaled_rate(SCALAR, 0.1, 0.25, 0.03)
        (0.025, 0.03)
        >>> scaled_rate(SCALAR, 1e-8, 0.25, 0.0, factor=0.5, reductions=2, eps=1e-8)  # both steps skipped
        1e-08
    """
    if eps is None or reductions == 0:
        return xp.maximum(lr * scale, min_lr)
    if factor is None:
        raise ValueError("scaled_rate: factor must be given with eps (torch's one-by-one reductions)")
    r = lr
    active: Any = True
    for _ in range(reductions):
        new = xp.maximum(r * factor, min_lr)
        active = active & (r - new > eps)
        if not (active.any() if hasattr(active, "any") else active):
            break
        r = xp.where(active, new, r)
    return xp.maximum(r, min_lr)
