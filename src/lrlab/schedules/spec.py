"""`parse`: read a schedule spec such as `warmup(cosine(0.1, decay_steps=1000), steps=100) * 0.5`.

A small recursive-descent parser, never `eval`. Grammar:

    spec    := product END
    product := postfix ("*" postfix)*      (number * number, schedule * number, schedule * schedule)
    postfix := atom ("." ("clip" | "momentum") "(" [arg ("," arg)*] ")")*
    atom    := NUMBER | STRING | None | True | False | list | call | "(" product ")"
    call    := NAME "(" [arg ("," arg)* [","]] ")"
    arg     := [NAME "="] product
    list    := "[" [product ("," product)* [","]] "]"
"""

from __future__ import annotations

import inspect
import json
import math
import re
from typing import Any, NamedTuple

from .._check import shown
from .base import KINDS, Schedule, build
from .compose import product, scale

_TOKEN = re.compile(
    r"""(?P<space>\s+)
      | (?P<number>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)
      | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
      | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
      | (?P<punct>[()\[\],=*.])
    """,
    re.VERBOSE | re.ASCII,  # digits and spaces are ASCII only: a full-width "０.１" is no number
)
MAX_DEPTH = 100
"""Deepest nesting of calls, lists and parentheses `parse` reads (far below Python's recursion limit)."""
_CONSTANTS = {"None": None, "True": True, "False": False, "true": True, "false": False}
_NOT_NUMBERS = {"nan", "NaN", "NAN", "inf", "Inf", "INF", "infinity", "Infinity"}


def number(text: str) -> int | float:
    """A number token's value: an int for whole-number text, else a float.

    Whole numbers stay ints so that step counts read as steps. An int too long for Python's digit limit becomes
    a float (inf), which the parameter's own check then refuses by name.

    Args:
        text: the number's text as the spec grammar reads it (digits, a point, an exponent, a sign).

    Returns:
        Its value, an int or a float.

    Examples:
        >>> from lrlab.schedules.spec import number
        >>> number("3"), number("3.0"), number("1e-3")
        (3, 3.0, 0.001)
    """
    if re.fullmatch(r"[-+]?[0-9]+", text):
        try:
            return int(text)
        except ValueError:  # more digits than sys.get_int_max_str_digits()
            return float(text)
    return float(text)


SHOWN_DIGITS = 4
"""Significant digits of the numbers in a spec shown or handed out as found (`rounded`): tune's best spec, its tables,
`lrlab forecast --optimise`."""


def rounded(text: str, digits: int = SHOWN_DIGITS) -> str:
    """A spec's text with every float in it rounded to `digits` significant digits (whole numbers, names and strings
    kept; text after "@", a plateau's or an optimizer's options, rounded alike): what a search hands out, so the spec
    people copy is the one trained and stored.

    Args:
        text: the spec (any text: characters the grammar does not read are kept as they are).
        digits: significant digits (>= 1).

    Raises:
        ValueError: digits not a whole number >= 1.

    Examples:
        >>> from lrlab.schedules.spec import rounded
        >>> rounded("one_cycle(0.04645125, pct_start=0.44132071, warmup_steps=100)")
        'one_cycle(0.04645, pct_start=0.4413, warmup_steps=100)'
        >>> rounded("constant(0.9999999998835952)"), rounded("cosine(1.23456e-05)@plateau(factor=0.5)")
        ('constant(1.0)', 'cosine(1.235e-05)@plateau(factor=0.5)')
    """
    from .._check import whole

    digits = whole("rounded", "digits", digits, 1, 17)
    out, pos = [], 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:  # "@" and the like: kept
            out.append(text[pos])
            pos += 1
            continue
        piece = match.group()
        if match.lastgroup == "number" and not isinstance(number(piece), int):
            value = float(piece)
            if math.isfinite(value):
                piece = repr(float(f"{value:.{digits}g}"))
                piece = piece if match.group()[0] != "+" else "+" + piece
        out.append(piece)
        pos = match.end()
    return "".join(out)


class _Token(NamedTuple):
    kind: str
    text: str
    pos: int


