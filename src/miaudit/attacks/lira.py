"""Carlini et al. 2022, "Membership Inference Attacks From First Principles" (IEEE S&P):
the Likelihood Ratio Attack (LiRA).

Reference models are trained on random halves of the audited records (each record is IN
for about half of them, the "random" reference plan). For every record and every
augmented query the attack fits Gaussians to the logit-scaled confidence
phi = log f(x)_y - log(1 - f(x)_y) (the paper's logit scaling) over the reference models
that did (IN) and did not (OUT) train on it, and scores the target's phi by a
likelihood-ratio test (the paper's Algorithm 1, with its offline and fixed-variance
variants).

The authors' reference scoring code is ``research/mi_lira_2021/plot.py`` in
tensorflow/privacy (functions ``generate_ours`` and ``generate_ours_offline``). Where
it differs from the paper's formulas, the paper is the default here and
``reference_scoring=True`` reproduces the code; see :class:`LiRA`.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import log_ndtr

from miaudit.attacks._out_stats import STD_FLOOR as STD_FLOOR  # re-exported: the documented floor
from miaudit.attacks._out_stats import check_audited_reference, per_record_gaussians
from miaudit.attacks.base import (
    Attack,
    AttackerKnowledge,
    Needs,
    Reads,
    ReferenceRequest,
    ThreatModel,
    register_attack,
)
from miaudit.errors import DataError
from miaudit.outputs import ModelOutputs, ReferenceOutputs
from miaudit.signals import scaled_logit
from miaudit.validation import Interval

CARLINI = "Carlini et al. 2022, Membership Inference Attacks From First Principles (IEEE S&P)"

#: What plot.py adds to every standard deviation (``std_in + 1e-30``).
REFERENCE_STD_EPS = 1e-30
_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)


def _log_normal_pdf(x: np.ndarray, mu: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """log N(x; mu, sigma^2), elementwise (same value as ``scipy.stats.norm.logpdf``)."""
    z = (x - mu) / sigma
    return -0.5 * z * z - np.log(sigma) - _HALF_LOG_2PI


def _views_phi(outputs: ModelOutputs) -> np.ndarray:
    """phi of every augmented view: float64 (n_records, n_views)."""
    return np.stack([scaled_logit(v) for v in outputs.views()], axis=1)


def reference_phi(reference: ReferenceOutputs) -> np.ndarray:
    """phi of every reference model on the audited records: (n_records, n_models, n_views)."""
    per_model = [_views_phi(m) for m in reference.audited]
    views = {p.shape[1] for p in per_model}
    if len(views) != 1:
        raise DataError(
            f"lira: reference models have different numbers of augmented views {sorted(views)}; "
            "query every reference model on the same augmentations"
        )
    return np.stack(per_model, axis=1)


def _first_k(phi: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """plot.py's rectangular truncation: for each record with at least one model in
    ``mask``, the phi of its first ``k`` such models (in model order), ``k`` the smallest
    positive count over records. Returns ``(values (n_pos, k, v), rows_with_any (n,))``."""
    count = mask.sum(axis=1)
    has = count > 0
    k = int(count[has].min())
    keep = mask[has] & (np.cumsum(mask[has], axis=1) <= k)
    cols = np.nonzero(keep)[1].reshape(-1, k)
    values = np.take_along_axis(phi[has], cols[:, :, None], axis=1)
    return values, has


@register_attack
class LiRA(Attack):
    """LiRA, the likelihood-ratio attack of Carlini et al. 2022 (Algorithm 1).

    Signal: phi = log f(x)_y - log(1 - f(x)_y), via :func:`miaudit.signals.scaled_logit`
    on every augmented query (``ModelOutputs.views()``); the reference models must be
    queried on the same augmentations as the target. Gaussians are fitted per record and
    per augmentation (as plot.py does), and the per-augmentation test statistics are
    averaged.

    * Online (Algorithm 1): score = mean over views of
      log N(phi; mu_in, s_in^2) - log N(phi; mu_out, s_out^2).
    * Offline (Algorithm 1 without IN models): the paper's one-sided test, score = mean
      over views of log Phi((phi - mu_out) / s_out), the log-probability that an OUT model
      gives a smaller phi than the target (higher = member). ``log_ndtr`` keeps it finite far in
      the tail. With ``reference_scoring=True`` the offline score is instead plot.py's
      ``generate_ours_offline``: its prediction is ``norm.logpdf(phi, mean_out, std_out +
      1e-30).mean(1)`` and its ROC is ``roc_curve(answers, -prediction)``, so the member
      score is -mean log N(phi; mu_out, s_out) -- a two-sided test that also calls records
      far *below* the OUT distribution members.
    * Fixed variance (the paper recommends it below ~64 reference models): one global
      standard deviation per distribution, the std over all IN (resp. OUT) phi values of
      all records, models and views -- as plot.py's ``np.std(dat_in)``.

    Defaults (``reference_scoring=False``, the paper's formulas): per-record location =
    the mean, spread = the std with ddof=0, floored at :data:`STD_FLOOR`. A record with a
    single IN (resp. OUT) model uses that value as location and the global std of its
    side as spread; a record with none (possible with few reference models) gets the other
    side's location shifted by the global gap mean(all IN phi) - mean(all OUT phi), and
    the global spread. So scores are never NaN; an attack whose references have no IN
    (online) or no OUT phi at all raises :class:`DataError`.

    ``reference_scoring=True`` reproduces plot.py exactly (checked against
    tensorflow/privacy ``research/mi_lira_2021/plot.py``): location = ``np.median`` over
    models; spread = ``np.std`` (ddof=0) + 1e-30, no floor; each side keeps only the first
    ``min(count)`` models of every record (``dat_in = np.array([x[:in_size] for x in
    dat_in])`` with ``in_size = min(map(len, dat_in))``), so every record uses the same
    number of models; and the online fixed-variance branch uses the IN spread for both
    distributions (``std_in = np.std(dat_in); std_out = np.std(dat_in)``), while the
    offline fixed-variance branch uses the OUT spread. plot.py has no fallback (a record
    without IN or OUT models gives NaN there); here the minimum is taken over records that
    have at least one model and the default fallback above applies to the others.

    Args:
        online: use IN and OUT models (True) or OUT models only (False).
        fixed_variance: one global std per distribution instead of per record.
        reference_scoring: reproduce plot.py (median, +1e-30, truncation, the
            fixed-variance quirk, the two-sided offline score) instead of the paper.
        num_models: number of reference models to request (None: the audit's default).
    """

    name = "lira"
    requires = Needs(reference="random", reads=Reads(audited=True, augmented=True))
    threat_model = ThreatModel(
        knowledge="black-box probabilities",
        needs_shadow_models=True,
        needs_same_distribution_data=True,
        needs_architecture=True,
        paper=CARLINI,
    )

    param_constraints = {"num_models": Interval(int, 1)}

    def __init__(
        self,
        *,
        online: bool = True,
        fixed_variance: bool = False,
        reference_scoring: bool = False,
        num_models: int | None = None,
    ) -> None:
        self.online = online
        self.fixed_variance = fixed_variance
        self.reference_scoring = reference_scoring
        self.num_models = num_models

    def reference_request(self) -> ReferenceRequest:
        """A random membership matrix over the audited records (each IN for ~half the models)."""
        return ReferenceRequest(kind="random", num_models=self.num_models)

    def fit(self, knowledge: AttackerKnowledge) -> LiRA:
        """Fit the per-record IN/OUT Gaussians of phi on the reference models."""
        self.check_params()
        reference = self._reference(knowledge)
        check_audited_reference("lira", "LiRA", reference, knowledge.num_classes)
        super().fit(knowledge)
        self.fit_signal(reference_phi(reference), reference.audited_in)
        self.labels_ = reference.audited[0].y.copy()
        return self

    def fit_signal(self, phi: np.ndarray, is_in: np.ndarray) -> LiRA:
        """Fit the per-record IN/OUT Gaussians on any per-record signal of the reference
        models: ``phi`` (n_records, n_models, n_views), ``is_in`` (n_records, n_models).

        The classifier's phi is the scaled logit; other target kinds feed their own
        sequence-level signal (a language model's log-likelihood, :mod:`miaudit.text`)."""
        self.check_params()
        phi = np.asarray(phi, dtype=np.float64)
        if phi.ndim != 3 or np.shape(is_in) != phi.shape[:2]:
            raise DataError(
                f"lira: reference signal of shape {phi.shape} and membership of shape "
                f"{np.shape(is_in)}; expected (records, models, views) and (records, models)"
            )
        mu_in, s_in, mu_out, s_out = self._fit_gaussians(phi, is_in)
        self.mu_in_ = mu_in
        self.std_in_ = s_in
        self.mu_out_ = mu_out
        self.std_out_ = s_out
        self.n_views_ = phi.shape[2]
        if not hasattr(self, "num_classes_"):
            self.num_classes_ = 0  # fitted on a signal, not on a classifier's outputs
        return self

    def _fit_gaussians(
        self, phi: np.ndarray, is_in: np.ndarray
    ) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray, np.ndarray]:
        """(mu_in, s_in, mu_out, s_out), each (n_records, n_views); IN ones None offline."""
        is_in = np.asarray(is_in, dtype=bool)
        is_out = ~is_in
        any_in, any_out = bool(is_in.any()), bool(is_out.any())
        mode = "online" if self.online else "offline"
        if not any_out:
            raise DataError(
                f"lira ({mode}): no reference model is OUT for any audited record; the "
                "reference membership matrix must leave records out (kind='random')"
            )
        if self.online and not any_in:
            raise DataError(
                "lira (online): no reference model trained on any audited record; use "
                "online=False or reference models of kind='random'"
            )
        n_in, n_out = is_in.sum(axis=1), is_out.sum(axis=1)
        need_in = self.online or bool(np.any(n_out == 0))
        gap = float(phi[is_in].mean() - phi[is_out].mean()) if any_in and any_out else 0.0
        out = self._side(phi, is_out)
        inn = self._side(phi, is_in) if need_in else None
        mu_out, s_out, g_out = out
        if inn is not None:
            mu_in, s_in, g_in = inn
            # Records without IN (resp. OUT) models: the other side's location, shifted by
            # the global IN-OUT gap, with the global spread of the missing side.
            no_in, no_out = n_in == 0, n_out == 0
            mu_in[no_in] = mu_out[no_in] + gap
            s_in[no_in] = g_in
            mu_out[no_out] = mu_in[no_out] - gap
            s_out[no_out] = g_out
            if self.reference_scoring and self.fixed_variance and self.online:
                # plot.py generate_ours: std_out = np.std(dat_in) (the IN spread for both).
                s_out = np.full_like(s_out, g_in)
        if not self.online:
            return None, None, mu_out, s_out
        return mu_in, s_in, mu_out, s_out

    def _side(self, phi: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
        """Location, spread (n, v) and global spread of one side (IN or OUT), before the
        no-model fallback (rows with count 0 hold placeholders)."""
        n, _, v = phi.shape  # the callers guarantee that ``mask`` has a True somewhere
        if self.reference_scoring:
            values, has = _first_k(phi, mask)
            g = float(np.std(values)) + REFERENCE_STD_EPS
            mu = np.zeros((n, v))
            s = np.full((n, v), g)
            mu[has] = np.median(values, axis=1)
            if not self.fixed_variance:
                s[has] = np.std(values, axis=1) + REFERENCE_STD_EPS
            return mu, s, g
        # the paper's rules (shared with GMIA): mean, ddof=0 std floored at STD_FLOOR,
        # the global spread for records with fewer than 2 models (or for all: fixed variance)
        return per_record_gaussians(phi, mask, fixed_variance=self.fixed_variance)

    def _score(self, outputs: ModelOutputs) -> np.ndarray:
        if outputs.n != self.labels_.shape[0] or not np.array_equal(outputs.y, self.labels_):
            raise DataError(
                f"lira: the scored records are not the records the reference models were "
                f"queried on ({outputs.n} vs {self.labels_.shape[0]} records, or different "
                "labels)"
            )
        return self.score_signal(_views_phi(outputs))

    def score_signal(self, phi: np.ndarray) -> np.ndarray:
        """Scores of the target's signal ``phi`` (n_records, n_views), the records and
        signal :meth:`fit_signal` was fitted on; float64 (n,), higher = member."""
        self._check_fitted()
        phi = np.asarray(phi, dtype=np.float64)
        if phi.ndim != 2 or phi.shape[0] != self.mu_out_.shape[0]:
            raise DataError(
                f"lira: target signal of shape {phi.shape}; the reference models were fitted "
                f"on {self.mu_out_.shape[0]} records"
            )
        if phi.shape[1] != self.n_views_:
            raise DataError(
                f"lira: the target was queried on {phi.shape[1]} augmented views but the "
                f"reference models on {self.n_views_}; use the same augmentations"
            )
        log_out = _log_normal_pdf(phi, self.mu_out_, self.std_out_)
        if self.online:
            stat = _log_normal_pdf(phi, self.mu_in_, self.std_in_) - log_out
        elif self.reference_scoring:
            stat = -log_out
        else:
            stat = log_ndtr((phi - self.mu_out_) / self.std_out_)
        return stat.mean(axis=1)
