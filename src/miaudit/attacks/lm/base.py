"""The language-model attack contract: what an LM attack reads, what the attacker holds,
and the registry ``LM_ATTACKS``.

An LM attack reads named signals of the :class:`~miaudit.kinds.CausalLMKind` (the target's
on the audited records, and, when it declares them, its reference LMs' and the target's on
the attacker's population). Scores follow the project's convention: float64 (n,), higher
= more likely a member, whatever the paper's sign.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np

from miaudit.attacks._signal_attack import SignalAttack, ThresholdRule, make_registered
from miaudit.errors import DataError
from miaudit.kinds import Signals
from miaudit.registry import Registry
from miaudit.validation import Interval

#: reference LMs: none, trained on the attacker's population records (a reference model,
#: Carlini et al. 2021), or on random halves of the audited records (LiRA / RMIA)
LMReferenceKind = Literal["population", "random"]


@dataclass(frozen=True)
class LMNeeds:
    """What an LM attack needs.

    Attributes:
        signals: the target's signals it reads on the audited records.
        reference: the reference LMs it needs (None: none).
        reference_signals: the signals it reads of each reference LM.
        population: it reads the target's and the references' signals on the attacker's
            population records (RMIA's z).
        lowercase: the target must also answer on lower-cased records.
    """

    signals: tuple[str, ...]
    reference: LMReferenceKind | None = None
    reference_signals: tuple[str, ...] = ()
    population: bool = False
    lowercase: bool = False


@dataclass(frozen=True)
class LMReference:
    """Reference LMs' signals: ``audited[j]`` on the audited records, ``population[j]`` on
    the population records (or None), and which audited records model j trained on
    (``audited_in`` (n, k); all False for population-trained models)."""

    audited: tuple[Signals, ...]
    audited_in: np.ndarray
    population: tuple[Signals, ...] | None = None

    def stack(self, name: str) -> np.ndarray:
        """Signal ``name`` of every model on the audited records, (n, k)."""
        return np.stack([np.asarray(s[name]) for s in self.audited], axis=1)

    def stack_population(self, name: str) -> np.ndarray:
        if not self.population:
            raise DataError("the reference LMs were not queried on population records")
        return np.stack([np.asarray(s[name]) for s in self.population], axis=1)


@dataclass(frozen=True)
class LMKnowledge:
    """What the attacker holds: reference LMs' signals (when declared), the target's signals
    on the population (when declared), and a seed."""

    reference: LMReference | None = None
    population: Signals | None = None
    seed: int = 0


class LMAttack(SignalAttack):
    """Base class of the language-model attacks (scikit-learn style: the constructor stores
    keyword parameters, ``fit`` returns self, ``score_samples`` returns scores)."""

    requires: ClassVar[LMNeeds]

    def needs(self) -> LMNeeds:
        return self.requires

    def num_reference_models(self) -> int | None:
        """How many reference LMs it asks for (None: the audit's default)."""
        return getattr(self, "num_models", None)

    def _reference(self, knowledge: LMKnowledge) -> LMReference:
        if knowledge.reference is None:
            raise DataError(f"{self.name}: needs reference language models (LMKnowledge.reference)")
        return knowledge.reference


class ThresholdLMAttack(ThresholdRule, LMAttack):
    """An LM attack that is one threshold rule on one signal (:class:`SignalThreshold`):
    a subclass names the rule; fitting learns nothing (the metrics sweep every threshold)."""


class SmallestTokensLMAttack(LMAttack):
    """The mean of the ``k`` % smallest values of one per-token signal (Min-K% and
    Min-K%++): a subclass names the signal in ``requires``."""

    param_constraints = {"k": Interval(float, 0, 100, closed="right")}

    def __init__(self, *, k: float = 20.0) -> None:
        self.k = k

    def _score(self, signals: Signals) -> np.ndarray:
        (name,) = self.requires.signals
        return smallest_fraction_mean(signals[name], signals.mask(name), float(self.k))


LM_ATTACKS: Registry[type[LMAttack]] = Registry("language-model attack")


def register_lm_attack(cls: type[LMAttack]) -> type[LMAttack]:
    return LM_ATTACKS.register(cls.name)(cls)


def make_lm_attack(name: str, **params: Any) -> LMAttack:
    """A registered LM attack by name (ConfigError for bad parameters, before anything trains)."""
    return make_registered(LM_ATTACKS, name, **params)


def smallest_fraction_mean(values: np.ndarray, mask: np.ndarray, k_percent: float) -> np.ndarray:
    """Per row, the mean of the ``k_percent`` % smallest real entries (at least one entry:
    max(1, floor(L * K / 100)) of a record's L tokens, as Shi et al.'s code takes
    ``int(len * ratio)``, floored to one so a short record keeps a score)."""
    values = np.where(mask, values, np.inf)
    lengths = mask.sum(axis=1)
    counts = np.maximum(1, np.floor(lengths * (k_percent / 100.0)).astype(np.int64))
    ordered = np.sort(values, axis=1)
    cols = np.arange(values.shape[1])[None, :]
    keep = cols < counts[:, None]
    return np.where(keep, ordered, 0.0).sum(axis=1) / counts
