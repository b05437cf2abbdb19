"""Declared parameter constraints of attacks and defenses, checked before any model trains.

Issue 9 item 3: ``{name: lira, online: "false"}`` ran *online* LiRA (a non-empty string is
true) and recorded ``online: "false"`` in results.json; ``{name: confidence, percentile:
abc}`` failed only at run time, after every model had trained. Every attack and defense
parameter is now checked against

* the type hint of the class's ``__init__`` (:func:`typing.get_type_hints`): ``bool`` takes
  only ``True``/``False``; ``int`` an integer, not a bool; ``float`` an int or a float, not
  a bool; ``X | None``, ``Literal[...]``, ``Sequence[X]`` and ``tuple[...]`` element by
  element; and
* the class's ``param_constraints`` (ranges and string choices), a dict from parameter name to
  a constraint or a tuple of alternatives: :class:`Interval`, :class:`Options`,
  :class:`Items`. A None value is governed by the type hint alone;
* an optional ``param_combination_error(params) -> str | None`` static method for rules that
  tie parameters together (e.g. DP-SGD's "exactly one of noise_multiplier and
  target_epsilon").

The idea is scikit-learn's ``_parameter_constraints`` (``sklearn/utils/_param_validation``);
this module is our own and much smaller. Values are never converted: a valid configuration
is recorded in results.json exactly as written.
"""

from __future__ import annotations

import difflib
import functools
import inspect
import math
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from miaudit.errors import ConfigError, short_repr

Closed = Literal["left", "right", "both", "neither"]


def _is_int(value: object) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_)


def _is_number(value: object) -> bool:
    return _is_int(value) or isinstance(value, float | np.floating)


def _fmt(x: float) -> str:
    return f"{x:g}" if isinstance(x, float) else str(x)


@dataclass(frozen=True)
class Interval:
    """Numbers of ``type`` (int, or float = any int or float) between ``low`` and ``high``
    (None = unbounded); ``closed`` says which ends belong. NaN and infinities never do."""

    type: type
    low: float | None = None
    high: float | None = None
    closed: Closed = "both"

    def accepts(self, value: object) -> bool:
        ok_type = _is_int(value) if self.type is int else _is_number(value)
        if not ok_type or not math.isfinite(float(value)):  # type: ignore[arg-type]
            return False
        v = float(value)  # type: ignore[arg-type]
        if self.low is not None:
            if v < self.low or (v == self.low and self.closed in ("right", "neither")):
                return False
        if self.high is not None:
            if v > self.high or (v == self.high and self.closed in ("left", "neither")):
                return False
        return True

    def describe(self) -> str:
        noun = "an integer" if self.type is int else "a number"
        low_in = self.closed in ("left", "both")
        high_in = self.closed in ("right", "both")
        if self.type is int and self.high is None and self.low in (0, 1) and low_in:
            return "a positive integer" if self.low == 1 else "a non-negative integer"
        if self.low is not None and self.high is not None:
            left, right = "[" if low_in else "(", "]" if high_in else ")"
            return f"{noun} in {left}{_fmt(self.low)}, {_fmt(self.high)}{right}"
        if self.low is not None:
            return f"{noun} {'>=' if low_in else '>'} {_fmt(self.low)}"
        if self.high is not None:
            return f"{noun} {'<=' if high_in else '<'} {_fmt(self.high)}"
        return f"a finite {noun.split()[-1]}"


@dataclass(frozen=True)
class Options:
    """One of a fixed set of values (compared with their type: True is not 1)."""

    values: tuple[Any, ...]

    def __init__(self, values: Sequence[Any]) -> None:
        object.__setattr__(self, "values", tuple(values))

    def accepts(self, value: object) -> bool:
        return any(type(value) is type(v) and value == v for v in self.values)

    def describe(self) -> str:
        return "one of " + ", ".join(repr(v) for v in self.values)


@dataclass(frozen=True)
class Items:
    """A list or tuple whose every item meets ``each`` (and of ``length`` items, if set)."""

    each: Interval | Options
    length: int | None = None
    min_length: int = 1

    def accepts(self, value: object) -> bool:
        if isinstance(value, str | bytes) or not isinstance(value, list | tuple):
            return False
        if self.length is not None and len(value) != self.length:
            return False
        if len(value) < self.min_length:
            return False
        return all(self.each.accepts(v) for v in value)

    def describe(self) -> str:
        count = f"{self.length}" if self.length is not None else "a list of"
        return f"{count} items, each {self.each.describe()}"


Constraint = Interval | Options | Items
Constraints = Constraint | tuple[Constraint, ...]


