"""The user-level audit's HTML report (issue 13; Song & Shmatikov 2019): the answer first
(whose texts were used, at alpha), then one row per audited user (score, p-value, decision;
the truth and the AUC when known), the test and its assumptions in words, and the scores of
the audited users against the null scores."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib as mpl
import numpy as np
from matplotlib.figure import Figure

from miaudit.report._format import esc, figure, kv_table
from miaudit.report._html import page
from miaudit.report._plots import _RC, DPI, MEMBER_COLOR, NONMEMBER_COLOR, _png_uri

NULL_WORDS = {
    "reference_users": (
        "the scores of reference users: users known not to be in the model's training data, "
        "scored exactly as the audited users. If a user's texts were not used, that user and "
        "the reference users are interchangeable (same kind of data, none in the training "
        "data, none seen by the audit classifier), so the p-value is valid: at most a "
        "fraction alpha of unused users is flagged, on average."
    ),
    "shadow_out": (
        "the scores of the attacker's shadow users under shadow models that did not train on "
        "them (each scored by a classifier fitted without that user). This is approximate: "
        "it assumes the shadow models treat unseen users as the audited model does (same "
        "recipe, same amount of training data). Give reference users for a valid test."
    ),
}


def _scores_figure(rows: list[dict[str, Any]], null: np.ndarray) -> str:
    scores = np.array([r["score"] for r in rows], dtype=np.float64)
    both = np.concatenate([scores, null])
    lo, hi = np.percentile(both, [0.5, 99.5])
    if not hi > lo:
        lo, hi = lo - 0.5, hi + 0.5
    edges = np.linspace(lo, hi, 31)
    with mpl.rc_context(_RC):
        fig = Figure(figsize=(5.2, 2.8), dpi=DPI, layout="constrained")
        ax = fig.subplots()
        ax.hist(
            np.clip(null, lo, hi),
            bins=edges,
            density=True,
            alpha=0.4,
            color=NONMEMBER_COLOR,
            label="null (not used)",
        )
        ax.hist(
            np.clip(scores, lo, hi),
            bins=edges,
            density=True,
            histtype="step",
            lw=1.5,
            color=MEMBER_COLOR,
            label="audited users",
        )
        ax.set_xlabel("audit classifier score (higher = more like training data)")
        ax.set_ylabel("density")
        ax.legend(fontsize=7)
        return _png_uri(fig)


def _users_table(rows: list[dict[str, Any]]) -> str:
    truth = any(r["member"] is not None for r in rows)
    head = "<th>user</th><th>score</th><th>p-value</th><th>decision</th>" + (
        "<th>truly used</th>" if truth else ""
    )
    body = []
    for r in sorted(rows, key=lambda r: (r["p_value"], -r["score"])):
        cells = (
            f"<td>{esc(r['user'])}</td>"
            f'<td class="mono">{r["score"]:.3f}</td>'
            f'<td class="mono">{r["p_value"]:.4g}</td>'
            f"<td>{'used' if r['reject'] else 'no evidence'}</td>"
        )
        if truth:
            cells += f"<td>{'yes' if r['member'] else 'no'}</td>"
        body.append(f"<tr>{cells}</tr>")
    return (
        f'<div class="table-wrap"><table><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )


def render_user_audit_html(
    doc: dict[str, Any], null_scores: np.ndarray, *, title: str | None = None
) -> str:
    """The report of a user_audit.json document (:func:`miaudit.pipeline.user_run.
    result_document`) and its null scores."""
    title = title or "Were these users' texts used?"
    rows = doc["users"]
    used = sum(r["reject"] for r in rows)
    facts = [
        ("Level", f'alpha = <span class="mono">{doc["alpha"]:g}</span>'),
        ("Users flagged", f'<span class="mono">{used}</span> of {len(rows)}'),
        ("Audit", f"Song &amp; Shmatikov 2019, {esc(doc['classifier'])} classifier"),
        ("Texts per user", f'<span class="mono">{esc(doc["texts_per_user"])}</span>'),
        ("Null", f"{esc(doc['null'])} ({doc['n_null']} scores)"),
        ("Shadow accuracy", f'<span class="mono">{doc["shadow_accuracy"]:.3f}</span>'),
    ]
    if doc.get("auc") is not None:
        ci = doc.get("auc_ci")
        ci_text = f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else ""
        facts.insert(
            2,
            (
                "AUC (truth known)",
                f'<span class="mono">{doc["auc"]:.3f}{ci_text}</span> (0.5: chance)',
            ),
        )
    body = [
        f"<header><h1>{esc(title)}</h1></header>",
        f'<section><h2>Answer</h2><p class="lead">{esc(doc["answer"])}</p>'
        + kv_table(facts)
        + "</section>",
        "<section><h2>Users</h2>" + _users_table(rows) + "</section>",
        "<section><h2>The test and what it assumes</h2>"
        "<p>For each audited user, the rank of every character (token) of the user's texts in "
        "the model's prediction is collected into a histogram; a classifier trained on shadow "
        "models (copies of the model's recipe trained on the attacker's own users) turns it "
        "into a score, higher meaning more like training data (Song &amp; Shmatikov 2019, "
        "Auditing Data Provenance in Text-Generation Models).</p>"
        "<p>The question for each user: were none of this user's texts used? The p-value is "
        "the share of null scores at least as high as the user's, (1 + count) / (1 + number "
        f"of null scores). The null is {esc(NULL_WORDS.get(doc['null'], doc['null']))}</p>"
        "<p>A small p-value is evidence of use; a large one is not proof of non-use. With many "
        "audited users, some unused ones are flagged by chance (a fraction alpha of them on "
        "average).</p></section>",
        "<section><h2>The scores</h2>"
        + figure(
            _scores_figure(rows, np.asarray(null_scores, dtype=np.float64)),
            "scores of the audited users and the null scores",
            "The filled histogram is the null (users whose texts were not used); the line, "
            "the audited users.",
        )
        + "</section>",
    ]
    return page(title, "\n".join(body))


def write_user_audit_html(path: str | Path, doc: dict[str, Any], null_scores: np.ndarray) -> Path:
    path = Path(path)
    path.write_text(render_user_audit_html(doc, null_scores), encoding="utf-8")
    return path
