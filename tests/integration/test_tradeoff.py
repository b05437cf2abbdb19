"""`miaudit tradeoff`: one audit per defense strength, table, results.json, plot."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from miaudit.cli import main
from miaudit.errors import ConfigError
from miaudit.pipeline.tradeoff import parse_tradeoff

CONFIG = {
    "seed": 0,
    "dataset": {"name": "digits"},
    "split": {"members": 200, "nonmembers": 200},
    "target": {"model": "mlp", "hidden": [32], "epochs": 8, "batch_size": 32, "lr": 0.005},
    "attacks": ["loss", "gap"],
    "evaluation": {"bootstrap": 10, "random_queries": 20},
    "tradeoff": {"defenses": [{"name": "l2", "values": [0.01]}, {"name": "top_k", "values": [1]}]},
}


def test_tradeoff_command(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(yaml.safe_dump(CONFIG))
    assert main(["tradeoff", str(path), "--output", str(tmp_path / "out"), "--no-progress"]) == 0
    data = json.loads((tmp_path / "out" / "results.json").read_text())
    assert [(p["defense"], p["value"]) for p in data["points"]] == [
        ("none", None),
        ("l2", 0.01),
        ("top_k", 1),
    ]
    for p in data["points"]:
        assert {"test_accuracy", "generalization_gap", "train_seconds", "auc"} <= set(p)
        assert set(p["tpr_at_fpr"]) == {"0.001", "0.01"}
    # top-1 keeps the labels: accuracy equal to the undefended model's
    assert data["points"][2]["test_accuracy"] == data["points"][0]["test_accuracy"]
    html = (tmp_path / "out" / "report.html").read_text()
    assert "data:image/png" in html and "Privacy-utility" in html
    assert "top_k" in capsys.readouterr().out


def test_tradeoff_config_errors() -> None:
    with pytest.raises(ConfigError, match="tradeoff"):
        parse_tradeoff({k: v for k, v in CONFIG.items() if k != "tradeoff"}, "t")
    bad = {**CONFIG, "tradeoff": {"defenses": [{"name": "model_stacking", "values": [1]}]}}
    with pytest.raises(ConfigError, match="no strength parameter"):
        parse_tradeoff(bad, "t")
