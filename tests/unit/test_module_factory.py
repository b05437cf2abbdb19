"""Module-factory recipes: a user's torch module trained by miaudit (issue 10 item 6)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import miaudit.models._zoo as zoo
from miaudit.defenses import DEFENSES, DefenseData, DefenseSpec, make_defense
from miaudit.defenses.dp_sgd import DPSGD
from miaudit.defenses.regularization import L2Regularization
from miaudit.errors import ConfigError
from miaudit.models import MLP, train_model
from miaudit.pipeline.references import ReferenceSettings, _recipe
from miaudit.reference import TrainRecipe
from miaudit.targets import TorchTarget

D, C = 6, 3


class TinyNet(nn.Module):
    """A user's own module (not one of miaudit's architectures)."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(D, 12), nn.Tanh(), nn.Linear(12, C))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


def tiny_net() -> nn.Module:
    return TinyNet()


def zoo_mlp() -> nn.Module:
    """The module the zoo's "mlp" builds for {"hidden": [8]} on D features, C classes."""
    return MLP(D, C, hidden=(8,))


def too_wide() -> nn.Module:
    return nn.Linear(D, C + 2)


def not_a_module() -> str:
    return "mlp"


def needs_arguments(width: int) -> nn.Module:
    return nn.Linear(D, width)


def _problem(n: int = 90, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, C, n)
    x = (rng.normal(size=(n, D)) + y[:, None]).astype(np.float32)
    return x, y


def _same_weights(a: nn.Module, b: nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return list(sa) == list(sb) and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_a_factory_recipe_equals_the_zoo_model_it_mirrors_bit_for_bit() -> None:
    x, y = _problem()
    train = {"epochs": 3, "lr": 0.01, "batch_size": 16}
    zoo_target = train_model("mlp", {"hidden": [8], **train}, x, y, num_classes=C, seed=5)
    mine = train_model(zoo_mlp, train, x, y, num_classes=C, seed=5)
    assert isinstance(mine, TorchTarget)
    assert _same_weights(zoo_target.module, mine.module)
    np.testing.assert_array_equal(zoo_target.predict_proba(x), mine.predict_proba(x))
    other_seed = train_model(zoo_mlp, train, x, y, num_classes=C, seed=6)
    assert not _same_weights(mine.module, other_seed.module)


@pytest.mark.skipif(torch.cuda.is_available(), reason="auto means cuda on this machine")
def test_device_auto_on_a_cpu_machine_is_the_cpu() -> None:
    x, y = _problem()
    cpu = train_model(tiny_net, {"epochs": 2, "device": "cpu"}, x, y, num_classes=C, seed=1)
    auto = train_model(tiny_net, {"epochs": 2, "device": "auto"}, x, y, num_classes=C, seed=1)
    default = train_model(tiny_net, {"epochs": 2}, x, y, num_classes=C, seed=1)
    assert _same_weights(cpu.module, auto.module) and _same_weights(cpu.module, default.module)
    assert next(auto.module.parameters()).device.type == "cpu"
    recipe = TrainRecipe(model=tiny_net, params={"device": "auto"}, num_classes=C)
    assert recipe.full_params()["device"] == "cpu"  # the device used is what is recorded
    assert '"device":"cpu"' in recipe.fingerprint()
    cpu_recipe = TrainRecipe(model=tiny_net, params={"device": "cpu"}, num_classes=C)
    assert recipe.fingerprint() == cpu_recipe.fingerprint()


def test_cuda_without_cuda_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(zoo, "train_torch", lambda *a, **k: pytest.fail("training started"))
    x, y = _problem()
    with pytest.raises(ConfigError, match="device 'cuda'.*CUDA is not available"):
        train_model(tiny_net, {"device": "cuda"}, x, y, num_classes=C, seed=0)
    with pytest.raises(ConfigError, match="CUDA is not available"):
        TrainRecipe(model=tiny_net, params={"device": "cuda"}, num_classes=C)
    with pytest.raises(ConfigError, match="CUDA is not available"):
        make_defense("l2").train(tiny_net, {"device": "cuda"}, x, y, num_classes=C, seed=0)
    with pytest.raises(ConfigError, match="unknown device 'tpu'; valid: cpu, cuda, auto"):
        train_model(tiny_net, {"device": "tpu"}, x, y, num_classes=C, seed=0)
    with pytest.raises(ConfigError, match="device 'cuda'.*CUDA is not available"):
        train_model("mlp", {"device": "cuda"}, x, y, num_classes=C, seed=0)  # issue 11


def test_bad_factories_are_refused_before_training(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(zoo, "train_torch", lambda *a, **k: pytest.fail("training started"))
    x, y = _problem()
    with pytest.raises(ConfigError, match="registered name or a module factory"):
        train_model(3, {}, x, y, num_classes=C, seed=0)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="must return a torch.nn.Module, got str"):
        train_model(not_a_module, {}, x, y, num_classes=C, seed=0)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"logits of shape \(batch, 3\).*got \(2, 5\)"):
        train_model(too_wide, {}, x, y, num_classes=C, seed=0)
    with pytest.raises(ConfigError, match="callable with no arguments"):
        train_model(needs_arguments, {}, x, y, num_classes=C, seed=0)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="cannot read records of shape"):
        train_model(tiny_net, {}, x[:, :4], y, num_classes=C, seed=0)
    with pytest.raises(ConfigError, match="unknown parameter 'hidden'"):
        train_model(tiny_net, {"hidden": [8]}, x, y, num_classes=C, seed=0)
    for name, params in (("dp_sgd", {"noise_multiplier": 1.0}), ("distillation", {})):
        with pytest.raises(ConfigError, match=r"logits of shape \(batch, 3\)"):
            make_defense(name, **params).train(too_wide, {}, x, y, num_classes=C, seed=0)
    with pytest.raises(ConfigError, match="module factory"):
        make_defense("dimensionality_reduction").train(tiny_net, {}, x, y, num_classes=C, seed=0)