# -- type hints -------------------------------------------------------------------------------
def matches(value: object, hint: Any) -> bool:
    """Whether ``value`` is of the type ``hint`` (the subset of typing our classes use).

    ``bool`` takes only bools, ``int`` integers but not bools, ``float`` ints and floats but
    not bools; NumPy scalars count as their Python kinds. ``np.ndarray`` takes array-likes
    (arrays, lists, tuples). Unknown hint forms accept everything.
    """
    if hint is Any:
        return True
    if hint is None or hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool | np.bool_)
    if hint is int:
        return _is_int(value)
    if hint is float:
        return _is_number(value)
    if hint is np.ndarray:
        return isinstance(value, np.ndarray | list | tuple)
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Union or origin is types.UnionType:
        return any(matches(value, a) for a in args)
    if origin is Literal:
        return Options(args).accepts(value)
    if origin is tuple:
        if not isinstance(value, tuple | list):
            return False
        if len(args) == 2 and args[1] is Ellipsis:
            return all(matches(v, args[0]) for v in value)
        if len(value) != len(args):
            return False
        return all(matches(v, a) for v, a in zip(value, args, strict=True))
    if origin in (list, Sequence, typing.Sequence):
        if isinstance(value, str | bytes) or not isinstance(value, list | tuple):
            return False
        return not args or all(matches(v, args[0]) for v in value)
    if origin in (dict, Mapping, typing.Mapping):
        return isinstance(value, Mapping)
    if isinstance(hint, type):
        return isinstance(value, hint)
    return True


def describe_hint(hint: Any) -> str:
    """Words for a type hint, as an error message says what is allowed."""
    if hint is None or hint is type(None):
        return "None"
    names = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}
    if hint in names:
        return names[hint]
    if hint is np.ndarray:
        return "an array"
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Union or origin is types.UnionType:
        return " or ".join(describe_hint(a) for a in args)
    if origin is Literal:
        return Options(args).describe()
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return f"a list of {describe_hint(args[0])}"
        return f"a list of {len(args)} ({', '.join(describe_hint(a) for a in args)})"
    if origin in (list, Sequence, typing.Sequence):
        return f"a list ({describe_hint(args[0]) if args else 'any items'} each)"
    return getattr(hint, "__name__", str(hint))


@functools.cache
def init_parameters(cls: type) -> dict[str, inspect.Parameter]:
    """The keyword parameters of ``cls.__init__`` (``*args``/``**kwargs`` left out)."""
    if cls.__init__ is object.__init__:
        return {}
    sig = inspect.signature(cls.__init__)
    return {
        name: p
        for name, p in sig.parameters.items()
        if name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    }


@functools.cache
def init_type_hints(cls: type) -> dict[str, Any]:
    """The resolved type hints of ``cls.__init__``'s parameters.

    When the hints cannot be resolved at run time (a user's attack annotating a parameter
    with a name imported only under ``TYPE_CHECKING``), none are used: its parameters are
    checked against their declared constraints only. miaudit's own classes resolve every
    hint (tests/contract/test_param_contract.py).
    """
    if cls.__init__ is object.__init__:
        return {}
    try:
        hints = typing.get_type_hints(cls.__init__)
    except (NameError, TypeError, AttributeError):
        return {}
    hints.pop("return", None)
    return hints


def instance_params(obj: object) -> dict[str, Any]:
    """The constructor parameters an object stored (attributes named like them), as given
    (not as ``get_params`` may summarise them for a report)."""
    return {k: getattr(obj, k) for k in init_parameters(type(obj)) if hasattr(obj, k)}


# -- validation --------------------------------------------------------------------------------
def _as_tuple(c: Constraints) -> tuple[Constraint, ...]:
    return c if isinstance(c, tuple) else (c,)


def _allowed(hint: Any, constraints: tuple[Constraint, ...]) -> str:
    """What a parameter may be: its constraints (plus None when the hint allows it), else
    its type hint."""
    if not constraints:
        return describe_hint(hint)
    text = " or ".join(c.describe() for c in constraints)
    return text + " or None" if hint is not None and matches(None, hint) else text


def check_value(
    param: str, value: object, hint: Any, constraints: Constraints | None = None
) -> str | None:
    """The problem with one parameter value (None when it is allowed)."""
    cs = _as_tuple(constraints) if constraints is not None else ()
    ok = hint is None or matches(value, hint)
    if ok and value is not None and cs:
        ok = any(c.accepts(value) for c in cs)
    if ok:
        return None
    return f"{param} must be {_allowed(hint, cs)}, got {short_repr(value)}"


