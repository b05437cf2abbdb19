"""The attacks an audit runs: names, ``{"name": ..., **params}`` dicts, Attack objects or
"all", resolved into (label, attack) pairs with their parameters checked."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from miaudit.attacks import (
    ATTACKS,
    Attack,
    Offer,
    make_attack,
)
from miaudit.errors import ConfigError

DEFAULT_ATTACKS = ("gap", "loss", "confidence", "entropy", "modified_entropy")


AttackSpec = str | dict[str, Any] | Attack


def resolve_attacks(
    attacks: Sequence[AttackSpec] | str,
    *,
    offer: Offer | None = None,
) -> list[tuple[str, Attack]]:
    """Turn names / dicts / objects (or "all") into (label, attack) pairs; unknown names fail,
    and so do parameters outside an attack's declared types and ranges (ConfigError).

    "all" means every registered attack that runs with its default parameters and whose
    declared needs ``offer`` meets (None: every need met): without a recipe it leaves out
    the attacks that train models, without population records those that need them, and
    white-box attacks when the target does not expose its parameters.
    """
    if isinstance(attacks, str):
        attacks = [attacks] if attacks != "all" else _all_attacks(offer or Offer())
    if len(attacks) == 0:
        raise ConfigError("no attacks given; name at least one (see `miaudit attacks`)")
    out = [_resolve(spec) for spec in attacks]
    names = [label for label, _ in out]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ConfigError(
            f"attack(s) listed twice: {', '.join(dupes)}; give variants distinct 'label's"
        )
    return out


def _all_attacks(offer: Offer) -> list[str]:
    """The registered attacks (sorted) that need no parameter and whose needs ``offer`` meets."""
    return [
        name
        for name in ATTACKS.names()
        if not ATTACKS.get(name).requires.params and not ATTACKS.get(name)().needs().missing(offer)
    ]


def _resolve(spec: AttackSpec) -> tuple[str, Attack]:
    """One attack entry as (label, attack)."""
    if isinstance(spec, Attack):
        spec.check_params()  # an object built by hand skipped make_attack's checks
        return spec.name, spec
    if isinstance(spec, str):
        return spec, _make(spec, {})
    if isinstance(spec, dict):
        params = dict(spec)
        name = params.pop("name", None)
        label = params.pop("label", name)
        if not isinstance(name, str) or not isinstance(label, str):
            raise ConfigError(f"attack entry {spec!r} needs a 'name' (and a string label)")
        return label, _make(name, params)
    raise ConfigError(f"attack must be a name, a dict or an Attack, got {spec!r}")


def _make(name: str, params: dict[str, Any]) -> Attack:
    """The attack ``name`` with ``params``, checked (names, required parameters, declared
    types and ranges) before it is built."""
    return make_attack(name, **params)
