"""How to train one reference model: a built-in model recipe or a user's training function."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from torch import nn

from miaudit.errors import ConfigError
from miaudit.models import MODELS, build_torch_module, torch_models, train_model
from miaudit.targets import Target, as_target


def _jsonable(value: Any) -> Any:
    """Parameters as canonical JSON values (tuples -> lists, numpy scalars -> Python)."""
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return repr(value)


def function_name(fn: Callable[..., Any]) -> str:
    """``module.qualname`` of a function (its identity in cache keys)."""
    module = getattr(fn, "__module__", None) or "?"
    qualname = getattr(fn, "__qualname__", None) or type(fn).__qualname__
    return f"{module}.{qualname}"


@dataclass(frozen=True)
class TrainRecipe:
    """How to train one reference model.

    Either a built-in model (``model`` + ``params``, exactly as in the audit's ``target:``
    section, see :func:`miaudit.models.train_model`) or a user function
    ``train_fn(x, y, seed)`` returning a torch module, a fitted scikit-learn classifier or a
    :class:`~miaudit.targets.Target`. Reference models should share the target's
    architecture and training procedure (Shokri et al. 2017; Carlini et al. 2022).

    For the process and Ray executors ``train_fn`` must be picklable (a module-level
    function). The cache identifies ``train_fn`` by its module and qualified name only:
    **rename the function (or clear the cache) when you change what it does**.

    Attributes:
        model: a name in :data:`miaudit.models.MODELS`, or None with ``train_fn``.
        params: overrides of the model's parameters.
        num_classes: number of classes C; 0 means ``max(y_pool) + 1`` in
            :func:`~miaudit.reference.train_references`.
        train_fn: ``train_fn(x, y, seed) -> model`` instead of a built-in model.
        defense: a training-time defense ``{"name": ..., **params}`` applied when training
            each model (the defense-aware, "crystal box" attacker of the survey), or None.
    """

    model: str | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    num_classes: int = 0
    train_fn: Callable[[np.ndarray, np.ndarray, int], Any] | None = None
    defense: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        if (self.model is None) == (self.train_fn is None):
            raise ConfigError("a TrainRecipe needs exactly one of model=... or train_fn=...")
        if not isinstance(self.params, Mapping):
            raise ConfigError(f"params must be a mapping, got {type(self.params).__name__}")
        object.__setattr__(self, "params", dict(self.params))
        nc = self.num_classes
        if isinstance(nc, bool) or not isinstance(nc, int | np.integer) or nc < 0 or nc == 1:
            raise ConfigError(f"num_classes must be 0 (infer) or an integer >= 2, got {nc!r}")
        object.__setattr__(self, "num_classes", int(nc))
        if self.model is not None:
            spec = MODELS.get(self.model)
            unknown = sorted(set(self.params) - set(spec.defaults))
            if unknown:
                raise ConfigError(
                    f"unknown parameter {unknown[0]!r} for model {self.model!r}; "
                    f"valid: {', '.join(sorted(spec.defaults))}"
                )
            if "seed" in self.params:
                raise ConfigError("the recipe's params must not fix the seed; the plan sets it")
        elif self.params:
            raise ConfigError("params belong to a built-in model; a train_fn takes none")
        elif not callable(self.train_fn):
            raise ConfigError(f"train_fn must be callable, got {type(self.train_fn).__name__}")
        if self.defense is not None:
            from miaudit.defenses import DEFENSES

            if self.model is None:
                raise ConfigError("a defense applies to a built-in model recipe, not a train_fn")
            name = dict(self.defense).get("name")
            if DEFENSES.get(str(name)).kind != "training":
                raise ConfigError(f"reference models take training-time defenses, not {name!r}")
            object.__setattr__(self, "defense", dict(self.defense))

    def with_classes(self, num_classes: int) -> TrainRecipe:
        """This recipe with ``num_classes`` filled in (when it was 0)."""
        if self.num_classes:
            return self
        return TrainRecipe(self.model, self.params, num_classes, self.train_fn, self.defense)

    def full_params(self) -> dict[str, Any]:
        """The built-in model's parameters with defaults filled in."""
        if self.model is None:
            return {}
        return {**MODELS.get(self.model).defaults, **self.params}

    def train(self, x: np.ndarray, y: np.ndarray, seed: int) -> Target:
        """Train one model on ``(x, y)`` with ``seed`` and return it as a Target."""
        nc = self.num_classes or None
        if self.model is not None:
            if nc is None:
                raise ConfigError("num_classes must be set to train a built-in model")
            if self.defense is not None:
                from miaudit.defenses import make_defense

                spec = dict(self.defense)
                defense = make_defense(spec.pop("name"), **spec)
                return defense.train(self.model, dict(self.params), x, y, num_classes=nc, seed=seed)
            return train_model(self.model, dict(self.params), x, y, num_classes=nc, seed=seed)
        assert self.train_fn is not None
        return as_target(self.train_fn(x, y, seed), num_classes=nc)

    def fingerprint(self) -> str:
        """Stable text identifying the recipe (the cache key's recipe part).

        Built-in models: name, complete sorted parameters and classes. ``train_fn``: its
        module and qualified name (change the name when you change the function).
        """
        if self.model is not None:
            body: dict[str, Any] = {"model": self.model, "params": _jsonable(self.full_params())}
        else:
            assert self.train_fn is not None
            body = {"train_fn": function_name(self.train_fn)}
        body["num_classes"] = self.num_classes
        if self.defense is not None:
            body["defense"] = _jsonable(self.defense)
        return json.dumps(body, sort_keys=True, separators=(",", ":"))

    # -- rebuilding a built-in torch architecture (to load cached weights) -----------------
    def can_rebuild(self) -> bool:
        """True when the architecture can be rebuilt without training (built-in torch)."""
        return self.model in torch_models() and self.defense is None

    def build_module(self, record_shape: tuple[int, ...]) -> nn.Module:
        """A fresh module of the recipe's architecture for records of ``record_shape``."""
        if self.model is None or not self.can_rebuild():
            raise ConfigError(f"cannot rebuild the architecture of {self.fingerprint()}")
        return build_torch_module(self.model, self.full_params(), record_shape, self.num_classes, 0)

    def mlp_params(self, input_dim: int) -> int | None:
        """Number of parameters of the recipe's MLP (None for other recipes)."""
        if self.model != "mlp":
            return None
        hidden = self.full_params()["hidden"]
        widths = [input_dim, *((hidden,) if isinstance(hidden, int) else hidden)]
        widths.append(self.num_classes)
        return sum(a * b + b for a, b in zip(widths[:-1], widths[1:], strict=True))
