"""Refusing an attack whose declared needs (:class:`~miaudit.attacks.Needs`) an audit cannot
meet, before anything is queried or trained: a recipe for reference models, population
records, a target that exposes its parameters."""

from __future__ import annotations

from collections.abc import Sequence

from miaudit.attacks import Attack, Offer
from miaudit.errors import ConfigError


def check_attack_needs(
    attacks: Sequence[tuple[str, Attack]], offer: Offer, prefix: str = ""
) -> None:
    """Refuse (ConfigError, one line) the first attack whose declared needs ``offer`` lacks."""
    for label, attack in attacks:
        missing = attack.needs().missing(offer)
        if missing:
            raise ConfigError(
                f"{prefix}attack {label!r} needs {' and '.join(missing)}, which this audit "
                "does not have; remove the attack or give the audit what it needs"
            )
