"""lrlab: define a learning-rate schedule once, see it, use it in PyTorch, Keras and JAX, and compare
schedules on real tasks.

`import lrlab` needs only numpy; the framework adapters (`lrlab.torch`, `lrlab.keras`, `lrlab.jax`)
import their framework when they are first used (`import lrlab.torch`, or plain `lrlab.torch` after `import lrlab`).
"""

from .plateau import Plateau
from .schedules import (
    KINDS,
    Schedule,
    clip,
    constant,
    cosine,
    cosine_restarts,
    custom,
    cyclic,
    cyclic_momentum,
    exponential,
    from_config,
    inverse_sqrt,
    inverse_time,
    join,
    linear,
    multistep,
    noise,
    one_cycle,
    one_cycle_momentum,
    parse,
    per_epoch,
    piecewise,
    polynomial,
    product,
    random_uniform,
    register_function,
    scale,
    step_decay,
    tanh_decay,
    warmup,
    wsd,
)

__version__ = "0.1.0"

__all__ = [
    "KINDS",
    "Plateau",
    "Schedule",
    "clip",
    "constant",
    "cosine",
    "cosine_restarts",
    "custom",
    "cyclic",
    "cyclic_momentum",
    "exponential",
    "from_config",
    "inverse_sqrt",
    "inverse_time",
    "join",
    "linear",
    "multistep",
    "noise",
    "one_cycle",
    "one_cycle_momentum",
    "parse",
    "per_epoch",
    "piecewise",
    "polynomial",
    "product",
    "random_uniform",
    "register_function",
    "scale",
    "step_decay",
    "tanh_decay",
    "warmup",
    "wsd",
]


_ADAPTERS = ("torch", "keras", "jax")


def __getattr__(name: str) -> object:
    """`lrlab.torch`, `lrlab.keras`, `lrlab.jax` after a plain `import lrlab`: imported on first use (PEP 562)."""
    if name in _ADAPTERS:
        import importlib

        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
