"""The attack contract: threat model, attacker knowledge, and the Attack base class.

Conventions (DESIGN.md): the constructor only stores keyword parameters; ``fit`` returns
self and sets attributes ending in ``_``; ``score_samples`` returns float64 scores of shape
(n,), higher meaning "more likely a member". Attacks work on NumPy values only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Self

import numpy as np

from miaudit.errors import DataError, NotFittedError
from miaudit.outputs import ModelOutputs, ReferenceOutputs
from miaudit.registry import Registry
from miaudit.validation import Constraints, validate_instance, validate_params

if TYPE_CHECKING:  # attacks stay NumPy-only at import time
    from miaudit.targets import Target

Knowledge = Literal["black-box probabilities", "black-box labels", "white-box"]
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

    Attributes:
        num_classes: number of classes of the target.
        population: the target's outputs on the attacker's population records (known
            non-members of the target, from the same distribution), if the attacker has them.
        random_queries: the target's outputs on random inputs (uniform noise in the input
            domain), used by ML-Leaks adversary 3 to pick its threshold; ``y`` is ignored.
        seed: seed for any randomness in fitting.
        reference: outputs of the reference/shadow models the attack asked for through
            :meth:`Attack.reference_request` (the pipeline trains them), else None.
        population_data: the attacker's raw population records ``(x, y)`` (to train its
            own shadow models, relabel them with the target, calibrate thresholds).
        train_model: the reference recipe, ``train_model(x, y, seed) -> Target``, for
            attacks that need shadow *models* rather than outputs (transfer attacks on a
            shadow's gradients, Nasr's attack model); None when no recipe was given.
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
DATA_SOURCES = ("population", "noisy", "model_synthesis", "statistics_synthesis")


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
    #: constructor parameters without a default (e.g. ML-Leaks 2's shadow data set)
    required_params: ClassVar[tuple[str, ...]] = ()
    #: what the attack reads at scoring time: "outputs" -> ``score_samples(outputs)`` on the
    #: target's probability outputs; "labels" -> ``score_records(target, x, y)`` with a
    #: label-only, query-counted target; "white-box" -> ``score_records(target, x, y)``
    #: with the full target (parameters and gradients).
    access: ClassVar[Access] = "outputs"
    #: whether ``fit`` reads ``AttackerKnowledge.population`` (the target's outputs on the
    #: attacker's population records). The pipeline queries the target on the population
    #: only when a requested attack declares it (issue 9 item 15: at 200,000 records that
    #: query cost 420 MB that the threshold attacks never read); the others get
    #: ``population=None``. The raw records (``population_data``) are always given.
    uses_population: ClassVar[bool] = False
    #: ranges and choices of the constructor's parameters (:mod:`miaudit.validation`); their
    #: types come from the constructor's type hints. Checked when an attack is built from a
    #: name or a config, when audit() receives it, and again when it is fitted.
    param_constraints: ClassVar[dict[str, Constraints]] = {}

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

    def needs_recipe(self) -> bool:
        """Whether the attack needs a recipe to train reference/shadow models (through a
        reference request or ``AttackerKnowledge.train_model``)."""
        return self.reference_request() is not None

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
