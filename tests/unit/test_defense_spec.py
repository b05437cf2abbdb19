"""DefenseSpec: one typed defense value, resolved once (issue 10 item 1)."""

from __future__ import annotations

import pkgutil

import numpy as np
import pytest

import miaudit.defenses
from miaudit.defenses import DEFENSES, DefenseSpec, make_defense
from miaudit.defenses.dp_sgd import DPSGD
from miaudit.defenses.memguard import MemGuard
from miaudit.errors import ConfigError, UnknownNameError
from miaudit.pipeline.api import reference_trainer
from miaudit.pipeline.config import parse_config
from miaudit.pipeline.references import ReferenceSettings, _recipe
from miaudit.pipeline.run import reference_settings, resolve_defense
from miaudit.pipeline.tradeoff import parse_tradeoff, sweep_points
from miaudit.reference import TrainRecipe, _cache

PARAMS_TEXT = (
    '"params":{"activation":"relu","batch_size":64,"dropout":0.0,"epochs":2,"hidden":[16],'
    '"lr":0.001,"momentum":0.9,"optimizer":"adam","weight_decay":0.0}'
)


def test_from_dict_and_to_dict_round_trip() -> None:
    raw = {"name": "memguard", "budget": 0.5, "reference_size": 10}
    spec = DefenseSpec.from_dict(raw)
    assert spec.to_dict() == raw
    assert (spec.name, spec.kind, spec.reference_size) == ("memguard", "inference", 10)
    assert isinstance(spec.defense, MemGuard) and spec.defense.budget == 0.5
    assert spec.needs_defender_data
    assert DefenseSpec.from_dict({"name": "top_k", "k": 1}).to_dict() == {"name": "top_k", "k": 1}


def test_an_instance_and_its_mapping_are_the_same_value() -> None:
    assert DefenseSpec(DPSGD(noise_multiplier=2.0)) == DefenseSpec.from_dict(
        {"name": "dp_sgd", "noise_multiplier": 2.0}
    )
    assert DefenseSpec(DPSGD(noise_multiplier=2.0)).to_dict() == {
        "name": "dp_sgd",
        "noise_multiplier": 2.0,
    }
    assert DefenseSpec(MemGuard(), reference_size=5).to_dict() == {
        "name": "memguard",
        "reference_size": 5,
    }
    assert DefenseSpec.of(MemGuard()) == DefenseSpec.from_dict({"name": "memguard"})
    assert DefenseSpec.of(None) is None


def test_bad_specs_are_refused() -> None:
    with pytest.raises(ConfigError, match="needs a Defense instance"):
        DefenseSpec("dp_sgd")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="reference_size must be a non-negative integer"):
        DefenseSpec(MemGuard(), reference_size=-1)
    with pytest.raises(ConfigError, match="noise_multiplier"):
        DefenseSpec(DPSGD())  # neither noise_multiplier nor target_epsilon
    with pytest.raises(UnknownNameError, match="valid names"):
        DefenseSpec.from_dict({"name": "nope"})
    with pytest.raises(ConfigError, match="DefenseSpec, a Defense instance or a mapping"):
        DefenseSpec.of(3)  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        ReferenceSettings(defense={"name": "top_k", "k": 0})


def test_build_gives_fresh_unfitted_copies() -> None:
    spec = DefenseSpec(DPSGD(noise_multiplier=1.0))
    a, b = spec.build(), spec.build()
    assert a is not spec.defense and a is not b
    a.epsilon_ = 3.0  # what training measures stays on the copy that trained
    assert "epsilon_" not in vars(spec.defense) and "epsilon_" not in vars(spec.build())
    assert a.get_params() == spec.defense.get_params()


def test_every_registered_defense_is_a_spec_round_trip() -> None:
    extra = {"dp_sgd": {"noise_multiplier": 1.0}}
    for name in DEFENSES.names():
        raw = {"name": name, **extra.get(name, {})}
        spec = DefenseSpec.from_dict(raw)
        assert spec.to_dict() == raw
        assert DefenseSpec(make_defense(name, **extra.get(name, {}))) == spec
        assert vars(spec.build()) == vars(spec.defense)


def test_every_public_defense_module_is_discovered() -> None:
    """A new defense is one new module: defenses/__init__ imports every public module."""
    modules = {
        m.name
        for m in pkgutil.iter_modules(miaudit.defenses.__path__)
        if not m.name.startswith("_") and m.name not in ("base", "spec")
    }
    registered = {DEFENSES.get(n).__module__.rsplit(".", 1)[1] for n in DEFENSES.names()}
    assert modules == registered


