"""Tests of the self-contained HTML report."""

from __future__ import annotations

import math
import re
from dataclasses import replace
from typing import Any

import numpy as np
import pytest
from scipy.stats import percentileofscore

from miaudit.metrics import AttackMetrics
from miaudit.report import render_html, write_html
from miaudit.report._data import rank_percentiles, records_at_risk, roc, tpr_at
from miaudit.results import AttackResult, AuditResult, TargetSummary

THREAT = {
    "knowledge": "black-box probabilities",
    "needs_shadow_models": False,
    "needs_same_distribution_data": True,
    "needs_architecture": False,
    "paper": "Yeom et al. 2018",
}


def _metrics(auc: float = 0.61) -> AttackMetrics:
    """Metrics as a result written before the held-out bound existed (NaN where missing)."""
    return AttackMetrics(
        auc=auc,
        auc_ci=(auc - 0.02, auc + 0.02),
        tpr_at_fpr={"0.001": 0.004, "0.01": 0.037, "0.1": 0.21},
        tpr_at_fpr_ci={"0.001": (0.0, 0.01), "0.01": (0.02, 0.05), "0.1": (0.18, 0.24)},
        balanced_accuracy=0.58,
        advantage=0.16,
        epsilon_lower_bound=1.23,
        epsilon_lower_bound_heldout=math.nan,
        threshold=0.5,
        precision=math.nan,
        recall=math.nan,
        n_members=150,
        n_nonmembers=150,
    )


def _attack(name: str, scores: np.ndarray | None, **kw: Any) -> AttackResult:
    if scores is None:
        return AttackResult(name, THREAT, {}, None, error=kw.pop("error", "it broke"), **kw)
    return AttackResult(name, THREAT, {"k": 1}, scores, metrics=kw.pop("metrics", _metrics()), **kw)


def _result(attacks: list[AttackResult], membership: np.ndarray) -> AuditResult:
    n = len(membership)
    target = TargetSummary(
        model="MLP(64, 64)",
        params={"hidden": [64, 64], "lr": 0.001},
        num_classes=10,
        n_members=int(membership.sum()),
        n_nonmembers=int((~membership).sum()),
        train_accuracy=0.987,
        test_accuracy=0.812,
        dataset="purchase100",
    )
    return AuditResult(
        target=target,
        attacks=attacks,
        membership=membership,
        record_ids=np.arange(100, 100 + n, dtype=np.int64),
        config={"seed": 3},
        seed=3,
        versions={"python": "3.11", "miaudit": "0.1.0"},
        created="2025-01-02T03:04:05",
    )


@pytest.fixture
def data() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    membership = np.zeros(300, dtype=bool)
    membership[rng.permutation(300)[:150]] = True
    s1 = rng.normal(size=300) + 0.5 * membership
    s2 = rng.exponential(size=300) * (1 + membership)
    return membership, s1, s2


@pytest.fixture
def result(data: tuple[np.ndarray, np.ndarray, np.ndarray]) -> AuditResult:
    membership, s1, s2 = data
    attacks = [
        _attack("loss-threshold", s1),
        _attack("ml-leaks", s2, seconds=2.5),
        _attack("shokri", None, error="ValueError: no shadow data"),
    ]
    return _result(attacks, membership)


def test_render_has_the_essentials(result: AuditResult) -> None:
    html = render_html(result)
    assert html.startswith("<!DOCTYPE html>")
    assert html.rstrip().endswith("</html>")
    for name in ("loss-threshold", "ml-leaks", "shokri"):
        assert name in html
    assert "0.987" in html and "0.812" in html and "+0.175" in html
    assert "purchase100" in html and "2025-01-02T03:04:05" in html
    assert "ValueError: no shadow data" in html
    assert "Carlini" in html
    assert "0.610" in html and "[0.590, 0.630]" in html  # AUC with its CI


def test_self_contained(result: AuditResult) -> None:
    html = render_html(result)
    assert html.count("data:image/png;base64,") == 2  # ROC figure and histogram grid
    assert "http://" not in html and "https://" not in html
    assert "<script" not in html.lower() and "<link" not in html.lower()
    assert all(src.startswith("data:") for src in re.findall(r'src="([^"]*)"', html))


