"""The owner audit's HTML report (issue 13): the answer first, then how much of the data
was used (DUCI, where the attack has reference models), the p-value, the test, whether the
test could have found the records (its power against the number of records, with the rate
at which unused owners are wrongly found), the assumptions in words, and the scores."""

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


def _power_figure(power: list[dict[str, Any]], alpha: float, n_owner: int) -> str:
    rows = [r for r in power if r.get("power") is not None]
    k = np.array([r["n_owner"] for r in rows], dtype=float)
    with mpl.rc_context(_RC):
        fig = Figure(figsize=(5.2, 3.0), dpi=DPI, layout="constrained")
        ax = fig.subplots()
        for key, label, color in (
            ("power", "owners whose records were used (power)", MEMBER_COLOR),
            ("null", "owners whose records were not used", NONMEMBER_COLOR),
        ):
            rate = np.array([r["power" if key == "power" else "null_rate"] for r in rows])
            ci = np.array([r[f"{key}_ci"] for r in rows])
            ax.errorbar(
                k,
                rate,
                yerr=[rate - ci[:, 0], ci[:, 1] - rate],
                marker="o",
                ms=4,
                capsize=3,
                color=color,
                label=label,
            )
        ax.axhline(alpha, color="grey", ls=":", lw=1, label=f"alpha = {alpha:g}")
        ax.axvline(n_owner, color="black", ls="--", lw=0.8, label=f"you: {n_owner} records")
        ax.set_xscale("log")
        ax.set_xticks(k, [f"{int(v)}" for v in k])
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel("owner's records")
        ax.set_ylabel("share found (test rejects)")
        ax.legend(fontsize=7)
        return _png_uri(fig)


def _usage_section(usage: dict[str, Any] | None, note: str | None) -> str:
    if usage is None:
        return (
            "<section><h2>How much of your data was used?</h2>"
            f"<p>Not estimated: {esc(note or 'no reference models')}.</p></section>"
        )
    lo, hi = usage["ci"]
    rows = [
        (
            "Estimated fraction used",
            f'<strong class="mono">{100 * usage["fraction"]:.0f}%</strong> '
            f"({100 * usage['confidence']:.0f}% interval "
            f'<span class="mono">{100 * lo:.0f}%</span> to '
            f'<span class="mono">{100 * hi:.0f}%</span>)',
        ),
        (
            "Your records the attack calls used",
            f'<span class="mono">{100 * usage["guessed"]:.0f}%</span>',
        ),
        (
            "The attack's error rates",
            f'finds <span class="mono">{100 * usage["tpr"]:.0f}%</span> of used records '
            f'and wrongly flags <span class="mono">{100 * usage["fpr"]:.0f}%</span> of unused '
            f"ones (the latter measured on the {esc(usage['fpr_source'])})",
        ),
        ("Reference models used", f'<span class="mono">{usage["n_pseudo_targets"]}</span>'),
        ("Method", esc(usage["paper"])),
    ]
    return (
        "<section><h2>How much of your data was used?</h2>"
        + kv_table(rows)
        + f"<p>{esc(usage['assumptions'])}</p></section>"
    )


def _power_section(
    power: list[dict[str, Any]] | None, note: str | None, alpha: float, n_owner: int
) -> str:
    head = "<section><h2>Could the test have found your records?</h2>"
    if not power or all(r.get("power") is None for r in power):
        reason = note or "; ".join(r["reason"] for r in power or [] if r.get("reason"))
        return head + f"<p>Not measured: {esc(reason or 'no reference models')}.</p></section>"
    cells = []
    for r in power:
        if r.get("power") is None:
            cells.append(
                f'<tr><td class="mono">{r["n_owner"]}</td><td colspan="2">'
                f"{esc(r['reason'])}</td></tr>"
            )
            continue
        p_lo, p_hi = r["power_ci"]
        n_lo, n_hi = r["null_ci"]
        cells.append(
            f'<tr><td class="mono">{r["n_owner"]}</td>'
            f'<td class="mono">{100 * r["power"]:.0f}% ({100 * p_lo:.0f} to {100 * p_hi:.0f})</td>'
            f'<td class="mono">{100 * r["null_rate"]:.1f}% ({100 * n_lo:.1f} to '
            f"{100 * n_hi:.1f})</td></tr>"
        )
    owners = next(r["owners"] for r in power if r.get("power") is not None)
    table = (
        "<table><thead><tr><th>owner's records</th><th>used owners found (95% interval)</th>"
        "<th>unused owners wrongly found (95% interval)</th></tr></thead><tbody>"
        + "".join(cells)
        + "</tbody></table>"
    )
    text = (
        f"<p>{owners} simulated owners per size, on the attack's reference models (trained "
        "like the target, with known use of each record; each scored by the attack fitted "
        "on the others): how often the test says <em>yes</em> when the owner's records were "
        f"used, and when they were not (this should stay at or below alpha = {alpha:g}).</p>"
    )
    return (
        head
        + text
        + figure(
            _power_figure(power, alpha, n_owner),
            "the test's power against the number of the owner's records",
            "Dots: the share of simulated owners the test finds, with 95% intervals.",
        )
        + table
        + "</section>"
    )


def render_owner_html(
    test: dict[str, Any],
    owner_scores: np.ndarray,
    reference_scores: np.ndarray,
    *,
    attack: str,
    answer: str,
    title: str = "Were my records used?",
    usage: dict[str, Any] | None = None,
    usage_note: str | None = None,
    power: list[dict[str, Any]] | None = None,
    power_note: str | None = None,
    power_caveat: str | None = None,
    resemblance: dict[str, Any] | None = None,
    threshold: dict[str, Any] | None = None,
) -> str:
    verdict = "Yes" if test["reject"] else "No evidence"
    lead = f'<p class="lead">{esc(answer)}</p>'
    if power_caveat:
        lead += f"<p><strong>{esc(power_caveat)}</strong></p>"
    elif resemblance is not None and resemblance["mismatch"]:
        lead += f"<p><strong>{esc(resemblance['sentence'])}</strong></p>"
    if usage is not None:
        lo, hi = usage["ci"]
        lead += (
            f"<p>Estimated share of your records used: <strong>{100 * usage['fraction']:.0f}%"
            f"</strong> ({100 * usage['confidence']:.0f}% interval {100 * lo:.0f}% to "
            f"{100 * hi:.0f}%).</p>"
        )
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
    if threshold is not None:
        rows.append(
            (
                "A second test: counting",
                f"{threshold['owner_above']} of your {threshold['n_owner']} records and "
                f"{threshold['reference_above']} of {threshold['n_reference']} reference "
                "records score above the threshold chosen on the reference models; one-sided "
                f'Fisher exact p = <span class="mono">{threshold["p_value"]:.4g}</span>. '
                f"{esc(threshold['assumptions'])} The answer above is the rank test's, the "
                "test chosen before seeing the data.",
            )
        )
    body = [
        f"<header><h1>{esc(title)}</h1></header>",
        f"<section><h2>Answer: {esc(verdict)}</h2>{lead}</section>",
        "<section><h2>The test</h2>" + kv_table(rows) + "</section>",
        _usage_section(usage, usage_note),
        _power_section(power, power_note, float(test["alpha"]), int(test["n_owner"])),
        ""
        if resemblance is None
        else "<section><h2>Is the target like its reference models?</h2>"
        f"<p>{esc(resemblance['sentence'])}</p></section>",
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
