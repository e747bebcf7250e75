"""Engine "auto": whether runs that can stack train faster as one stack or one after another, measured, not guessed.

Stacking is not always the faster way (bench/stacked.py on a CPU: a 1-D CNN 0.9-1.4x of sequential, tinylm 0.8x),
so for a key it has not seen (the task's identity, optimizer, batch size, dtype, the stack size rounded up to a
power of two, the device and torch's version) auto times a few optimizer steps of each engine side by side on
throwaway copies (`measure`: the K members as one stack, and one member in the sequential trainer's loop, times K;
no history kept, no run stored) and picks the faster. The choice is kept in the run store when the study has one
(`Store.note`: a row beside the schema marker, in SQLite and PostgreSQL alike), so later studies and other machines
with the same device reuse it without timing again, and in this process in any case. It is said in one line on
stderr, once per key and process.

The reasons a model cannot stack at all (`stacked.why_sequential` with engine "stacked") come first and are
unchanged; engines "stacked" and "sequential" never time.
"""

from __future__ import annotations

import json
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

WARM_STEPS = 2
"""Steps of each engine before the clock starts (first-call costs: allocation, kernels, autograd's graph)."""

MIN_STEPS, MAX_STEPS = 3, 50
"""Timed steps of each engine: at least, and at most."""

MIN_SECONDS = 0.1
"""Each engine is timed for about this long (within MIN_STEPS..MAX_STEPS steps)."""

NOTE = "engine auto "
"""The prefix of the store's rows (`Store.note`) that keep a timing: NOTE + the key's JSON."""

Measure = Callable[[Sequence[Any], str], tuple[float, float]]


@dataclass(frozen=True)
class Timing:
    """One side-by-side measurement: seconds per step of the k runs as one stack (`stacked_s`) and of one run in
    the sequential trainer (`sequential_s`: one after another, k runs cost k times that).

    Examples:
        >>> from lrlab.lab.engines.auto import Timing
        >>> Timing(stacked_s=0.004, sequential_s=0.003, k=4).choice  # 4 ms against 4 x 3 ms
        'stacked'
        >>> Timing(stacked_s=0.004, sequential_s=0.003, k=1).choice
        'sequential'
    """

    stacked_s: float
    sequential_s: float
    k: int

    @property
    def choice(self) -> str:
        """"sequential" when k sequential steps take less time than one stacked step, else "stacked"."""
        return "sequential" if self.k * self.sequential_s < self.stacked_s else "stacked"

    def line(self, task: str, device: str, before: bool) -> str:
        """The one line on stderr that says the choice and why."""
        return (f"lrlab: {task} x{self.k} on {device}: stacked {self.stacked_s * 1e3:.3g} ms/step vs sequential "
                f"{self.k * self.sequential_s * 1e3:.3g} ms/step for {self.k} runs: {self.choice} (engine auto, "
                + ("measured before)" if before else "measured now)"))


_KNOWN: dict[str, Timing] = {}  # this process's timings, by key
_SAID: set[str] = set()  # the keys whose line this process printed


def bucket(k: int) -> int:
    """The stack size a timing stands for: k rounded up to a power of two (3 -> 4, 8 -> 8, 9 -> 16)."""
    return 1 << max(0, int(k) - 1).bit_length()


def device_label(device: str) -> str:
    """The device as timings tell it apart: the GPU's name, or the CPU with torch's thread count."""
    import torch

    from .train import resolve_device

    device = resolve_device(device)
    if device == "cuda":
        return f"cuda ({torch.cuda.get_device_name()})"
    threads = torch.get_num_threads()
    return f"cpu ({threads} thread{'s' if threads != 1 else ''})"


def key(plans: Sequence[Any], device: str) -> str:
    """What a timing is kept under: the task and its identity, optimizer, batch size, dtype, the stack size's
    `bucket`, the device (`device_label`) and torch's version (JSON, sorted keys)."""
    import torch

    c = plans[0].config
    return json.dumps({"task": c["task"], "identity": c.get("task_identity"), "optimizer": c["optimizer"],
                       "batch_size": c["batch_size"], "dtype": c["dtype"], "k": bucket(len(plans)),
                       "device": device_label(device), "torch": torch.__version__}, sort_keys=True)


def measure(plans: Sequence[Any], device: str) -> tuple[float, float]:
    """Seconds per step of `plans` trained as one stack, and of the first plan in the sequential trainer's loop:
    WARM_STEPS, then about MIN_SECONDS of steps each, on copies built for this (the global RNG is left as it was;
    nothing recorded is kept)."""
    import torch

    from .train import deterministic, resolve_device

    device = resolve_device(device)
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    gpus = [torch.cuda.current_device()] if device == "cuda" else []
    with deterministic(), torch.random.fork_rng(devices=gpus), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch's "performance drop" of a vmap without a batching rule: timed here
        return _time(_stacked_steps(plans, device), sync), _time(_sequential_steps(plans[0], device), sync)


