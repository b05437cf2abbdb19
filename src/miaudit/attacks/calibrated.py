"""Song & Mittal 2021, "Systematic Evaluation of Privacy Risks of Machine Learning Models"
(USENIX Security): metric-based attacks with class-dependent thresholds learned on shadow
models (sec. 3.2), and the privacy risk score (sec. 5).

Where the paper leaves details open we follow the authors' code
(github.com/inspire-group/membership-inference-evaluation: ``membership_inference_attacks.py``
for the thresholds, ``privacy_risk_score_utils.py`` for the risk score).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from miaudit.attacks.base import (
    Attack,
    AttackerKnowledge,
    Needs,
    Reads,
    ReferenceRequest,
    ThreatModel,
    register_attack,
)
from miaudit.attacks.shokri import shadow_attack_data
from miaudit.errors import ConfigError, DataError
from miaudit.outputs import ModelOutputs
from miaudit.signals import entropy, modified_entropy, true_class_confidence
from miaudit.validation import Interval

SONG_MITTAL = "Song & Mittal 2021, Systematic Evaluation of Privacy Risks (USENIX Security)"

# Log-scale bins start above this value (the authors' code: values <= 1e-10 become 1e-10).
LOG_BIN_FLOOR = 1e-10


def best_threshold(in_values: np.ndarray, out_values: np.ndarray) -> float:
    """The threshold maximising the balanced accuracy of "member iff value >= t" (Song &
    Mittal 2021, sec. 3.2; the authors' ``_thre_setting``).

    Candidates are every in and out value; accuracy = (share of in values >= t + share of
    out values < t) / 2. Ties go to the first best candidate in the order (in values, then
    out values), as the authors' loop with its strict ``>`` does. Vectorised with sorted
    counts; equal to the authors' loop (tested against a slow copy of it).
    """
    tr = np.asarray(in_values, dtype=np.float64).reshape(-1)
    te = np.asarray(out_values, dtype=np.float64).reshape(-1)
    if tr.size == 0 or te.size == 0:
        raise DataError("best_threshold needs at least one in and one out value")
    candidates = np.concatenate([tr, te])
    tr_sorted, te_sorted = np.sort(tr), np.sort(te)
    tr_ratio = (tr.size - np.searchsorted(tr_sorted, candidates, side="left")) / (tr.size + 0.0)
    te_ratio = np.searchsorted(te_sorted, candidates, side="left") / (te.size + 0.0)
    acc = 0.5 * (tr_ratio + te_ratio)
    return float(candidates[int(np.argmax(acc))])


def class_thresholds(
    values: np.ndarray, labels: np.ndarray, member: np.ndarray, num_classes: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per-class thresholds (Song & Mittal 2021, sec. 3.2, "class-dependent thresholds").

    Class c's threshold is :func:`best_threshold` of the shadow in/out values of class c.
    A class without both in and out rows (the authors' code would divide by zero) gets the
    threshold found on all classes pooled.

    Returns:
        (float64 (C,) thresholds, bool (C,) True where the class fell back to the global one).
    """
    values = np.asarray(values, dtype=np.float64)
    labels = np.asarray(labels)
    member = np.asarray(member, dtype=bool)
    global_t = best_threshold(values[member], values[~member])
    thresholds = np.full(num_classes, global_t)
    fallback = np.ones(num_classes, dtype=bool)
    for c in range(num_classes):
        rows = labels == c
        tr, te = values[rows & member], values[rows & ~member]
        if tr.size and te.size:
            thresholds[c] = best_threshold(tr, te)
            fallback[c] = False
    return thresholds, fallback


def _neg(f: Callable[[ModelOutputs], np.ndarray]) -> Callable[[ModelOutputs], np.ndarray]:
    def g(outputs: ModelOutputs) -> np.ndarray:
        return -f(outputs)

    return g


class _CalibratedThreshold(Attack):
    """Score = signal(x, y) - threshold of class y.

    The paper decides per class: member iff signal >= threshold of its class. Subtracting
    the class's threshold turns these per-class decisions into one ranking a global ROC can
    sweep: at ``threshold_ = 0`` (score >= 0) the decision is exactly the paper's per-class
    rule; other thresholds shift every class's threshold by the same amount.
    """

    signal: Callable[[ModelOutputs], np.ndarray]
    requires = Needs(reference="shadow", reads=Reads(pool=True))
    param_constraints = {"num_models": Interval(int, 1)}

    def __init__(self, *, num_models: int | None = None) -> None:
        self.num_models = num_models

    def reference_request(self) -> ReferenceRequest:
        return ReferenceRequest(kind="shadow", num_models=self.num_models)

    def fit(self, knowledge: AttackerKnowledge) -> _CalibratedThreshold:
        self.check_params()
        reference = self._reference(knowledge)
        super().fit(knowledge)
        shadow, member = shadow_attack_data(reference, self.name, num_classes=knowledge.num_classes)
        values = type(self).signal(shadow)
        self.class_thresholds_, self.fallback_classes_ = class_thresholds(
            values, shadow.y, member, knowledge.num_classes
        )
        self.threshold_ = 0.0
        return self

    def _score(self, outputs: ModelOutputs) -> np.ndarray:
        return type(self).signal(outputs) - self.class_thresholds_[outputs.y]


_THREAT = ThreatModel(
    knowledge="black-box probabilities",
    needs_shadow_models=True,
    needs_same_distribution_data=True,
    # The shadow models imitate the target's training (Song & Mittal 2021, sec. 3.2,
    # following Shokri et al.), so the thresholds transfer.
    needs_architecture=True,
    paper=SONG_MITTAL,
)


@register_attack
class CalibratedConfidence(_CalibratedThreshold):
    """Per-class threshold on the confidence f(x)_y (Song & Mittal 2021, sec. 3.2, eq. 6),
    learned on shadow in/out records. Score = f(x)_y - t_y; member iff score >= 0.

    Args:
        num_models: number of shadow models (None: the audit's ``reference.num_models``).
    """

    name = "calibrated_confidence"
    threat_model = _THREAT
    # The probability itself, ties at 1.0 beyond a logit margin of ~37 included (issue 9
    # item 4), unlike the ``confidence`` attack's log-odds: score = signal - t_y puts every
    # class's distances to its threshold on one scale, and a monotone transform of the
    # signal rescales them differently per class, so it would change the ranking (AUC,
    # TPR at low FPR), not only break ties. Use calibrated_modified_entropy to rank
    # saturated records.
    signal = staticmethod(true_class_confidence)


@register_attack
class CalibratedEntropy(_CalibratedThreshold):
    """Per-class threshold on -entropy of f(x) (Song & Mittal 2021, sec. 3.2, eq. 7),
    learned on shadow in/out records. Score = -H(f(x)) - t_y; member iff score >= 0.

    Args:
        num_models: number of shadow models (None: the audit's ``reference.num_models``).
    """

    name = "calibrated_entropy"
    threat_model = _THREAT
    signal = staticmethod(_neg(entropy))


@register_attack
class CalibratedModifiedEntropy(_CalibratedThreshold):
    """Per-class threshold on -Mentr(f(x), y) (Song & Mittal 2021, sec. 3.2, eq. 8),
    learned on shadow in/out records. Score = -Mentr - t_y; member iff score >= 0.

    Args:
        num_models: number of shadow models (None: the audit's ``reference.num_models``).
    """

    name = "calibrated_modified_entropy"
    threat_model = _THREAT
    signal = staticmethod(_neg(modified_entropy))


@dataclass(frozen=True)
class RiskHistograms:
    """Class-conditional histograms of a signal on shadow in/out records (Song & Mittal 2021,
    sec. 5; the authors' ``distrs_compute``).

    Attributes:
        edges: float64 (C, num_bins + 1) bin edges per class.
        risk: float64 (C, num_bins) P_in / (P_in + P_out) per bin, empty bins filled from the
            nearest non-empty bin.
        log_bins: edges are log-spaced (values are floored at ``LOG_BIN_FLOOR``).
        fallback: bool (C,) classes that used the histograms of all classes pooled.
    """

    edges: np.ndarray
    risk: np.ndarray
    log_bins: bool
    fallback: np.ndarray

    def score(self, values: np.ndarray, labels: np.ndarray) -> np.ndarray:
        """Privacy risk score of records with these signal values and labels."""
        values = np.asarray(values, dtype=np.float64)
        labels = np.asarray(labels, dtype=np.int64)
        num_bins = self.risk.shape[1]
        out = np.empty(values.shape[0])
        for c in np.unique(labels):
            rows = labels == c
            b = _bin_index(self.edges[c], values[rows], num_bins)
            out[rows] = self.risk[c, b]
        return out


def _bin_index(edges: np.ndarray, values: np.ndarray, num_bins: int) -> np.ndarray:
    """The authors' ``find_index``: the last bin whose left edge is <= value; values at or
    beyond the last edge go to the last bin, values at or below the first to the first."""
    return np.clip(np.searchsorted(edges, values, side="right") - 1, 0, num_bins - 1)


def _class_histogram(
    tr: np.ndarray, te: np.ndarray, num_bins: int, log_bins: bool
) -> tuple[np.ndarray, np.ndarray]:
    both = np.concatenate([tr, te])
    lo, hi = float(both.min()), float(both.max())
    if log_bins:
        edges = np.logspace(np.log10(lo), np.log10(hi), num_bins + 1)
    else:
        edges = np.linspace(lo, hi, num_bins + 1)
    # Counted with the same bin rule used for scoring, so no shadow value is dropped by
    # floating-point edges (the authors' plt.hist could drop the extremes).
    p_in = np.bincount(_bin_index(edges, tr, num_bins), minlength=num_bins) / tr.size
    p_out = np.bincount(_bin_index(edges, te, num_bins), minlength=num_bins) / te.size
    total = p_in + p_out
    risk = np.full(num_bins, np.nan)
    nonempty = total > 0
    risk[nonempty] = p_in[nonempty] / total[nonempty]
    # Empty bins take the ratio of the nearest non-empty bin, the lower one on a tie (the
    # authors' ``score_calculate``).
    full = np.flatnonzero(nonempty)
    for b in np.flatnonzero(~nonempty):
        dist = np.abs(full - b)
        near = full[dist == dist.min()]
        risk[b] = risk[near.min()]
    return edges, risk


def risk_histograms(
    in_values: np.ndarray,
    in_labels: np.ndarray,
    out_values: np.ndarray,
    out_labels: np.ndarray,
    *,
    num_classes: int,
    num_bins: int = 5,
    log_bins: bool = True,
) -> RiskHistograms:
    """Fit the class-conditional histograms behind the privacy risk score.

    As the authors' code: per class, ``num_bins`` bins spanning the class's in and out
    values (log-spaced by default, values floored at 1e-10), each normalised by its own
    count (equal priors). A class lacking in or out values uses the histograms of all
    classes pooled (the authors' code would divide by zero).
    """
    if int(num_bins) < 1:
        raise ConfigError(f"privacy risk score: num_bins must be >= 1, got {num_bins}")
    tr = np.asarray(in_values, dtype=np.float64).reshape(-1)
    te = np.asarray(out_values, dtype=np.float64).reshape(-1)
    tr_y = np.asarray(in_labels).reshape(-1)
    te_y = np.asarray(out_labels).reshape(-1)
    if tr.shape != tr_y.shape or te.shape != te_y.shape:
        raise DataError("privacy risk score: values and labels must have the same length")
    if tr.size == 0 or te.size == 0:
        raise DataError("privacy risk score: need shadow in and out values")
    if not (np.all(np.isfinite(tr)) and np.all(np.isfinite(te))):
        raise DataError("privacy risk score: signal values contain NaN or inf")
    if log_bins:
        if np.any(tr < 0) or np.any(te < 0):
            raise DataError("privacy risk score: log_bins needs non-negative signal values")
        tr, te = np.maximum(tr, LOG_BIN_FLOOR), np.maximum(te, LOG_BIN_FLOOR)
    global_edges, global_risk = _class_histogram(tr, te, num_bins, log_bins)
    edges = np.tile(global_edges, (num_classes, 1))
    risk = np.tile(global_risk, (num_classes, 1))
    fallback = np.ones(num_classes, dtype=bool)
    for c in range(num_classes):
        tr_c, te_c = tr[tr_y == c], te[te_y == c]
        if tr_c.size and te_c.size:
            edges[c], risk[c] = _class_histogram(tr_c, te_c, num_bins, log_bins)
            fallback[c] = False
    return RiskHistograms(edges=edges, risk=risk, log_bins=bool(log_bins), fallback=fallback)


def privacy_risk_score(
    values: np.ndarray,
    labels: np.ndarray,
    *,
    in_values: np.ndarray,
    in_labels: np.ndarray,
    out_values: np.ndarray,
    out_labels: np.ndarray,
    num_classes: int,
    num_bins: int = 5,
    log_bins: bool = True,
) -> np.ndarray:
    """Privacy risk score (Song & Mittal 2021, sec. 5, eq. 10): the posterior probability
    that a record is a member given its signal value s and label y, with equal priors:

        r(x) = P(s | in, y) / (P(s | in, y) + P(s | out, y)),

    the class-conditional densities estimated by histograms of the shadow models' in and out
    values (:func:`risk_histograms`). The authors' code takes the signal to be the
    (modified) entropy or the loss, all "lower = member" and non-negative, hence the
    default log-spaced bins.

    Args:
        values, labels: signal values and labels of the records to score.
        in_values, in_labels: shadow training records' values and labels.
        out_values, out_labels: shadow non-members' values and labels.
        num_classes: C.
        num_bins: bins per class (the authors' default: 5).
        log_bins: log-spaced bins (the authors' default).

    Returns:
        float64 (n,) risk scores in [0, 1].
    """
    hist = risk_histograms(
        in_values,
        in_labels,
        out_values,
        out_labels,
        num_classes=num_classes,
        num_bins=num_bins,
        log_bins=log_bins,
    )
    return hist.score(values, labels)


@register_attack
class PrivacyRiskScore(Attack):
    """Privacy risk score as an attack (Song & Mittal 2021, sec. 5): score = r(x), the
    estimated probability that the record is a member (:func:`privacy_risk_score`) from the
    modified entropy (eq. 8), whose class-conditional histograms are fitted on shadow in/out
    records. ``threshold_ = 0.5``: member iff membership is the likelier hypothesis under
    equal priors. Per-record scores are the risk scores the report shows.

    Args:
        num_models: number of shadow models (None: the audit's ``reference.num_models``).
        num_bins: histogram bins per class (the authors' default 5).
        log_bins: log-spaced bins (the authors' default).
    """

    name = "privacy_risk"
    requires = Needs(reference="shadow", reads=Reads(pool=True))
    threat_model = _THREAT
    param_constraints = {"num_models": Interval(int, 1), "num_bins": Interval(int, 1)}

    def __init__(
        self, *, num_models: int | None = None, num_bins: int = 5, log_bins: bool = True
    ) -> None:
        self.num_models = num_models
        self.num_bins = num_bins
        self.log_bins = log_bins

    def reference_request(self) -> ReferenceRequest:
        return ReferenceRequest(kind="shadow", num_models=self.num_models)

    def fit(self, knowledge: AttackerKnowledge) -> PrivacyRiskScore:
        self.check_params()
        reference = self._reference(knowledge)
        super().fit(knowledge)
        shadow, member = shadow_attack_data(reference, self.name, num_classes=knowledge.num_classes)
        values = modified_entropy(shadow)
        self.histograms_ = risk_histograms(
            values[member],
            shadow.y[member],
            values[~member],
            shadow.y[~member],
            num_classes=knowledge.num_classes,
            num_bins=self.num_bins,
            log_bins=self.log_bins,
        )
        self.threshold_ = 0.5
        return self

    def _score(self, outputs: ModelOutputs) -> np.ndarray:
        return self.histograms_.score(modified_entropy(outputs), outputs.y)
