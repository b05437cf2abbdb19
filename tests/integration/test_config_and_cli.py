"""Config-driven runs, determinism, and the command line's errors."""

import json
import subprocess
import sys

import pytest
import yaml

from miaudit.cli import main
from miaudit.errors import ConfigError
from miaudit.pipeline import parse_config, run_config

SMALL = {
    "seed": 3,
    "dataset": {"name": "digits"},
    "split": {"members": 300, "nonmembers": 300},
    "target": {
        "model": "mlp",
        "hidden": [64],
        "epochs": 15,
        "batch_size": 32,
        "optimizer": "adam",
        "lr": 0.003,
    },
    "attacks": "all",
    "evaluation": {"bootstrap": 30, "random_queries": 200},
}


def strip_volatile(d):
    return {k: v for k, v in d.items() if k not in ("created", "timings")}


# Three audits with every attack: 57 s alone on 2 cores, 125 s beside other jobs; the
# default 300 s limit would leave too little room on a slower machine.
@pytest.mark.timeout(900)
def test_same_config_and_seed_give_identical_results(tmp_path):
    a = run_config(SMALL, output=tmp_path / "a", progress=False)
    b = run_config(SMALL, output=tmp_path / "b", progress=False)
    ja = json.loads((tmp_path / "a" / "results.json").read_text())
    jb = json.loads((tmp_path / "b" / "results.json").read_text())
    assert strip_volatile(ja) == strip_volatile(jb)
    assert (tmp_path / "a" / "scores.csv").read_bytes() == (
        tmp_path / "b" / "scores.csv"
    ).read_bytes()
    assert ja["seed"] == 3 and ja["config"]["target"]["hidden"] == [64]
    assert ja["target"]["train_accuracy"] == a.target.train_accuracy
    assert {"python", "numpy", "torch", "scikit-learn", "miaudit"} <= set(ja["versions"])
    c = run_config({**SMALL, "seed": 4, "attacks": ["loss"]}, progress=False)
    assert c.attack("loss").metrics.auc != a.attack("loss").metrics.auc
    assert b.attack("loss").metrics == a.attack("loss").metrics


@pytest.mark.parametrize(
    "patch,message",
    [
        ({"atacks": ["loss"]}, "unknown key 'atacks'; did you mean 'attacks'"),
        ({"attacks": ["los"]}, "unknown attack 'los'; did you mean 'loss'"),
        ({"dataset": {"name": "locaton"}}, "unknown dataset 'locaton'; did you mean 'location'"),
        ({"target": {"model": "mlpp"}}, "unknown model 'mlpp'"),
        ({"target": {"model": "mlp", "lrr": 0.1}}, "unknown key 'lrr' in target"),
        ({"split": {"members": 0, "nonmembers": 10}}, "'split.members' must be a positive integer"),
        ({"split": {"members": "many", "nonmembers": 10}}, "must be a positive integer"),
        ({"dataset": {"name": "digits", "path": "x.npz"}}, "exactly one of 'name' or 'path'"),
    ],
)
def test_config_errors_are_clear(patch, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_config({**SMALL, **patch})


def test_missing_key():
    cfg = dict(SMALL)
    del cfg["target"]
    with pytest.raises(ConfigError, match="missing required key 'target'"):
        parse_config(cfg)


def write(tmp_path, cfg, name="c.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(cfg) if isinstance(cfg, dict) else cfg)
    return path


def test_cli_bad_config_prints_one_line_and_exits_nonzero(tmp_path, capsys):
    path = write(tmp_path, {**SMALL, "attacks": ["gapp"]})
    assert main(["audit", str(path), "--output", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown attack 'gapp'" in err[0] and "valid:" in err[0]
    path = write(tmp_path, "seed: 0\ndataset: {name: digits\n", "broken.yaml")
    assert main(["audit", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "invalid YAML" in err[0]
    assert main(["audit", str(tmp_path / "missing.yaml")]) == 2
    assert "config file not found" in capsys.readouterr().err


def test_cli_bad_dataset_file(tmp_path, capsys):
    import numpy as np

    np.savez(tmp_path / "d.npz", x=np.zeros((10, 3)))
    cfg = {**SMALL, "dataset": {"path": str(tmp_path / "d.npz")}}
    assert main(["audit", str(write(tmp_path, cfg)), "--output", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "'y'" in err[0]


def test_cli_attacks_and_datasets_listing():
    out = subprocess.run(
        [sys.executable, "-m", "miaudit.cli", "attacks"], capture_output=True, text=True, check=True
    ).stdout
    for name in ("gap", "loss", "confidence", "entropy", "modified_entropy"):
        assert name in out
    assert "black-box labels" in out and "Yeom" in out
    # each attack's declared needs (Attack.requires), e.g. RMIA's
    assert "needs: outputs; random reference models; population outputs" in out
    assert "needs: labels; recipe if calibration=shadow; population records" in out
    out = subprocess.run(
        [sys.executable, "-m", "miaudit.cli", "datasets"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "digits" in out and "location" in out
