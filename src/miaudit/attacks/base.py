"""The attack contract: threat model, declared needs, attacker knowledge, the Attack base class.

Conventions (DESIGN.md): the constructor only stores keyword parameters; ``fit`` returns
self and sets attributes ending in ``_``; ``score_samples`` returns float64 scores of shape
(n,), higher meaning "more likely a member". Attacks work on NumPy values only.

Each attack class declares what it needs as data, ``requires: ClassVar[Needs]``: the
pipeline gives an attack only what it declares, ``miaudit attacks`` prints it, and config
validation refuses an attack whose needs the audit cannot meet before anything trains.
``Needs.reads`` (:class:`Reads`) says which outputs of its reference models it reads; the
audit scores the target and the reference models on the union of what the requested
attacks read, nothing more (issue 18).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Self

import numpy as np

from miaudit.errors import DataError, NotFittedError
from miaudit.outputs import ModelOutputs, ReferenceOutputs
from miaudit.reference.sources import DATA_SOURCES  # noqa: F401 (re-exported: the registry's names)
from miaudit.registry import Registry
from miaudit.validation import Constraints, validate_instance, validate_params

if TYPE_CHECKING:  # attacks stay NumPy-only at import time
    from miaudit.targets import Target

Knowledge = Literal["black-box probabilities", "black-box labels", "black-box samples", "white-box"]
Access = Literal["outputs", "labels", "white-box"]


@dataclass(frozen=True)
class ThreatModel:
    """What an attack assumes of the attacker (the columns of the survey's comparison table)."""

    knowledge: Knowledge
    needs_shadow_models: bool
    needs_same_distribution_data: bool
    needs_architecture: bool
    paper: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class AttackerKnowledge:
    """What the attacker holds besides the records it attacks.

    The pipeline fills in only what the attack declares in its :class:`Needs`
    (``Attack.requires``); the other optional fields are None.

    Attributes:
        num_classes: number of classes of the target.
        population: the target's outputs on the attacker's population records (known
            non-members of the target, from the same distribution); ``Needs.population``.
        random_queries: the target's outputs on random inputs (uniform noise in the input
            domain), used by ML-Leaks adversary 3 to pick its threshold; ``y`` is ignored;
            ``Needs.random_queries``.
        seed: seed for any randomness in fitting.
        reference: outputs of the reference/shadow models the attack asked for through
            :meth:`Attack.reference_request` (the pipeline trains them), else None.
        population_data: the attacker's raw population records ``(x, y)`` (to train its
            own shadow models, relabel them with the target, calibrate thresholds); given
            to every attack when the audit has them.
        train_model: the reference recipe, ``train_model(x, y, seed) -> Target``, for
            attacks that need shadow *models* rather than outputs (transfer attacks on a
            shadow's gradients, Nasr's attack model; ``Needs.recipe``); None when no recipe
            was given.
        target: query access to the target for attacks with ``access != "outputs"``
            during ``fit`` (e.g. to relabel shadow data with the target's labels): a
            label-only view for label-only attacks, the full target for white-box ones.
    """

    num_classes: int
    population: ModelOutputs | None = None
    random_queries: ModelOutputs | None = None
    seed: int = 0
    reference: ReferenceOutputs | None = None
    population_data: tuple[np.ndarray, np.ndarray] | None = None
    train_model: Callable[[np.ndarray, np.ndarray, int], Target] | None = None
    target: Target | None = None


ReferenceKind = Literal["random", "shadow"]


@dataclass(frozen=True)
class When:
    """A need that holds only for one value of a constructor parameter, e.g.
    ``When("calibration", "shadow")``: boundary_distance trains a shadow model only with
    shadow calibration."""

    param: str
    value: Any

    def holds(self, params: Mapping[str, Any]) -> bool:
        return bool(params.get(self.param) == self.value)

    def __str__(self) -> str:
        return f"{self.param}={self.value}"


#: a need that always holds (True), never (False), or for some parameter values (When)
Condition = bool | When


def _decide(condition: Condition, params: Mapping[str, Any]) -> bool:
    return condition.holds(params) if isinstance(condition, When) else bool(condition)


@dataclass(frozen=True)
class Param:
    """A count read from a constructor parameter, e.g. ``Param("num_population")``: RMIA's
    number of population records z is its ``num_population`` (None there means all)."""

    name: str

    def __str__(self) -> str:
        return f"param {self.name}"


#: how many population records: 0 (none), a number, "all", or a constructor parameter
Count = int | Literal["all"] | Param

#: a decided count: 0, a positive number, or None for all of them
Decided = int | None


@dataclass(frozen=True)
class Reads:
    """Which outputs of its reference models an attack reads (``Needs.reads``).

    The reference engine scores each reference model only on the union of what the
    requested attacks read, and queries the target likewise (issue 18: an MNIST LiRA audit
    scored 69,000 population records x 10 augmented views with every reference model,
    which LiRA never reads).

    Attributes:
        audited: outputs on the audited records (random plans: LiRA, RMIA, GMIA).
        augmented: with the augmented views of the audited records (LiRA's and RMIA's
            averaged queries; the target is then queried on the same views), else the plain
            query only.
        population: how many of the attacker's population records: 0 for none, a number, or
            "all"; a :class:`Param` takes it from a constructor parameter (None = all).
            Records are drawn by :func:`population_rows` (seeded by the audit's seed), so a
            smaller count is a subset of a larger one and attacks reading different counts
            share one scoring.
        population_augmented: with the augmented views of those population records.
        pool: the shadow models' outputs on their own training and out records (shadow
            plans: Shokri, ML-Leaks, calibrated thresholds); False for an attack that reads
            only their training losses (Li & Zhang's transfer threshold).
    """

    audited: bool = False
    augmented: bool = False
    population: Count = 0
    population_augmented: bool = False
    pool: bool = False

    def population_count(self, params: Mapping[str, Any]) -> Decided:
        """The number of population records for ``params``: 0, a number, None = all."""
        count = self.population
        if isinstance(count, Param):
            value = params.get(count.name)
            return None if value is None else int(value)
        return None if count == "all" else int(count)

    def describe(self) -> str:
        """A few words for ``miaudit attacks``, e.g. "audited (augmented), population param
        num_population"."""
        parts = []
        if self.audited:
            parts.append("audited" + (" (augmented)" if self.augmented else ""))
        if self.population != 0:
            aug = " (augmented)" if self.population_augmented else ""
            parts.append(f"population {self.population}{aug}")
        if self.pool:
            parts.append("shadow in/out records")
        return ", ".join(parts) or "training losses only"


#: what an attack without a ``reads`` declaration is assumed to read: everything the engine
#: can score (the behaviour before issue 18); every built-in attack declares its own
READS_EVERYTHING = Reads(
    audited=True, augmented=True, population="all", population_augmented=True, pool=True
)


def population_rows(n: int, count: Decided, seed: int) -> np.ndarray:
    """Sorted indices of the ``count`` population records an attack reads (None: all n).

    The first ``count`` records of one seeded permutation of the population, so a smaller
    count always gives a subset of a larger one (RMIA's z and GMIA's neighbour pool can
    share one scoring). ``count`` at or above ``n`` gives every record, in order.
    """
    if count is None or count >= n:
        return np.arange(n, dtype=np.int64)
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), _POPULATION_STREAM]))
    return np.sort(rng.permutation(n)[: int(count)]).astype(np.int64)


