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

Each plan kind is one function registered in :data:`PLAN_KINDS` (by ``ReferenceRequest.kind``);
the shadow data sources are registered in :mod:`miaudit.reference.sources`.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from miaudit.attacks import ReferenceRequest
from miaudit.data.augment import AugmentSetting
from miaudit.defenses import Defense, DefenseSpec
from miaudit.errors import ConfigError, DataError
from miaudit.models import ModelLike
from miaudit.outputs import ReferenceOutputs
from miaudit.registry import Registry
from miaudit.targets import Target

if TYPE_CHECKING:
    from miaudit.pipeline._reads import RequestReads
    from miaudit.reference import ReferencePlan, ReferenceRun, TrainRecipe


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
        augment: the augmented views of audited images (LiRA, RMIA's x): None for the
            data kind's default (image data: one-pixel shifts, and a horizontal flip only
            for data sets whose labels survive mirroring; tabular: none), False for none,
            True for the default views, ``{"flip": bool, "shift": pixels}`` or an
            :class:`~miaudit.data.augment.Augmentation` for these views (see
            :func:`~miaudit.data.augment.resolve_augmentation`). The views are scored only
            when an attack reads them.
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
    augment: AugmentSetting = None
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


def request_label(request: ReferenceRequest) -> str:
    """A request in a few words, e.g. "random 16 models" (timings, results.json)."""
    parts = [request.kind, f"{request.num_models} models"]
    if request.kind == "shadow":
        parts.append(request.dataset or request.data_source)
    return " ".join(str(p) for p in parts)


@dataclass(frozen=True)
class _PlanInputs:
    """What every plan kind gets: the request, the audit's data and where to train."""

    request: ReferenceRequest
    settings: ReferenceSettings
    target: Target
    num_classes: int
    audited: tuple[np.ndarray, np.ndarray]
    population: tuple[np.ndarray, np.ndarray] | None
    n_members: int
    plan_seed: int
    rng: np.random.Generator
    recipe: TrainRecipe
    progress: bool
    #: what the request's attacks read together (None: everything, as before issue 18)
    scored: RequestReads | None = None
    #: ``views(x)`` of the audit's augmentation (None: none)
    augment: Callable | None = None
    #: filled with the seconds the models spent "training" and "scoring" (None: not kept)
    timings: dict[str, float] | None = None

    def train(
        self,
        plan: ReferencePlan,
        x_pool: np.ndarray,
        y_pool: np.ndarray,
        recipe: TrainRecipe,
        *,
        queries: dict[str, tuple[np.ndarray, np.ndarray]],
        augment: Callable | None = None,
        plain: tuple[str, ...] = (),
        defender_pool: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> ReferenceRun:
        """:func:`~miaudit.reference.train_references` with the settings' executor and cache."""
        from miaudit.reference import train_references

        run = train_references(
            plan,
            x_pool,
            y_pool,
            recipe,
            executor=self.settings.executor,
            workers=self.settings.workers,
            address=self.settings.address,
            cache_dir=self.settings.cache_dir,
            progress=self.progress,
            queries=queries,
            augment=augment,
            plain=plain,
            defender_pool=defender_pool,
        )
        if self.timings is not None:
            for key, values in (("training", run.train_seconds), ("scoring", run.score_seconds)):
                total = 0.0 if values is None else float(values.sum())
                self.timings[key] = self.timings.get(key, 0.0) + total
        return run


PlanKind = Callable[[_PlanInputs], ReferenceOutputs]

#: reference plan kinds, name -> how its models are planned, trained and assembled
PLAN_KINDS: Registry[PlanKind] = Registry("reference kind", ordered=True)


def _plan_kind(name: str) -> Callable[[PlanKind], PlanKind]:
    """Decorator registering a plan kind under ``name`` (a ``ReferenceRequest.kind``)."""
    return PLAN_KINDS.register(name)


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
    scored: RequestReads | None = None,
    augment: Callable | None = None,
    timings: dict[str, float] | None = None,
) -> ReferenceOutputs:
    """Train the models ``request`` asks for and return their outputs (see module docstring).

    ``scored``: what the attacks of this request read together
    (:class:`~miaudit.pipeline._reads.RequestReads`): the models are scored on that only;
    None scores everything (the audited records with ``augment``'s views, the whole
    population, the whole shadow pool). ``augment``: ``views(x)`` of the audit's
    augmentation, None for none. ``timings``: filled with the seconds the models spent
    "training" and "scoring" in all.
    """
    plan_seed = _request_seed(seed, request)
    rng = np.random.default_rng(plan_seed)
    recipe = _recipe(settings, num_classes)
    if request.kind not in PLAN_KINDS:
        raise ConfigError(
            f"unknown reference kind {request.kind!r}; valid: {', '.join(PLAN_KINDS)}"
        )
    inputs = _PlanInputs(
        request,
        settings,
        target,
        num_classes,
        audited,
        population,
        n_members,
        plan_seed,
        rng,
        recipe,
        progress,
        scored,
        augment,
        timings,
    )
    return PLAN_KINDS.get(request.kind)(inputs)


