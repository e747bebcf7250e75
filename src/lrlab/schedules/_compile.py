"""The fast scalar path: a schedule's formula, traced once into a straight-line Python function.

`apply(SCALAR, t)` runs the formula with every parameter looked up and every helper called at each step.
Tracing runs it once on a symbolic step instead, records each operation, and compiles them to one Python
statement each with the parameters as literals, a `where` becoming an if/else that runs only the branch it
takes: the same operations in the same order on the same types, so the values are identical to
`apply(SCALAR, t)` (and to numpy's, which computes both branches and keeps one), at about the cost of a
hand-written closure. Formulas
that cannot be traced (host-only kinds, Python branches on the step) keep `apply(SCALAR, t)`.

`replay` runs a trace again on another namespace with every parameter cast by the caller first: the JAX
adapter uses it so that no length reaches jax.numpy as a Python int (past 2**31 that overflows int32
inside `jit` without x64).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from ._ns import SCALAR, Namespace


class Untraceable(TypeError):
    """The formula cannot be traced: it branches on the step in Python, uses a value that is not a number
    (a length left out), or compiles to too long a function."""


class _Tracer:
    """Records the operations of one traced formula as a graph of nodes."""

    def __init__(self) -> None:
        self.count = 0
        self.constants: dict[str, Any] = {}

    def arg(self, value: Any) -> str:
        if isinstance(value, _Node):
            return value.name
        if isinstance(value, bool):
            return repr(value)
        if isinstance(value, int):
            return f"({value!r})"
        if isinstance(value, float):
            if math.isfinite(value):
                return f"({value!r})"
            name = f"_k{len(self.constants)}"
            self.constants[name] = value
            return name
        raise Untraceable(f"cannot trace a formula over {value!r}")

    def emit(self, template: str, *operands: Any) -> _Node:
        for o in operands:
            self.arg(o)  # fail early on an operand that is not a number or a node
        self.count += 1
        return _Node(self, f"v{self.count}", template, operands)


class _Node:
    """A value of the traced formula; arithmetic on it records a statement."""

    __slots__ = ("name", "operands", "template", "tracer")

    def __init__(self, tracer: _Tracer, name: str, template: str = "", operands: tuple[Any, ...] = ()) -> None:
        self.tracer, self.name, self.template, self.operands = tracer, name, template, operands

    def _op(self, template: str, *operands: Any) -> _Node:
        return self.tracer.emit(template, *operands)

    def __add__(self, o: Any) -> _Node:
        return self._op("{} + {}", self, o)

    def __radd__(self, o: Any) -> _Node:
        return self._op("{} + {}", o, self)

    def __sub__(self, o: Any) -> _Node:
        return self._op("{} - {}", self, o)

    def __rsub__(self, o: Any) -> _Node:
        return self._op("{} - {}", o, self)

    def __mul__(self, o: Any) -> _Node:
        return self._op("{} * {}", self, o)

    def __rmul__(self, o: Any) -> _Node:
        return self._op("{} * {}", o, self)

    def __truediv__(self, o: Any) -> _Node:
        return self._op("{} / {}", self, o)

    def __rtruediv__(self, o: Any) -> _Node:
        return self._op("{} / {}", o, self)

    def __pow__(self, o: Any) -> _Node:
        return self._op("{} ** {}", self, o)

    def __rpow__(self, o: Any) -> _Node:
        return self._op("{} ** {}", o, self)

    def __neg__(self) -> _Node:
        return self._op("-{}", self)

    def __lt__(self, o: Any) -> _Node:
        return self._op("{} < {}", self, o)

    def __le__(self, o: Any) -> _Node:
        return self._op("{} <= {}", self, o)

    def __gt__(self, o: Any) -> _Node:
        return self._op("{} > {}", self, o)

    def __ge__(self, o: Any) -> _Node:
        return self._op("{} >= {}", self, o)

    def __eq__(self, o: Any) -> _Node:  # type: ignore[override]
        return self._op("{} == {}", self, o)

    def __ne__(self, o: Any) -> _Node:  # type: ignore[override]
        return self._op("{} != {}", self, o)

    __hash__ = None  # type: ignore[assignment]

    def __bool__(self) -> bool:
        raise Untraceable("the formula branches on the step in Python")


def _unary(name: str, direct: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def op(x: Any) -> Any:
        return x.tracer.emit(f"{name}({{}})", x) if isinstance(x, _Node) else direct(x)

    return op


def _binary(name: str, direct: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    def op(a: Any, b: Any) -> Any:
        if isinstance(a, _Node) or isinstance(b, _Node):
            tracer = a.tracer if isinstance(a, _Node) else b.tracer
            return tracer.emit(f"{name}({{}}, {{}})", a, b)
        return direct(a, b)

    return op


def _minimum(a: Any, b: Any) -> Any:
    # exactly min(a, b): the first argument unless the second is smaller
    if isinstance(a, _Node) or isinstance(b, _Node):
        tracer = a.tracer if isinstance(a, _Node) else b.tracer
        return tracer.emit("{1} if {1} < {0} else {0}", a, b)
    return min(a, b)


def _maximum(a: Any, b: Any) -> Any:
    # exactly max(a, b): the first argument unless the second is larger
    if isinstance(a, _Node) or isinstance(b, _Node):
        tracer = a.tracer if isinstance(a, _Node) else b.tracer
        return tracer.emit("{1} if {1} > {0} else {0}", a, b)
    return max(a, b)


def _where(cond: Any, a: Any, b: Any) -> Any:
    if isinstance(cond, _Node):
        return cond.tracer.emit(_WHERE, cond, a, b)
    return a if cond else b


_WHERE = "where"


TRACE = Namespace(
    name="trace",
    cos=_unary("_cos", math.cos),
    exp=_unary("_exp", math.exp),
    log=_unary("_log", math.log),
    sqrt=_unary("_sqrt", math.sqrt),
    floor=_unary("_floor", SCALAR.floor),
    ceil=_unary("_ceil", SCALAR.ceil),
    minimum=_minimum,
    maximum=_maximum,
    where=_where,
    floordiv=_binary("_floordiv", SCALAR.floordiv),
    ceildiv=_binary("_ceildiv", SCALAR.ceildiv),
)

_GLOBALS = {
    "_cos": math.cos,
    "_exp": math.exp,
    "_log": math.log,
    "_sqrt": math.sqrt,
    "_floor": SCALAR.floor,
    "_ceil": SCALAR.ceil,
    "_floordiv": SCALAR.floordiv,
    "_ceildiv": SCALAR.ceildiv,
}


MAX_LINES = 4000
"""Longest generated function; past it (branches that share much work, copied into each) no fast path."""


def _generate(tracer: _Tracer, node: Any, done: set[str], lines: list[str], indent: str) -> None:
    """Statements computing `node` after those in `done`; a `where` runs only the branch it takes."""
    if not isinstance(node, _Node) or node.name in done:
        return
    if len(lines) > MAX_LINES:
        raise Untraceable("formula too long to compile")
    if node.template == _WHERE:
        cond, a, b = node.operands
        _generate(tracer, cond, done, lines, indent)
        lines.append(f"{indent}if {tracer.arg(cond)}:")
        for branch in (a, b):
            inner = set(done)
            _generate(tracer, branch, inner, lines, indent + "    ")
            lines.append(f"{indent}    {node.name} = {tracer.arg(branch)}")
            if branch is a:
                lines.append(f"{indent}else:")
    else:
        for operand in node.operands:
            _generate(tracer, operand, done, lines, indent)
        lines.append(f"{indent}{node.name} = " + node.template.format(*(tracer.arg(o) for o in node.operands)))
    done.add(node.name)


def trace(apply: Callable[[Namespace, Any], Any]) -> tuple[_Tracer, Any]:
    """The tracer and the result node of `apply` on a symbolic step; raises Untraceable (or RecursionError,
    for a formula nested deeper than Python's stack) when the formula cannot be traced."""
    tracer = _Tracer()
    return tracer, apply(TRACE, _Node(tracer, "t"))


_REPLAY: dict[str, Callable[..., Any]] = {
    "{} + {}": lambda xp, a, b: a + b,
    "{} - {}": lambda xp, a, b: a - b,
    "{} * {}": lambda xp, a, b: a * b,
    "{} / {}": lambda xp, a, b: a / b,
    "{} ** {}": lambda xp, a, b: xp.pow(a, b),
    "-{}": lambda xp, a: -a,
    "{} < {}": lambda xp, a, b: a < b,
    "{} <= {}": lambda xp, a, b: a <= b,
    "{} > {}": lambda xp, a, b: a > b,
    "{} >= {}": lambda xp, a, b: a >= b,
    "{} == {}": lambda xp, a, b: a == b,
    "{} != {}": lambda xp, a, b: a != b,
    "_cos({})": lambda xp, a: xp.cos(a),
    "_exp({})": lambda xp, a: xp.exp(a),
    "_log({})": lambda xp, a: xp.log(a),
    "_sqrt({})": lambda xp, a: xp.sqrt(a),
    "_floor({})": lambda xp, a: xp.floor(a),
    "_ceil({})": lambda xp, a: xp.ceil(a),
    "_floordiv({}, {})": lambda xp, a, b: xp.floordiv(a, b),
    "_ceildiv({}, {})": lambda xp, a, b: xp.ceildiv(a, b),
    "{1} if {1} < {0} else {0}": lambda xp, a, b: xp.minimum(a, b),
    "{1} if {1} > {0} else {0}": lambda xp, a, b: xp.maximum(a, b),
    _WHERE: lambda xp, c, a, b: xp.where(c, a, b),
}


def replay(result: Any, xp: Namespace, t: Any, constant: Callable[[Any], Any]) -> Any:
    """The traced formula `result` (from `trace`) evaluated on step `t` of namespace `xp`, each number of the
    formula (parameters and literals) passed through `constant` first: the same operations in the same
    order as `apply(xp, t)`."""
    if not isinstance(result, _Node):
        return constant(result) + t * 0
    nodes: dict[str, _Node] = {}
    stack = [result]
    while stack:  # every node the result depends on (iteratively: chains can be long)
        node = stack.pop()
        if node.name not in nodes and node.name != "t":
            nodes[node.name] = node
            stack.extend(o for o in node.operands if isinstance(o, _Node))
    values: dict[str, Any] = {"t": t}
    for name in sorted(nodes, key=lambda n: int(n[1:])):  # operands are numbered before their users
        node = nodes[name]
        args = [values[o.name] if isinstance(o, _Node) else constant(o) for o in node.operands]
        values[name] = _REPLAY[node.template](xp, *args)
    return values[result.name]


def scalar_functions(
    apply: Callable[[Namespace, Any], Any], slow: Callable[[Any], Any]
) -> tuple[Callable[[int], Any], Callable[[Any], Any]] | None:
    """Two functions compiled from a trace of `apply`, or None when the formula cannot be traced:
    `t -> apply(SCALAR, t)` for an int t >= 0, and the entry `s(t)` runs, which takes that path for an
    int t >= 0 and hands anything else, or an overflow, to `slow`."""
    try:
        tracer, result = trace(apply)
        body: list[str] = []
        _generate(tracer, result, {"t"}, body, "    ")
        body.append(f"    return {tracer.arg(result)}")
        source = "\n".join(
            [
                "def _scalar(t):",
                *body,
                "def _entry(t):",
                "    if t.__class__ is not int or t < 0:",
                "        return _slow(t)",
                "    try:",
                *("    " + line for line in body[:-1]),
                f"        _r = {tracer.arg(result)}",
                "    except OverflowError:",
                "        return _slow(t)",
                "    if _r < _INF:",
                "        return _r",
                "    return _slow(t)  # an infinite value: the slow path explains it",
            ]
        )
        namespace: dict[str, Any] = {**_GLOBALS, **tracer.constants, "_slow": slow, "_INF": math.inf}
        exec(compile(source, "<lrlab scalar formula>", "exec"), namespace)  # our own generated statements only
    except (Untraceable, RecursionError, SyntaxError):
        # Python branches on the step, unset lengths, a graph deeper than Python's stack or a function
        # nested deeper than its compiler allows: no fast path. Anything else is a bug and surfaces.
        return None
    namespace["_scalar"].source = source
    return namespace["_scalar"], namespace["_entry"]
