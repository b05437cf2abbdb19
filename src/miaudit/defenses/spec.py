"""``DefenseSpec``: a defense as one typed value, resolved once at the edge.

The config's ``target.defense`` mapping (``{"name", "reference_size", **params}``) is read
once, where the split sizes are known (:func:`miaudit.pipeline.run.resolve_defense`), and
everything downstream (the target's training or wrapping, the defense-aware reference
models, the trade-off sweep) receives this value instead of re-reading a dict. Python API
users build one directly: ``DefenseSpec(DPSGD(noise_multiplier=1.0))``.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from miaudit.defenses.base import Defense, DefenseKind, make_defense
from miaudit.errors import ConfigError, short_repr
from miaudit.validation import check_int


def _explicit_params(defense: Defense) -> dict[str, Any]:
    """The instance's parameters that differ from its constructor's defaults (so that
    ``DefenseSpec(MemGuard())`` and the config ``{name: memguard}`` are the same value)."""
    signature = inspect.signature(type(defense).__init__)
    out = {}
    for k, v in defense.get_params().items():
        p = signature.parameters.get(k)
        if p is None or p.default is inspect.Parameter.empty or not _same(p.default, v):
            out[k] = v
    return out


def _same(a: Any, b: Any) -> bool:
    try:
        return bool(type(a) is type(b) and a == b)
    except (TypeError, ValueError):  # arrays and other values without a plain ==
        return False


@dataclass(frozen=True)
class DefenseSpec:
    """A validated defense, its parameters and the defender's data size.

    Attributes:
        defense: the :class:`~miaudit.defenses.Defense` (a template: :meth:`build` gives the
            fresh copy each model is trained or wrapped with, so fitted values such as DP's
            ``epsilon_`` never leak between the target and the reference models).
        reference_size: the number of defender records (records of the defender's own,
            disjoint from the training set: distillation's transfer set, MemGuard's
            non-members, ...). A config run resolves it once: the config's value, else
            :func:`miaudit.pipeline.run.default_reference_size` for defenses that
            ``needs_reference``; None when neither applies. In the Python API it sizes the
            simulated defender's data of the defense-aware reference models (see
            :meth:`miaudit.reference.TrainRecipe.defender_indices`); None or 0 uses all.
        params: the parameters as given (defaults left out); :meth:`to_dict` and the
            reference-model cache key are built from them. Taken from ``defense`` when not
            given (the parameters that differ from the constructor's defaults).

    Raises:
        ConfigError: ``defense`` is not a Defense instance, its parameters are invalid, or
        ``reference_size`` is not a non-negative integer.
    """

    defense: Defense
    reference_size: int | None = None
    params: Mapping[str, Any] = field(default=None)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if not isinstance(self.defense, Defense):
            raise ConfigError(
                "DefenseSpec needs a Defense instance (e.g. DefenseSpec(DPSGD(...)), or "
                f"DefenseSpec.from_dict({{'name': ..., **params}})), got {short_repr(self.defense)}"
            )
        self.defense.check_params()
        size = self.reference_size
        if size is not None:
            check_int(size, "defense reference_size", low=0)
            object.__setattr__(self, "reference_size", int(size))
        params = _explicit_params(self.defense) if self.params is None else dict(self.params)
        object.__setattr__(self, "params", params)

    @classmethod
    def from_dict(cls, spec: Mapping[str, Any]) -> DefenseSpec:
        """The spec of ``{"name": ..., "reference_size": ..., **params}`` (a config's
        ``target.defense``; ``reference_size`` kept as given, not resolved)."""
        if not isinstance(spec, Mapping) or not isinstance(spec.get("name"), str):
            raise ConfigError(
                f"a defense must be a mapping {{'name': ..., **params}}, got {short_repr(spec)}"
            )
        params = {k: v for k, v in spec.items() if k not in ("name", "reference_size")}
        defense = make_defense(spec["name"], **params)
        return cls(defense, reference_size=spec.get("reference_size"), params=params)

    @classmethod
    def of(cls, value: DefenseSpec | Defense | Mapping[str, Any] | None) -> DefenseSpec | None:
        """``value`` as a spec: a spec itself, a Defense instance, or a config mapping."""
        if value is None or isinstance(value, DefenseSpec):
            return value
        if isinstance(value, Defense):
            return cls(value)
        if isinstance(value, Mapping):
            return cls.from_dict(value)
        raise ConfigError(
            "defense must be a DefenseSpec, a Defense instance or a mapping "
            f"{{'name': ..., **params}}, got {short_repr(value)}"
        )

    @property
    def name(self) -> str:
        return self.defense.name

    @property
    def kind(self) -> DefenseKind:
        return self.defense.kind

    @property
    def needs_defender_data(self) -> bool:
        """True when the defense is fitted with defender records: every inference-time
        defense, and training-time ones that ``needs_reference`` (distillation, adversarial
        regularisation, MMD + mix-up)."""
        return self.kind == "inference" or bool(self.defense.needs_reference)

    def build(self) -> Defense:
        """A fresh, unfitted copy of the defense (its parameters only)."""
        return type(self.defense)(**self.defense.get_params())

    def to_dict(self) -> dict[str, Any]:
        """``{"name", **params, "reference_size"}`` (the latter when set): the mapping
        miaudit's configs use, and the defense part of the reference-model cache key."""
        out: dict[str, Any] = {"name": self.name, **self.params}
        if self.reference_size is not None:
            out["reference_size"] = self.reference_size
        return out

    def __repr__(self) -> str:
        return f"DefenseSpec({self.to_dict()!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, DefenseSpec):
            return NotImplemented
        return type(self.defense) is type(other.defense) and self.to_dict() == other.to_dict()

    def __hash__(self) -> int:
        return hash((type(self.defense), repr(self.to_dict())))