@_plan_kind("random")
def _random_references(inputs: _PlanInputs) -> ReferenceOutputs:
    """LiRA/RMIA reference models (Carlini et al. 2022): a random membership matrix over
    the audited records; each model is also queried on the population records its
    attacks read (``inputs.scored``), which are OUT for all."""
    from miaudit.reference import random_plan

    x_aud, y_aud = inputs.audited
    population = inputs.population
    plan = random_plan(len(y_aud), inputs.request.num_models, seed=inputs.plan_seed)
    queries, plain = _random_queries(inputs)
    run = inputs.train(
        plan,
        x_aud,
        y_aud,
        inputs.recipe,
        queries=queries,
        augment=inputs.augment,
        plain=plain,
        # the simulated defender's records come from outside the audited records, as
        # the target's defender's do (the model's out set would make them seen)
        defender_pool=population,
    )
    n_pop = len(queries["population"][1]) if "population" in queries else 0
    return run.reference_outputs(
        audited="audited" if "audited" in queries else None,
        population="population" if "population" in queries else None,
        audited_in=plan.membership(),
        population_in=np.zeros((n_pop, plan.num_models), bool),
        population_out=np.ones((n_pop, plan.num_models), bool),
    )


@_plan_kind("shadow")
def _shadow_references(inputs: _PlanInputs) -> ReferenceOutputs:
    """Shokri et al. (2017) shadow models on the attacker's data (or another data set, the
    ML-Leaks adversary 2 of Salem et al. 2019), each with a disjoint out set of its size."""
    from miaudit.reference import shadow_plan

    request, recipe, foreign = inputs.request, inputs.recipe, None
    if request.dataset is not None:
        from miaudit.data import load_dataset

        other = load_dataset(request.dataset, data_dir=inputs.settings.data_dir)
        x_pool, y_pool = other.x, other.y
        recipe = _recipe(inputs.settings, other.num_classes)
        foreign = request.dataset
    else:
        population = inputs.population
        if population is None or len(population[1]) < 4:
            raise DataError(
                "shadow models need the attacker's population data; give population=(x, y) "
                "or leave records outside the split"
            )
        x_pool, y_pool = _shadow_pool(
            request, inputs.target, population, inputs.num_classes, inputs.rng
        )
        if request.data_source != "population":
            foreign = request.data_source
    train_size = min(inputs.n_members, len(y_pool) // 2)
    plan = shadow_plan(
        len(y_pool), request.num_models, train_size=train_size, seed=inputs.plan_seed
    )
    # each shadow is read on its own in and out records only: score the union of those
    rows = np.flatnonzero(plan.membership().any(axis=1) | plan.out_membership().any(axis=1))
    read = inputs.scored is None or inputs.scored.pool
    queries = {"pool": (x_pool[rows], y_pool[rows])} if read else {}
    run = inputs.train(plan, x_pool, y_pool, recipe, queries=queries)
    return run.reference_outputs(
        audited=None,
        population="pool" if read else None,
        audited_in=None,
        population_in=plan.membership()[rows] if read else None,
        population_out=plan.out_membership()[rows] if read else None,
        foreign=foreign,
    )


def _random_queries(
    inputs: _PlanInputs,
) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], tuple[str, ...]]:
    """The query sets of a random plan's models and those scored without views: the
    audited records and the population rows the request's attacks read."""
    scored, population = inputs.scored, inputs.population
    queries: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    plain: list[str] = []
    if scored is None or scored.audited:
        queries["audited"] = inputs.audited
        if scored is not None and not scored.augmented:
            plain.append("audited")
    if population is not None:
        rows = np.arange(len(population[1])) if scored is None else scored.population
        if rows.size == len(population[1]):
            queries["population"] = population  # all of it: the same query set as before
        elif rows.size:
            queries["population"] = (population[0][rows], population[1][rows])
        if "population" in queries and scored is not None and not scored.population_augmented:
            plain.append("population")
    return queries, tuple(plain)


def _shadow_pool(
    request: ReferenceRequest,
    target: Target,
    population: tuple[np.ndarray, np.ndarray],
    num_classes: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Shadow training data from the request's data source (Shokri et al. 2017, sec. V-C;
    the sources are registered in :mod:`miaudit.reference.sources`)."""
    from miaudit.reference.sources import AttackerData, shadow_data

    x_pop, y_pop = population
    data = AttackerData(
        x=x_pop,
        y=y_pop,
        num_classes=num_classes,
        rng=rng,
        predict_proba=lambda x: target.predict_proba(x),
        noise_fraction=request.noise_fraction,
    )
    return shadow_data(request.data_source, data)


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
