"""Every registered attack and defense declares its parameters (issue 9 item 3).

``{name: lira, online: "false"}`` once ran online LiRA (a non-empty string is true) and
recorded ``online: "false"``. The contract: each constructor parameter has a type hint, the
declared constraints name real parameters, defaults pass, and a value of the wrong type
(a string for a number or a bool, a number for a string, a bool for an int) is refused with
a one-line ConfigError naming the class and the parameter.
"""

from __future__ import annotations

import types
import typing
from typing import Any, Literal

import pytest

from miaudit.attacks import ATTACKS
from miaudit.defenses import DEFENSES
from miaudit.errors import ConfigError
from miaudit.validation import init_parameters, init_type_hints, matches, validate_params

# parameters without which the class has no valid configuration
REQUIRED = {
    ("attack", "ml_leaks_2"): {"shadow_dataset": "cifar10"},
    ("defense", "dp_sgd"): {"noise_multiplier": 1.0},
}
CLASSES = [("attack", n, ATTACKS.get(n)) for n in ATTACKS.names()] + [
    ("defense", n, DEFENSES.get(n)) for n in DEFENSES.names()
]
IDS = [f"{kind}:{name}" for kind, name, _ in CLASSES]
PARAMS = [(kind, name, cls, p) for kind, name, cls in CLASSES for p in sorted(init_parameters(cls))]
PARAM_IDS = [f"{kind}:{name}.{p}" for kind, name, _, p in PARAMS]


def _members(hint: Any) -> tuple[Any, ...]:
    origin = typing.get_origin(hint)
    if origin is typing.Union or origin is types.UnionType:
        return typing.get_args(hint)
    return (hint,)


def wrong_value(hint: Any) -> object:
    """A value of the wrong type for ``hint``: a string where numbers, bools, lists or
    arrays are expected, a number where only strings (or string choices) are."""
    kinds = _members(hint)
    only_strings = all(
        k is str or k is type(None) or typing.get_origin(k) is Literal for k in kinds
    )
    return 3 if only_strings else "abc"


@pytest.mark.parametrize(("kind", "name", "cls"), CLASSES, ids=IDS)
def test_every_parameter_has_a_type_hint(kind, name, cls):
    missing = set(init_parameters(cls)) - set(init_type_hints(cls))
    assert not missing, f"{kind} {name}: __init__ parameters without a type hint: {missing}"


@pytest.mark.parametrize(("kind", "name", "cls"), CLASSES, ids=IDS)
def test_constraints_name_real_parameters(kind, name, cls):
    unknown = set(cls.param_constraints) - set(init_parameters(cls))
    assert not unknown, f"{kind} {name}: constraints on unknown parameters {unknown}"


@pytest.mark.parametrize(("kind", "name", "cls"), CLASSES, ids=IDS)
def test_defaults_pass_validation(kind, name, cls):
    validate_params(cls, REQUIRED.get((kind, name), {}), kind=kind, name=name)
    # and the object built from them passes the same check (what fit/train/wrap run)
    cls(**REQUIRED.get((kind, name), {})).check_params()


@pytest.mark.parametrize(("kind", "name", "cls", "param"), PARAMS, ids=PARAM_IDS)
def test_a_value_of_the_wrong_type_is_refused(kind, name, cls, param):
    hint = init_type_hints(cls)[param]
    bad = wrong_value(hint)
    assert not matches(bad, hint)
    params = {**REQUIRED.get((kind, name), {}), param: bad}
    with pytest.raises(ConfigError) as info:
        validate_params(cls, params, kind=kind, name=name)
    message = str(info.value)
    assert "\n" not in message
    assert f"{kind} {name!r}" in message and param in message and repr(bad) in message


def _with_hint(keep) -> list[Any]:
    return [
        pytest.param(*p, id=i)
        for p, i in zip(PARAMS, PARAM_IDS, strict=True)
        if keep(init_type_hints(p[2])[p[3]])
    ]


NUMBER_PARAMS = _with_hint(lambda h: any(k in (int, float) for k in _members(h)))
BOOL_PARAMS = _with_hint(lambda h: h is bool)


@pytest.mark.parametrize(("kind", "name", "cls", "param"), NUMBER_PARAMS)
def test_a_bool_is_refused_where_a_number_is_expected(kind, name, cls, param):
    params = {**REQUIRED.get((kind, name), {}), param: True}
    with pytest.raises(ConfigError, match=f"{param} must be .*got True"):
        validate_params(cls, params, kind=kind, name=name)


@pytest.mark.parametrize(("kind", "name", "cls", "param"), BOOL_PARAMS)
def test_a_string_is_refused_where_a_bool_is_expected(kind, name, cls, param):
    for text in ("false", "no", "0"):
        params = {**REQUIRED.get((kind, name), {}), param: text}
        with pytest.raises(ConfigError, match=f"{param} must be true or false"):
            validate_params(cls, params, kind=kind, name=name)
