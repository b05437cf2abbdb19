"""How to train one reference model: a built-in model recipe or a user's training function."""

from __future__ import annotations

import json
import pickle
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from torch import nn

from miaudit.defenses import DefenseData, DefenseSpec
from miaudit.errors import ConfigError, short_repr
from miaudit.models import (
    ModelLike,
    build_torch_module,
    is_module_factory,
    model_spec,
    resolve_device,
    torch_models,
    train_model,
)
from miaudit.reference._fingerprint import Unfingerprintable, fingerprint_callable
from miaudit.targets import Target, TorchTarget, as_target
from miaudit.text.hf import HFLMRecipe
from miaudit.text.lm import LMRecipe

#: the stream of the defender-record draw, apart from everything else seeded by a model's seed
_DEFENDER_STREAM = 0x4D454D47  # "MEMG"


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


def _check_version(value: object, what: str) -> str:
    """An explicit train_fn cache version: a non-empty string."""
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{what} must be a non-empty string, got {short_repr(value)}")
    return value


def function_name(fn: Callable[..., Any]) -> str:
    """``module.qualname`` of a function (its identity in cache keys)."""
    module = getattr(fn, "__module__", None) or "?"
    qualname = getattr(fn, "__qualname__", None) or type(fn).__qualname__
    return f"{module}.{qualname}"


def _identity(
    fn: Callable[..., Any], version: str | None, what: str, attr_owner: str
) -> dict[str, str]:
    """A callable's cache identity: ``{"version": key}`` from an explicit key (``version``,
    else ``fn.cache_version``), else ``{"behaviour": sha256}`` of its behaviour."""
    if version is None:
        attr = getattr(fn, "cache_version", None)
        if attr is not None:
            version = _check_version(attr, f"{attr_owner}.cache_version")
    if version is not None:
        return {"version": version}
    try:
        return {"behaviour": fingerprint_callable(fn)}
    except Unfingerprintable as exc:
        hint = (
            '(ReferenceSettings(train_fn_version="v1") or train_fn.cache_version = "v1", '
            if what == "train_fn"
            else f'({attr_owner}.cache_version = "v1", '
        )
        raise ConfigError(
            f"cannot fingerprint {what} {function_name(fn)} for the reference-model cache: "
            f"{exc}; give an explicit version key {hint}changed whenever the function "
            "changes) or run without a cache_dir"
        ) from None