def test_escapes_text(data: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    membership, s1, _ = data
    evil = "<script>alert('x')</script>"
    attacks = [_attack(evil, s1), _attack(evil + "$x$", None, error=evil)]
    result = _result(attacks, membership)
    result.title = evil
    html = render_html(result)
    assert "<script" not in html
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in html


def test_deterministic(result: AuditResult) -> None:
    assert render_html(result) == render_html(result)


def test_all_attacks_failed(data: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    membership, _, _ = data
    result = _result([_attack("a", None), _attack("b", None)], membership)
    html = render_html(result)
    assert html.startswith("<!DOCTYPE html>")
    assert "No attack completed" in html
    assert "data:image" not in html
    assert render_html(_result([], membership)).startswith("<!DOCTYPE html>")


def test_missing_metrics_show_dash(data: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    membership, s1, _ = data
    html = render_html(_result([_attack("bare", s1, metrics=None)], membership))
    assert "–" in html
    assert "bare" in html


def test_both_epsilon_bounds_are_labelled(data: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    membership, s1, _ = data
    metrics = replace(_metrics(), epsilon_lower_bound_heldout=0.87)
    result = _result([_attack("a", s1, metrics=metrics), _attack("b", None)], membership)
    html = render_html(result)
    assert "max over thresholds" in html and "optimistic" in html and "held-out" in html
    assert "1.23" in html and "0.87" in html
    assert 'colspan="8"><strong>Failed:' in html  # the failed row still spans the results
    text = result.summary()
    assert "eps>=*" in text and "optimistic" in text and "held-out" in text
    assert "1.23" in text and "0.87" in text
    # results written before the held-out bound existed show a dash
    old = _result([_attack("a", s1)], membership)
    assert "1.23      -" in old.summary()


def test_at_risk_table_lists_member_truth(data: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    membership, s1, s2 = data
    s1, s2 = s1.copy(), s2.copy()
    top = int(np.flatnonzero(~membership)[0])  # a non-member every attack ranks first
    s1[top], s2[top] = 100.0, 100.0
    html = render_html(_result([_attack("a", s1), _attack("b", s2)], membership))
    start = html.index("Records most at risk")
    section = html[start : html.index("</table>", start)]
    first_row = section[section.index("<tbody>") : section.index("</tr>", section.index("<tbody>"))]
    assert f">{100 + top}<" in first_row and "non-member" in first_row
    assert '<span class="member">member</span>' in section
    assert section.count("<tr>") == 21  # header + 20 records


def test_robust_to_odd_scores(data: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    membership, s1, _ = data
    odd = s1.copy()
    odd[:5] = [np.nan, np.inf, -np.inf, np.nan, np.inf]
    const = np.zeros_like(s1)
    wrong_shape = s1[:10]
    attacks = [_attack("odd", odd), _attack("const", const), _attack("short", wrong_shape)]
    html = render_html(_result(attacks, membership))
    assert "data:image/png" in html
    one_class = np.ones_like(membership)
    assert "all of one class" in render_html(_result([_attack("a", s1)], one_class))


def test_extra_sections_hook(result: AuditResult) -> None:
    result.extra_sections = {"Defense <notes>": "DP-SGD\n\nwith eps 8"}  # type: ignore[attr-defined]
    html = render_html(result)
    assert "Defense &lt;notes&gt;" in html and "<p>with eps 8</p>" in html


def test_size_reasonable_and_write_html(tmp_path: Any) -> None:
    rng = np.random.default_rng(1)
    membership = rng.random(2000) < 0.5
    attacks = [
        _attack(f"attack-{i}", rng.normal(size=2000) + 0.2 * i * membership) for i in range(5)
    ]
    result = _result(attacks, membership)
    path = write_html(result, tmp_path / "report.html")
    assert path.stat().st_size < 1_500_000
    assert path.read_text(encoding="utf-8") == render_html(result)


def test_rank_percentiles_match_reference() -> None:
    rng = np.random.default_rng(2)
    scores = rng.integers(0, 20, size=200).astype(float)  # many ties
    expected = [percentileofscore(scores, s, kind="mean") for s in scores]
    np.testing.assert_allclose(rank_percentiles(scores), expected)


def test_records_at_risk_orders_by_mean_percentile() -> None:
    membership = np.array([True, False, True, False])
    a = _attack("a", np.array([4.0, 3.0, 2.0, 1.0]))
    b = _attack("b", np.array([1.0, 4.0, 3.0, 2.0]))
    risk = records_at_risk([a, b, _attack("c", None)], membership, np.array([10, 11, 12, 13]), k=3)
    assert risk is not None
    assert risk.attack_names == ["a", "b"]
    # percentiles a: 87.5 62.5 37.5 12.5, b: 12.5 87.5 62.5 37.5 -> means 50 75 50 25
    assert risk.record_ids.tolist() == [11, 10, 12]  # the tie of 10 and 12 goes by id
    assert risk.members.tolist() == [False, True, True]
    np.testing.assert_allclose(risk.mean_percentile, [75.0, 50.0, 50.0])


def test_roc_matches_tpr_levels() -> None:
    membership = np.array([True] * 4 + [False] * 4)
    curve = roc("x", membership, np.array([8, 7, 5, 1, 6, 4, 3, 2], dtype=float))
    assert curve is not None
    assert curve.auc == pytest.approx(11 / 16)
    assert tpr_at(curve, 0.0) == 0.5
    assert tpr_at(curve, 0.25) == 0.75
    assert tpr_at(curve, 0.7) == 0.75
    assert tpr_at(curve, 1.0) == 1.0