def _stacked_steps(plans: Sequence[Any], device: str) -> Callable[[int], None]:
    """steps(count): `count` updates of the plans' stack (`_Stack.step`, every member active, on random batches of
    the batch size: the engine slices each member's shuffle, same shapes)."""
    import torch

    from .stacked import _Stack

    stack = _Stack(plans, device)
    k, n, bs = len(plans), stack.n("train"), plans[0].options.batch_size
    lr = torch.tensor([float(p.schedule(0)) for p in plans], dtype=stack.dtype, device=device)
    active = torch.ones(k, dtype=torch.bool, device=device)
    gen = torch.Generator().manual_seed(0)
    batches = [None if bs is None else torch.stack([torch.randperm(n, generator=gen)[:bs] for _ in range(k)])
               .to(device) for _ in range(4)]

    def steps(count: int) -> None:
        for i in range(count):
            stack.step(batches[i % len(batches)], lr, active)

    return steps


def _sequential_steps(p: Any, device: str) -> Callable[[int], None]:
    """steps(count): `count` updates of the sequential trainer's loop on `p` (`train._train_epoch`, without its
    evaluations; the losses and rates it records are dropped)."""
    from .train import _setup, _train_epoch

    loop = _setup(p, device)
    spe = p.config["steps_per_epoch"]

    def steps(count: int) -> None:
        target = loop.step + count
        while loop.step < target:
            _train_epoch(loop, None, target, lambda: None)
            if loop.pos >= spe:
                loop.pos, loop.perm = 0, None
        loop.step_loss.clear()
        loop.step_lr.clear()
        loop.epoch_first = 0

    return steps


def _time(steps: Callable[[int], Any], sync: Callable[[], Any]) -> float:
    """Seconds per step of steps(count) (which makes `count` steps): WARM_STEPS untimed, MIN_STEPS timed for an
    estimate, then as many as fill MIN_SECONDS (at most MAX_STEPS) timed again."""
    steps(WARM_STEPS)
    sync()
    began = time.perf_counter()
    steps(MIN_STEPS)
    sync()
    guess = max((time.perf_counter() - began) / MIN_STEPS, 1e-9)
    count = int(min(MAX_STEPS, max(MIN_STEPS, MIN_SECONDS / guess)))
    began = time.perf_counter()
    steps(count)
    sync()
    return (time.perf_counter() - began) / count


def _stored(name: str, store: Any) -> Timing | None:
    """The timing the store keeps under `name` (None: none, or a row this lrlab cannot read)."""
    text = store.note(NOTE + name) if store is not None else None
    if text is None:
        return None
    try:
        found = json.loads(text)
        return Timing(float(found["stacked_s"]), float(found["sequential_s"]), int(found["k"]))
    except (ValueError, TypeError, KeyError, AttributeError):
        return None  # timed again, and overwritten


def pick(plans: Sequence[Any], device: str, *, store: Any = None, timer: Measure | None = None) -> str:
    """"stacked" or "sequential": which engine trains these plans (runs that can stack, of one `stack_key`) faster,
    timed for a new `key` (`measure`, or `timer`: plans, device -> seconds per step stacked, sequential) and
    remembered in the store (a Store, or None) and this process; one line on stderr the first time a process meets
    the key."""
    name = key(plans, device)
    stored = _stored(name, store)
    known = stored or _KNOWN.get(name)
    fresh = known is None
    if known is None:
        stacked_s, sequential_s = (timer or measure)(plans, device)
        known = Timing(float(stacked_s), float(sequential_s), len(plans))
    _KNOWN[name] = known
    if store is not None and stored is None and not store.readonly:
        store.note(NOTE + name, json.dumps({**asdict(known), "choice": known.choice}))
    if name not in _SAID:
        _SAID.add(name)
        print(known.line(plans[0].config["task"], json.loads(name)["device"], not fresh), file=sys.stderr,
              flush=True)
    return known.choice


def choose(plans: Sequence[Any], device: str, *, engine: str = "auto", store: Any = None,
           timer: Measure | None = None) -> str:
    """"stacked" or "sequential": how `engine` trains these plans (all of one `stack_key`) together.

    "sequential" for engine "sequential", or when they cannot stack (`stacked.why_sequential`); "stacked" for
    engine "stacked" and for a single plan that can; else (engine "auto") the faster, timed once per key (`pick`).
    The one call a study that trains its own stacks makes (tune's batches, cooldowns' trunks).
    """
    from .stacked import why_sequential

    if engine == "sequential" or not plans or why_sequential(plans[0], "stacked", device) is not None:
        return "sequential"
    if engine == "stacked" or len(plans) == 1:
        return "stacked"
    return pick(plans, device, store=store, timer=timer)
