"""The aggregate audit's HTML report (issue 13 part 3): the answer first (how many tested
records are found in the cohort, and one record's sentence), then each record's p-value,
the test and its assumptions in plain words (what DP noise does to them), and the null
statistics with the tested records marked. Reads aggregate.json's content only."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import matplotlib as mpl
import numpy as np
from matplotlib.figure import Figure

from miaudit.report._format import esc, figure, fmt, kv_table
from miaudit.report._html import page
from miaudit.report._plots import _RC, DPI, MEMBER_COLOR, NONMEMBER_COLOR, _png_uri

MAX_ROWS = 500  # records listed in the table (all are in aggregate.json)


def _null_figure(null: np.ndarray, tested: np.ndarray, found: np.ndarray) -> str:
    both = np.concatenate([null, tested])
    lo, hi = float(both.min()), float(both.max())
    if not hi > lo:
        lo, hi = lo - 0.5, hi + 0.5
    edges = np.linspace(lo, hi, 41)
    with mpl.rc_context(_RC):
        fig = Figure(figsize=(5.6, 2.9), dpi=DPI, layout="constrained")
        ax = fig.subplots()
        ax.hist(null, bins=edges, color=NONMEMBER_COLOR, alpha=0.45, label="reference records")
        shown = {True: False, False: False}
        for s, f in zip(tested[:MAX_ROWS], found[:MAX_ROWS], strict=True):
            label = None
            if not shown[bool(f)]:
                label = "tested: found" if f else "tested: not found"
                shown[bool(f)] = True
            ax.axvline(
                s,
                color=MEMBER_COLOR if f else "#555555",
                alpha=0.7,
                lw=1,
                ls="-" if f else "--",
                label=label,
            )
        ax.set_xlabel("attack statistic (higher = more like a cohort member)")
        ax.set_ylabel("reference records")
        ax.legend(fontsize=7)
        return _png_uri(fig)


def _noise_words(release: dict[str, Any], alpha: float) -> str:
    noise = release.get("noise")
    eps = release.get("epsilon")
    size = release.get("cohort_size")
    scale = release.get("noise_scale")
    if noise is None:
        base = (
            "The released means are exact (no differential-privacy noise). The test's "
            "guarantee does not depend on noise: it holds with or without it."
        )
    else:
        eps_text = (
            "∞" if eps is None or (isinstance(eps, float) and math.isinf(eps)) else f"{eps:g}"
        )
        delta = release.get("delta") or 0
        scale_text = f" (noise scale {scale:.3g} per mean)" if scale is not None else ""
        base = (
            f"The released means carry {esc(noise)} noise for differential privacy with "
            f"epsilon = {eps_text}{', delta = ' + format(delta, 'g') if delta else ''}"
            f"{scale_text}. The noise does not make the p-values wrong: the reference records "
            "are scored against the same noisy release, so the comparison stays fair. It "
            "makes the test weaker: members become harder to tell from outsiders. And it "
            "bounds what any test can find: with epsilon-DP, a test that wrongly flags a "
            f"fraction alpha of outsiders flags at most e^epsilon x alpha + delta of members"
            f" (here {_dp_bound(eps, delta, alpha)})."
        )
    if release.get("suppress_below"):
        base += (
            f" Features whose cohort frequency was below {release['suppress_below']:g} were "
            "withheld and are ignored by the test (that decision read the exact data, so it "
            "is not covered by epsilon)."
        )
    if size:
        base += f" The cohort has {int(size)} records."
    return base


def _dp_bound(eps: Any, delta: Any, alpha: float) -> str:
    e = float(eps)
    bound = 1.0 if e > 700 else min(1.0, math.exp(e) * alpha + float(delta or 0))
    if bound >= 1.0:
        return "no useful bound: epsilon is too large to limit any test"
    return f"at alpha {alpha:g}, at most {bound:.3g} of members"


def _record_table(rows: list[dict[str, Any]]) -> str:
    truth = any(r.get("member") is not None for r in rows)
    head = "<tr><th>record</th><th>statistic</th><th>p-value</th><th>answer</th>"
    head += "<th>truth (simulated)</th></tr>" if truth else "</tr>"
    body = []
    for r in rows[:MAX_ROWS]:
        answer = '<span class="member">found in the cohort</span>' if r["found"] else "no evidence"
        cells = (
            f'<td class="mono">{esc(r["index"])}</td>'
            f'<td class="mono">{fmt(r["statistic"], 4)}</td>'
            f'<td class="mono">{r["p_value"]:.4g}</td><td>{answer}</td>'
        )
        if truth:
            member = r.get("member")
            cells += (
                f"<td>{'member' if member else 'not a member' if member is not None else ''}</td>"
            )
        body.append(f"<tr>{cells}</tr>")
    more = (
        f'<p class="small">The first {MAX_ROWS} of {len(rows)} records; all are in '
        "aggregate.json.</p>"
        if len(rows) > MAX_ROWS
        else ""
    )
    return (
        f'<div class="table-wrap"><table><thead>{head}</thead><tbody>{"".join(body)}'
        f"</tbody></table></div>{more}"
    )


def render_aggregate_html(doc: dict[str, Any]) -> str:
    """The report of one aggregate audit (``doc``: aggregate.json's content)."""
    title = str(doc.get("title") or "Was this record in the cohort?")
    rows = list(doc["records"])
    n_found, n_tested = int(doc["n_found"]), int(doc["n_tested"])
    verdict = (
        f"{n_found} of {n_tested} found in the cohort" if n_found else "No evidence of membership"
    )
    release = doc.get("release") or {}
    method_words = {
        "empirical": "empirical p-value against reference records not in the cohort",
        "homer_t": "Homer et al. 2008's one-sample t-test over the features",
    }
    test_rows = [
        ("Question", "For each tested record: was it in the cohort behind the released means?"),
        ("Null hypothesis", "this record was not in the cohort"),
        (
            "Decision",
            f'found in the cohort when p &le; alpha = <span class="mono">{doc["alpha"]:g}</span>',
        ),
        ("Test", esc(method_words.get(doc["method"], doc["method"]))),
        ("Attack statistic", f"<strong>{esc(doc['attack'])}</strong> ({esc(doc['paper'])})"),
        ("Reference records (null)", f'<span class="mono">{int(doc["n_null"])}</span>'),
        ("Reference records (fit)", f'<span class="mono">{int(doc["n_fit"])}</span>'),
        ("Released features", f'<span class="mono">{int(doc["n_features"])}</span>'),
        ("Release", esc("published file" if release.get("source") == "file" else "simulated")),
    ]
    metrics = doc.get("metrics")
    if metrics:
        test_rows.append(
            (
                "Attack strength (simulated truth)",
                f'AUC <span class="mono">{fmt(metrics["auc"])}</span>, TPR at 1% FPR '
                f'<span class="mono">{fmt(metrics["tpr_at_1pct_fpr"])}</span> over '
                f"{int(metrics['n_members'])} members and {int(metrics['n_nonmembers'])} "
                "outsiders tested",
            )
        )
    expected = float(doc["alpha"]) * n_tested
    body = [
        f"<header><h1>{esc(title)}</h1></header>",
        f'<section><h2>Answer: {esc(verdict)}</h2><p class="lead">{esc(doc["answer"])}</p>'
        f'<p class="lead">{esc(doc["first_record"])}</p></section>',
        "<section><h2>Each record</h2>" + _record_table(rows) + "</section>",
        "<section><h2>The test</h2>" + kv_table(test_rows) + "</section>",
        "<section><h2>What the test assumes</h2>"
        f"<p>{esc(doc['assumptions'])}</p>"
        "<p>The reference records must come from the same population as the tested records "
        "and be known not to be in the cohort; the attack was fitted on other reference "
        "records than the ones the p-value compares with. A small p-value is evidence that "
        "the record was in the cohort; a large one is not proof that it was not.</p>"
        f"<p>Each p-value is about one record. Testing {n_tested} records that were all "
        f"outside the cohort would still flag about {expected:.2g} of them by chance; to "
        "claim that none of many records is a false finding, compare each p-value with "
        f"alpha / {n_tested} (Bonferroni) instead.</p>"
        f"<p>{_noise_words(release, float(doc['alpha']))}</p></section>",
        "<section><h2>The statistics</h2>"
        + figure(
            _null_figure(
                np.asarray(doc["null_statistics"], dtype=float),
                np.asarray([r["statistic"] for r in rows], dtype=float),
                np.asarray([r["found"] for r in rows], dtype=bool),
            ),
            "attack statistics of the reference records and the tested records",
            "The histogram is the reference records known not to be in the cohort; each line "
            "is a tested record (solid: found in the cohort).",
        )
        + "</section>",
    ]
    return page(title, "\n".join(body))


def write_aggregate_html(path: str | Path, doc: dict[str, Any]) -> Path:
    path = Path(path)
    path.write_text(render_aggregate_html(doc), encoding="utf-8")
    return path
