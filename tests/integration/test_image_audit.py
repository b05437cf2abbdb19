"""An image audit end to end: CNN target, LiRA with flip/shift augmented queries."""

from __future__ import annotations

import numpy as np
from sklearn.datasets import load_digits

from miaudit.data.augment import image_views
from miaudit.models import train_model
from miaudit.pipeline import ReferenceSettings, audit
from miaudit.pipeline._queries import target_outputs as _target_outputs

CNN = {"channels": [8, 16], "hidden": 32, "epochs": 4, "batch_size": 32, "lr": 0.003}


def digit_images():
    x, y = load_digits(return_X_y=True)
    return (x / 16.0).astype(np.float32).reshape(-1, 1, 8, 8), y


def test_augmented_target_queries_carry_views():
    x, y = digit_images()
    target = train_model("cnn", CNN, x[:200], y[:200], num_classes=10, seed=0)
    out = _target_outputs(target, x[:50], y[:50], image_views)
    assert len(out.augmented) == 10  # identity, flip, and 4 shifts of each
    np.testing.assert_array_equal(out.augmented[0].probs, out.probs)
    assert not np.array_equal(out.augmented[1].probs, out.probs)


def test_cnn_audit_with_lira_on_augmented_queries():
    x, y = digit_images()
    members, nonmembers, population = (
        (x[:300], y[:300]),
        (x[300:600], y[300:600]),
        (
            x[600:900],
            y[600:900],
        ),
    )
    target = train_model("cnn", CNN, *members, num_classes=10, seed=0)
    res = audit(
        target,
        members=members,
        nonmembers=nonmembers,
        population=population,
        attacks=["loss", {"name": "lira", "online": False}, "augmentation"],
        reference=ReferenceSettings(model="cnn", params=CNN, num_models=2),
        bootstrap=10,
        random_queries=50,
        progress=False,
    )
    assert [a.error for a in res.attacks] == [None, None, None]
    assert res.attack("augmentation").queries_per_record == 11.0
