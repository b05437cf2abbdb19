"""The generative-model audit from a config (issue 14): validation before anything trains,
the split, and one tiny end-to-end run through the CLI writing results.json, scores.csv
and a report that records each attack's cost."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml

from miaudit.cli import main
from miaudit.errors import ConfigError, DataError
from miaudit.generative import DCGANRecipe
from miaudit.pipeline.generative_audit import gan_audit, split_images
from miaudit.pipeline.generative_config import is_generative_config, parse_generative_config
from miaudit.results import load_result

TINY = {"model": "dcgan", "width": 4, "latent_dim": 8, "epochs": 1, "batch_size": 16}


def _config(tmp_path, **over):
    x = np.random.default_rng(0).random((60, 1, 28, 28)).astype(np.float32)
    np.savez(tmp_path / "imgs.npz", x=x)
    raw = {
        "images": {"path": str(tmp_path / "imgs.npz")},
        "split": {"members": 20, "nonmembers": 20, "population": 20},
        "target": dict(TINY),
        "attacks": ["logan_white_box", {"name": "gan_leaks_calibrated", "k": 16}],
        "evaluation": {"bootstrap": 0},
        "output": str(tmp_path / "out"),
    }
    raw.update(over)
    return raw


def test_is_generative_config():
    assert is_generative_config({"images": {}})
    assert not is_generative_config({"text": {}})


@pytest.mark.parametrize(
    ("over", "message"),
    [
        ({"target": {"model": "stylegan"}}, "generative model"),
        ({"target": {**TINY, "depth": 3}}, "depth"),
        ({"target": {**TINY, "lr": -1}}, "lr"),
        ({"attacks": ["logan_white_boxx"]}, "did you mean"),
        ({"attacks": [{"name": "gan_leaks_fbb", "k": 0}]}, "k"),
        ({"attacks": ["logan_white_box", "logan_white_box"]}, "label"),
        ({"split": {"members": 20, "nonmembers": 20}, "attacks": ["gan_leaks_calibrated"]},
         "population"),
        ({"images": {"dataset": "cifar10"}}, "image data set"),
        ({"images": {"path": "missing.npz"}}, "not a file"),
        ({"bogus": 1}, "bogus"),
    ],
)  # fmt: skip
def test_config_errors_before_anything_trains(tmp_path, over, message):
    with pytest.raises(ConfigError, match=message):
        parse_generative_config(_config(tmp_path, **over), source="gan.yaml")


def test_split_is_disjoint_seeded_and_refuses_too_many():
    s = split_images(100, members=30, nonmembers=20, population=10, seed=3)
    sets = [set(s.members), set(s.nonmembers), set(s.population)]
    assert [len(x) for x in sets] == [30, 20, 10]
    assert not (sets[0] & sets[1] or sets[0] & sets[2] or sets[1] & sets[2])
    again = split_images(100, members=30, nonmembers=20, population=10, seed=3)
    assert np.array_equal(s.members, again.members)
    with pytest.raises(ConfigError, match="asks for 61"):
        split_images(60, members=30, nonmembers=20, population=11)


def test_pixels_outside_unit_range_are_refused():
    x = np.full((10, 1, 28, 28), 200.0, dtype=np.float32)
    split = split_images(10, members=4, nonmembers=4)
    from miaudit.attacks.gan import make_gan_attack

    with pytest.raises(DataError, match="divide 8-bit pixels by 255"):
        gan_audit(x, [make_gan_attack("logan_white_box")], split=split, recipe=DCGANRecipe())


@pytest.mark.timeout(120)
def test_cli_runs_a_tiny_gan_audit(tmp_path, capsys):
    raw = _config(tmp_path)
    path = tmp_path / "gan.yaml"
    path.write_text(yaml.safe_dump(raw))
    assert main(["audit", str(path)]) == 0
    assert "logan_white_box" in capsys.readouterr().out
    out = tmp_path / "out"
    data = json.loads((out / "results.json").read_text())
    gen = data["target"]["generative"]
    assert data["target"]["train_accuracy"] is None  # a generator has no accuracy
    costs = gen["attack_costs"]
    # white-box: no samples, one discriminator query per audited record; calibrated: k from
    # the target and k from the reference generator, trained once before the attacks
    assert costs["logan_white_box"] == {**costs["logan_white_box"], "samples": 0}
    assert costs["logan_white_box"]["discriminator_queries"] == 40
    assert costs["gan_leaks_calibrated"]["samples"] == 32
    assert gen["samples_total"] == 32
    assert gen["reference_generator_seconds"] > 0
    result = load_result(out)
    assert result.target.generative["family"] == "GAN"
    assert [a.name for a in result.attacks] == ["logan_white_box", "gan_leaks_calibrated"]
    assert all(a.error is None for a in result.attacks)
    assert result.membership.sum() == 20
    report = (out / "report.html").read_text()
    assert "Attack cost" in report and "discriminator queries" in report
    assert "Train accuracy" not in report


def test_the_shipped_gan_config_is_valid():
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "configs" / "gan_mnist.yaml"
    config = parse_generative_config(yaml.safe_load(path.read_text()), source=str(path))
    assert config.recipe.epochs == 150 and config.split["population"] == 500
    assert [a.name for a in config.attacks][0] == "logan_white_box"