#: a fixed stream id, so the population draw does not reuse the audit seed's own stream
_POPULATION_STREAM = 0x18


@dataclass(frozen=True)
class Offer:
    """What an audit can give its attacks, checked against their :class:`Needs` first.

    Attributes:
        recipe: a recipe to train reference/shadow models (config runs always have one,
            the target's own; :func:`miaudit.audit` one when given ``reference``).
        parameters: the target exposes its parameters (a torch model, not wrapped by an
            inference-time defense).
        population: the attacker has population records (outside the audited ones).
        parameters_note: why the target has no parameters and what would give them (a
            saved model's format, :attr:`miaudit.targets.Target.parameters_note`), for the
            refusal of white-box attacks; None for the generic phrase.
        probabilities: the target answers probability vectors (False for a label-only or
            top-k API: only the label-only attacks, ``access == "labels"``, can run).
    """

    recipe: bool = True
    parameters: bool = True
    population: bool = True
    parameters_note: str | None = None
    probabilities: bool = True


@dataclass(frozen=True)
class Needs:
    """What an attack needs, declared on its class as ``requires`` (data, not methods).

    Attributes:
        access: what scoring reads: "outputs" -> ``score_samples(outputs)`` on the
            target's probability outputs; "labels" -> ``score_records(target, x, y)`` with a
            label-only, query-counted target; "white-box" -> ``score_records(target, x, y)``
            with the full target (its parameters and gradients).
        reference: the plan kind of the reference models it asks for through
            :meth:`Attack.reference_request` ("random" or "shadow"), None for none. The
            request itself (number of models, data source) depends on the parameters.
        population: ``fit`` reads ``AttackerKnowledge.population``, the target's outputs on
            the attacker's population records (was ``uses_population``). The pipeline
            queries the target on the population only when a requested attack declares it
            (issue 9 item 15); the others get ``population=None``.
        population_data: ``fit`` requires the attacker's raw population records
            (``AttackerKnowledge.population_data``; given to every attack, which may read
            them when present).
        recipe: ``fit`` trains models of its own with the reference recipe
            (``AttackerKnowledge.train_model``; None for the attacks that do not declare it).
        random_queries: ``fit`` reads the target's outputs on random inputs
            (``AttackerKnowledge.random_queries``; None for the others).
        params: constructor parameters without a default (was ``required_params``).
        reads: which outputs of its reference models it reads (:class:`Reads`); None (an
            attack that does not say) reads everything. Every built-in attack with reference
            models declares it (a contract test checks).
        labels_suffice: scoring reads only the predicted label of the target's outputs (the
            gap attack): it also runs on a label-only or top-k target, whose outputs are
            then the one-hot predicted labels (every other outputs attack is refused there).

    ``population_data`` and ``recipe`` may be a :class:`When`: :meth:`Attack.needs` decides
    them for an attack's parameters.
    """

    access: Access = "outputs"
    reference: ReferenceKind | None = None
    population: bool = False
    population_data: Condition = False
    recipe: Condition = False
    random_queries: bool = False
    params: tuple[str, ...] = ()
    reads: Reads | None = None
    labels_suffice: bool = False

    @property
    def parameters(self) -> bool:
        """Whether scoring needs the target's parameters (white-box access)."""
        return self.access == "white-box"

    @property
    def reference_reads(self) -> Reads:
        """What it reads of its reference models (:data:`READS_EVERYTHING` when undeclared;
        nothing without reference models)."""
        if self.reads is not None:
            return self.reads
        return READS_EVERYTHING if self.reference is not None else Reads()

    @property
    def trains_models(self) -> bool:
        """Whether the audit must train models for it (reference models or its own)."""
        return self.reference is not None or self.recipe is not False

    def decided(self, params: Mapping[str, Any]) -> Needs:
        """These needs with every :class:`When` decided for ``params``."""
        return replace(
            self,
            population_data=_decide(self.population_data, params),
            recipe=_decide(self.recipe, params),
        )

    def missing(self, offer: Offer) -> list[str]:
        """What of these (decided) needs ``offer`` lacks, as phrases for an error."""
        out = []
        scores_outputs = self.access == "outputs" and not self.labels_suffice
        reads_outputs = scores_outputs or self.population or self.random_queries
        if reads_outputs and not offer.probabilities:
            out.append(
                "the target's probability outputs (this target answers labels only; "
                "label-only attacks such as augmentation and boundary_distance run on it)"
            )
        if self.parameters and not offer.parameters:
            why = offer.parameters_note or (
                "white-box: a torch model without an inference-time defense"
            )
            out.append(f"the target's parameters ({why})")
        if self.trains_models and not offer.recipe:
            out.append("a recipe to train reference/shadow models (reference model or train_fn)")
        if (self.population or self.population_data) and not offer.population:
            out.append("the attacker's population records (leave records outside the split)")
        return out

    def describe(self) -> str:
        """One line for ``miaudit attacks``, e.g. "outputs; random reference models"."""
        parts: list[str] = [self.access]
        if self.reference is not None:
            parts.append(f"{self.reference} reference models")
        for flag, text in (
            (self.recipe, "recipe"),
            (self.population_data, "population records"),
        ):
            if flag is not False:
                parts.append(text if flag is True else f"{text} if {flag}")
        if self.population:
            parts.append("population outputs")
        if self.random_queries:
            parts.append("random queries")
        if self.reference is not None:
            parts.append(f"reads {self.reference_reads.describe()}")
        parts += [f"param {p}" for p in self.params]
        return "; ".join(parts)