def test_dp_sgd_trains_a_users_module() -> None:
    x, y = _problem()
    defense = DPSGD(noise_multiplier=1.0, max_grad_norm=1.0)
    target = defense.train(tiny_net, {"epochs": 2, "lr": 0.01}, x, y, num_classes=C, seed=0)
    assert isinstance(target, TorchTarget) and isinstance(target.module, TinyNet)
    assert np.isfinite(defense.epsilon_) and defense.epsilon_ > 0
    again = DPSGD(noise_multiplier=1.0, max_grad_norm=1.0)
    same = again.train(tiny_net, {"epochs": 2, "lr": 0.01}, x, y, num_classes=C, seed=0)
    assert _same_weights(target.module, same.module)


def test_distillation_trains_a_users_module() -> None:
    x, y = _problem(120)
    data = DefenseData(reference=(x[90:], y[90:]))
    defense = make_defense("distillation", temperature=2.0)
    target = defense.train(
        tiny_net, {"epochs": 2}, x[:90], y[:90], num_classes=C, seed=0, data=data
    )
    assert isinstance(target, TorchTarget) and isinstance(target.module, TinyNet)
    assert target.predict_proba(x).shape == (120, C)


def test_l2_on_a_users_module_is_its_weight_decay() -> None:
    """A third training-time defense: l2 trains the factory as train_model does with the
    defense's weight decay (same seed, same weights)."""
    x, y = _problem()
    defended = make_defense("l2", weight_decay=0.01).train(
        tiny_net, {"epochs": 2}, x, y, num_classes=C, seed=3
    )
    plain = train_model(tiny_net, {"epochs": 2, "weight_decay": 0.01}, x, y, num_classes=C, seed=3)
    assert isinstance(defended.module, TinyNet)
    assert _same_weights(defended.module, plain.module)


def _scaled(width: int):
    def factory() -> nn.Module:
        return nn.Linear(D, width)

    return factory


def test_factory_reference_recipes_are_fingerprinted_and_train_like_the_target() -> None:
    x, y = _problem()
    recipe = _recipe(ReferenceSettings(model=tiny_net, params={"epochs": 2}), C)
    fp = recipe.fingerprint()
    assert 'test_module_factory.tiny_net"' in fp and '"model_factory"' in fp
    assert '"behaviour"' in fp and '"epochs":2' in fp
    assert fp != _recipe(ReferenceSettings(model=zoo_mlp, params={"epochs": 2}), C).fingerprint()
    assert fp != _recipe(ReferenceSettings(model=tiny_net, params={"epochs": 3}), C).fingerprint()
    # a closure's values are part of the identity (as for a train_fn)
    assert TrainRecipe(model=_scaled(3), num_classes=C).fingerprint() != (
        TrainRecipe(model=_scaled(4), num_classes=C).fingerprint()
    )
    model = recipe.train(x, y, 4)
    by_hand = train_model(tiny_net, {"epochs": 2}, x, y, num_classes=C, seed=4)
    assert _same_weights(model.module, by_hand.module)
    defended = _recipe(
        ReferenceSettings(
            model=tiny_net, params={"epochs": 1}, defense=DPSGD(noise_multiplier=1.0)
        ),
        C,
    )
    assert isinstance(defended.defense, DefenseSpec)
    assert isinstance(defended.train(x, y, 0).module, TinyNet)
    assert '"defense":{"name":"dp_sgd","noise_multiplier":1.0}' in defended.fingerprint()


