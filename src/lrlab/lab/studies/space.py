"""Search spaces of schedules for `lrlab tune`: the spec grammar with distributions in place of numbers.

    one_cycle(loguniform(1e-3, 1)) | warmup(cosine(loguniform(1e-3, 1), alpha=uniform(0, 0.1)), steps=int(0, 200))
      | wsd(loguniform(1e-3, 1), decay=choice('linear', '1-sqrt')) @plateau(factor=uniform(0.1, 0.9))

Branches are separated by `|`; a branch may end in `@plateau(...)`, whose options may be distributions too. The
distributions: `loguniform(low, high)` (0 < low < high), `uniform(low, high)`, `int(low, high)` and
`logint(low, high)` (whole numbers, both ends included; logint from 1), `choice(a, b, ...)` (numbers, strings,
True/False/None); int and logint bounds are at most 2**53 in size, and a space nests calls, lists and parentheses at
most `lrlab.schedules.spec.MAX_DEPTH` (100) deep, as a spec does. The text is read with the schedule parser's
tokenizer (never `eval`); a sampled trial is the
branch's own text with every distribution replaced by the value Optuna suggested, so what a trial trains is a spec
`lrlab.lab.studies.compare.split_entry` reads (and, without a plateau, `lrlab.schedules.parse`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ... import _check
from ...schedules import KINDS
from ...schedules.spec import _CONSTANTS, MAX_DEPTH, _Token, _tokenize, number

DISTRIBUTIONS = ("loguniform", "uniform", "int", "logint", "choice")
"""The distribution names a space may use where the spec grammar takes a number (or a string, for choice)."""

_PROBE = 0.377
"""Where between low and high a space is checked besides its ends (not a round number: a float where a whole
number is needed fails there)."""


@dataclass(frozen=True)
class Dist:
    """One distribution of a space: its kind, arguments, Optuna parameter name and where it stands in its piece."""

    kind: str
    args: tuple[Any, ...]
    name: str
    start: int
    end: int

    def suggest(self, trial: Any) -> Any:
        """The value `trial` (an optuna.Trial) suggests for this distribution."""
        if self.kind == "loguniform":
            return trial.suggest_float(self.name, self.args[0], self.args[1], log=True)
        if self.kind == "uniform":
            return trial.suggest_float(self.name, self.args[0], self.args[1])
        if self.kind in ("int", "logint"):
            return trial.suggest_int(self.name, self.args[0], self.args[1], log=self.kind == "logint")
        return trial.suggest_categorical(self.name, list(self.args))

    def probes(self) -> list[Any]:
        """Values a sample may take, to check the space before searching: the ends and a point inside (every
        option of a choice)."""
        if self.kind == "choice":
            return list(self.args)
        low, high = self.args
        if self.kind == "loguniform":
            inside = math.exp(math.log(low) + _PROBE * (math.log(high) - math.log(low)))
        else:
            inside = low + _PROBE * (high - low)
        if self.kind in ("int", "logint"):
            return [low, high, min(high, max(low, round(inside)))]
        return [float(low), float(high), inside]


def render(value: Any) -> str:
    """A sampled value as spec text: numbers in full precision, strings quoted."""
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, float):
        return repr(value)
    return str(value)


@dataclass(frozen=True)
class Piece:
    """A schedule part or a plateau part of a branch: its text and the distributions in it."""

    text: str
    dists: tuple[Dist, ...]

    def fill(self, values: list[Any]) -> str:
        """The text with each distribution replaced by its value."""
        out, last = [], 0
        for dist, value in zip(self.dists, values):
            out += [self.text[last : dist.start], render(value)]
            last = dist.end
        return "".join([*out, self.text[last:]]).strip()


@dataclass(frozen=True)
class Branch:
    """One alternative of a space: a schedule piece and an optional plateau piece."""

    label: str
    schedule: Piece
    plateau: Piece | None

    @property
    def dists(self) -> tuple[Dist, ...]:
        return self.schedule.dists + (self.plateau.dists if self.plateau is not None else ())

    def fill(self, values: list[Any]) -> str:
        n = len(self.schedule.dists)
        text = self.schedule.fill(values[:n])
        if self.plateau is not None:
            text += "@" + self.plateau.fill(values[n:])
        return text


class Space:
    """A parsed search space. `Space(text)` checks it (one-line ValueError); `sample(trial)` gives a spec."""

    def __init__(self, text: str) -> None:
        if not isinstance(text, str) or not text.strip():
            raise _check.fail("tune", "space", "a non-empty space such as 'cosine(loguniform(1e-3, 1))'", text)
        self.text = text
        self.branches = _read_space(text)
        self._check()

    @property
    def param_names(self) -> list[str]:
        """Every Optuna parameter the space may suggest ("branch" first when there are several branches)."""
        names = ["branch"] if len(self.branches) > 1 else []
        return names + [d.name for b in self.branches for d in b.dists]

    def sample(self, trial: Any) -> str:
        """A concrete entry ("SPEC" or "SPEC@plateau(...)") with values suggested by `trial` (an optuna.Trial)."""
        branch = self.branches[0]
        if len(self.branches) > 1:
            label = trial.suggest_categorical("branch", [b.label for b in self.branches])
            branch = next(b for b in self.branches if b.label == label)
        return branch.fill([d.suggest(trial) for d in branch.dists])

    def _check(self) -> None:
        """Fill every branch at its distributions' ends and inside, and read the result: a distribution where the
        schedule or plateau refuses its values fails here, before any training."""
        from .compare import split_entry

        for branch in self.branches:
            base = [d.probes()[0] for d in branch.dists]
            trials = [list(base)]
            for i, dist in enumerate(branch.dists):
                for value in dist.probes()[1:]:
                    trials.append([*base[:i], value, *base[i + 1:]])
            for values in trials:
                spec = branch.fill(values)
                try:
                    split_entry(spec)
                except ValueError as exc:
                    first = str(exc).splitlines()[0]
                    raise ValueError(f"space branch {branch.label!r}: {_check.shown(spec)} is not a schedule: "
                                     f"{first}") from None

    def __repr__(self) -> str:
        return f"Space({self.text!r})"


# -- reading ------------------------------------------------------------------------------------------
def _split_top(text: str, sep: str, offset: int = 0) -> list[tuple[str, int]]:
    """`text` cut at every `sep` outside quoted strings: (part, its offset in the whole space)."""
    parts, start, quote, i = [], 0, "", 0
    while i < len(text):
        c = text[i]
        if quote:
            if c == "\\":
                i += 1
            elif c == quote:
                quote = ""
        elif c in "'\"":
            quote = c
        elif c == sep:
            parts.append((text[start:i], offset + start))
            start = i + 1
        i += 1
    parts.append((text[start:], offset + start))
    return parts


def _read_space(text: str) -> list[Branch]:
    branches: list[Branch] = []
    for i, (part, at) in enumerate(_split_top(text, "|")):
        pieces = _split_top(part, "@", at)
        if not part.strip():
            raise ValueError(f"space: branch {i + 1} is empty (column {at + 1} of {text!r})")
        if len(pieces) > 2:
            raise ValueError(f"space: branch {i + 1} has more than one '@' ({part.strip()!r})")
        schedule = _Reader(pieces[0][0], text, pieces[0][1], f"{i}").piece()
        plateau = None
        if len(pieces) == 2:
            body = pieces[1][0]
            if not body.strip().startswith("plateau"):
                raise ValueError(f"space: after '@' a branch takes plateau(...), got {body.strip()!r}")
            plateau = _Reader(body, text, pieces[1][1], f"{i}.plateau").plateau()
        kinds = [t.text for t in _tokenize(pieces[0][0]) if t.kind == "name" and t.text in KINDS]
        branches.append(Branch(label=f"{i}:{kinds[0] if kinds else 'constant'}", schedule=schedule, plateau=plateau))
    return branches


class _Reader:
    """Walks one piece's tokens (the schedule grammar of lrlab.schedules.spec), recording each distribution call
    with a parameter name made of the branch index, the kinds around it and the argument it stands for."""

    def __init__(self, text: str, whole: str, offset: int, prefix: str) -> None:
        self.text, self.whole, self.offset, self.prefix = text, whole, offset, prefix
        try:
            self.tokens = _tokenize(text)
        except ValueError as exc:
            raise ValueError(f"space: {str(exc).splitlines()[0]} in {text.strip()!r}") from None
        self.i = 0
        self.depth = 0
        self.dists: list[Dist] = []
        self.names: set[str] = set()

    @property
    def tok(self) -> _Token:
        return self.tokens[self.i]

    def fail(self, expected: str) -> ValueError:
        tok = self.tok
        found = "the end" if tok.kind == "end" else repr(tok.text)
        return ValueError(f"space: expected {expected} at column {self.offset + tok.pos + 1}, found "
                          f"{_check.short(found)} (in {_check.shown(self.whole)})")

    def eat(self, text: str) -> None:
        if self.tok.text != text or self.tok.kind != "punct":
            raise self.fail(repr(text))
        self.i += 1

    def piece(self) -> Piece:
        self.product(self.prefix)
        if self.tok.kind != "end":
            raise self.fail("'|', '@', '*' or the end of the branch")
        return Piece(self.text, tuple(self.dists))

    def plateau(self) -> Piece:
        if self.tok.text != "plateau":
            raise self.fail("plateau(...)")
        self.i += 1
        self.args(self.prefix, ())
        if self.tok.kind != "end":
            raise self.fail("the end of the branch after plateau(...)")
        return Piece(self.text, tuple(self.dists))

    def product(self, path: str) -> None:
        self.postfix(path)
        n = 1
        while self.tok.text == "*" and self.tok.kind == "punct":
            self.i += 1
            self.postfix(f"{path}*{n}")
            n += 1

    def postfix(self, path: str) -> None:
        kind = self.atom(path)
        while self.tok.text == "." and self.tok.kind == "punct":
            self.i += 1
            method = self.tok.text
            if self.tok.kind != "name":
                raise self.fail("a method name after '.'")
            self.i += 1
            fields = _fields(method)[1:] if method == "clip" else _fields(f"{kind}_momentum")
            self.args(f"{path}.{method}", fields)

    def atom(self, path: str) -> str | None:
        """One value, schedule call, distribution, list or parenthesised product; at most MAX_DEPTH deep (the spec
        parser's limit: far below Python's recursion limit)."""
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                raise self.fail(f"at most {MAX_DEPTH} levels of nesting (the space is nested too deep)")
            return self._atom(path)
        finally:
            self.depth -= 1

    def _atom(self, path: str) -> str | None:
        tok = self.tok
        if tok.kind in ("number", "string"):
            self.i += 1
            return None
        if tok.kind == "name":
            if tok.text in _CONSTANTS:
                self.i += 1
                return None
            if tok.text in DISTRIBUTIONS:
                self.distribution(path)
                return None
            if tok.text not in KINDS:
                raise ValueError(f"space: unknown distribution or schedule kind {tok.text!r} at column "
                                 f"{self.offset + tok.pos + 1} (distributions: {', '.join(DISTRIBUTIONS)}; "
                                 f"schedule kinds: lrlab list)")
            self.i += 1
            self.args(f"{path}.{tok.text}", _fields(tok.text))
            return tok.text
        if tok.text == "[":
            self.i += 1
            n = 0
            while self.tok.text != "]":
                self.product(f"{path}[{n}]")
                n += 1
                if self.tok.text == ",":
                    self.i += 1
                elif self.tok.text != "]":
                    raise self.fail("',' or ']'")
            self.i += 1
            return None
        if tok.text == "(":
            self.i += 1
            self.product(path)
            self.eat(")")
            return None
        raise self.fail("a value, a schedule or a distribution")

    def args(self, path: str, fields: tuple[str, ...]) -> None:
        """`(arg, ..., key=arg, ...)`: each argument named after the kind's parameter it stands for."""
        self.eat("(")
        n = 0
        while not (self.tok.text == ")" and self.tok.kind == "punct"):
            if self.tok.kind == "name" and self.tokens[self.i + 1].text == "=":
                name = self.tok.text
                self.i += 2
            else:
                name = fields[n] if n < len(fields) else str(n)
                n += 1
            self.product(f"{path}.{name}")
            if self.tok.text == ",":
                self.i += 1
            elif not (self.tok.text == ")" and self.tok.kind == "punct"):
                raise self.fail("',' or ')'")
        self.i += 1

    def distribution(self, path: str) -> None:
        name_tok = self.tok
        kind = name_tok.text
        self.i += 1
        self.eat("(")
        args: list[Any] = []
        while not (self.tok.text == ")" and self.tok.kind == "punct"):
            tok = self.tok
            if tok.kind == "number":
                args.append(number(tok.text))
            elif tok.kind == "string":
                args.append(tok.text[1:-1].replace("\\'", "'") if tok.text.startswith("'") else
                            tok.text[1:-1].replace('\\"', '"'))
            elif tok.kind == "name" and tok.text in _CONSTANTS:
                args.append(_CONSTANTS[tok.text])
            else:
                raise self.fail(f"a number{' or a string' if kind == 'choice' else ''} inside {kind}(...)")
            self.i += 1
            if self.tok.text == ",":
                self.i += 1
            elif not (self.tok.text == ")" and self.tok.kind == "punct"):
                raise self.fail("',' or ')'")
        end = self.tok.pos + 1
        self.i += 1
        shown = _check.short(self.text[name_tok.pos : end])
        checked = _CHECKS[kind](shown, args)
        name, base, k = path, path, 2
        while name in self.names:
            name, k = f"{base}#{k}", k + 1
        self.names.add(name)
        self.dists.append(Dist(kind, tuple(checked), name, name_tok.pos, end))


