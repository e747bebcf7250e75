"""JAX / optax adapter: an lrlab schedule as an optax schedule, `count -> jnp scalar`.

`schedule(s)` evaluates the schedule's own formula with jax.numpy, so it traces under `jax.jit` and plugs
into any optax optimizer: `optax.sgd(lrlab.jax.schedule(s))`. With x64 enabled the values equal `s(t)`;
without it they are float32 and close. Staircases, restarts, cycles and epochs turn at exactly the step
`s(t)` does in both (float32: for steps below 2**24), although XLA computes `t / n` as `t * (1 / n)`: the
formulas floor quotients with the namespace's exact `floordiv`. Every parameter reaches jax.numpy as an
array of the float dtype, so lengths of 2**31 and more work without x64 too.
Host-only kinds (random_uniform, custom) run on the host through
`jax.pure_callback`, so they also work under `jit` (not under `grad` of the rate, which nobody needs).

Reduce-on-plateau for optax users: chain `optax.contrib.reduce_on_plateau` after the optimizer and pass the
monitored value to `update(..., value=loss)`; see `plateau_chain` and the README.

Importing this module imports jax; `import lrlab` alone never does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .rangetest import BETA, DIVERGE
from .schedules import Namespace, as_schedule

__all__ = ["NAMESPACE", "experiment", "find_lr", "plateau_chain", "schedule", "with_momentum"]

NAMESPACE = Namespace(
    name="jax",
    cos=jnp.cos,
    exp=jnp.exp,
    log=jnp.log,
    sqrt=jnp.sqrt,
    floor=jnp.floor,
    ceil=jnp.ceil,
    minimum=jnp.minimum,
    maximum=jnp.maximum,
    where=jnp.where,
)
"""The formula operations on jax.numpy (floordiv and ceildiv: the exact ones built from floor and where)."""


def _float_dtype() -> Any:
    """float64 when x64 is enabled, else float32 (read at call time, so enabling x64 later works)."""
    return jnp.asarray(0.0).dtype


def schedule(s: Any) -> Callable[[Any], jax.Array]:
    """An optax schedule (`count -> jnp scalar`) for an lrlab schedule, spec string or config dict.

    `count` may be a Python int or an integer array of any shape (the result has its shape).

    optax calls it with the optimizer's step count, so update t + 1 runs at `s(t)` (t in optimizer steps; wrap
    the schedule in `per_epoch` to count epochs). It traces under `jax.jit` and `vmap`; host-only kinds run
    through `jax.pure_callback`. The function carries the schedule as `fn.schedule`.

    Args:
        s: an lrlab Schedule, a spec string ("cosine(0.1, decay_steps=1000)") or a config dict.

    Returns:
        `fn(count) -> jax.Array`, in float64 with x64 enabled, else float32.

    Raises:
        ValueError: a bad schedule.

    Reference:
        With x64 the values equal the lrlab schedule's for every kind, and close in float32
        (tests/test_jax_adapter.py, test_values_equal_schedule_with_x64, test_values_close_without_x64); every
        kind turns at the same steps under jit (tests/test_jax_exact.py); optax.sgd uses the rate of each step
        (test_optax_sgd_uses_the_rate_of_each_step).

    Examples:
        >>> import jax, jax.numpy as jnp, optax
        >>> from lrlab.jax import schedule
        >>> fn = schedule("linear(0.1, 0.0, steps=4)")
        >>> [round(float(v), 6) for v in fn(jnp.arange(5))]
        [0.1, 0.075, 0.05, 0.025, 0.0]
        >>> round(float(jax.jit(fn)(3)), 6)
        0.025
        >>> opt = optax.sgd(fn)                     # a one-parameter SGD, two updates
        >>> params = jnp.zeros(1)
        >>> state = opt.init(params)
        >>> for _ in range(2):
        ...     updates, state = opt.update(jnp.ones(1), state, params)
        ...     params = optax.apply_updates(params, updates)
        >>> round(float(params[0]), 6)              # -(0.1 + 0.075)
        -0.175
    """
    sched = as_schedule(s, who="lrlab.jax.schedule")

    if sched.host_only:

        def host_fn(count: Any) -> jax.Array:
            count = jnp.asarray(count)
            dtype = _float_dtype()

            def on_host(c: np.ndarray) -> np.ndarray:
                c = np.asarray(c)
                value = sched(int(c)) if c.ndim == 0 else sched(c.astype(np.int64))
                return np.asarray(value, dtype=dtype)

            shape = jax.ShapeDtypeStruct(count.shape, dtype)
            return jax.pure_callback(on_host, shape, count, vmap_method="expand_dims")

        host_fn.schedule = sched  # type: ignore[attr-defined]
        return host_fn

    def fn(count: Any) -> jax.Array:
        dtype = _float_dtype()
        t = jnp.asarray(count).astype(dtype)

        def constant(value: Any) -> Any:
            # a Python int past int32 inside jit would overflow without x64: every number becomes the float dtype
            return value if isinstance(value, bool) else jnp.asarray(float(value), dtype=dtype)

        return jnp.asarray(sched.apply_cast(NAMESPACE, t, constant), dtype=dtype)

    fn.schedule = sched  # type: ignore[attr-defined]
    return fn


def plateau_chain(optimizer: Any, **reduce_on_plateau: Any) -> Any:
    """`optax.chain(optimizer, optax.contrib.reduce_on_plateau(**kwargs))`: the optimizer's updates, scaled.

    Pass the monitored value on each update: `opt.update(grads, state, params, value=val_loss)`. optax's
    rules: it reduces on the patience-th call without a relative improvement of `rtol` (plus `atol`), in
    "min" mode only, and `min_scale` bounds the multiplier (not the rate). With `accumulation_size=1` and
    `atol=0` that equals `lrlab.Plateau(convention="torch", patience=patience - 1, threshold=rtol,
    cooldown=cooldown)`, cooldown included (optax, like torch, zeroes the bad-call count during a cooldown).

    The plateau here is optax's own (its state is the chain's second element, `state[1].scale`); lrlab only
    writes the chain, and optax checks the settings. Counted in calls that pass `value` (one per epoch if
    you pass the epoch's validation loss).

    Args:
        optimizer: an optax GradientTransformation (e.g. `optax.sgd(0.1)` or one with an lrlab schedule).
        **reduce_on_plateau: the keyword arguments of `optax.contrib.reduce_on_plateau` (factor, patience,
            rtol, atol, cooldown, accumulation_size, min_scale).

    Returns:
        The chained optax GradientTransformation (its update takes `value=`).

    Reference:
        The scale equals lrlab.Plateau(convention="torch", patience=patience - 1) call by call on many metric
        walks, with and without cooldown (tests/test_jax_adapter.py,
        test_optax_reduce_on_plateau_is_torch_rules_with_patience_minus_one).

    Examples:
        >>> import jax.numpy as jnp, optax
        >>> from lrlab.jax import plateau_chain
        >>> opt = plateau_chain(optax.sgd(0.1), factor=0.5, patience=1)
        >>> params = jnp.zeros(1)
        >>> state = opt.init(params)
        >>> for loss in (1.0, 1.0, 1.0):             # no improvement after the first
        ...     updates, state = opt.update(jnp.ones(1), state, params, value=loss)
        >>> float(state[1].scale), round(float(updates[0]), 6)
        (0.25, -0.025)
    """
    import optax
    from optax.contrib import reduce_on_plateau as _reduce_on_plateau

    return optax.chain(optimizer, _reduce_on_plateau(**reduce_on_plateau))


def with_momentum(optimizer: Callable[..., Any], learning_rate: Any, momentum: Any, /, **kwargs: Any) -> Any:
    """`optimizer` (an optax factory: optax.sgd, optax.adam, ...) with its rate and its momentum driven by lrlab
    schedules, through `optax.inject_hyperparams`: the momentum schedule goes to `b1` where the factory has one
    (adam, adamw, nadam, lion, ...), else to `momentum` (sgd, rmsprop). Update number t + 1 uses `momentum(t)` and
    `learning_rate(t)`; `state.hyperparams` holds the values the last update used.

        opt = lrlab.jax.with_momentum(optax.sgd, "one_cycle(0.1, total_steps=1000)", "linear(0.95, 0.85, 300)")

    `learning_rate` may also be a plain number; other keyword arguments go to the factory.

    Args:
        optimizer: an optax factory taking `learning_rate` and `b1` or `momentum` (optax.sgd, optax.adam, ...).
        learning_rate: the rate schedule (an lrlab Schedule, a spec string or a config dict) or a number.
        momentum: the momentum (or b1) schedule, in optimizer steps.
        **kwargs: other arguments of the factory (not `learning_rate`, `b1` or `momentum`).

    Returns:
        The optax GradientTransformation from `optax.inject_hyperparams(optimizer)`.

    Raises:
        ValueError: not a factory with learning_rate and b1/momentum, the rate or momentum passed as a keyword,
            or a bad schedule.

    Reference:
        Values and updates checked by hand for sgd and adam (tests/test_jax_adapter.py,
        test_with_momentum_values_and_updates_by_hand).

    Examples:
        >>> import jax.numpy as jnp, optax
        >>> from lrlab.jax import with_momentum
        >>> opt = with_momentum(optax.sgd, "linear(0.1, 0.0, steps=4)", "linear(0.85, 0.95, steps=4)")
        >>> params = jnp.zeros(1)
        >>> state = opt.init(params)
        >>> for _ in range(2):
        ...     updates, state = opt.update(jnp.ones(1), state, params)
        ...     params = optax.apply_updates(params, updates)
        >>> {name: round(float(v), 6) for name, v in state.hyperparams.items()}   # what update 2 used: t = 1
        {'learning_rate': 0.075, 'momentum': 0.875}
    """
    import inspect

    import optax

    try:
        params = inspect.signature(optimizer).parameters
    except (TypeError, ValueError):
        raise ValueError(f"lrlab.jax.with_momentum: optimizer must be an optax factory such as optax.sgd, "
                         f"got {optimizer!r}") from None
    name = "b1" if "b1" in params else "momentum" if "momentum" in params else None
    if name is None or "learning_rate" not in params:
        raise ValueError(
            f"lrlab.jax.with_momentum: optimizer {getattr(optimizer, '__name__', optimizer)!r} takes no learning_rate "
            "and b1 or momentum; use an optax factory such as optax.sgd or optax.adam"
        )
    if name in kwargs or "learning_rate" in kwargs:
        raise ValueError(f"lrlab.jax.with_momentum: pass the rate and the momentum as arguments, not as {name}=")
    if isinstance(learning_rate, (int, float)) and not isinstance(learning_rate, bool):
        rate: Any = float(learning_rate)
    else:
        rate = schedule(learning_rate)
    return optax.inject_hyperparams(optimizer)(learning_rate=rate, **{name: schedule(momentum)}, **kwargs)


def find_lr(
    params: Any,
    loss_fn: Callable[[Any, Any], Any],
    batches: Any,
    optimizer: Callable[[Any], Any] | None = None,
    *,
    start_lr: float = 1e-7,
    end_lr: float = 10.0,
    steps: int = 100,
    mode: str = "exp",
    beta: float = BETA,
    diverge: float | None = DIVERGE,
    seed: int | None = None,
) -> Any:
    """The learning-rate range test on a JAX model: an `lrlab.rangetest.RangeTest` (rates, losses, smoothed losses,
    every rule's suggestion, `plot()`, `to_frame()`), the same test as `lrlab.torch.find_lr` and `lrlab.keras.find_lr`.

    Update t + 1 is one jitted step of `optimizer(rate)` (an optax factory; default SGD with momentum 0.9) whose rate
    is `lrlab.rangetest.sweep(start_lr, end_lr, steps, mode)`, through `schedule` (so at update t + 1 the rate is
    sweep(t), in float32 unless x64 is on), on `loss_fn(params, batch)` for the next batch of `batches` (a sequence
    is started again when it ends; an iterator ends the test when it does). The loss is smoothed (bias-corrected,
    beta) and the test stops after the update whose smoothed loss exceeds `diverge` times its best or is not finite.
    Nothing is restored because nothing is changed: JAX arrays are immutable, so `params` are the caller's as they
    were (the trained parameters are dropped).

    Args:
        params: the model's parameters (any pytree).
        loss_fn: loss_fn(params, batch) -> a scalar loss (jitted here with the update).
        batches: the training batches: a sequence (cycled) or an iterable.
        optimizer: rate -> an optax GradientTransformation (default: `optax.sgd(rate, momentum=0.9)`).
        start_lr: the rate of the first update (> 0).
        end_lr: the rate of the last planned update (> start_lr).
        steps: the number of updates planned, an integer >= 2.
        mode: "exp" or "linear" rise.
        beta: the smoothing of the loss, in [0, 1).
        diverge: stop after the smoothed loss exceeds this many times its best (> 1), or None.
        seed: stored in the result (the JAX key is the caller's business).

    Returns:
        An `lrlab.rangetest.RangeTest`.

    Raises:
        ValueError: a bad setting, or no batches.

    Examples:
        >>> import jax.numpy as jnp
        >>> import lrlab.jax
        >>> x = jnp.linspace(-1, 1, 32).reshape(-1, 1)
        >>> loss = lambda w, batch: jnp.mean((batch[0] * w - batch[1]) ** 2)
        >>> rt = lrlab.jax.find_lr(jnp.zeros(()), loss, [(x, 3 * x)], start_lr=1e-3, end_lr=100.0, steps=50)
        >>> rt.stopped, len(rt.lrs) < 50
        ('diverged', True)
    """
    import itertools

    import optax

    from .rangetest import RangeTest, Settings, Tracker

    settings = Settings(start_lr, end_lr, steps, mode, beta, diverge)
    if optimizer is None:
        optimizer = lambda rate: optax.sgd(rate, momentum=0.9)  # noqa: E731
    if not callable(optimizer) or not callable(loss_fn):
        bad = ("optimizer", optimizer) if not callable(optimizer) else ("loss_fn", loss_fn)
        raise ValueError(f"lrlab.jax.find_lr: {bad[0]} must be a function, got {bad[1]!r}")
    tx = optimizer(schedule(settings.schedule))
    if isinstance(batches, (list, tuple)):
        if not batches:
            raise ValueError("lrlab.jax.find_lr: batches holds no batch; the range test needs training data")
        source: Any = itertools.cycle(batches)
    else:
        source = iter(batches)

    @jax.jit
    def update(p: Any, state: Any, batch: Any) -> tuple[Any, Any, Any]:
        loss, grads = jax.value_and_grad(loss_fn)(p, batch)
        updates, state = tx.update(grads, state, p)
        return optax.apply_updates(p, updates), state, loss

    p, state = params, tx.init(params)
    tracker = Tracker(settings.beta, settings.diverge)
    lrs: list[float] = []
    rates = settings.schedule
    for t, batch in zip(range(settings.steps), source):
        p, state, loss = update(p, state, batch)
        lrs.append(float(rates(t)))
        if tracker.add(float(loss)):
            break
    if not lrs:
        raise ValueError("lrlab.jax.find_lr: batches holds no batch; the range test needs training data")
    return RangeTest.from_tracker(lrs, tracker, settings, seed=seed)


def experiment(
    init: Callable[[Any], Any],
    loss_fn: Callable[[Any, Any], Any],
    batches: Any,
    *,
    epochs: int,
    metric: str | None,
    evaluate: Callable[[Any], dict[str, Any]] | None = None,
    optimizer: Callable[[Any], Any] | None = None,
    steps_per_epoch: int | None = None,
    mode: str | None = None,
    version: str | int = "1",
    name: str | None = None,
) -> Callable[[Any], Any]:
    """An optax training loop as a target of the lab's studies, in one line: the loop every optax user writes.

    Every run draws the parameters from `init(jax.random.key(run.seed))`, builds `optimizer(rate)` with the run's
    schedule as its rate (`schedule(run.schedule)`; with a plateau entry the rate is optax's injected
    hyperparameter, set before each update to `run.lr()`, the plateau's reduction included), and for each epoch
    runs one jitted update per batch (`loss_fn(params, batch)`, logged with `run.log_step`) and reports
    `evaluate(params)` (`run.report`: a pruned or diverged run stops there).

    Args:
        init: key -> the initial parameters (a pytree).
        loss_fn: loss_fn(params, batch) -> a scalar training loss.
        batches: a sequence of batches (the same, in order, every epoch), or a function (seed, epoch) -> the
            epoch's batches (shuffle there, with a generator of the seed and the epoch).
        epochs: the epochs of a run (a study may ask another budget).
        metric: the figure of `evaluate` ranked, e.g. "val_accuracy" (None: the final training loss).
        evaluate: params -> {"val_accuracy": ..., "val_loss": ...}, once per epoch (None: the epoch's mean loss).
        optimizer: rate -> an optax GradientTransformation (default: `optax.sgd(rate, momentum=0.9)`).
        steps_per_epoch: updates per epoch (default: len(batches) for a sequence; needed for a function).
        mode: "max" or "min" (default: from the metric's name).
        version: bump it when the model or data change (runs of another version are not reused).
        name: how runs are stored (default: loss_fn's name).

    Returns:
        The training function, fn(run), carrying its declaration (`fn.__lrlab_experiment__`).

    Raises:
        ValueError: a bad setting, or a batches function without steps_per_epoch.

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> import lrlab.jax
        >>> x = jnp.linspace(-1, 1, 32).reshape(-1, 1)
        >>> def mse(w, batch):
        ...     return jnp.mean((batch[0] * w - batch[1]) ** 2)
        >>> fn = lrlab.jax.experiment(lambda key: jnp.zeros(()), mse, [(x[:16], 3 * x[:16]), (x[16:], 3 * x[16:])],
        ...                           epochs=3, metric=None)
        >>> fn.__lrlab_experiment__["steps_per_epoch"], fn.__lrlab_experiment__["name"]
        (2, 'mse')
    """
    import optax

    from . import _check

    who = "lrlab.jax.experiment"
    for arg, value in (("init", init), ("loss_fn", loss_fn)):
        if not callable(value):
            raise _check.fail(who, arg, "a function", value)
    _check.whole(who, "epochs", epochs, 1)
    _check.whole(who, "steps_per_epoch", steps_per_epoch, 1, optional=True)
    if evaluate is not None and not callable(evaluate):
        raise _check.fail(who, "evaluate", "a function params -> dict of metrics", evaluate)
    if callable(batches):
        if steps_per_epoch is None:
            raise ValueError(f"{who}: steps_per_epoch is needed when batches is a function, got {batches!r}")
        spe = steps_per_epoch
    else:
        try:
            spe = steps_per_epoch if steps_per_epoch is not None else len(batches)
        except TypeError:
            raise _check.fail(who, "batches", "a sequence of batches or a function (seed, epoch) -> batches",
                              batches) from None
    make = optimizer if optimizer is not None else (lambda rate: optax.sgd(rate, momentum=0.9))

    def train(run: Any) -> None:
        if run.plateau is None:
            tx = make(schedule(run.schedule))
        else:  # the rate is state: set before every update to run.lr(), the plateau's reduction included
            tx = optax.inject_hyperparams(lambda learning_rate: make(learning_rate))(learning_rate=0.0)
        params = init(jax.random.key(run.seed))
        state = tx.init(params)

        @jax.jit
        def update(p: Any, s: Any, batch: Any) -> tuple[Any, Any, Any]:
            loss, grads = jax.value_and_grad(loss_fn)(p, batch)
            updates, s = tx.update(grads, s, p)
            return optax.apply_updates(p, updates), s, loss

        budget = run.steps if run.config.get("steps") is not None else None  # a study's budget in steps
        for epoch in range(1, run.epochs + 1):
            for batch in batches(run.seed, epoch) if callable(batches) else batches:
                if budget is not None and len(run.step_loss) >= budget:
                    break
                if run.plateau is not None:
                    state.hyperparams["learning_rate"] = jnp.asarray(run.lr(), dtype=_float_dtype())
                params, state, loss = update(params, state, batch)
                run.log_step(loss)
            figures = {} if evaluate is None else {k: float(v) for k, v in evaluate(params).items()}
            run.report(epoch, **figures)  # raises to stop the loop when the study prunes the run

    train.__lrlab_experiment__ = {  # type: ignore[attr-defined]
        "epochs": epochs, "steps_per_epoch": spe, "metric": metric, "mode": mode, "version": version,
        "name": name if name is not None else getattr(loss_fn, "__name__", None),
        "module": getattr(loss_fn, "__module__", None)}
    return train