# -- cache keys: pinned with the code before DefenseSpec (commit 8ec0798) ---------------------
def test_defended_recipe_keys_are_unchanged(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        _cache, "versions", lambda: {"miaudit": "0", "torch": "0", "numpy": "0", "sklearn": "0"}
    )
    x = np.arange(24, dtype=np.float32).reshape(6, 4)
    y = np.array([0, 1, 2, 0, 1, 2])
    params = {"hidden": (16,), "epochs": 3}
    dp = {"name": "dp_sgd", "noise_multiplier": 1.0, "max_grad_norm": 1.0}
    for defense in (dp, DefenseSpec.from_dict(dp)):
        recipe = TrainRecipe(model="mlp", params=params, num_classes=3, defense=defense)
        fp = recipe.fingerprint()
        assert fp == (
            '{"defense":{"max_grad_norm":1.0,"name":"dp_sgd","noise_multiplier":1.0},'
            '"model":"mlp","num_classes":3,"params":{"activation":"relu","batch_size":64,'
            '"dropout":0.0,"epochs":3,"hidden":[16],"lr":0.001,"momentum":0.9,'
            '"optimizer":"adam","weight_decay":0.0}}'
        )
        assert _cache.model_key(x, y, fp, 7) == (
            "e6ba6edb24579ea1bf41974108f3aec520bd8752279501cb86ee41ab976e5e8d"
        )
    memguard = DefenseSpec(MemGuard(), reference_size=10)
    recipe = TrainRecipe(model="mlp", params=params, num_classes=3, defense=memguard)
    key = _cache.model_key(x, y, recipe.fingerprint(), 7, defender=(x[:2], y[:2]))
    assert key == "ea3f67651d4ceb96536fa85a7e4cdb346edade2c7286553accc182f7c84e0865"


@pytest.mark.parametrize(
    ("raw", "size", "defense_text"),
    [  # the reference recipe's defense part, printed by the code before DefenseSpec
        ({"name": "memguard"}, 100, '{"name":"memguard","reference_size":100}'),
        (
            {"name": "dp_sgd", "noise_multiplier": 0.5, "reference_size": 20},
            20,
            '{"name":"dp_sgd","noise_multiplier":0.5}',
        ),
        (
            {"name": "distillation", "temperature": 2.0},
            100,
            '{"name":"distillation","reference_size":100,"temperature":2.0}',
        ),
        (
            {"name": "top_k", "k": 1, "reference_size": 0},
            0,
            '{"k":1,"name":"top_k","reference_size":0}',
        ),
        ({"name": "top_k", "k": 2}, None, '{"k":2,"name":"top_k"}'),
        ({"name": "l2", "weight_decay": 0.01}, None, '{"name":"l2","weight_decay":0.01}'),
    ],
)
def test_config_defenses_resolve_to_the_same_reference_keys(
    raw: dict, size: int | None, defense_text: str
) -> None:
    config = parse_config(
        {
            "dataset": {"name": "purchase100"},
            "target": {"model": "mlp", "hidden": [16], "epochs": 2, "defense": raw},
            "split": {"members": 100, "nonmembers": 100},
            "attacks": ["loss"],
        }
    )
    spec = resolve_defense(config.target.defense, n_members=100, n_population=300)
    assert spec is not None and spec.reference_size == size
    assert config.to_dict()["target"]["defense"] == raw  # the config itself is unchanged
    settings = reference_settings(config, defense=spec, data_dir=None)
    assert isinstance(settings.defense, DefenseSpec)
    assert _recipe(settings, 3).fingerprint() == (
        f'{{"defense":{defense_text},"model":"mlp","num_classes":3,{PARAMS_TEXT}}}'
    )


def test_python_api_takes_a_spec_or_a_defense() -> None:
    settings = ReferenceSettings(model="mlp", defense=DPSGD(noise_multiplier=1.0))
    assert settings.defense == DefenseSpec(DPSGD(noise_multiplier=1.0))
    recipe = _recipe(settings, 3)
    assert recipe.defense == settings.defense and recipe.defense_kind == "training"
    # an inference-time defense leaves the attacks' own shadows undefended
    wrapped = ReferenceSettings(model="mlp", defense=DefenseSpec(MemGuard(), reference_size=4))
    trainer = reference_trainer(wrapped, 3)
    assert trainer.__self__.defense is None
    assert reference_trainer(settings, 3).__self__.defense == settings.defense


def test_a_training_time_defense_needs_a_model_recipe() -> None:
    with pytest.raises(ConfigError, match="not a train_fn"):
        TrainRecipe(train_fn=lambda x, y, s: None, defense=DPSGD(noise_multiplier=1.0))


def test_sweep_points_carry_their_defense_spec() -> None:
    raw = {
        "dataset": {"name": "digits"},
        "split": {"members": 50, "nonmembers": 50},
        "target": {"model": "mlp", "hidden": [8], "epochs": 1},
        "attacks": ["loss"],
        "tradeoff": {
            "reference_size": 7,
            "defenses": [
                {"name": "memguard", "values": [0.1, 0.5]},
                {"name": "l2", "values": [0.01]},
            ],
        },
    }
    base, entries = parse_tradeoff(raw, "t")
    assert [(e.defense, e.param, e.values) for e in entries] == [
        (MemGuard, "budget", (0.1, 0.5)),
        (DEFENSES.get("l2"), "weight_decay", (0.01,)),
    ]
    points = sweep_points(base, entries)
    assert [p.label for p in points] == ["none", "memguard", "memguard", "l2"]
    assert points[0].defense is None
    assert points[1].defense == DefenseSpec(MemGuard(budget=0.1), reference_size=7)
    assert points[1].config["target"]["defense"] == {
        "name": "memguard",
        "reference_size": 7,
        "budget": 0.1,
    }
    assert points[3].defense.to_dict() == {"name": "l2", "reference_size": 7, "weight_decay": 0.01}
    bad = {**raw, "tradeoff": {"defenses": [{"name": "dropout", "values": [0.5, "x"]}]}}
    base, entries = parse_tradeoff(bad, "t")
    with pytest.raises(ConfigError, match=r"t \(dropout rate='x'\)"):
        sweep_points(base, entries, source="t")