@dataclass(frozen=True)
class TrainRecipe:
    """How to train one reference model.

    Either a built-in model (``model`` + ``params``, exactly as in the audit's ``target:``
    section, see :func:`miaudit.models.train_model`), a module factory (``model`` a callable
    with no arguments returning a fresh torch ``nn.Module``; ``params`` the torch training
    parameters and ``device``, see :mod:`miaudit.models._factory`) or a user function
    ``train_fn(x, y, seed)`` returning a torch module, a fitted scikit-learn classifier or a
    :class:`~miaudit.targets.Target`. Reference models should share the target's
    architecture and training procedure (Shokri et al. 2017; Carlini et al. 2022).

    For the process and Ray executors ``train_fn`` and a module factory must be picklable
    (module-level functions, :meth:`check_picklable`). The cache identifies ``train_fn``
    (and a module factory) by everything its behaviour can depend on
    (:mod:`miaudit.reference._fingerprint`: its code, defaults, closure, ``partial``
    arguments and the module globals it reads), so changing any of them retrains. Where a
    value cannot be fingerprinted (a random generator, an arbitrary object) caching is
    refused unless an explicit version key is given: ``train_fn_version`` here (or
    ``ReferenceSettings(train_fn_version=...)``), or a ``cache_version`` attribute on the
    function (``train_fn.cache_version = "v2"``, also for config runs). The key replaces
    the automatic fingerprint: change it whenever the function changes.

    Attributes:
        model: a name in :data:`miaudit.models.MODELS`, a module factory, or None with
            ``train_fn``.
        params: overrides of the model's parameters.
        num_classes: number of classes C; 0 means ``max(y_pool) + 1`` in
            :func:`~miaudit.reference.train_references`.
        train_fn: ``train_fn(x, y, seed) -> model`` instead of a built-in model.
        defense: the target's defense, a :class:`~miaudit.defenses.DefenseSpec` (a Defense
            instance or a config mapping ``{"name": ..., **params}`` is converted to one),
            for the defense-aware, "crystal box" attacker of the survey; or None. A
            training-time defense trains each model (built-in models and module factories).
            An inference-time defense (MemGuard, top-k, rounding) wraps each trained model
            before its outputs are computed and cached, with the same parameters; its
            ``reference_size`` is the number of defender records (see
            :meth:`defender_indices`). Any recipe takes one.
        train_fn_version: an explicit cache version of ``train_fn`` (a non-empty string)
            replacing its automatic fingerprint; None uses ``train_fn.cache_version`` when
            the function has one, else the fingerprint.
    """

    model: ModelLike | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    num_classes: int = 0
    train_fn: Callable[[np.ndarray, np.ndarray, int], Any] | None = None
    defense: DefenseSpec | None = None
    train_fn_version: str | None = None

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
            spec = model_spec(self.model)
            unknown = sorted(set(self.params) - set(spec.defaults))
            if unknown:
                raise ConfigError(
                    f"unknown parameter {unknown[0]!r} for model {spec.name!r}; "
                    f"valid: {', '.join(sorted(spec.defaults))}"
                )
            if "seed" in self.params:
                raise ConfigError("the recipe's params must not fix the seed; the plan sets it")
            if "device" in spec.defaults:  # a torch recipe: refuse an unusable device now
                resolve_device(self.params.get("device", spec.defaults["device"]))
        elif self.params:
            raise ConfigError("params belong to a built-in model; a train_fn takes none")
        elif not callable(self.train_fn):
            raise ConfigError(f"train_fn must be callable, got {type(self.train_fn).__name__}")
        if self.train_fn_version is not None:
            if self.train_fn is None:
                raise ConfigError("train_fn_version belongs to a train_fn recipe")
            _check_version(self.train_fn_version, "train_fn_version")
        defense = DefenseSpec.of(self.defense)
        if defense is not None and defense.kind == "training" and self.model is None:
            raise ConfigError(
                "a training-time defense applies to a built-in model recipe or a module "
                "factory, not a train_fn"
            )
        object.__setattr__(self, "defense", defense)

    def with_classes(self, num_classes: int) -> TrainRecipe:
        """This recipe with ``num_classes`` filled in (when it was 0)."""
        if self.num_classes:
            return self
        return replace(self, num_classes=num_classes)

    def full_params(self) -> dict[str, Any]:
        """The model's parameters with defaults filled in (a torch recipe's ``device``
        resolved: "auto" becomes the device it trains on, "cpu" or "cuda")."""
        if self.model is None:
            return {}
        full = {**model_spec(self.model).defaults, **self.params}
        if "device" in full:  # a torch recipe (built-in or module factory)
            if self.defense is not None and self.defense.kind == "training":
                full["device"] = self.defense.defense.training_device(full["device"])
            full["device"] = resolve_device(full["device"])
        return full

    @property
    def defense_kind(self) -> str | None:
        """ "training", "inference" or None (no defense)."""
        return None if self.defense is None else self.defense.kind

    @property
    def needs_defender_data(self) -> bool:
        """True when the recipe's defense is fitted with defender records: every
        inference-time defense, and training-time ones that need a reference set
        (distillation, adversarial regularisation, MMD + mix-up)."""
        return self.defense is not None and self.defense.needs_defender_data

    def defender_indices(
        self, out_indices: np.ndarray, seed: int, *, defender_pool_size: int | None = None
    ) -> np.ndarray | None:
        """The records a reference model's defense is fitted with, as the defender's
        reference records (None when the defense needs none).

        The attacker simulates the defender, who fitted its defense (MemGuard's membership
        classifier; the distillation student's transfer set; the adversarial or MMD
        regulariser's non-members) with ``reference_size`` records of its own that the
        target was not trained on. For reference model j these come from a separate
        defender pool when the engine has one (``defender_pool_size`` records, e.g. the
        attacker's population outside the audited records: indices into that pool), else
        from its designated out set of the plan (``plan.out_indices[j]``: the audited
        records it did not train on for a random plan, Shokri's disjoint out set for a
        shadow plan; indices into the training pool). All of them, or a random subset of
        ``reference_size`` when the target's defense gives a smaller one (drawn from
        ``seed``, the model's own seed).
        """
        if not self.needs_defender_data:
            return None
        assert self.defense is not None
        if defender_pool_size is not None:
            out = np.arange(int(defender_pool_size), dtype=np.int64)
        else:
            out = np.asarray(out_indices, dtype=np.int64)
        size = self.defense.reference_size or 0
        if 0 < size < out.size:
            rng = np.random.default_rng(np.random.SeedSequence([int(seed), _DEFENDER_STREAM]))
            out = np.sort(rng.choice(out, size=size, replace=False))
        return out

    def train(
        self,
        x: np.ndarray,
        y: np.ndarray,
        seed: int,
        *,
        defender: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> Target:
        """Train one model on ``(x, y)`` with ``seed`` and return it as a Target.

        With an inference-time defense the returned Target is the trained model wrapped by
        the defense (``defense.wrap(model, train=(x, y), seed=seed,
        data=DefenseData(reference=defender))``), so everything queried from it is defended;
        ``defender`` are the defender's reference non-members (MemGuard needs them).
        """
        if self.defense is not None and self.defense.kind == "inference":
            plain = replace(self, defense=None).train(x, y, seed)
            data = DefenseData(reference=defender)
            wrapped = self.defense.build().wrap(plain, train=(x, y), seed=seed, data=data)
            if "probabilities" not in wrapped.capabilities:
                raise ConfigError(
                    f"defense {self.defense.name!r} leaves the reference models no "
                    "probabilities to query; reference/shadow models need them"
                )
            return wrapped
        nc = self.num_classes or None
        if self.model is not None:
            if nc is None:
                raise ConfigError("num_classes must be set to train a built-in model")
            if self.defense is not None:
                data = DefenseData() if defender is None else DefenseData(reference=defender)
                return self.defense.build().train(
                    self.model, dict(self.params), x, y, num_classes=nc, seed=seed, data=data
                )
            return train_model(self.model, dict(self.params), x, y, num_classes=nc, seed=seed)
        assert self.train_fn is not None
        return as_target(self.train_fn(x, y, seed), num_classes=nc)

    def fingerprint(self) -> str:
        """Stable text identifying the recipe (the cache key's recipe part).

        Built-in models: name, complete sorted parameters and classes (unchanged since the
        cache's first format, so their entries stay valid). Their ``device`` enters the key
        only when it is "cuda" (issue 11: a model trained on a GPU differs from the CPU's in
        its last bits, and its cached outputs must not stand in for the CPU's); a CPU recipe
        keeps the key it had before built-in models took a device. A module factory: its module and
        qualified name, the automatic fingerprint of its behaviour (or its
        ``cache_version`` attribute) and its complete parameters, the device resolved.
        ``train_fn``: its module and
        qualified name plus either the explicit version key or the automatic fingerprint of
        its behaviour (see the class docstring; issue 9 item 1: the name alone let two
        partials with different settings share models). A defense adds its name and
        parameters (so defended and undefended models never share a cache entry); a recipe
        without one has the same fingerprint as before defenses existed.

        Raises:
            ConfigError: a ``train_fn`` that cannot be fingerprinted and has no version key.
        """
        body: dict[str, Any]
        if is_module_factory(self.model):
            factory: Callable[..., Any] = self.model  # type: ignore[assignment]
            body = {
                "model_factory": function_name(factory),
                **_identity(factory, None, "model factory", "factory"),
                "params": _jsonable(self.full_params()),
            }
        elif self.model is not None:
            params = self.full_params()
            if params.get("device") == "cpu":  # the keys from before built-ins took a device
                del params["device"]
            body = {"model": self.model, "params": _jsonable(params)}
        else:
            assert self.train_fn is not None
            body = {
                "train_fn": function_name(self.train_fn),
                **_identity(self.train_fn, self.train_fn_version, "train_fn", "train_fn"),
            }
        body["num_classes"] = self.num_classes
        if self.defense is not None:
            body["defense"] = _jsonable(self.defense.to_dict())
        return json.dumps(body, sort_keys=True, separators=(",", ":"))

    def check_picklable(self) -> None:
        """ConfigError unless the recipe can be sent to worker processes (the process and
        Ray executors): its ``train_fn`` or module factory must be picklable, e.g. a
        module-level function rather than a lambda or a nested function."""
        fn = self.train_fn if self.train_fn is not None else self.model
        if not callable(fn) or isinstance(fn, str):
            return
        try:
            pickle.dumps(fn)
        except Exception as exc:  # pickle raises several types (PicklingError, AttributeError)
            what = "train_fn" if self.train_fn is not None else "module factory"
            raise ConfigError(
                f"{what} {function_name(fn)} cannot be sent to worker processes ({exc}); "
                "define it at module level (not a lambda or a nested function), or use "
                "executor 'serial'"
            ) from None

    # -- rebuilding a built-in torch architecture (to load cached weights) -----------------
    def can_rebuild(self) -> bool:
        """True when the architecture can be rebuilt without training (built-in torch)."""
        return self.model in torch_models() and self.defense is None

    def build_module(self, record_shape: tuple[int, ...]) -> nn.Module:
        """A fresh module of the recipe's architecture for records of ``record_shape``."""
        if self.model is None or not self.can_rebuild():
            what = self.model or function_name(self.train_fn)  # type: ignore[arg-type]
            raise ConfigError(f"cannot rebuild the architecture of {what}")
        return build_torch_module(self.model, self.full_params(), record_shape, self.num_classes, 0)

    def rebuild(self, weights: Mapping[str, Any], record_shape: tuple[int, ...]) -> Target:
        """A model of this recipe with cached ``weights`` (:meth:`can_rebuild` recipes)."""
        module = self.build_module(record_shape)
        module.load_state_dict(dict(weights))
        return TorchTarget(module.eval(), num_classes=self.num_classes)

    def weights(self, target: Target) -> dict[str, Any] | None:
        """What the cache stores of a trained model: a torch model's ``state_dict``."""
        return target.module.state_dict() if isinstance(target, TorchTarget) else None

    def train_loss(self, target: Target, x: np.ndarray, y: np.ndarray) -> float:
        """Mean cross-entropy of ``target`` on its training records ``(x, y)``."""
        out = target.outputs(x, y)
        idx = np.arange(out.n)
        if out.logits is not None:
            z = out.logits
            m = z.max(axis=1)
            per = m + np.log(np.exp(z - m[:, None]).sum(axis=1)) - z[idx, out.y]
        else:
            per = -np.log(np.maximum(out.probs[idx, out.y], 1e-30))
        return float(per.mean())

    def mlp_params(self, input_dim: int) -> int | None:
        """Number of parameters of the recipe's MLP (None for other recipes)."""
        if self.model != "mlp":
            return None
        hidden = self.full_params()["hidden"]
        widths = [input_dim, *((hidden,) if isinstance(hidden, int) else hidden)]
        widths.append(self.num_classes)
        return sum(a * b + b for a, b in zip(widths[:-1], widths[1:], strict=True))


#: what the reference engine trains: a classifier's recipe, or a causal language model's
#: (:class:`miaudit.text.LMRecipe`, :class:`miaudit.text.HFLMRecipe`: the same methods; their
#: models answer TokenAnswers)
Recipe = TrainRecipe | LMRecipe | HFLMRecipe
LM_RECIPES = (LMRecipe, HFLMRecipe)
