"""The figure sections: ROC curves (linear and log-log) and score histograms."""

from __future__ import annotations

import numpy as np

from miaudit.report._data import Curve
from miaudit.report._format import figure
from miaudit.report._plots import histogram_figure, roc_figure
from miaudit.results import AttackResult, AuditResult


def roc_section(result: AuditResult, curves: list[Curve], membership: np.ndarray) -> str:
    head = "<section>\n<h2>ROC curves</h2>\n"
    if not curves:
        reason = (
            "the audited records are all of one class"
            if len(membership) and (membership.all() or not membership.any())
            else "no attack produced scores"
        )
        return head + f"<p>No ROC curves: {reason}.</p>\n</section>"
    n_neg = int((~membership).sum())
    uri = roc_figure(curves, n_neg)
    caption = (
        "Each curve traces the true-positive rate (members correctly flagged) against the "
        "false-positive rate (non-members wrongly flagged) as the attack's threshold moves. "
        "The dashed diagonal is random guessing. Left: linear axes, whose area is the AUC. "
        "Right: the same curves on log-log axes, which magnify the low false-positive rates "
        "that matter for privacy; dotted lines mark 0.1%, 1% and 10% FPR. A curve well above "
        "the diagonal at the left of this panel means some members are identified with "
        f"confidence. With {n_neg} non-members, FPRs below {1 / max(n_neg, 1):.1e} cannot be "
        "resolved."
    )
    return head + figure(uri, "ROC curves of all attacks", caption) + "\n</section>"


def histogram_section(ok: list[AttackResult], membership: np.ndarray) -> str:
    if not ok:
        return ""
    uri = histogram_figure(
        [a.name for a in ok],
        [a.scores for a in ok],  # type: ignore[misc]
        membership,
    )
    caption = (
        "Distribution of each attack's scores on members (red) and non-members (blue), each "
        "normalised to unit area and drawn on a logarithmic density axis so that rare tails "
        "show; higher scores mean the attack believes the record is a "
        "member. The more the two shapes differ, the more the attack separates them; what "
        "matters most is a tail of members to the right of nearly all non-members. The "
        "horizontal range covers the 0.5th to 99.5th percentile of scores; values beyond it "
        "are counted in the outermost bins."
    )
    return (
        "<section>\n<h2>Score distributions</h2>\n"
        + figure(uri, "Score histograms of members and non-members", caption)
        + "\n</section>"
    )
