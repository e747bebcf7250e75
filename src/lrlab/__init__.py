"""lrlab: define a learning-rate schedule once, see it, use it in PyTorch, Keras and JAX, and compare
schedules on real tasks.

`import lrlab` needs only numpy; the framework adapters (`lrlab.torch`, `lrlab.keras`, `lrlab.jax`)
import their framework when they are imported themselves.
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
