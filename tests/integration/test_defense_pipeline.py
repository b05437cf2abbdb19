"""Defenses through the config pipeline: the `target.defense` contract of results.json."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from miaudit.errors import ConfigError
from miaudit.pipeline import parse_config, run_config

BASE = {
    "seed": 0,
    "dataset": {"name": "digits"},
    "split": {"members": 300, "nonmembers": 300},
    "target": {"model": "mlp", "hidden": [64], "epochs": 10, "batch_size": 32, "lr": 0.003},
    "evaluation": {"bootstrap": 10, "random_queries": 50},
    "attacks": ["loss", "gap", "confidence"],
}


def with_defense(**defense) -> dict:
    return {**BASE, "target": {**BASE["target"], "defense": defense}}


def test_dp_sgd_epsilon_is_reported(tmp_path: Path) -> None:
    cfg = with_defense(name="dp_sgd", noise_multiplier=1.1, max_grad_norm=1.0, delta=1e-5)
    run_config(cfg, output=tmp_path, progress=False)
    data = json.loads((tmp_path / "results.json").read_text())
    assert data["target"]["defense"]["name"] == "dp_sgd"
    assert data["target"]["defense"]["params"]["noise_multiplier"] == 1.1
    assert 0 < data["target"]["epsilon"] < 100
    assert data["config"]["target"]["defense"]["name"] == "dp_sgd"
    assert "dp_sgd" in (tmp_path / "report.html").read_text()


def test_memguard_keeps_labels_and_uses_the_defenders_reference_records() -> None:
    plain = run_config(BASE, progress=False)
    guarded = run_config(
        with_defense(
            name="memguard", budget=1.0, reference_size=200, max_iter=20, defender_steps=50
        ),
        progress=False,
    )
    # labels unchanged: the gap attack (correctness) and accuracies are exactly equal
    assert guarded.target.train_accuracy == plain.target.train_accuracy
    assert guarded.target.test_accuracy == plain.target.test_accuracy
    np.testing.assert_array_equal(guarded.attack("gap").scores, plain.attack("gap").scores)
    assert guarded.target.defense["name"] == "memguard"


def test_defense_config_errors() -> None:
    with pytest.raises(ConfigError, match="unknown defense 'memgard'"):
        parse_config(with_defense(name="memgard"))
    with pytest.raises(ConfigError, match="unknown key 'budgett'"):
        parse_config(with_defense(name="memguard", budgett=1.0))
    # parameters of the wrong type or range fail when the config is read (issue 9 item 3)
    with pytest.raises(ConfigError, match="budget must be a number >= 0, got 'high'"):
        parse_config(with_defense(name="memguard", budget="high"))
    with pytest.raises(ConfigError, match="reference_size' must be at least 1"):
        parse_config(with_defense(name="memguard", reference_size=0))
    # a population too small for the default defender set: a config error naming the key,
    # before the target trains (issue 9 item 10)
    tiny_population = with_defense(name="distillation")
    tiny_population["split"] = {**BASE["split"], "population": 1}
    with pytest.raises(ConfigError, match="set target.defense.reference_size"):
        run_config(tiny_population, progress=False)


def test_memguard_as_a_user_writes_it_gets_default_defender_records(tmp_path: Path) -> None:
    """Issue 9 item 10: ``{name: memguard, budget: 1.0}`` failed with "pass
    data=DefenseData(...)"; a config run now takes min(members, population // 2) records."""
    # no reference_size; fewer MemGuard iterations than its defaults keep the test fast
    cfg = with_defense(name="memguard", budget=1.0, max_iter=20, defender_steps=50)
    cfg["split"] = {"members": 100, "nonmembers": 100}
    cfg["target"]["epochs"] = 2
    cfg["attacks"] = ["loss"]
    result = run_config(cfg, output=tmp_path, progress=False)
    assert result.attack("loss").error is None
    data = json.loads((tmp_path / "results.json").read_text())
    # digits: 1797 records, 200 in the split, 1597 left: min(100, 1597 // 2) = 100
    assert data["target"]["defense"]["reference_size"] == 100
    assert "reference_size" not in data["config"]["target"]["defense"]  # the config as written


def test_defense_aware_reference_models_train_with_the_defense(tmp_path: Path) -> None:
    cfg = with_defense(name="label_smoothing", smoothing=0.3)
    cfg["attacks"] = [{"name": "lira", "online": False}]
    cfg["reference"] = {"num_models": 2, "cache_dir": str(tmp_path / "cache")}
    aware = run_config(cfg, progress=False)
    naive = run_config(
        {**cfg, "reference": {**cfg["reference"], "defense_aware": False}}, progress=False
    )
    assert aware.attack("lira").error is None and naive.attack("lira").error is None
    assert not np.array_equal(aware.attack("lira").scores, naive.attack("lira").scores)
    metas = [p.read_text() for p in (tmp_path / "cache").glob("??/*/meta.json")]
    assert len(metas) == 4  # two defended and two undefended reference models
    assert sum("label_smoothing" in m for m in metas) == 2