def _fields(kind: str) -> tuple[str, ...]:
    cls = KINDS.get(kind)
    return tuple(f.name for f in cls._fields) if cls is not None else ()


# -- the distributions' own rules ------------------------------------------------------------------------
def _two_numbers(shown: str, args: list[Any], whole: bool) -> tuple[Any, Any]:
    if len(args) != 2:
        raise ValueError(f"space: {shown} takes two numbers (low, high), got {len(args)} argument(s)")
    for a in args:
        if not _check.is_real(a) or not math.isfinite(_check.as_float(a)):  # a huge int has no float: NaN
            raise ValueError(f"space: {shown} takes two finite numbers, got {_check.shown(a)}")
        if whole and float(a) != int(a):
            raise ValueError(f"space: {shown} takes whole numbers, got {_check.shown(a)}")
        if whole and abs(int(a)) > _check.MAX_STEPS:
            raise ValueError(f"space: {shown} takes whole numbers in [-2**53, 2**53], got {_check.shown(a)}")
    low, high = (int(a) for a in args) if whole else (float(a) for a in args)
    if low >= high:
        raise ValueError(f"space: {shown} needs low < high, got low {low!r} and high {high!r}")
    return low, high


def _loguniform(shown: str, args: list[Any]) -> tuple[Any, ...]:
    low, high = _two_numbers(shown, args, False)
    if low <= 0:
        raise ValueError(f"space: {shown} needs low > 0 (a log scale), got {low!r}")
    return low, high


