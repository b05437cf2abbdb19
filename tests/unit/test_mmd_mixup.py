"""Unit tests for mix-up + MMD regularisation (Li, Li & Ribeiro 2021)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from miaudit.defenses.mmd_mixup import MMDMixup, class_mmd2, gaussian_mmd2
from miaudit.errors import ConfigError
from tests.unit.defense_helpers import PARAMS, one_thread  # noqa: F401  (autouse)
from tests.unit.defense_helpers import make_data as _data
from tests.unit.defense_helpers import train_defense as _train


def test_mmd_estimator():
    g = torch.Generator().manual_seed(0)
    p = torch.rand(20, 3, generator=g, dtype=torch.float64)
    assert float(gaussian_mmd2(p, p.clone(), 0.5)) == pytest.approx(0.0, abs=1e-12)
    far = float(gaussian_mmd2(p, p + 2.0, 0.5))
    near = float(gaussian_mmd2(p, p + 0.1, 0.5))
    assert far > near > 0
    # slow, obviously correct reference for the biased estimator
    q = p + 0.3
    k = lambda a, b: np.exp(-np.sum((a - b) ** 2) / (2 * 0.5**2))  # noqa: E731
    pn, qn = p.numpy(), q.numpy()
    ref = (
        np.mean([[k(a, b) for b in pn] for a in pn])
        + np.mean([[k(a, b) for b in qn] for a in qn])
        - 2 * np.mean([[k(a, b) for b in qn] for a in pn])
    )
    assert float(gaussian_mmd2(p, q, 0.5)) == pytest.approx(ref, rel=1e-9)
    y = torch.zeros(20, dtype=torch.long)
    assert float(class_mmd2(p, y, q, y + 1, None)) == 0.0  # no class in common


def test_outputs_deterministic_and_report():
    x, _ = _data()
    d = MMDMixup(mixup_alpha=0.5, mmd_weight=2.0)
    p = _train(d).predict_proba(x)
    assert p.shape == (48, 3)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-9)
    np.testing.assert_array_equal(
        p, _train(MMDMixup(mixup_alpha=0.5, mmd_weight=2.0)).predict_proba(x)
    )
    rep = d.report()
    assert rep["params"] == {"mixup_alpha": 0.5, "mmd_weight": 2.0, "bandwidth": 0.1}
    assert rep["mmd"] >= -1e-9 and 0 <= rep["train_accuracy"] <= 1
    other = _train(MMDMixup(mixup_alpha=0.5, mmd_weight=0.0, bandwidth=0.3)).predict_proba(x)
    assert not np.array_equal(p, other)


def test_errors():
    with pytest.raises(ConfigError, match="reference set"):
        _train(MMDMixup(), ref=False)
    with pytest.raises(ConfigError, match="mixup_alpha"):
        _train(MMDMixup(mixup_alpha=0.0))
    with pytest.raises(ConfigError, match="mmd_weight"):
        _train(MMDMixup(mmd_weight=-1))


def test_median_heuristic_is_scale_free_but_fixed_bandwidth_is_not():
    """Why the default bandwidth is fixed: shrinking both output samples towards one point
    leaves the median-heuristic MMD unchanged (so the penalty never lets go and pushes the
    outputs to collapse) while the fixed-bandwidth MMD vanishes."""
    import torch

    from miaudit.defenses.mmd_mixup import gaussian_mmd2

    gen = torch.Generator().manual_seed(0)
    a, b = torch.rand(20, 3, generator=gen), torch.rand(20, 3, generator=gen) + 0.3
    centre = torch.full((1, 3), 1 / 3)
    for_scale = {s: (centre + s * a, centre + s * b) for s in (1.0, 0.01)}
    median = [float(gaussian_mmd2(p, q, None)) for p, q in for_scale.values()]
    fixed = [float(gaussian_mmd2(p, q, 0.1)) for p, q in for_scale.values()]
    assert median[0] > 0.1 and abs(median[1] - median[0]) < 1e-4
    assert fixed[0] > 0.1 and fixed[1] < 0.05 * fixed[0]
