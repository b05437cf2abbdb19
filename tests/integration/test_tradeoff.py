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


def test_tradeoff_recipe_override_and_failed_point(tmp_path: Path) -> None:
    """A defense's own target recipe gets its own undefended baseline; a failing point is
    recorded with its error and the sweep goes on (and results.json is written)."""
    from miaudit.pipeline.tradeoff import run_tradeoff, table

    cfg = {
        **CONFIG,
        "tradeoff": {
            "defenses": [
                {"name": "l2", "values": [0.01], "target": {"hidden": [8], "epochs": 4}},
                # distillation's defender records: more than the population holds (a
                # config error at run time, before this point's training)
                {"name": "distillation", "values": [2.0], "reference_size": 10**6},
                {"name": "top_k", "values": [1]},
            ]
        },
    }
    path = tmp_path / "t.yaml"
    path.write_text(yaml.safe_dump(cfg))
    points = run_tradeoff(path, output=tmp_path / "out", progress=False)
    got = [(p.defense, p.value, p.recipe) for p in points]
    small = {"hidden": [8], "epochs": 4}
    assert got == [
        ("none", None, None),
        ("none", None, small),
        ("l2", 0.01, small),
        ("distillation", 2.0, None),
        ("top_k", 1, None),
    ]
    assert points[1].test_accuracy != points[0].test_accuracy  # a different model
    assert points[3].error is not None and "reference" in points[3].error
    assert all(p.error is None for i, p in enumerate(points) if i != 3)
    data = json.loads((tmp_path / "out" / "results.json").read_text())
    assert data["points"][3]["error"] == points[3].error
    assert data["points"][3]["auc"] is None  # NaN is written as null
    text = table(points)
    assert "none [r1]" in text and "l2 [r1]" in text and "FAILED" in text
    assert "[r1] target recipe: epochs=4, hidden=[8]" in text
    html = (tmp_path / "out" / "report.html").read_text()
    assert "failed:" in html and "hidden=[8]" in html


def test_tradeoff_recipe_errors() -> None:
    bad = {**CONFIG, "tradeoff": {"defenses": [{"name": "l2", "values": [1], "target": 3}]}}
    with pytest.raises(ConfigError, match="must be a mapping"):
        parse_tradeoff(bad, "t")
    bad["tradeoff"]["defenses"][0]["target"] = {"defense": {"name": "l2"}}
    with pytest.raises(ConfigError, match="must not set a defense"):
        parse_tradeoff(bad, "t")
    bad["tradeoff"]["defenses"][0]["target"] = {"widht": 3}
    with pytest.raises(ConfigError, match="widht"):
        parse_tradeoff(bad, "t")


def test_tradeoff_no_code_refuses_train_fn_before_any_audit(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    import miaudit.pipeline.tradeoff as tradeoff

    monkeypatch.setattr(tradeoff, "run_config", lambda *a, **k: pytest.fail("audit ran"))
    config = {**CONFIG, "reference": {"train_fn": "tradeoff_never_imported_module:train"}}
    path = tmp_path / "t.yaml"
    path.write_text(yaml.safe_dump(config))
    argv = ["tradeoff", str(path), "--output", str(tmp_path / "out"), "--no-code"]
    assert main([*argv, "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "imports from configs are disabled" in err[0]
    assert "tradeoff_never_imported_module" not in sys.modules
    assert not (tmp_path / "out").exists()  # refused before the output was even created


def test_a_bad_sweep_value_is_refused_before_any_audit(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every point's parameters are checked before the baseline trains (issue 9 item 3)."""
    import miaudit.pipeline.tradeoff as tradeoff

    monkeypatch.setattr(tradeoff, "run_config", lambda *a, **k: pytest.fail("audit ran"))
    config = {**CONFIG, "tradeoff": {"defenses": [{"name": "dropout", "values": [0.5, "x"]}]}}
    path = tmp_path / "t.yaml"
    path.write_text(yaml.safe_dump(config))
    argv = ["tradeoff", str(path), "--output", str(tmp_path / "out"), "--no-progress"]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "dropout rate='x'" in err[0] and "rate" in err[0], err