def validate_params(
    cls: type, params: Mapping[str, Any], *, kind: str, name: str, prefix: str = ""
) -> None:
    """Check ``params`` (as passed to ``cls(**params)``) against ``cls``'s declarations.

    Unknown names, missing required parameters (``cls.required_params``), values outside the
    type hint or the ``param_constraints``, and ``param_combination_error`` all raise a
    one-line :class:`ConfigError`: ``"{prefix}bad parameters for {kind} {name!r}: ..."``.
    Missing parameters take their defaults, which are checked too.
    """
    head = f"{prefix}bad parameters for {kind} {name!r}: "
    signature = init_parameters(cls)
    for key in params:
        if key not in signature:
            valid = sorted(signature)
            hint = difflib.get_close_matches(str(key), valid, n=1)
            did_you_mean = f"; did you mean {hint[0]!r}?" if hint else ""
            listing = ", ".join(valid) if valid else "none"
            raise ConfigError(
                f"{head}unknown parameter {short_repr(key)}{did_you_mean} (valid: {listing})"
            )
    for key in getattr(cls, "required_params", ()):
        if params.get(key) is None:
            raise ConfigError(
                f"{head}{key} is required (e.g. {{name: {name}, {key}: ...}}); "
                f"see `miaudit attacks`"
            )
    full = {k: p.default for k, p in signature.items() if p.default is not p.empty}
    full.update(params)
    hints = init_type_hints(cls)
    declared: Mapping[str, Constraints] = getattr(cls, "param_constraints", {})
    for key, value in full.items():
        problem = check_value(key, value, hints.get(key), declared.get(key))
        if problem is not None:
            raise ConfigError(head + problem)
    combination: Callable[[dict[str, Any]], str | None] | None = getattr(
        cls, "param_combination_error", None
    )
    if combination is not None:
        problem = combination(full)
        if problem is not None:
            raise ConfigError(head + problem)


def validate_instance(obj: Any, *, kind: str, prefix: str = "") -> None:
    """:func:`validate_params` on the parameters an attack or defense object stores."""
    validate_params(type(obj), instance_params(obj), kind=kind, name=str(obj.name), prefix=prefix)


# -- evaluation settings ------------------------------------------------------------------------
# -- single values (issue 10 item 8: one validator instead of eight) ----------------------------
def check_number(
    value: object,
    what: str,
    *,
    low: float | None = None,
    high: float | None = None,
    closed: Closed = "both",
    integer: bool = False,
    error: type[Exception] = ConfigError,
) -> float:
    """``value`` when it is a finite number (an integer with ``integer``; NumPy scalars too,
    bools never) between ``low`` and ``high`` (``closed`` says which ends belong); otherwise
    ``error`` with "<what> must be <the interval in words>, got <value>". Values are not
    converted: an int stays an int."""
    interval = Interval(int if integer else float, low, high, closed)
    if not interval.accepts(value):
        unbounded = "an integer" if integer else "a finite number"
        words = unbounded if low is None and high is None else interval.describe()
        raise error(f"{what} must be {words}, got {short_repr(value)}")
    return value  # type: ignore[return-value]


def check_int(
    value: object,
    what: str,
    *,
    low: int | None = None,
    high: int | None = None,
    error: type[Exception] = ConfigError,
) -> int:
    """``value`` as a Python int when it is an integer (a NumPy integer too; bools and
    whole-number floats refused) in ``[low, high]``; otherwise ``error`` naming ``what``
    (e.g. "num_models must be a positive integer, got 0")."""
    return int(check_number(value, what, low=low, high=high, integer=True, error=error))


#: fewest bootstrap resamples allowed besides 0 (no intervals): a percentile interval from
#: fewer is mostly the spread of a handful of values (1 resample gives a zero-width interval,
#: a certainty that was never measured)
MIN_BOOTSTRAP = 10


def check_evaluation(
    *, seed: object, bootstrap: object, random_queries: object, prefix: str = ""
) -> None:
    """ConfigError unless seed >= 0, bootstrap is 0 (no intervals) or >= MIN_BOOTSTRAP, and
    random_queries >= 0, all integers (not bools). Issue 9 item 9: these were checked only
    after every reference model had trained."""
    for key, value in (("seed", seed), ("random_queries", random_queries)):
        check_int(value, f"{prefix}{key}", low=0)
    if not (_is_int(bootstrap) and (bootstrap == 0 or bootstrap >= MIN_BOOTSTRAP)):  # type: ignore[operator]
        raise ConfigError(
            f"{prefix}bootstrap must be 0 (no confidence intervals) or an integer >= "
            f"{MIN_BOOTSTRAP} (resamples; default 200), got {short_repr(bootstrap)}"
        )


__all__ = [
    "Constraint",
    "Constraints",
    "Interval",
    "Items",
    "MIN_BOOTSTRAP",
    "Options",
    "check_evaluation",
    "check_int",
    "check_number",
    "check_value",
    "describe_hint",
    "init_parameters",
    "init_type_hints",
    "instance_params",
    "matches",
    "validate_instance",
    "validate_params",
]
