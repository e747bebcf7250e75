"""The Schedule value: an immutable map from optimizer step to learning rate.

A kind subclasses `Schedule`, validates its parameters in `__init__` and writes its formula once in
`apply(xp, t)` against a `Namespace`. This base class gives every kind the scalar and array call paths,
the spec string (`repr`), the JSON config, value equality and hashing, `s * k`, `s1 * s2`, `s.clip(lo, hi)` and
`s.stretch(total_steps)` for lengths left out.
"""

from __future__ import annotations

import inspect
import json
import math
import numbers
import operator
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np

from ._ns import NUMPY, SCALAR, Namespace

_UNTRACED = object()

KINDS: dict[str, type[Schedule]] = {}
"""Every schedule kind by its spec name: what `parse` and `from_config` can build."""

MAX_EVENTS = 40
"""Most events of one repeating kind `events` lists (more would only blur a plotted curve)."""


def multiples(size: float, steps: int, kind: str) -> list[tuple[int, str]]:
    """Events of `kind` at every multiple of `size` up to `steps`; none past MAX_EVENTS of them.

    The helper behind the `events` of periodic kinds (step_decay's boundaries, exponential's stairs): more than
    MAX_EVENTS (40) marks would only blur a plotted curve, so then there are none.

    Args:
        size: the period, in optimizer steps (> 0; <= 0 gives no events).
        steps: the span, in optimizer steps: multiples up to and including it.
        kind: the event's kind, e.g. "boundary".

    Returns:
        (step, kind) pairs at size, 2 * size, ... <= steps, or [] when there would be more than MAX_EVENTS.

    Examples:
        >>> from lrlab.schedules.base import multiples
        >>> multiples(10, 35, "boundary")
        [(10, 'boundary'), (20, 'boundary'), (30, 'boundary')]
        >>> multiples(1, 100, "boundary")
        []
    """
    if size <= 0 or steps / size > MAX_EVENTS:
        return []
    return [(int(k * size), kind) for k in range(1, int(steps // size) + 1)]


class Schedule:
    """Base class of every learning-rate schedule: `s(step) -> lr`.

    `s(int)` gives a float, `s(np.ndarray)` a float64 array with the same values. Negative or NaN
    steps raise ValueError. The value at step t is the rate used for update number t + 1.

    A kind subclasses it, sets `kind` (its spec name, registered in KINDS) and `summary`, validates its
    parameters in `__init__` and writes its formula once in `apply(xp, t)`. Schedules are immutable values:
    equal parameters make equal, hashable schedules; `replace` makes a changed copy. `s * k` scales, `s1 * s2`
    multiplies, `s.clip(lo, hi)` bounds, `s.stretch(total_steps)` binds lengths left out; `repr(s)` is a spec
    that `lrlab.parse` reads back and `s.to_config()` a JSON-safe dict that `lrlab.from_config` reads back.

    Examples:
        >>> import numpy as np
        >>> from lrlab import cosine, parse
        >>> s = cosine(0.1, decay_steps=100)
        >>> s(50), s(np.array([0, 100])).tolist()
        (0.05, [0.1, 0.0])
        >>> s == parse(repr(s)), repr(s * 2)
        (True, 'cosine(0.1, decay_steps=100) * 2.0')
    """

    kind: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    length_param: ClassVar[str | None] = None  # the parameter `stretch` fills in when it is None
    host_only: ClassVar[bool] = False  # True when the formula runs only on Python floats and numpy
    _fields: ClassVar[tuple[inspect.Parameter, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._fields = tuple(inspect.signature(cls.__init__).parameters.values())[1:]
        if cls.kind:
            KINDS[cls.kind] = cls

    # -- construction -------------------------------------------------------------------------
    def _set(self, **values: Any) -> None:
        """Store the validated parameters; a schedule is immutable afterwards."""
        for name, value in values.items():
            object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable; use replace() to change {name!r}")

    def params(self) -> dict[str, Any]:
        """The parameters by name, in signature order.

        The values `__init__` stored after validation (nested schedules stay Schedule objects); `replace`,
        `repr`, `to_config` and equality all read them.

        Examples:
            >>> from lrlab import step_decay
            >>> step_decay(0.1, drop=0.5, step_size=30).params()
            {'initial_lr': 0.1, 'drop': 0.5, 'step_size': 30}
        """
        return {p.name: getattr(self, p.name) for p in self._fields}

    def replace(self, **changes: Any) -> Schedule:
        """A copy with some parameters changed (validated again).

        Schedules are immutable, so this is how a variant is made; an unknown parameter name raises ValueError.

        Args:
            **changes: the parameters to change, by name; the others keep their values.

        Examples:
            >>> from lrlab import cosine
            >>> cosine(0.1, decay_steps=100).replace(decay_steps=200)
            cosine(0.1, decay_steps=200)
        """
        unknown = set(changes) - {p.name for p in self._fields}
        if unknown:
            raise ValueError(f"{self.kind}: no parameter {sorted(unknown)[0]!r}")
        return type(self)(**{**self.params(), **changes})

    # -- evaluation ---------------------------------------------------------------------------
    def apply(self, xp: Namespace, t: Any) -> Any:
        """The formula, on non-negative steps `t` of namespace `xp` (float, numpy, jax, torch, keras).

        Each kind writes its formula once here, with the math functions of `xp` (cos, where, minimum, ...), so
        the same code runs on Python floats, numpy arrays and, through the adapters, jax, torch and keras
        tensors. It does not check `t`: call `s(t)` for checked values.

        Args:
            xp: the namespace of math functions, e.g. `lrlab.schedules.SCALAR` (Python floats) or `NUMPY`.
            t: the optimizer steps, a number or an array of xp's kind, >= 0.

        Returns:
            The rate at each step, of xp's kind.

        Examples:
            >>> import numpy as np
            >>> from lrlab import cosine
            >>> from lrlab.schedules import NUMPY, SCALAR
            >>> s = cosine(0.1, decay_steps=100)
            >>> s.apply(SCALAR, 50), s.apply(NUMPY, np.array([0.0, 100.0])).tolist()
            (0.05, [0.1, 0.0])
        """
        raise NotImplementedError

    def apply_cast(self, xp: Namespace, t: Any, constant: Callable[[Any], Any]) -> Any:
        """`apply(xp, t)` with every number of the formula (parameters, literals) passed through `constant` first.

        The adapters use it to make each number an array of their float dtype, so no Python int reaches the
        array library (past 2**31 jax overflows int32 inside jit without x64). It replays the formula's trace
        (recorded once per schedule); a formula that cannot be traced (host-only kinds) runs as `apply(xp, t)`.

        Args:
            xp: the namespace of math functions (see `apply`).
            t: the optimizer steps, of xp's kind, >= 0.
            constant: called on each number of the formula, returning what the formula computes with.

        Returns:
            The rate at each step, of xp's kind.

        Examples:
            >>> import numpy as np
            >>> from lrlab import cosine
            >>> from lrlab.schedules import NUMPY
            >>> cosine(0.1, decay_steps=100).apply_cast(NUMPY, np.array([50.0]), np.float64).tolist()
            [0.05]
        """
        from ._compile import Untraceable, replay, trace

        formula = self.__dict__.get("_formula", _UNTRACED)
        if formula is _UNTRACED:
            try:
                formula = None if self.host_only else trace(self.apply)[1]
            except (Untraceable, RecursionError):
                formula = None
            object.__setattr__(self, "_formula", formula)
        if formula is None:
            return self.apply(xp, t)
        return replay(formula, xp, t, constant)

    # `s(t)` finds __call__ on the class: this property hands back the instance's entry function itself, so
    # a lookup runs one Python function (the compiled formula behind a check of t) rather than two.
    __call__ = property(
        operator.attrgetter("_entry"),
        doc="s(t): the rate at step t; a float for an int, a float64 array for an array of steps.",
    )

    def _entry(self, t: Any) -> Any:
        """The first call: compile this schedule's scalar formula (see _compile), then use it."""
        self._compile_scalar()
        return self._entry(t)

    def _scalar(self, t: int) -> Any:
        """`apply(SCALAR, t)` for an int t >= 0 (compiled on first use)."""
        self._compile_scalar()
        return self._scalar(t)

    def _compile_scalar(self) -> None:
        """Set `_scalar` (the formula on an int) and `_entry` (what `s(t)` runs) on this instance."""
        from ._compile import scalar_functions

        compiled = scalar_functions(self.apply, self._call) if self.is_bound and not self.host_only else None
        if compiled is None:  # host-only kinds, lengths left out: the formula as written
            apply, slow = self.apply, self._call

            def formula(t: int) -> Any:
                return apply(SCALAR, t)

            def entry(t: Any) -> Any:
                if t.__class__ is int and t >= 0:
                    try:
                        value = apply(SCALAR, t)
                    except (OverflowError, TypeError):
                        pass  # overflow: numpy gives inf; TypeError: a length is unset, which _call explains
                    else:
                        if value < math.inf:
                            return value
                return slow(t)  # explains an infinite value

            compiled = formula, entry
        object.__setattr__(self, "_scalar", compiled[0])
        object.__setattr__(self, "_entry", compiled[1])

    def _call(self, t: Any) -> Any:
        """Everything but a plain non-negative int: checks the steps, then the scalar or the numpy path."""
        self._require_bound()
        if isinstance(t, (bool, np.bool_, str, bytes)):
            raise ValueError(f"step must be a number, got {t!r}")
        if isinstance(t, numbers.Real) and not isinstance(t, np.ndarray):
            try:
                step = float(t)
            except OverflowError:
                raise ValueError(f"step must be a finite number >= 0, got {t!r}") from None
            if not 0 <= step < math.inf:
                raise ValueError(f"step must be a finite number >= 0, got {t!r}")
            if step == int(step) and step < 2**53:
                try:
                    value = float(self._scalar(int(step)))
                except OverflowError:
                    pass
                else:
                    if not value < math.inf:
                        raise self._overflow(t, value)
                    return value
            return float(self._call_array(np.array([step]))[0])
        try:
            steps = np.asarray(t)
        except (TypeError, ValueError):
            steps = np.asarray(None)
        kind = steps.dtype.kind
        if kind not in "iuf":
            raise ValueError(f"step must be a number or an array of numbers, got {t!r}")
        if steps.size and not (steps.min() >= 0 and (kind != "f" or steps.max() < math.inf)):
            bad = steps[~((steps >= 0) & (steps < math.inf))][0]
            raise ValueError(f"steps must be finite numbers >= 0, got {bad!r}")
        return self._call_array(steps.astype(np.float64, copy=False))

    def _call_array(self, steps: np.ndarray) -> np.ndarray:
        # numpy evaluates both branches of every `where`: an overflow or 0/0 in the branch not taken is no error
        with np.errstate(all="ignore"):
            out = self.apply(NUMPY, steps)
        out = np.asarray(out, dtype=np.float64)
        # a rate that grows past float64 (exponential(0.1, 1, 10) at 400); rates are >= 0, so the maximum tells
        if out.size and not out.max() < math.inf:
            full = np.broadcast_to(out, steps.shape).ravel()
            bad = np.flatnonzero(~(full < math.inf))
            if bad.size:
                raise self._overflow(steps.ravel()[bad[0]], full[bad[0]])
        return out if out.shape == steps.shape else np.broadcast_to(out, steps.shape).copy()

    def events(self, steps: int) -> list[tuple[int, str]]:
        """Where this schedule changes regime over `steps` steps, from its parameters.

        Plots mark these on the curve. The pairs are (first step of the new regime, kind), kind one of
        "boundary", "restart" (the rate jumps back up), "cycle end" (a cyclic trough: it climbs back smoothly),
        "warmup end", "phase end". Unsorted and may reach outside [1, steps):
        `lrlab.viz.schedule_plots.schedule_events` sorts and keeps those inside. The base class has none.

        Args:
            steps: the span looked at, in optimizer steps.

        Returns:
            A list of (step, kind) pairs.

        Examples:
            >>> from lrlab import step_decay
            >>> step_decay(0.1, drop=0.5, step_size=30).events(100)
            [(30, 'boundary'), (60, 'boundary'), (90, 'boundary')]
        """
        return []

    def _overflow(self, step: Any, value: Any) -> ValueError:
        from .. import _check

        shown = int(step) if float(step) == int(step) else float(step)
        return ValueError(
            f"{_check.shown(self)} overflows at step {shown}: its value is {float(value)!r}, not a finite rate"
        )

    # -- lengths left out ---------------------------------------------------------------------
    def children(self) -> list[Schedule]:
        """The schedules this one is made of (empty for a leaf).

        Read from the parameters: a Schedule value, or the Schedules in a list (join's, product's). `is_bound`
        and `stretch` walk them.

        Examples:
            >>> from lrlab import constant, cosine, warmup
            >>> warmup(cosine(0.1, 100), 10).children(), constant(0.1).children()
            ([cosine(0.1, decay_steps=100)], [])
        """
        out: list[Schedule] = []
        for value in self.params().values():
            if isinstance(value, Schedule):
                out.append(value)
            elif isinstance(value, (list, tuple)):
                out.extend(v for v in value if isinstance(v, Schedule))
        return out

    @property
    def is_bound(self) -> bool:
        """False while some length (decay_steps, total_steps, ...) is left out, here or in a child."""
        own = self.length_param is None or getattr(self, self.length_param) is not None
        return own and all(c.is_bound for c in self.children())

    def _require_bound(self) -> None:
        if not self.is_bound:
            raise ValueError(
                f"{self!r} has no length: give {self._unbound_name()} or call .stretch(total_steps) first"
            )

    def _unbound_name(self) -> str:
        if self.length_param is not None and getattr(self, self.length_param) is None:
            return f"{self.kind}'s {self.length_param}"
        return next(c._unbound_name() for c in self.children() if not c.is_bound)

    def stretch(self, total_steps: int) -> Schedule:
        """Bind lengths left out (`cosine(0.1)`) so the schedule spans `total_steps`; set ones stay.

        A schedule written without its length (decay_steps, total_steps, ...) is unbound and cannot be called;
        the trainer binds it to the run's length. The base class fills the kind's own length parameter (if
        left out) with total_steps and stretches its children to the same total; composites that shift their
        children (warmup, join, per_epoch) give each child its own span.

        Args:
            total_steps: the training length, in optimizer steps (an integer >= 1).

        Returns:
            The bound schedule (this one when nothing was left out).

        Examples:
            >>> from lrlab import cosine, warmup
            >>> s = warmup(cosine(0.1), 10)
            >>> s.is_bound, s.stretch(110)
            (False, warmup(cosine(0.1, decay_steps=100), steps=10))
        """
        from .. import _check

        total = _check.steps(self.kind, "total_steps", total_steps)
        changes: dict[str, Any] = {}
        if self.length_param is not None and getattr(self, self.length_param) is None:
            changes[self.length_param] = total
        for name, value in self.params().items():
            if isinstance(value, Schedule):
                changes[name] = value.stretch(total)
            elif isinstance(value, (list, tuple)) and any(isinstance(v, Schedule) for v in value):
                changes[name] = [v.stretch(total) if isinstance(v, Schedule) else v for v in value]
        return self.replace(**changes) if changes else self

    # -- composition --------------------------------------------------------------------------
    def __mul__(self, factor: Any) -> Schedule:
        """`s * k` scales by a number; `s1 * s2` is the pointwise product of two schedules."""
        from .compose import product, scale

        if isinstance(factor, Schedule):
            return product([self, factor])
        return scale(self, factor)

    __rmul__ = __mul__

    def clip(self, low: float = 0.0, high: float | None = None) -> Schedule:
        """This schedule held within [low, high]: `min(max(s(t), low), high)` (see the `clip` kind).

        A floor under a decay, or a ceiling over a growth, without changing the shape in between.

        Args:
            low: the floor (>= 0).
            high: the ceiling (>= low), or None for none.

        Examples:
            >>> from lrlab import cosine
            >>> s = cosine(0.1, decay_steps=100).clip(0.01)
            >>> s, s(100)
            (clip(cosine(0.1, decay_steps=100), low=0.01), 0.01)
        """
        from .compose import clip

        return clip(self, low, high)

    # -- spec, config, identity ---------------------------------------------------------------
    def __repr__(self) -> str:
        parts = []
        for i, p in enumerate(self._fields):
            value = getattr(self, p.name)
            if i == 0:
                parts.append(format_value(value))
            elif p.default is inspect.Parameter.empty or not _same(value, p.default):
                parts.append(f"{p.name}={format_value(value)}")
        return f"{self.kind}({', '.join(parts)})"

    def to_config(self) -> dict[str, Any]:
        """A JSON-safe dict that `lrlab.from_config` reads back to an equal schedule.

        The form stored in run records and checkpoints: {"kind": ..., parameter: value, ...}, nested schedules
        as nested dicts. A `custom` schedule of an unregistered function raises ValueError.

        Examples:
            >>> from lrlab import from_config, step_decay
            >>> s = step_decay(0.1, drop=0.5, step_size=30)
            >>> s.to_config()
            {'kind': 'step_decay', 'initial_lr': 0.1, 'drop': 0.5, 'step_size': 30}
            >>> from_config(s.to_config()) == s
            True
        """
        return {"kind": self.kind, **{k: _to_config_value(v) for k, v in self.params().items()}}

    def _key(self) -> tuple[Any, ...]:
        return (self.kind, *(_freeze(v) for v in self.params().values()))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Schedule) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (self.kind, self.params()))


def _rebuild(kind: str, params: dict[str, Any]) -> Schedule:
    return KINDS[kind](**params)


def _same(a: Any, b: Any) -> bool:
    return (type(a) is type(b) and a == b) or (isinstance(a, float) and isinstance(b, int) and a == b)


def _freeze(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(v) for v in value)
    return value


def format_value(value: Any) -> str:
    """A parameter value as the spec grammar writes it.

    Used by `repr(schedule)` so that `lrlab.parse` reads the spec back: strings in double quotes, infinite floats
    as quoted strings, lists in brackets, schedules as their own spec.

    Args:
        value: a parameter value (number, bool, None, string, list, Schedule).

    Returns:
        Its spec text.

    Examples:
        >>> from lrlab.schedules.base import format_value
        >>> format_value(0.1), format_value("cosine"), format_value([1, 2.5]), format_value(float("inf"))
        ('0.1', '"cosine"', '[1, 2.5]', '"inf"')
    """
    if isinstance(value, Schedule):
        return repr(value)
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else f'"{value}"'
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(format_value(v) for v in value) + "]"
    return repr(value)


def _to_config_value(value: Any) -> Any:
    if isinstance(value, Schedule):
        return value.to_config()
    if isinstance(value, (list, tuple)):
        return [_to_config_value(v) for v in value]
    return value


def from_config(config: dict[str, Any] | str) -> Schedule:
    """The schedule a `to_config()` dict (or its JSON text) describes.

    Reads back the form stored in run records and checkpoints; every parameter is validated again. A bad config
    (not JSON, no or unknown "kind", unknown parameter, nested too deep) raises a one-line ValueError.

    Args:
        config: a dict from `Schedule.to_config()`, or its JSON text.

    Returns:
        The schedule.

    Examples:
        >>> from lrlab import from_config
        >>> from_config('{"kind": "constant", "lr": 0.1}')
        constant(0.1)
    """
    try:
        return _from_config(config)
    except RecursionError:
        raise ValueError("schedule config is nested too deep") from None


def _from_config(config: dict[str, Any] | str) -> Schedule:
    from .. import _check

    if isinstance(config, str):
        try:  # an int past Python's digit limit becomes a float (inf), which the parameter's check refuses
            config = json.loads(config, parse_int=_json_int)
        except json.JSONDecodeError as exc:
            raise ValueError(f"schedule config is not valid JSON: {exc}") from None
    if not isinstance(config, dict) or "kind" not in config:
        raise ValueError(f"a schedule config is a dict with a 'kind' key, got {_check.shown(config)}")
    kind = config["kind"]
    if not isinstance(kind, str) or kind not in KINDS:
        raise _check.fail("schedule config", "kind", f"a schedule kind ({', '.join(sorted(KINDS))})", kind)
    cls = KINDS[kind]
    names = {p.name for p in cls._fields}
    params = {k: v for k, v in config.items() if k != "kind"}
    unknown = [k for k in params if not isinstance(k, str) or k not in names]
    if unknown:
        raise ValueError(f"{kind}: unknown parameter {_check.shown(unknown[0])} in config")
    return build(kind, [], {k: _from_config_value(v) for k, v in params.items()})


def _json_int(text: str) -> int | float:
    try:
        return int(text)
    except ValueError:  # more digits than sys.get_int_max_str_digits()
        return float(text)


def _from_config_value(value: Any) -> Any:
    if isinstance(value, dict):
        return _from_config(value)
    if isinstance(value, list):
        return [_from_config_value(v) for v in value]
    return value


def build(kind: str, args: list[Any], kwargs: dict[str, Any]) -> Schedule:
    """Construct a kind from arguments, turning a mismatch with its signature into a ValueError.

    The one constructor `parse` and `from_config` call, so a wrong argument in a spec or a config reads as a
    one-line error naming the kind's parameters, not a TypeError traceback.

    Args:
        kind: the kind's spec name, a key of KINDS.
        args: the positional arguments.
        kwargs: the keyword arguments.

    Returns:
        The schedule.

    Raises:
        ValueError: an unknown kind, arguments that do not fit its signature, or a bad parameter value.

    Examples:
        >>> from lrlab.schedules.base import build
        >>> build("cosine", [0.1], {"decay_steps": 100})
        cosine(0.1, decay_steps=100)
        >>> build("cosine", [0.1], {"steps": 100})
        Traceback (most recent call last):
        ...
        ValueError: cosine(initial_lr, decay_steps, ...): got an unexpected keyword argument 'steps'
    """
    if kind not in KINDS:
        raise ValueError(f"unknown schedule kind {kind!r}; known: {', '.join(sorted(KINDS))}")
    cls = KINDS[kind]
    try:
        inspect.signature(cls).bind(*args, **kwargs)
    except TypeError as exc:
        names = ", ".join(p.name for p in cls._fields)
        raise ValueError(f"{kind}({names}): {exc}") from None
    return cls(*args, **kwargs)
