"""``SignalThreshold``: the threshold attack on one named signal, for any target kind."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from miaudit.errors import DataError
from miaudit.kinds._kind import AnswersT, TargetKind
from miaudit.kinds._signals import Signals

MemberIf = Literal["high", "low"]


@dataclass(frozen=True)
class SignalThreshold:
    """Score = the signal (``member_if="high"``) or minus it (``"low"``): higher = member.

    The metric-based attacks of the survey are this rule on one signal: Yeom et al. 2018
    (low loss), Salem et al. 2019 adversary 3 (high max posterior), Song & Mittal 2021 (low
    entropy, low modified entropy), and on other kinds the LM loss attack (Yeom applied to
    sequences), LOGAN's white-box discriminator score (high) and GAN-Leaks' full black-box
    reconstruction distance (low). It is threshold-free: the metrics sweep every threshold;
    an attack that picks one (ML-Leaks' percentile of random queries) transforms it as the
    scores are. It reads nothing else, so it applies unchanged to every kind that computes
    its signal.

    Args:
        signal: the name of a per-record signal of shape (n,) (reduce (n, k) signals first,
            e.g. Min-K% over per-token losses).
        member_if: "high" when members have higher values, "low" when lower.
    """

    signal: str
    member_if: MemberIf

    def __post_init__(self) -> None:
        if self.member_if not in ("high", "low"):
            raise DataError(f"member_if must be 'high' or 'low', got {self.member_if!r}")

    @property
    def names(self) -> tuple[str, ...]:
        """The signals the rule reads (ask the kind for exactly these)."""
        return (self.signal,)

    def score_answers(self, kind: TargetKind[Any, AnswersT], answers: AnswersT) -> np.ndarray:
        """The scores of a model's answers: ``kind`` computes just this rule's signal."""
        return self.score_samples(kind.signals(answers, self.names))

    def score_samples(self, signals: Signals) -> np.ndarray:
        """Membership scores, float64 (n,), higher = more likely a member (a new array)."""
        values = signals[self.signal]
        if values.ndim != 1:
            raise DataError(
                f"signal {self.signal!r} has shape {values.shape}: a threshold needs one value "
                "per record; reduce it first (mean, Min-K%, a chosen timestep or round)"
            )
        return values.copy() if self.member_if == "high" else -values
