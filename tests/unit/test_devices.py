"""``device: cpu | cuda | auto`` for the target, the reference models and the defenses
(issue 11 part 4): resolved once before any data are loaded, recorded in results.json and
shown in the report. This machine has no GPU: "auto" resolving to CUDA is checked with
``torch.cuda.is_available`` patched to True and no CUDA operation run; CUDA itself is
refused here with its message."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

import miaudit.pipeline.run as run
from miaudit.errors import ConfigError
from miaudit.models import train_model
from miaudit.pipeline import parse_config
from miaudit.pipeline._devices import DeviceChoice, resolve_devices
from miaudit.reference import TrainRecipe
from miaudit.report import render_html
from miaudit.results import AuditResult
from tests.unit import report_fixtures as fx


def _config(target: dict[str, Any] | None = None, **reference: Any) -> dict[str, Any]:
    return {
        "dataset": {"name": "digits"},
        "split": {"members": 50, "nonmembers": 50},
        "target": {"model": "mlp", "hidden": [8], "epochs": 1, **(target or {})},
        "attacks": ["loss"],
        "reference": {"num_models": 1, **reference},
        "evaluation": {"bootstrap": 0},
    }


@pytest.fixture
def gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    """torch says a GPU is there (no CUDA operation may run in these tests)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)


def _resolved(config: dict[str, Any]) -> dict[str, tuple[str, str]]:
    devices = resolve_devices(parse_config(config))
    return {role: (c.requested, c.resolved) for role, c in devices.items()}


def test_auto_is_cuda_where_torch_sees_a_gpu(gpu: None) -> None:
    assert _resolved(_config({"device": "auto"})) == {
        "target": ("auto", "cuda"),
        "reference": ("auto", "cuda"),  # the reference models default to the target's
    }
    assert _resolved(_config()) == {"target": ("cpu", "cpu"), "reference": ("cpu", "cpu")}
    assert _resolved(_config({"device": "auto"}, device="cpu")) == {
        "target": ("auto", "cuda"),
        "reference": ("cpu", "cpu"),
    }
    other = _config(model={"model": "mlp", "hidden": [4], "device": "cuda"})
    assert _resolved(other)["reference"] == ("cuda", "cuda")
    sklearn = _config(model={"model": "logistic_regression"})
    assert set(_resolved(sklearn)) == {"target"}  # a scikit-learn recipe has no device
    forest = {**_config(), "target": {"model": "random_forest"}}
    assert _resolved(forest) == {}


def test_auto_is_the_cpu_without_a_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert _resolved(_config({"device": "auto"})) == {
        "target": ("auto", "cpu"),
        "reference": ("auto", "cpu"),
    }


def test_a_run_trains_on_the_resolved_device_and_records_it(
    gpu: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The target's training gets the resolved "cuda" (caught before any CUDA operation),
    and the reference settings the reference models' device."""
    seen: dict[str, Any] = {}

    class Stop(Exception):
        pass

    def fake_train(model: str, params: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        seen["params"] = params
        raise Stop

    monkeypatch.setattr(run, "train_model", fake_train)
    with pytest.raises(Stop):
        run.run_config(_config({"device": "auto"}, device="cpu"), progress=False)
    assert seen["params"]["device"] == "cuda"
    config = parse_config(_config({"device": "auto"}, device="cpu"))
    settings = run.reference_settings(
        config, defense=None, data_dir=None, device=DeviceChoice("cpu", "cpu")
    )
    assert settings.params is not None and settings.params["device"] == "cpu"


def test_cuda_is_refused_here_before_the_data_are_loaded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    monkeypatch.setattr(run, "load_dataset", lambda *a, **k: pytest.fail("data loaded"))
    msg = r"target.device: device 'cuda' was asked for, but CUDA is not available"
    with pytest.raises(ConfigError, match=msg):
        run.run_config(_config({"device": "cuda"}), progress=False)
    with pytest.raises(ConfigError, match=r"reference.device: device 'cuda'.*not available"):
        run.run_config(_config(device="cuda"), progress=False)
    x = np.zeros((4, 3), dtype=np.float32)
    with pytest.raises(ConfigError, match="CUDA is not available.*use device 'cpu' or 'auto'"):
        train_model("cnn", {"device": "cuda"}, x, np.array([0, 1, 0, 1]), num_classes=2, seed=0)


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (_config({"device": "gpu"}), r"unknown device 'gpu' in 'target.device'"),
        (_config(device="tpu"), r"unknown device 'tpu' in 'reference.device'"),
        (_config(device=1), r"unknown device 1 in 'reference.device'"),
        (
            _config(device="cpu", model={"model": "random_forest"}),
            r"'reference.device' applies to torch models; .*'random_forest'",
        ),
        (
            _config(device="cpu", model={"model": "mlp", "device": "auto"}),
            r"'reference.device' \(cpu\) and 'reference.model.device' \(auto\) disagree",
        ),
        (
            _config(device="cpu", train_fn="tests.unit.test_devices:_config"),
            r"a reference.train_fn chooses its own device",
        ),
        (
            {**_config(), "target": {"model": "random_forest", "device": "cpu"}},
            r"unknown key 'device' in target \(model random_forest\)",
        ),
    ],
)
def test_bad_devices_are_refused_when_the_config_is_read(config: Any, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_config(config)


def test_a_cuda_model_never_shares_a_cache_entry_with_a_cpu_one(gpu: None) -> None:
    """The device enters a built-in recipe's cache key only when it is cuda: a CPU recipe
    keeps the key it had before recipes took a device (pinned below)."""
    params = {"hidden": [16], "epochs": 3}
    pinned = (
        '{"model":"mlp","num_classes":3,"params":{"activation":"relu","batch_size":64,'
        '"dropout":0.0,"epochs":3,"hidden":[16],"lr":0.001,"momentum":0.9,'
        '"optimizer":"adam","weight_decay":0.0}}'
    )
    for device in (None, "cpu"):
        extra = {} if device is None else {"device": device}
        assert TrainRecipe(
            model="mlp", params={**params, **extra}, num_classes=3
        ).fingerprint() == (pinned)
    cuda = TrainRecipe(model="mlp", params={**params, "device": "cuda"}, num_classes=3)
    auto = TrainRecipe(model="mlp", params={**params, "device": "auto"}, num_classes=3)
    assert cuda.fingerprint() == auto.fingerprint() != pinned
    assert '"device":"cuda"' in cuda.fingerprint()


def test_auto_on_the_cpu_trains_the_same_model_as_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 5)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)
    base = {"hidden": [8], "epochs": 2}
    plain = train_model("mlp", base, x, y, num_classes=2, seed=3)
    auto = train_model("mlp", {**base, "device": "auto"}, x, y, num_classes=2, seed=3)
    probs = auto.predict_proba(x)
    assert isinstance(probs, np.ndarray) and probs.dtype == np.float64
    np.testing.assert_array_equal(plain.predict_proba(x), probs)


def test_results_and_report_carry_the_devices() -> None:
    result = fx.result()
    assert "devices" not in result.to_dict()  # no key when not recorded (older files too)
    assert "Devices" not in render_html(result)
    result.devices = {
        "target": {"requested": "auto", "resolved": "cuda"},
        "reference": {"requested": "cpu", "resolved": "cpu"},
    }
    data = result.to_dict()
    assert data["devices"] == result.devices
    assert AuditResult.from_dict(data).to_dict() == data
    html = render_html(result)
    assert "target model: <strong>cuda</strong> (asked: auto)" in html
    assert "reference models: <strong>cpu</strong>;" not in html
    assert html.count("reference models: <strong>cpu</strong></td>") == 1
