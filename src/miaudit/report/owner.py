"""The owner audit's HTML report (issue 13): the answer first, then the p-value, the test,
its assumptions in words, the scores of the owner's and the reference records."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib as mpl
import numpy as np
from matplotlib.figure import Figure

from miaudit.report._format import esc, figure, kv_table
from miaudit.report._html import page
from miaudit.report._plots import _RC, DPI, MEMBER_COLOR, NONMEMBER_COLOR, _png_uri


def _scores_figure(owner: np.ndarray, reference: np.ndarray) -> str:
    both = np.concatenate([owner, reference])
    lo, hi = np.percentile(both, [0.5, 99.5])
    if not hi > lo:
        lo, hi = lo - 0.5, hi + 0.5
    edges = np.linspace(lo, hi, 31)
    with mpl.rc_context(_RC):
        fig = Figure(figsize=(5.2, 2.8), dpi=DPI, layout="constrained")
        ax = fig.subplots()
        ax.hist(
            np.clip(reference, lo, hi),
            bins=edges,
            density=True,
            alpha=0.4,
            color=NONMEMBER_COLOR,
            label="reference non-members",
        )
        for i, s in enumerate(np.clip(owner, lo, hi)):
            ax.axvline(
                s, color=MEMBER_COLOR, alpha=0.7, lw=1, label="your records" if i == 0 else None
            )
        ax.set_xlabel("attack score (higher = more like training data)")
        ax.set_ylabel("density")
        ax.legend(fontsize=7)
        return _png_uri(fig)


def render_owner_html(
    test: dict[str, Any],
    owner_scores: np.ndarray,
    reference_scores: np.ndarray,
    *,
    attack: str,
    answer: str,
    title: str = "Were my records used?",
) -> str:
    verdict = "Yes" if test["reject"] else "No evidence"
    rows = [
        (
            "p-value",
            f'<span class="mono">{test["p_value"]:.4g}</span> (level alpha = {test["alpha"]:g})',
        ),
        ("Test", f"{esc(test['test'])} ({esc(test['method'])} p-value)"),
        (
            "Effect size",
            f'AUC = <span class="mono">{test["auc"]:.3f}</span> (the chance that '
            "one of your records scores above a reference record; 0.5 if none was "
            "used)",
        ),
        ("Your records", f'<span class="mono">{test["n_owner"]}</span>'),
        ("Reference non-members", f'<span class="mono">{test["n_reference"]}</span>'),
        ("Attack that scored them", f"<strong>{esc(attack)}</strong>"),
    ]
    if test.get("cohens_d") is not None:
        rows.insert(3, ("Cohen's d", f'<span class="mono">{test["cohens_d"]:.3f}</span>'))
    body = [
        f"<header><h1>{esc(title)}</h1></header>",
        f'<section><h2>Answer: {esc(verdict)}</h2><p class="lead">{esc(answer)}</p></section>',
        "<section><h2>The test</h2>" + kv_table(rows) + "</section>",
        "<section><h2>What the test assumes</h2>"
        f"<p>{esc(test['assumptions'])}</p>"
        "<p>The reference records must be known non-members drawn from the same data as "
        "yours (same source, same preprocessing); the p-value is the chance of scores at "
        "least this extreme if none of your records was used. A small p-value is evidence "
        "of use; a large one is not proof of non-use.</p></section>",
        "<section><h2>The scores</h2>"
        + figure(
            _scores_figure(np.asarray(owner_scores), np.asarray(reference_scores)),
            "scores of your records and of the reference non-members",
            "Each line is one of your records; the histogram is the reference non-members.",
        )
        + "</section>",
    ]
    return page(title, "\n".join(body))


def write_owner_html(path: str | Path, **kwargs: Any) -> Path:
    path = Path(path)
    path.write_text(render_owner_html(**kwargs), encoding="utf-8")
    return path
