"""Learning-rate schedules: immutable values mapping an optimizer step to a rate.

Pure math on the standard library and numpy; no framework is imported here.
"""

from ._ns import NUMPY, SCALAR, Namespace
from .base import KINDS, Schedule, from_config
from .compose import clip, join, per_epoch, product, scale, warmup
from .cosine import cosine, cosine_restarts
from .cyclic import cyclic, cyclic_momentum, one_cycle, one_cycle_momentum
from .decay import constant, exponential, inverse_time, linear, multistep, piecewise, polynomial, step_decay
from .host import custom, random_uniform, register_function
from .spec import as_schedule, parse, parse_call
from .timm_style import noise, tanh_decay
from .transformer import inverse_sqrt, wsd

__all__ = [
    "KINDS",
    "NUMPY",
    "SCALAR",
    "Namespace",
    "Schedule",
    "as_schedule",
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
    "parse_call",
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
