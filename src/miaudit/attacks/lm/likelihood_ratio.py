"""LiRA (Carlini et al. 2022, IEEE S&P) and RMIA (Zarifzadeh et al. 2024, ICML) on a
language model's sequence-level signal, with reference LMs trained by the reference engine
on random halves of the audited records.

Not copies: each wraps the classifier attack's own class (:class:`miaudit.attacks.LiRA`,
:class:`miaudit.attacks.RMIA`) and feeds it the LM kind's signal through their
``fit_signal``/``score_signal`` and ``fit_log_probs``/``score_log_probs``.

* LiRA's phi is the record's mean token log-probability -loss (an unbounded score, so no
  logit scaling is needed; the per-record Gaussian test is invariant to a per-record
  rescaling, so the sum gives the same scores).
* RMIA's Pr(x | model) is the record's per-token (geometric-mean) likelihood
  p(x)^(1/N) = exp(-loss). Not the likelihood p(x) itself: for a 64-character record that
  is about e^-170, and RMIA's offline estimate Pr(x) = (1+a)/2 Pr_OUT(x) + (1-a)/2 (a
  linear fit made for class probabilities) is then (1-a)/2 for every record, so RMIA
  collapsed to the loss attack (measured: equal AUC and intervals on a Tiny Shakespeare
  audit). On the per-token scale (0.1 to 0.3 for a character model) the correction means
  what the paper intends.
"""

from __future__ import annotations

import numpy as np

from miaudit.attacks.base import ThreatModel
from miaudit.attacks.lira import CARLINI, LiRA
from miaudit.attacks.lm.base import LMAttack, LMKnowledge, LMNeeds, register_lm_attack
from miaudit.attacks.rmia import RMIA, ZARIFZADEH
from miaudit.errors import DataError
from miaudit.kinds import Signals
from miaudit.validation import Interval


@register_lm_attack
class LMLiRA(LMAttack):
    """LiRA on phi = -loss (see the module docstring); parameters as :class:`LiRA`'s."""

    name = "lm_lira"
    requires = LMNeeds(signals=("loss",), reference="random", reference_signals=("loss",))
    threat_model = ThreatModel(
        knowledge="black-box probabilities",
        needs_shadow_models=True,
        needs_same_distribution_data=True,
        needs_architecture=True,
        paper=CARLINI + "; on language models",
    )
    param_constraints = {"num_models": Interval(int, 1)}

    def __init__(
        self, *, online: bool = True, fixed_variance: bool = False, num_models: int | None = None
    ) -> None:
        self.online = online
        self.fixed_variance = fixed_variance
        self.num_models = num_models

    def fit(self, knowledge: LMKnowledge) -> LMLiRA:
        super().fit(knowledge)
        ref = self._reference(knowledge)
        self.lira_ = LiRA(online=self.online, fixed_variance=self.fixed_variance)
        self.lira_.fit_signal(-ref.stack("loss")[:, :, None], ref.audited_in)
        return self

    def _score(self, signals: Signals) -> np.ndarray:
        return self.lira_.score_signal(-np.asarray(signals["loss"])[:, None])


@register_lm_attack
class LMRMIA(LMAttack):
    """RMIA on Pr(x | model) = exp(-loss), the per-token likelihood (module docstring);
    parameters as :class:`RMIA`'s."""

    name = "lm_rmia"
    requires = LMNeeds(
        signals=("loss",),
        reference="random",
        reference_signals=("loss",),
        population=True,
    )
    threat_model = ThreatModel(
        knowledge="black-box probabilities",
        needs_shadow_models=True,
        needs_same_distribution_data=True,
        needs_architecture=True,
        paper=ZARIFZADEH + "; on language models",
    )
    param_constraints = {
        "gamma": Interval(float, 0, closed="neither"),
        "a": Interval(float, 0, 1),
        "num_models": Interval(int, 1),
    }

    def __init__(
        self,
        *,
        online: bool = False,
        gamma: float = 2.0,
        a: float | None = None,
        num_models: int | None = None,
        tie_break: bool = True,
    ) -> None:
        self.online = online
        self.gamma = gamma
        self.a = a
        self.num_models = num_models
        self.tie_break = tie_break

    def fit(self, knowledge: LMKnowledge) -> LMRMIA:
        super().fit(knowledge)
        ref = self._reference(knowledge)
        if knowledge.population is None:
            raise DataError("lm_rmia: needs the target's signals on population records z")
        lp_ref_z = -ref.stack_population("loss")
        self.rmia_ = RMIA(online=self.online, gamma=self.gamma, a=self.a, tie_break=self.tie_break)
        self.rmia_.fit_log_probs(
            -ref.stack("loss"),
            ref.audited_in,
            lp_ref_z,
            np.zeros(lp_ref_z.shape, dtype=bool),  # the random plan trains on audited records only
            -np.asarray(knowledge.population["loss"]),
        )
        return self

    def _score(self, signals: Signals) -> np.ndarray:
        return self.rmia_.score_log_probs(-np.asarray(signals["loss"]))