def _logint(shown: str, args: list[Any]) -> tuple[Any, ...]:
    low, high = _two_numbers(shown, args, True)
    if low < 1:
        raise ValueError(f"space: {shown} needs low >= 1 (a log scale), got {low!r}")
    return low, high


def _choice(shown: str, args: list[Any]) -> tuple[Any, ...]:
    if not args:
        raise ValueError(f"space: {shown} needs at least one option")
    seen = []
    for a in args:
        if a in seen and type(a) is type(seen[seen.index(a)]):
            raise ValueError(f"space: {shown} lists {a!r} twice")
        seen.append(a)
    return tuple(args)


_CHECKS: dict[str, Callable[[str, list[Any]], tuple[Any, ...]]] = {
    "loguniform": _loguniform,
    "uniform": lambda shown, args: _two_numbers(shown, args, False),
    "int": lambda shown, args: _two_numbers(shown, args, True),
    "logint": _logint,
    "choice": _choice,
}


# -- the default space ---------------------------------------------------------------------------------
DECADES = 2
"""How far the default space's peak rate reaches either side of the centre rate, in decades."""


def default_space(total_steps: int, peak: float, decades: float = DECADES) -> str:
    """The default space for a run of `total_steps` optimizer steps around the rate `peak`: constant, step decay,
    exponential decay, cosine after a warmup, one-cycle and warmup-stable-decay, each peak rate log-uniform over
    `decades` decades either side of `peak` (default 2: a task's rate is a safe rate, and the best rates of a
    schedule that decays are often ten times higher; on quantiles, rate 0.005, a decade reached 0.05 only, where
    constant(0.05)@plateau typed by hand beat the search; with two decades the confirmed winner of 128 trials reached
    0.990 mean test accuracy on 5 fresh seeds against 0.975-0.980 with one, docs/lab/tune.md "Measured"). A trial
    that diverges is told the worst value, so a wide range costs trials, not correctness.

    Args:
        total_steps: a trial's optimizer steps (the decays' lengths).
        peak: the centre rate (the task's, or the range test's valley).
        decades: the half-width of the peak's range, in decades (> 0).

    Examples:
        >>> from lrlab.lab.studies.space import default_space
        >>> default_space(240, 0.005).split(" | ")[0]
        'constant(loguniform(5e-05, 0.5))'
        >>> default_space(240, 0.005, decades=1).split(" | ")[0]
        'constant(loguniform(0.0005, 0.05))'
    """
    steps = _check.whole("default_space", "total_steps", total_steps, 1)
    peak = _check.positive("default_space", "peak", peak)
    width = 10.0 ** _check.positive("default_space", "decades", decades)
    lr = f"loguniform({peak / width:.4g}, {peak * width:.4g})"
    tenth, half = max(1, steps // 10), max(2, steps // 2)
    warm = f"int(0, {steps // 5})" if steps >= 5 else "0"
    if steps >= 20:  # warmup and decay within the run (steps // 10 + steps // 2 <= steps), each a range
        wsd = f"wsd({lr}, warmup_steps=int(0, {steps // 10}), decay_steps=int({tenth}, {half}), "
    else:
        wsd = f"wsd({lr}, decay_steps={steps}, "
    return " | ".join([
        f"constant({lr})",
        f"step_decay({lr}, drop=uniform(0.1, 0.9), step_size=int({tenth}, {max(tenth + 1, half)}))",
        f"exponential({lr}, decay_steps={steps}, decay_rate=loguniform(0.001, 0.5))",
        f"warmup(cosine({lr}, alpha=uniform(0, 0.1)), steps={warm})",
        f"one_cycle({lr}, pct_start=uniform(0.1, 0.5))",
        wsd + "decay=choice('linear', 'cosine', '1-sqrt'))",
    ])
