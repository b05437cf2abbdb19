"""Unit tests for miaudit.models: architectures, trainer determinism, registry, train_model."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from miaudit.errors import ConfigError, DataError, UnknownNameError
from miaudit.models import (
    CNN,
    MLP,
    MODELS,
    SampleConvNet,
    TrainConfig,
    build_torch_module,
    model_params_schema,
    train_model,
    train_torch,
)
from miaudit.targets import SklearnTarget, TorchTarget


def _tabular(n: int = 60, d: int = 10, c: int = 3, seed: int = 0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)).astype(np.float32), rng.integers(0, c, size=n)


def _state_bytes(module: torch.nn.Module) -> list[bytes]:
    return [v.numpy().tobytes() for v in module.state_dict().values()]


def test_mlp_shapes_and_flattening():
    m = MLP(12, 4, hidden=(8, 6), activation="gelu", dropout=0.1)
    assert m(torch.zeros(5, 3, 4)).shape == (5, 4)
    assert m.describe() == "MLP(12-8-6-4, gelu, dropout=0.1)"
    assert MLP(3, 2, hidden=()).describe() == "MLP(3-2, relu)"


@pytest.mark.parametrize("size", [28, 32])
@pytest.mark.parametrize("channels", [1, 3])
def test_cnn_forward_shapes(size, channels):
    m = CNN(channels, size, 10, channels=(4, 8), hidden=16)
    assert m(torch.zeros(2, channels, size, size)).shape == (2, 10)
    assert m.flat_dim == 8 * (size // 4) ** 2


def test_architecture_errors():
    with pytest.raises(ConfigError, match="unknown activation 'swish'; valid: gelu, relu"):
        MLP(3, 2, activation="swish")
    with pytest.raises(ConfigError, match="dropout"):
        MLP(3, 2, dropout=1.0)
    with pytest.raises(ConfigError, match="hidden"):
        MLP(3, 2, hidden="256")
    with pytest.raises(ConfigError, match="too small"):
        CNN(1, 3, 2)


def test_train_config_validation():
    assert TrainConfig().optimizer == "adam"
    with pytest.raises(ConfigError, match="unknown optimizer 'rmsprop'; valid: adam, sgd"):
        TrainConfig(optimizer="rmsprop")
    with pytest.raises(ConfigError, match="epochs must be a positive integer"):
        TrainConfig(epochs=0)
    with pytest.raises(ConfigError, match="batch_size"):
        TrainConfig(batch_size=2.5)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="1.0e-3"):
        TrainConfig(lr="1e-3")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="lr must be positive"):
        TrainConfig(lr=0.0)
    with pytest.raises(ConfigError, match="momentum"):
        TrainConfig(momentum=1.0)
    with pytest.raises(ConfigError, match="seed"):
        TrainConfig(seed=-1)


def test_train_torch_deterministic_and_leaves_global_rng():
    x, y = _tabular()
    cfg = TrainConfig(epochs=3, batch_size=16, seed=7)
    module = MLP(10, 3, hidden=(16,), dropout=0.2)
    state = torch.random.get_rng_state()
    a = train_torch(module, x, y, cfg)
    assert torch.equal(torch.random.get_rng_state(), state)
    # a differently initialised module: weights come from the seed, not the constructor
    torch.manual_seed(123)
    b = train_torch(MLP(10, 3, hidden=(16,), dropout=0.2), x, y, cfg)
    assert _state_bytes(a) == _state_bytes(b)
    pa, pb = TorchTarget(a).predict_proba(x), TorchTarget(b).predict_proba(x)
    assert pa.tobytes() == pb.tobytes()
    c = train_torch(MLP(10, 3, hidden=(16,), dropout=0.2), x, y, TrainConfig(epochs=3, seed=8))
    assert _state_bytes(a) != _state_bytes(c)
    assert not a.training


def test_train_torch_loss_fn_reinit_and_on_epoch_end():
    x, y = _tabular()
    cfg = TrainConfig(epochs=4, batch_size=16, seed=3)
    base = train_torch(MLP(10, 3, hidden=(16,), dropout=0.2), x, y, cfg)
    # an explicit cross-entropy is the default loss, byte for byte
    ce = train_torch(
        MLP(10, 3, hidden=(16,), dropout=0.2),
        x,
        y,
        cfg,
        loss_fn=lambda logits, t: torch.nn.functional.cross_entropy(logits, t),
    )
    assert _state_bytes(ce) == _state_bytes(base)
    smooth = train_torch(
        MLP(10, 3, hidden=(16,), dropout=0.2),
        x,
        y,
        cfg,
        loss_fn=lambda logits, t: torch.nn.functional.cross_entropy(logits, t, label_smoothing=0.3),
    )
    assert _state_bytes(smooth) != _state_bytes(base)
    # stopping after epoch 2 of 4 is training for 2 epochs; the callback sees epochs 1, 2
    seen: list[tuple[int, float]] = []

    def stop_at_two(epoch: int, loss: float) -> bool:
        seen.append((epoch, loss))
        return epoch == 2

    stopped = train_torch(
        MLP(10, 3, hidden=(16,), dropout=0.2), x, y, cfg, on_epoch_end=stop_at_two
    )
    two = train_torch(
        MLP(10, 3, hidden=(16,), dropout=0.2), x, y, TrainConfig(epochs=2, batch_size=16, seed=3)
    )
    assert [e for e, _ in seen] == [1, 2] and all(np.isfinite(v) for _, v in seen)
    assert _state_bytes(stopped) == _state_bytes(two)
    assert not stopped.training
    # reinit=False continues from the current weights (here: 2 + 2 epochs != 2 fresh epochs)
    more = train_torch(two, x, y, TrainConfig(epochs=2, batch_size=16, seed=3), reinit=False)
    fresh = train_torch(
        MLP(10, 3, hidden=(16,), dropout=0.2), x, y, TrainConfig(epochs=2, batch_size=16, seed=3)
    )
    assert _state_bytes(more) != _state_bytes(fresh)
    assert TorchTarget(more).loss(x, y).mean() < TorchTarget(fresh).loss(x, y).mean()


def test_mlp_overfits_random_labels():
    x, y = _tabular(n=100, d=20, c=5)
    cfg = TrainConfig(epochs=150, batch_size=32, optimizer="adam", lr=1e-2, seed=0)
    module = train_torch(MLP(20, 5, hidden=(64,)), x, y, cfg)
    acc = (TorchTarget(module).predict_labels(x) == y).mean()
    assert acc > 0.95


def test_sgd_training_reduces_loss():
    x, y = _tabular(n=80, d=10, c=2)
    y = (x[:, 0] > 0).astype(np.int64)
    before = TorchTarget(train_torch(MLP(10, 2), x, y, TrainConfig(epochs=1, lr=1e-4)))
    cfg = TrainConfig(epochs=30, batch_size=16, optimizer="sgd", lr=0.05)
    after = TorchTarget(train_torch(MLP(10, 2), x, y, cfg))
    assert after.loss(x, y).mean() < before.loss(x, y).mean()


def test_train_torch_data_errors():
    x, y = _tabular()
    cfg = TrainConfig(epochs=1)
    with pytest.raises(DataError, match="outside the classes"):
        train_torch(MLP(10, 2), x, y + 5, cfg)
    with pytest.raises(DataError, match="cannot process records of shape"):
        train_torch(MLP(11, 3), x, y, cfg)
    with pytest.raises(DataError, match="mismatched lengths"):
        train_torch(MLP(10, 3), x, y[:5], cfg)
    bad = x.copy()
    bad[0, 0] = np.nan
    with pytest.raises(DataError, match="NaN"):
        train_torch(MLP(10, 3), bad, y, cfg)


def test_train_torch_divergence_is_config_error():
    x, y = _tabular()
    with pytest.raises(ConfigError, match="diverged"):
        train_torch(MLP(10, 3), x * 1e30, y, TrainConfig(epochs=2, optimizer="sgd", lr=1e10))


def test_registry_names_and_schema():
    assert MODELS.names() == [
        "cnn",
        "gradient_boosting",
        "logistic_regression",
        "mlp",
        "random_forest",
        "sample_convnet",
    ]
    schema = model_params_schema("mlp")
    assert schema["hidden"] == (256,) and schema["epochs"] == 20 and "seed" not in schema
    schema["epochs"] = 1
    assert model_params_schema("mlp")["epochs"] == 20
    assert "n_estimators" in model_params_schema("random_forest")
    assert "channels" in model_params_schema("cnn")


def test_train_model_mlp_deterministic():
    x, y = _tabular()
    params = {"hidden": [16], "epochs": 2, "batch_size": 16}
    a = train_model("mlp", params, x, y, num_classes=4, seed=3)
    b = train_model("mlp", params, x, y, num_classes=4, seed=3)
    assert isinstance(a, TorchTarget) and a.num_classes == 4
    assert a.predict_proba(x).tobytes() == b.predict_proba(x).tobytes()
    assert a.description == "torch MLP(10-16-4, relu)"


def test_train_model_mlp_flattens_images():
    rng = np.random.default_rng(0)
    x = rng.random((20, 1, 6, 6), dtype=np.float32)
    y = rng.integers(0, 2, 20)
    t = train_model("mlp", {"hidden": [8], "epochs": 1}, x, y, num_classes=2, seed=0)
    assert t.predict_proba(x).shape == (20, 2)


def test_train_model_cnn():
    rng = np.random.default_rng(0)
    x = rng.random((16, 1, 28, 28), dtype=np.float32)
    y = rng.integers(0, 3, 16)
    params = {"channels": [4, 8], "hidden": 16, "epochs": 1, "batch_size": 8}
    t = train_model("cnn", params, x, y, num_classes=3, seed=0)
    assert t.predict_proba(x).shape == (16, 3)
    with pytest.raises(ConfigError, match=r"needs square images of shape \(n, C, H, W\)"):
        train_model("cnn", {}, *_tabular(), num_classes=3, seed=0)
    with pytest.raises(ConfigError, match="channels-last"):
        train_model("cnn", {}, x.transpose(0, 2, 3, 1), y, num_classes=3, seed=0)


def test_sample_convnet_matches_opacus_example():
    """Opacus' MNIST SampleConvNet: 16-32 convs, 512-32-10 head, 26,010 parameters."""
    net = SampleConvNet(1, 28, 10)
    assert net.flat_dim == 32 * 4 * 4
    assert sum(p.numel() for p in net.parameters()) == 26_010
    shapes = [tuple(m.weight.shape) for m in net.modules() if hasattr(m, "weight")]
    assert shapes == [(16, 1, 8, 8), (32, 16, 4, 4), (32, 512), (10, 32)]
    assert net(torch.zeros(3, 1, 28, 28)).shape == (3, 10)
    assert SampleConvNet(3, 32, 5)(torch.zeros(2, 3, 32, 32)).shape == (2, 5)
    with pytest.raises(ConfigError, match="too small"):
        SampleConvNet(1, 8, 10)
    with pytest.raises(ConfigError, match="two convolutions"):
        SampleConvNet(1, 28, 10, channels=(4, 8, 16))
    from opacus.validators import ModuleValidator

    assert ModuleValidator.validate(net, strict=False) == []