def test_factories_for_worker_processes_must_be_picklable() -> None:
    _recipe(ReferenceSettings(model=tiny_net, executor="process"), C)  # module level: fine
    with pytest.raises(ConfigError, match="cannot be sent to worker processes.*module level"):
        _recipe(ReferenceSettings(model=lambda: TinyNet(), executor="process"), C)
    with pytest.raises(ConfigError, match="cannot be sent to worker processes"):
        _recipe(ReferenceSettings(model=_scaled(3), executor="ray"), C)
    _recipe(ReferenceSettings(model=lambda: TinyNet()), C)  # serial: no pickling needed


class _CpuOnlyL2(L2Regularization):
    """A third-party defense whose loop runs on the CPU only (cuda_training False)."""

    name = "cpu_only_l2"
    cuda_training = False


def test_a_defense_that_trains_on_the_cpu_only_refuses_cuda(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A defense without cuda_training refuses device cuda by name, and reads auto as cpu,
    in training and in cache keys; every built-in one honours the device (issue 11)."""
    monkeypatch.setitem(DEFENSES._items, _CpuOnlyL2.name, _CpuOnlyL2)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # as on a GPU machine
    x, y = _problem()
    cpu_only = _CpuOnlyL2()
    with pytest.raises(ConfigError, match="defense 'cpu_only_l2' trains on the CPU only"):
        cpu_only.train(tiny_net, {"device": "cuda"}, x, y, num_classes=C, seed=0)
    with pytest.raises(ConfigError, match="defense 'cpu_only_l2' trains on the CPU only"):
        cpu_only.train("mlp", {"device": "cuda"}, x, y, num_classes=C, seed=0)
    target = cpu_only.train(tiny_net, {"epochs": 1, "device": "auto"}, x, y, num_classes=C, seed=0)
    assert next(target.module.parameters()).device.type == "cpu"
    recipe = TrainRecipe(model=tiny_net, params={"device": "auto"}, num_classes=C, defense=cpu_only)
    assert recipe.full_params()["device"] == "cpu"
    assert TrainRecipe(model=tiny_net, params={"device": "auto"}).full_params()["device"] == "cuda"
    assert cpu_only.training_device("cpu") == "cpu"
    training = [
        cls for cls in DEFENSES.values() if cls.kind == "training" and cls is not _CpuOnlyL2
    ]
    assert training and all(cls.cuda_training for cls in training)
    assert all(cls.training_device("auto") == "auto" for cls in training)
    with pytest.raises(ConfigError, match="nn.Dropout"):
        make_defense("dropout").train(tiny_net, {}, x, y, num_classes=C, seed=0)


def test_a_class_or_a_partial_is_a_factory_too() -> None:
    import functools

    x, y = _problem()
    by_class = train_model(TinyNet, {"epochs": 1}, x, y, num_classes=C, seed=2)
    by_function = train_model(tiny_net, {"epochs": 1}, x, y, num_classes=C, seed=2)
    assert _same_weights(by_class.module, by_function.module)
    mirror = functools.partial(MLP, D, C, hidden=(8,))
    zoo_target = train_model("mlp", {"hidden": [8], "epochs": 1}, x, y, num_classes=C, seed=2)
    assert _same_weights(
        train_model(mirror, {"epochs": 1}, x, y, num_classes=C, seed=2).module, zoo_target.module
    )
    wider = functools.partial(MLP, D, C, hidden=(9,))
    assert TrainRecipe(model=mirror, num_classes=C).fingerprint() != (
        TrainRecipe(model=wider, num_classes=C).fingerprint()
    )
    with pytest.raises(ConfigError, match="train_fn_version belongs to a train_fn"):
        TrainRecipe(model=tiny_net, num_classes=C, train_fn_version="v1")
