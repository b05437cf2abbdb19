"""Turn attacks' reference requests into trained reference/shadow models and their outputs.

Each distinct :class:`~miaudit.attacks.ReferenceRequest` is trained once and shared by every
attack that asks for it. Plans (Carlini et al. 2022; Shokri et al. 2017):

* ``random``: a random membership matrix over the audited records (each record IN for half
  the models), so every reference model trains on as many records as the target when
  members and non-members are equally many; LiRA online uses the IN models, offline
  attacks the OUT models of each record.
* ``shadow``: Shokri-style shadows, each trained on ``train_size`` records of the attacker's
  data (the target's training-set size, capped at half the pool) with a disjoint out set of
  the same size. The data come from the request's ``data_source`` or another data set.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from miaudit.attacks import ReferenceRequest
from miaudit.data.augment import image_views
from miaudit.defenses import Defense, DefenseSpec
from miaudit.errors import ConfigError, DataError
from miaudit.models import ModelLike
from miaudit.outputs import ReferenceOutputs
from miaudit.targets import Target


@dataclass(frozen=True)
class ReferenceSettings:
    """How the audit trains reference models (the config's ``reference:`` section).

    Attributes:
        num_models: default number of models for attacks that do not fix it.
        executor: "serial", "process", "ray" (or "batched" when the engine offers it).
        address: Ray cluster address (None: a local Ray instance).
        workers: parallel workers for process/ray.
        cache_dir: content-addressed model cache (None: no cache).
        model, params: the reference models' recipe (default: the target's recipe): a model
            name, or a module factory (a module-level callable with no arguments returning
            a fresh torch ``nn.Module``; params: the torch training parameters and
            ``device``, see :mod:`miaudit.models._factory`), fingerprinted for the cache
            like a ``train_fn``.
        train_fn: a user function ``train_fn(x, y, seed) -> model`` instead of a recipe.
        augment: query images with flips/shifts (None: automatically for image data).
        data_dir: where to load other data sets (ML-Leaks adversary 2).
        defense: the target's defense applied to the reference models (the defense-aware
            attacker), a :class:`~miaudit.defenses.DefenseSpec`, e.g.
            ``DefenseSpec(DPSGD(noise_multiplier=1.0))`` (a Defense instance or a config
            mapping ``{"name": ..., **params}`` is converted to one on construction): a
            training-time defense trains them, an inference-time one wraps them before
            their outputs are computed (the spec's ``reference_size`` sizes the simulated
            defender's data, see :meth:`~miaudit.reference.TrainRecipe.defender_indices`);
            None for an attacker who ignores the defense.
        train_fn_version: an explicit cache version of ``train_fn`` that replaces its
            automatic fingerprint (needed when the function reads a value that cannot be
            fingerprinted; change it whenever the function changes). See
            :class:`~miaudit.reference.TrainRecipe`.
    """

    num_models: int = 16
    executor: str = "serial"
    address: str | None = None
    workers: int | None = None
    cache_dir: str | None = None
    model: ModelLike | None = None
    params: dict[str, Any] | None = None
    train_fn: Callable[[np.ndarray, np.ndarray, int], Any] | None = None
    augment: bool | None = None
    data_dir: str | None = None
    defense: DefenseSpec | Defense | dict[str, Any] | None = None
    train_fn_version: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "defense", DefenseSpec.of(self.defense))


def check_cacheable(settings: ReferenceSettings) -> None:
    """Refuse, before anything trains, a ``train_fn`` the cache cannot identify.

    With a ``cache_dir``, a ``train_fn`` whose behaviour cannot be fingerprinted and that
    has no explicit version key raises the ConfigError that training would raise later
    (see :meth:`~miaudit.reference.TrainRecipe.fingerprint`; issue 9 item 1).
    """
    if settings.cache_dir is not None and settings.train_fn is not None:
        _recipe(settings, 2).fingerprint()


def resolve_request(request: ReferenceRequest, settings: ReferenceSettings) -> ReferenceRequest:
    """Fill the request's defaults from the settings (so equal needs compare equal)."""
    if request.num_models is None:
        request = replace(request, num_models=settings.num_models)
    if request.num_models < 1:
        raise ConfigError(f"reference models: num_models must be at least 1, got {request}")
    return request


def augmenter(x: np.ndarray, settings: ReferenceSettings) -> Callable | None:
    """The augmentation function for the audit's queries, or None."""
    use = settings.augment if settings.augment is not None else x.ndim == 4
    if not use:
        return None
    if x.ndim != 4:
        raise ConfigError("reference.augment needs image data (n, C, H, W)")
    return image_views


def build_reference_outputs(
    request: ReferenceRequest,
    *,
    settings: ReferenceSettings,
    target: Target,
    num_classes: int,
    audited: tuple[np.ndarray, np.ndarray],
    population: tuple[np.ndarray, np.ndarray] | None,
    n_members: int,
    seed: int,
    progress: bool,
) -> ReferenceOutputs:
    """Train the models ``request`` asks for and return their outputs (see module docstring)."""
    from miaudit.reference import random_plan, shadow_plan, train_references

    plan_seed = _request_seed(seed, request)
    rng = np.random.default_rng(plan_seed)
    recipe = _recipe(settings, num_classes)
    x_aud, y_aud = audited
    common = dict(
        executor=settings.executor,
        workers=settings.workers,
        address=settings.address,
        cache_dir=settings.cache_dir,
        progress=progress,
    )
    if request.kind == "random":
        plan = random_plan(len(y_aud), request.num_models, seed=plan_seed)
        queries = {"audited": audited}
        if population is not None:
            queries["population"] = population
        run = train_references(
            plan,
            x_aud,
            y_aud,
            recipe,
            queries=queries,
            augment=augmenter(x_aud, settings),
            # the simulated defender's records come from outside the audited records, as
            # the target's defender's do (the model's out set would make them seen)
            defender_pool=population,
            **common,
        )
        n_pop = 0 if population is None else len(population[1])
        return run.reference_outputs(
            audited="audited",
            population="population" if population is not None else None,
            audited_in=plan.membership(),
            population_in=np.zeros((n_pop, plan.num_models), bool),
            population_out=np.ones((n_pop, plan.num_models), bool),
        )

    if request.kind != "shadow":
        raise ConfigError(f"unknown reference kind {request.kind!r}")
    foreign = None
    if request.dataset is not None:
        from miaudit.data import load_dataset

        other = load_dataset(request.dataset, data_dir=settings.data_dir)
        x_pool, y_pool = other.x, other.y
        recipe = _recipe(settings, other.num_classes)
        foreign = request.dataset
    else:
        if population is None or len(population[1]) < 4:
            raise DataError(
                "shadow models need the attacker's population data; give population=(x, y) "
                "or leave records outside the split"
            )
        x_pool, y_pool = _shadow_pool(request, target, population, num_classes, rng)
        if request.data_source != "population":
            foreign = request.data_source
    train_size = min(n_members, len(y_pool) // 2)
    plan = shadow_plan(len(y_pool), request.num_models, train_size=train_size, seed=plan_seed)
    run = train_references(
        plan, x_pool, y_pool, recipe, queries={"pool": (x_pool, y_pool)}, **common
    )
    return run.reference_outputs(
        audited=None,
        population="pool",
        audited_in=None,
        population_in=plan.membership(),
        population_out=plan.out_membership(),
        foreign=foreign,
    )


def _shadow_pool(
    request: ReferenceRequest,
    target: Target,
    population: tuple[np.ndarray, np.ndarray],
    num_classes: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Shadow training data from the request's data source (Shokri et al. 2017, sec. V-C)."""
    from miaudit.reference import synthesis

    x_pop, y_pop = population
    source = request.data_source
    if source == "population":
        return x_pop, y_pop
    if source == "noisy":
        return synthesis.noisy_records(x_pop, fraction=request.noise_fraction, rng=rng), y_pop
    if source == "statistics_synthesis":
        xs, ys = [], []
        for c in range(num_classes):
            xc = x_pop[y_pop == c]
            if len(xc) == 0:
                continue
            xs.append(synthesis.statistics_synthesis(xc, len(xc), rng=rng))
            ys.append(np.full(len(xc), c, dtype=np.int64))
        return np.concatenate(xs).astype(x_pop.dtype), np.concatenate(ys)
    if source == "model_synthesis":
        flat = x_pop.reshape(len(x_pop), -1)
        n_per_class = max(1, len(y_pop) // num_classes)
        binary = bool(np.all((flat == 0) | (flat == 1)))
        result = synthesis.model_synthesis(
            lambda x: target.predict_proba(x.reshape((len(x), *x_pop.shape[1:]))),
            n_per_class,
            num_classes,
            flat.shape[1],
            rng=rng,
            binary=binary,
            allow_fewer=True,
        )
        x_syn, y_syn = result.x, result.y
        return x_syn.reshape((len(x_syn), *x_pop.shape[1:])).astype(x_pop.dtype), y_syn
    raise ConfigError(f"unknown shadow data source {source!r}")


def _recipe(settings: ReferenceSettings, num_classes: int):
    from miaudit.reference import TrainRecipe

    if settings.train_fn is not None:  # an inference-time defense wraps any model
        recipe = TrainRecipe(
            train_fn=settings.train_fn,
            num_classes=num_classes,
            defense=settings.defense,
            train_fn_version=settings.train_fn_version,
        )
        if settings.executor in ("process", "ray"):
            recipe.check_picklable()
        return recipe
    if settings.train_fn_version is not None:
        raise ConfigError("train_fn_version belongs to a train_fn; this recipe has none")
    if settings.model is None:
        raise ConfigError(
            "reference models need a recipe: the target's model and parameters (config runs "
            "use the target's), reference model/params, or a train_fn(x, y, seed)"
        )
    recipe = TrainRecipe(
        model=settings.model,
        params=dict(settings.params or {}),
        num_classes=num_classes,
        defense=settings.defense,
    )
    if settings.executor in ("process", "ray"):
        recipe.check_picklable()
    return recipe


def _request_seed(seed: int, request: ReferenceRequest) -> int:
    """A per-request seed, stable across runs and Python versions."""
    return int(
        np.random.SeedSequence([seed, zlib.crc32(repr(request).encode())]).generate_state(1)[0]
    )