def test_train_model_sample_convnet_equals_manual_build_and_train():
    rng = np.random.default_rng(1)
    x = rng.random((24, 1, 28, 28), dtype=np.float32)
    y = rng.integers(0, 3, 24)
    params = {"epochs": 2, "batch_size": 8, "optimizer": "sgd", "lr": 0.1, "momentum": 0.0}
    t = train_model("sample_convnet", params, x, y, num_classes=3, seed=4)
    manual = build_torch_module("sample_convnet", params, x.shape[1:], 3, 4)
    train_torch(manual, x, y, TrainConfig(**params, seed=4))
    assert _state_bytes(t.module) == _state_bytes(manual)
    with pytest.raises(ConfigError, match="'sample_convnet' needs square images"):
        train_model("sample_convnet", {}, *_tabular(), num_classes=3, seed=0)
    with pytest.raises(ConfigError, match="not a torch model"):
        build_torch_module("random_forest", {}, (4,), 3, 0)
    with pytest.raises(ConfigError, match="bad parameters for model 'mlp'"):
        build_torch_module("mlp", {"width": 3}, (4,), 3, 0)


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("logistic_regression", {"C": 0.5}),
        ("random_forest", {"n_estimators": 5, "max_depth": 3}),
        ("gradient_boosting", {"max_iter": 5}),
    ],
)
def test_train_model_sklearn(name, params):
    x, y = _tabular()
    y = np.where(y == 2, 0, y)  # class 2 absent from training
    t = train_model(name, params, x, y, num_classes=3, seed=1)
    assert isinstance(t, SklearnTarget)
    probs = t.predict_proba(x)
    assert probs.shape == (60, 3)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)
    np.testing.assert_array_equal(probs[:, 2], 0.0)
    again = train_model(name, params, x, y, num_classes=3, seed=1)
    assert again.predict_proba(x).tobytes() == probs.tobytes()


def test_train_model_errors():
    x, y = _tabular()
    with pytest.raises(ConfigError, match="unknown parameter 'lrr' for model 'mlp'; valid: "):
        train_model("mlp", {"lrr": 0.1}, x, y, num_classes=3, seed=0)
    with pytest.raises(UnknownNameError, match="unknown model 'xgboost'; valid names: cnn"):
        train_model("xgboost", {}, x, y, num_classes=3, seed=0)
    with pytest.raises(ConfigError, match="unknown optimizer"):
        train_model("mlp", {"optimizer": "lbfgs"}, x, y, num_classes=3, seed=0)
    with pytest.raises(ConfigError, match="rejected its parameters"):
        train_model("random_forest", {"n_estimators": -1}, x, y, num_classes=3, seed=0)
    with pytest.raises(DataError, match="outside the classes"):
        train_model("logistic_regression", {}, x, y, num_classes=2, seed=0)
    with pytest.raises(ConfigError, match="seed"):
        train_model("mlp", {}, x, y, num_classes=3, seed=-1)
