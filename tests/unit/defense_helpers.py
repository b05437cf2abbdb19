"""Shared set-up of the training-time defense unit tests: a small 3-class problem, a tiny MLP
recipe, one torch thread, and training with a disjoint defender reference set."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from miaudit.defenses.base import DefenseData

PARAMS = {"hidden": (16,), "epochs": 3, "batch_size": 16}


@pytest.fixture(autouse=True)
def one_thread():
    """Run each test with one torch thread (bitwise-reproducible training), then restore."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def make_data(n=48, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 6)).astype(np.float32), rng.integers(0, 3, n)


def train_defense(defense, model="mlp", params=PARAMS, seed=0, x=None, ref=True):
    """``defense.train`` on :func:`make_data` (or ``x``), with a reference set unless ``ref``
    is false."""
    x, y = make_data() if x is None else x
    data = DefenseData(reference=make_data(seed=1)) if ref else DefenseData()
    return defense.train(model, params, x, y, num_classes=3, seed=seed, data=data)