@dataclass(frozen=True)
class ReferenceRequest:
    """Which reference models an attack needs; the pipeline trains each distinct request once.

    Attributes:
        kind: "random" = LiRA/RMIA-style random membership matrix over the audited records
            (each IN for half the models, so each model trains on as many records as the
            target when members and non-members are equally many); "shadow" = Shokri-style
            shadow models, each trained on its own records from the attacker's data with a
            disjoint out set of the same size (the target's training-set size).
        num_models: number of models; None means the audit's ``reference.num_models``.
        data_source: where shadow training data come from (Shokri et al. 2017, sec. V-C):
            "population" (the attacker's real data), "noisy" (real data with a fraction of
            features re-sampled), "model_synthesis" (hill climbing on the target's
            confidence, their Algorithm 1), "statistics_synthesis" (sampled from marginals).
        dataset: train shadows on this other data set instead (ML-Leaks adversary 2).
        noise_fraction: fraction of features re-sampled for the "noisy" data source.
    """

    kind: ReferenceKind
    num_models: int | None = None
    data_source: str = "population"
    dataset: str | None = None
    noise_fraction: float = 0.1


class Attack:
    """Base class of every membership-inference attack."""

    name: ClassVar[str]
    threat_model: ClassVar[ThreatModel]
    #: what the attack needs (see :class:`Needs`); read by the pipeline, the ``attacks``
    #: listing and config validation
    requires: ClassVar[Needs] = Needs()
    #: parameters the contract tests construct the attack with (e.g. ML-Leaks 2's shadow
    #: data set); everything else keeps its default
    example_params: ClassVar[dict[str, Any]] = {}
    #: read-only mirrors of ``requires`` (``access``, ``population``, ``params``), kept for
    #: code that reads them; a subclass that sets one of them in its body instead of
    #: declaring ``requires`` gets it folded into its ``requires``
    access: ClassVar[Access] = "outputs"
    uses_population: ClassVar[bool] = False
    required_params: ClassVar[tuple[str, ...]] = ()
    #: ranges and choices of the constructor's parameters (:mod:`miaudit.validation`); their
    #: types come from the constructor's type hints. Checked when an attack is built from a
    #: name or a config, when audit() receives it, and again when it is fitted.
    param_constraints: ClassVar[dict[str, Constraints]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "needs_recipe" in cls.__dict__:
            raise TypeError(
                f"{cls.__name__}: declare requires = Needs(recipe=...) (miaudit.attacks.Needs; "
                "When(param, value) for a parameter-dependent need) instead of overriding "
                "needs_recipe()"
            )
        own = {field: cls.__dict__[attr] for attr, field in _LEGACY.items() if attr in cls.__dict__}
        if own and "requires" not in cls.__dict__:
            cls.requires = replace(cls.requires, **own)
        cls.access = cls.requires.access
        cls.uses_population = cls.requires.population
        cls.required_params = cls.requires.params

    def check_params(self) -> None:
        """ConfigError unless every parameter has its declared type and range."""
        validate_instance(self, kind="attack")

    def fit(self, knowledge: AttackerKnowledge) -> Self:
        """Learn whatever the attack needs from the attacker's knowledge; returns self."""
        self.check_params()
        self.num_classes_ = knowledge.num_classes
        self.threshold_: float | None = None
        return self

    def reference_request(self) -> ReferenceRequest | None:
        """The reference models this attack needs (None: it needs none)."""
        return None

    def needs(self) -> Needs:
        """This attack's :attr:`requires`, decided for its parameters; a shadow plan on the
        attacker's own data (no other data set) also needs the population records."""
        needs = self.requires.decided(self.get_params())
        request = self.reference_request()
        if request is not None and request.kind == "shadow" and request.dataset is None:
            needs = replace(needs, population_data=True)
        return needs

    def _reference(self, knowledge: AttackerKnowledge) -> ReferenceOutputs:
        """The reference outputs from ``knowledge``, or a clear error when they are missing."""
        if knowledge.reference is None:
            raise DataError(
                f"{self.name}: this attack needs reference/shadow models "
                f"({self.reference_request()}); run it through miaudit.audit / a config, "
                "or pass AttackerKnowledge(reference=...)"
            )
        return knowledge.reference

    def score_samples(self, outputs: ModelOutputs) -> np.ndarray:
        """Membership scores of the records, float64 (n,), higher = more likely a member."""
        self._check_fitted()
        if outputs.num_classes != self.num_classes_:
            raise DataError(
                f"{self.name}: outputs have {outputs.num_classes} classes but the attack was "
                f"fitted for {self.num_classes_}"
            )
        scores = np.asarray(self._score(outputs), dtype=np.float64)
        if scores.shape != (outputs.n,):
            raise RuntimeError(f"{self.name} returned scores of shape {scores.shape}")
        return scores

    def _score(self, outputs: ModelOutputs) -> np.ndarray:
        raise NotImplementedError

    def score_records(self, target: Target, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Scores of records ``(x, y)`` for attacks that query the target themselves
        (``access`` "labels" or "white-box"); float64 (n,), higher = more likely member."""
        self._check_fitted()
        scores = np.asarray(self._score_records(target, x, y), dtype=np.float64)
        if scores.shape != (len(y),):
            raise RuntimeError(f"{self.name} returned scores of shape {scores.shape}")
        return scores

    def _score_records(self, target: Target, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        raise NotImplementedError(f"{self.name} scores model outputs; use score_samples")

    def _check_fitted(self) -> None:
        if not hasattr(self, "num_classes_"):
            raise NotFittedError(f"attack {self.name!r} is not fitted; call fit(knowledge) first")

    def get_params(self) -> dict[str, Any]:
        """Constructor parameters (scikit-learn style), for reports and reproducibility."""
        return {k: v for k, v in vars(self).items() if not k.endswith("_")}


#: the pre-``requires`` class attributes and the :class:`Needs` fields they declare
_LEGACY = {"access": "access", "uses_population": "population", "required_params": "params"}

ATTACKS: Registry[type[Attack]] = Registry("attack")


def register_attack(cls: type[Attack]) -> type[Attack]:
    """Class decorator: register an attack under its ``name``."""
    return ATTACKS.register(cls.name)(cls)


def make_attack(name: str, **params: Any) -> Attack:
    """Instantiate a registered attack by name (ConfigError for bad parameters, checked
    against the attack's declared types and ranges before it is built)."""
    cls = ATTACKS.get(name)
    validate_params(cls, params, kind="attack", name=name)
    return cls(**params)