def _tokenize(text: str) -> list[_Token]:
    tokens, pos = [], 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            raise _error(text, pos, "a number, a name, a string or one of ( ) [ ] , = *", repr(text[pos]))
        if match.lastgroup != "space":
            tokens.append(_Token(match.lastgroup or "", match.group(), pos))
        pos = match.end()
    tokens.append(_Token("end", "", len(text)))
    return tokens


_SHOWN = 100
"""Characters of a long spec an error message shows around the column it points at."""


def _where(text: str, pos: int) -> str:
    """The spec (a window of it around `pos` when long) and a caret under column pos + 1."""
    if len(text) <= _SHOWN:
        return f"  {text}\n  {' ' * pos}^"
    start = max(0, min(pos - _SHOWN // 2, len(text) - _SHOWN))
    left = "..." if start else ""
    right = "..." if start + _SHOWN < len(text) else ""
    return f"  {left}{text[start : start + _SHOWN]}{right}\n  {' ' * (len(left) + pos - start)}^"


def _error(text: str, pos: int, expected: str, found: str) -> ValueError:
    if len(found) > _SHOWN:
        found = found[: _SHOWN - 20] + "..." + found[-17:]
    return ValueError(
        f"cannot read schedule spec at column {pos + 1}: expected {expected}, found {found}\n{_where(text, pos)}"
    )


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.i = 0
        self.depth = 0

    @property
    def tok(self) -> _Token:
        return self.tokens[self.i]

    def fail(self, expected: str) -> ValueError:
        tok = self.tok
        return _error(self.text, tok.pos, expected, "the end" if tok.kind == "end" else repr(tok.text))

    def eat(self, text: str, expected: str | None = None) -> None:
        if self.tok.text != text or self.tok.kind not in ("punct",):
            raise self.fail(expected or repr(text))
        self.i += 1

    def spec(self) -> Any:
        value = self.product()
        if self.tok.kind != "end":
            raise self.fail("the end of the spec or '*'")
        return value

    def product(self) -> Any:
        start = self.tok.pos
        value = self.postfix()
        while self.tok.text == "*" and self.tok.kind == "punct":
            self.i += 1
            pos = self.tok.pos
            value = self._multiply(value, self.postfix(), start, pos)
        return value

    def postfix(self) -> Any:
        value = self.atom()
        while self.tok.text == "." and self.tok.kind == "punct":
            self.i += 1
            method = self.tok.text
            if method not in ("clip", "momentum"):
                raise self.fail("'clip' or 'momentum' after '.'")
            if method == "momentum" and not hasattr(value, "momentum"):
                raise self.fail("one_cycle(...) or cyclic(...) before '.momentum'")
            if not isinstance(value, Schedule):
                raise self.fail(f"a schedule before '.{method}'")
            value = self.call(first=value, method=method == "momentum")
        return value

    def _multiply(self, left: Any, right: Any, start: int, pos: int) -> Any:
        numbers = (int, float)
        if isinstance(left, bool) or isinstance(right, bool):
            raise _error(self.text, pos, "a number or a schedule on each side of '*'", "True/False")
        if isinstance(left, numbers) and isinstance(right, numbers):
            try:
                return left * right
            except OverflowError:  # a huge int times a float: past the float range, which the parameter refuses
                return math.inf
        if isinstance(left, Schedule) and isinstance(right, numbers):
            return self._wrap(lambda: scale(left, right), pos)
        if isinstance(left, numbers) and isinstance(right, Schedule):
            return self._wrap(lambda: scale(right, left), start)
        if isinstance(left, Schedule) and isinstance(right, Schedule):
            return self._wrap(lambda: product([left, right]), pos)
        raise _error(self.text, pos, "a number or a schedule on each side of '*'", "another operand")

    def _wrap(self, make: Any, pos: int) -> Any:
        try:
            return make()
        except ValueError as exc:
            raise ValueError(f"{exc}\n{_where(self.text, pos)}") from None

    def atom(self) -> Any:
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                raise self.fail(f"at most {MAX_DEPTH} levels of nesting (the spec is nested too deep)")
            return self._atom()
        finally:
            self.depth -= 1

    def _atom(self) -> Any:
        tok = self.tok
        if tok.kind == "number":
            self.i += 1
            return number(tok.text)
        if tok.kind == "string":
            self.i += 1
            if tok.text.startswith("'"):
                return tok.text[1:-1].replace("\\'", "'")
            return json.loads(tok.text)
        if tok.kind == "name":
            if tok.text in _NOT_NUMBERS:
                raise self.fail("a finite number (nan and inf are not numbers a spec allows)")
            if tok.text in _CONSTANTS:
                self.i += 1
                return _CONSTANTS[tok.text]
            return self.call()
        if tok.text == "[":
            return self.list_()
        if tok.text == "(":
            self.i += 1
            value = self.product()
            self.eat(")", "')'")
            return value
        raise self.fail("a value: a number, a string, a list or a schedule such as cosine(0.1, decay_steps=100)")

    def list_(self) -> list[Any]:
        self.eat("[")
        items: list[Any] = []
        while self.tok.text != "]":
            items.append(self.product())
            if self.tok.text == ",":
                self.i += 1
            elif self.tok.text != "]":
                raise self.fail("',' or ']'")
        self.i += 1
        return items

    def call(self, first: Schedule | None = None, method: bool = False) -> Schedule:
        """`kind(args)`, or `first.kind(args)` (clip: the kind with `first` as its schedule; with `method`,
        `first.momentum(args)`)."""
        name = self.tok
        if name.text not in KINDS and not method:
            known = ", ".join(sorted(KINDS))
            raise _error(self.text, name.pos, f"a schedule kind ({known})", repr(name.text))
        self.i += 1
        self.eat("(", f"'(' after {name.text}")
        args: list[Any] = [] if first is None else [first]
        kwargs: dict[str, Any] = {}
        while self.tok.text != ")" or self.tok.kind != "punct":
            if self.tok.kind == "name" and self.tokens[self.i + 1].text == "=":
                key = self.tok
                if key.text in kwargs:
                    raise _error(self.text, key.pos, "each keyword once", f"a second {key.text!r}")
                self.i += 2
                kwargs[key.text] = self.product()
            else:
                if kwargs:
                    raise self.fail("a keyword argument (name=value) after keyword arguments")
                args.append(self.product())
            if self.tok.text == ",":
                self.i += 1
            elif self.tok.text != ")":
                raise self.fail("',' or ')'")
        self.i += 1
        if method:
            return self._wrap(lambda: _call_method(args[0], name.text, args[1:], kwargs), name.pos)
        return self._wrap(lambda: build(name.text, args, kwargs), name.pos)


    def keywords(self, close: str | None) -> dict[str, Any]:
        """`key=value, ...` up to `close` (or the end), each key once."""
        out: dict[str, Any] = {}
        stop = "end" if close is None else close
        while (self.tok.kind if close is None else self.tok.text) != stop:
            key = self.tok
            if key.kind != "name" or self.tokens[self.i + 1].text != "=":
                raise self.fail("a keyword argument (name=value)")
            if key.text in out:
                raise _error(self.text, key.pos, "each keyword once", f"a second {key.text!r}")
            self.i += 2
            out[key.text] = self.product()
            if self.tok.text == ",":
                self.i += 1
            elif (self.tok.kind if close is None else self.tok.text) != stop:
                raise self.fail("','" + ("" if close is None else f" or {close!r}"))
        if close is not None:
            self.i += 1
        return out


def _call_method(value: Schedule, name: str, args: list[Any], kwargs: dict[str, Any]) -> Schedule:
    """`value.name(*args, **kwargs)`, a mismatch with its signature as a ValueError."""
    bound = getattr(value, name)
    try:
        inspect.signature(bound).bind(*args, **kwargs)
    except TypeError as exc:
        raise ValueError(f"{value.kind}.{name}: {exc}") from None
    return bound(*args, **kwargs)


def parse_call(text: str, name: str) -> dict[str, Any]:
    """The keyword arguments of `name(key=value, ...)`, or of a bare `key=value, ...` list.

    Read with the spec grammar (numbers, strings, True/False/None, lists), never `eval`: what a CLI option such
    as `--plateau "factor=0.5, patience=10"` says. Bad text raises a ValueError that points at the column.

    Args:
        text: the options, `name(key=value, ...)` or `key=value, ...`.
        name: the name the text may be wrapped in (and that error messages use), e.g. "plateau".

    Returns:
        The keyword arguments by name.

    Examples:
        >>> from lrlab.schedules.spec import parse_call
        >>> parse_call("plateau(factor=0.5, patience=10)", "plateau")
        {'factor': 0.5, 'patience': 10}
        >>> parse_call('factor=0.5, mode="max"', "plateau")
        {'factor': 0.5, 'mode': 'max'}
    """
    if not isinstance(text, str):
        raise ValueError(f"{name} options are a string such as '{name}(key=value, ...)', got {text!r}")
    parser = _Parser(text)
    wrapped = parser.tok.kind == "name" and parser.tok.text == name and parser.tokens[parser.i + 1].text == "("
    if wrapped:
        parser.i += 2
    out = parser.keywords(")" if wrapped else None)
    if parser.tok.kind != "end":
        raise parser.fail("the end")
    return out


def parse(text: str) -> Schedule:
    """The schedule a spec string describes; `parse(repr(s)) == s` for every schedule `s`.

    Specs are how schedules are written on the command line and in files: kinds called by name with Python-like
    arguments, `*` for scaling and products, `.clip(...)`, read by a small parser (never `eval`; see the
    module's grammar). A bare number is a `constant`. A Schedule is returned as it is. Bad text raises a
    ValueError that shows the spec with a caret under the column.

    Args:
        text: the spec, e.g. "warmup(cosine(0.1, decay_steps=1000), steps=100) * 0.5".

    Returns:
        The schedule.

    Examples:
        >>> from lrlab import parse
        >>> s = parse("warmup(cosine(0.1, decay_steps=1000), steps=100) * 0.5")
        >>> s, s(100)
        (warmup(cosine(0.1, decay_steps=1000), steps=100) * 0.5, 0.05)
        >>> parse("0.1")
        constant(0.1)
    """
    if isinstance(text, Schedule):
        return text
    if not isinstance(text, str):
        raise ValueError(f"a schedule spec is a string, got {shown(text)}")
    value = _Parser(text).spec()
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        from .decay import constant

        try:
            return constant(value)
        except ValueError as exc:
            raise ValueError(f"{exc}\n{_where(text, 0)}") from None
    if not isinstance(value, Schedule):
        raise ValueError(f"a schedule spec must describe a schedule, got {shown(value)} from {shown(text)}")
    return value


def as_schedule(value: Schedule | str | dict, *, who: str = "schedule", bound: bool = True) -> Schedule:
    """A schedule given itself, a spec string or a `to_config()` dict: what the adapters accept.

    With `bound`, a schedule whose length is left out (`cosine(0.1)`) is refused with a ValueError that says
    how to give it, since an adapter cannot know the length of the run.

    Args:
        value: a Schedule, a spec string (see `parse`) or a `to_config()` dict (see `from_config`).
        who: the caller's name, the prefix of error messages (e.g. "lrlab.jax.schedule").
        bound: True refuses a schedule with a length left out; False lets it through (to be stretched later).

    Returns:
        The schedule.

    Raises:
        ValueError: value is none of the three, is a bad spec or config, or (with bound) has no length.

    Examples:
        >>> from lrlab.schedules import as_schedule
        >>> as_schedule("cosine(0.1, 100)"), as_schedule({"kind": "constant", "lr": 0.1})
        (cosine(0.1, decay_steps=100), constant(0.1))
        >>> as_schedule("cosine(0.1)", bound=False)
        cosine(0.1)
        >>> as_schedule("cosine(0.1)")
        Traceback (most recent call last):
        ...
        ValueError: schedule: schedule cosine(0.1) has no length; give it (e.g. decay_steps=...) or call ...
    """
    from .base import from_config

    if isinstance(value, Schedule):
        out = value
    elif isinstance(value, str):
        out = parse(value)
    elif isinstance(value, dict):
        out = from_config(value)
    else:
        raise ValueError(f"{who}: schedule must be an lrlab schedule, a spec string or a config dict, got {value!r}")
    if bound and not out.is_bound:
        raise ValueError(
            f"{who}: schedule {out!r} has no length; give it (e.g. decay_steps=...) "
            "or call .stretch(total_steps) with the number of optimizer steps of the run"
        )
    return out
