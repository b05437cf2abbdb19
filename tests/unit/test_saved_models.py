"""Saved models as targets (issue 11): each format's outputs against the live model, the
pickle policy, skops' trusted types, white-box access exactly where parameters are, and the
config's ``target: {path: ...}`` checks. Every file is written here from a model trained
here (tests/unit/saved_model_helpers.py)."""

from __future__ import annotations

import copy
import json
import pickle

import joblib
import numpy as np
import pytest
import skops.io as sio
import torch
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from torch import nn

import miaudit
from miaudit.errors import ConfigError, DataError
from miaudit.models import (
    check_path_section,
    path_section_exposes_parameters,
    path_section_imports,
    path_section_parameters_note,
    target_from_path_section,
)
from miaudit.signals.gradients import per_sample_gradients
from miaudit.targets import SklearnTarget
from miaudit.targets.files import TorchScriptWeights, detect_format, load_file
from tests.unit import saved_model_helpers as h

RECIPE = {"model": "mlp", "hidden": [32]}


@pytest.fixture(scope="module")
def sets():
    return h.digits_sets()


@pytest.fixture(scope="module")
def mlp(sets):
    return h.trained_mlp(sets[0])


@pytest.fixture(scope="module")
def files(mlp, sets, tmp_path_factory):
    """One file per format of the same trained MLP (the ONNX export takes a few seconds)."""
    d = tmp_path_factory.mktemp("saved")
    x = sets[0][0]
    return {
        "torchscript": h.save_torchscript(mlp, d / "mlp.pt"),
        "traced": h.save_torchscript(mlp, d / "traced.pt", trace_input=x[:4]),
        "safetensors": h.save_safetensors(mlp, d / "mlp.safetensors"),
        "onnx": h.save_onnx(mlp, d / "mlp.onnx", x[:4]),
    }


def _live_logits(module: nn.Module, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return module(torch.from_numpy(x)).double().numpy()


def _probs(logits: np.ndarray) -> np.ndarray:
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


# -- TorchScript ----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["torchscript", "traced"])
def test_torchscript_outputs_and_gradients_equal_the_live_model(kind, files, mlp, sets):
    x, y = sets[1]
    target = miaudit.load_target(files[kind])
    assert target.description.startswith("TorchScript ")
    assert {"logits", "parameters"} <= target.capabilities
    # the same kernels on the same weights: identical bits, not merely close
    np.testing.assert_array_equal(target.predict_logits(x), _live_logits(mlp, x))
    assert target.num_classes == 10
    # white-box: torch.func's per-record gradients run on the script's parameters (the
    # stateless API refuses a bare ScriptModule) and equal the live module's, bit for bit
    module = target.module
    assert isinstance(module, TorchScriptWeights)
    assert [n for n, _ in module.named_parameters()] == [n for n, _ in mlp.named_parameters()]
    live = per_sample_gradients(mlp, x[:50], y[:50])
    got = per_sample_gradients(module, x[:50], y[:50])
    assert list(got) == list(live)
    for name in live:
        assert np.abs(live[name]).max() > 0  # a real gradient, not zeros on both sides
        np.testing.assert_array_equal(got[name], live[name])
    # the script's own weights are untouched by the swaps
    np.testing.assert_array_equal(target.predict_logits(x[:5]), _live_logits(mlp, x[:5]))


def test_torchscript_with_its_recipe_is_an_eager_module(files, mlp, sets):
    x = sets[1][0]
    target = miaudit.load_target(files["torchscript"], model=RECIPE)
    assert type(target.module).__name__ == "MLP"  # nn.Linear layers: activations hookable
    np.testing.assert_array_equal(target.predict_logits(x), _live_logits(mlp, x))
    # a recipe with the same parameter names and shapes but another activation computes
    # something else: refused at the first query, not audited
    wrong = miaudit.load_target(files["torchscript"], model={**RECIPE, "activation": "tanh"})
    with pytest.raises(DataError, match="recipe computes other outputs than mlp.pt"):
        wrong.predict_logits(x[:10])


def test_a_torchscript_softmax_output_is_caught_or_declared(mlp, sets, tmp_path):
    x = sets[1][0][:20]
    path = h.save_torchscript(
        nn.Sequential(copy.deepcopy(mlp), nn.Softmax(dim=1)), tmp_path / "p.pt"
    )
    with pytest.raises(DataError, match="look like probabilities.*output: probabilities"):
        miaudit.load_target(path).predict_proba(x)
    target = miaudit.load_target(path, output="probabilities")
    assert "logits" not in target.capabilities and "parameters" not in target.capabilities
    np.testing.assert_allclose(target.predict_proba(x), _probs(_live_logits(mlp, x)), atol=1e-6)
    # declared probabilities that are not: the message suggests logits
    plain = h.save_torchscript(mlp, tmp_path / "l.pt")
    with pytest.raises(DataError, match="declared to output probabilities.*output: logits"):
        miaudit.load_target(plain, output="probabilities").predict_proba(x)


# -- safetensors ----------------------------------------------------------------------------


def test_safetensors_with_a_recipe_equals_the_live_model(files, mlp, sets):
    x = sets[1][0]
    target = miaudit.load_target(files["safetensors"], model=RECIPE)
    assert "parameters" in target.capabilities and target.num_classes == 10  # read from weights
    np.testing.assert_array_equal(target.predict_logits(x), _live_logits(mlp, x))
    # the recipe can also be a registered name, a module instance (copied) or a factory
    by_name = miaudit.load_target(files["safetensors"], model={"model": "mlp", "hidden": 32})
    np.testing.assert_array_equal(by_name.predict_logits(x), _live_logits(mlp, x))
    fresh = copy.deepcopy(mlp)
    with torch.no_grad():
        for p in fresh.parameters():
            p.zero_()
    inst = miaudit.load_target(files["safetensors"], model=fresh)
    np.testing.assert_array_equal(inst.predict_logits(x), _live_logits(mlp, x))
    assert all(
        float(p.detach().abs().sum()) == 0 for p in fresh.parameters()
    )  # the caller's untouched


def test_safetensors_with_a_module_factory(sets, tmp_path):
    x = sets[1][0][:30]
    torch.manual_seed(3)
    net = h.factory().eval()
    path = h.save_safetensors(net, tmp_path / "f.safetensors")
    for spec in ("tests.unit.saved_model_helpers:factory", h.factory):
        target = miaudit.load_target(path, model=spec, num_classes=10)
        np.testing.assert_array_equal(target.predict_logits(x), _live_logits(net, x))
    with pytest.raises(ConfigError, match="imports from configs are disabled"):
        miaudit.load_target(
            path, model="tests.unit.saved_model_helpers:factory", allow_imports=False
        )
    with pytest.raises(DataError, match=r"returned logits of shape \(30, 10\), expected \(30, 7\)"):
        miaudit.load_target(path, model=h.factory, num_classes=7).predict_logits(x)


def test_safetensors_refusals_name_the_fix(files):
    path = files["safetensors"]
    with pytest.raises(ConfigError, match="holds weights only: give the model recipe"):
        miaudit.load_target(path)
    with pytest.raises(DataError, match=r"do not fit the model recipe.*net.1.weight \(32, 64\)"):
        miaudit.load_target(path, model={"model": "mlp", "hidden": [16]})
    with pytest.raises(ConfigError, match="unknown parameter 'hiden'.*did you mean 'hidden'"):
        miaudit.load_target(path, model={"model": "mlp", "hiden": [32]})
    with pytest.raises(ConfigError, match="'random_forest' is not a torch model"):
        miaudit.load_target(path, model="random_forest")
    with pytest.raises(ConfigError, match="needs input_shape"):
        miaudit.load_target(path, model="cnn")


# -- ONNX -----------------------------------------------------------------------------------


def test_onnx_outputs_equal_the_live_model_within_float32_kernels(files, mlp, sets):
    x = sets[1][0]
    target = miaudit.load_target(files["onnx"])
    assert target.description == "ONNX mlp.onnx" and target.num_classes == 10
    assert "logits" in target.capabilities and "parameters" not in target.capabilities
    # onnxruntime's float32 kernels are not torch's (other summation orders): probabilities
    # agree to 1e-5, far below any difference an attack could exploit
    np.testing.assert_allclose(target.predict_proba(x), _probs(_live_logits(mlp, x)), atol=1e-5)
    # the batch axis is dynamic: one record, and more than one batch of the target's
    one = target.predict_logits(x[:1])
    assert one.shape == (1, 10)
    target.batch_size = 128
    np.testing.assert_allclose(target.predict_logits(x), _live_logits(mlp, x), atol=1e-4)
    with pytest.raises(
        DataError, match=r"reads records of shape \(64,\), got records of shape \(63,\)"
    ):
        target.predict_proba(x[:, :63])
    with pytest.raises(DataError, match="outputs 10 classes, but num_classes=5"):
        miaudit.load_target(files["onnx"], num_classes=5)
    with pytest.raises(ConfigError, match="runs on the CPU only"):
        load_file(files["onnx"], device="cuda")  # the device as load_target resolves it


def test_onnx_softmax_graph_with_a_fixed_batch(mlp, sets, tmp_path):
    x = sets[1][0][:11]
    path = h.save_onnx(
        nn.Sequential(copy.deepcopy(mlp), nn.Softmax(dim=1)).eval(),
        tmp_path / "p.onnx",
        x[:4],
        dynamic=False,
    )
    target = miaudit.load_target(path)
    assert target.output == "probabilities"  # the graph's last node is a Softmax
    assert "logits" not in target.capabilities
    # 11 records through a graph of batch 4: three runs, the last padded
    np.testing.assert_allclose(target.predict_proba(x), _probs(_live_logits(mlp, x)), atol=1e-5)


# -- skops ----------------------------------------------------------------------------------


def test_skops_identical_and_untrusted_types_refused(sets, tmp_path):
    (x, y), (xo, _), _ = sets
    lr = LogisticRegression(max_iter=300).fit(x, y)
    sio.dump(lr, tmp_path / "lr.skops")
    target = miaudit.load_target(tmp_path / "lr.skops")
    assert "parameters" not in target.capabilities
    np.testing.assert_array_equal(target.predict_proba(xo), lr.predict_proba(xo))
    rf = RandomForestClassifier(n_estimators=5, random_state=0).fit(x, y)
    sio.dump(rf, tmp_path / "rf.skops")
    untrusted = sio.get_untrusted_types(file=tmp_path / "rf.skops")
    assert untrusted == ["sklearn.tree._tree.Tree"]
    with pytest.raises(ConfigError, match=r"does not trust.*trusted: \[sklearn.tree._tree.Tree\]"):
        miaudit.load_target(tmp_path / "rf.skops")
    trusted = miaudit.load_target(tmp_path / "rf.skops", trusted=untrusted)
    np.testing.assert_array_equal(trusted.predict_proba(xo), rf.predict_proba(xo))
    with pytest.raises(ConfigError, match="outputs probabilities"):
        miaudit.load_target(tmp_path / "lr.skops", output="logits")


# -- pickles --------------------------------------------------------------------------------


def test_pickles_are_refused_unless_allowed(mlp, sets, tmp_path):
    (x, y), (xo, _), _ = sets
    lr = LogisticRegression(max_iter=300).fit(x, y)
    with open(tmp_path / "lr.pkl", "wb") as f:
        pickle.dump(lr, f)
    joblib.dump(lr, tmp_path / "lr.joblib")
    torch.save(mlp, tmp_path / "whole.pt")  # a whole module: a pickle, not TorchScript
    torch.save(mlp.state_dict(), tmp_path / "state.pth")
    for name in ("lr.pkl", "lr.joblib", "whole.pt", "state.pth"):
        with pytest.raises(ConfigError, match="runs whatever code.*allow_pickle: true"):
            miaudit.load_target(tmp_path / name)
    with pytest.raises(ConfigError, match="allow_pickle must be true or false"):
        miaudit.load_target(tmp_path / "lr.pkl", allow_pickle="yes")
    assert detect_format(tmp_path / "whole.pt") == "torch_pickle"
    for name in ("lr.pkl", "lr.joblib"):
        target = miaudit.load_target(tmp_path / name, allow_pickle=True)
        assert isinstance(target, SklearnTarget)
        np.testing.assert_array_equal(target.predict_proba(xo), lr.predict_proba(xo))
    whole = miaudit.load_target(tmp_path / "whole.pt", allow_pickle=True)
    np.testing.assert_array_equal(whole.predict_logits(xo), _live_logits(mlp, xo))
    state = miaudit.load_target(tmp_path / "state.pth", allow_pickle=True, model=RECIPE)
    np.testing.assert_array_equal(state.predict_logits(xo), _live_logits(mlp, xo))


def test_format_detection(files, tmp_path):
    assert detect_format(files["torchscript"]) == "torchscript"
    # a safetensors file under another name is recognised by its header
    (tmp_path / "weights.bin").write_bytes(files["safetensors"].read_bytes())
    assert detect_format(tmp_path / "weights.bin") == "safetensors"
    (tmp_path / "junk.dat").write_bytes(b"hello")
    with pytest.raises(ConfigError, match="cannot tell the format of junk.dat"):
        detect_format(tmp_path / "junk.dat")
    with pytest.raises(ConfigError, match="unknown model format 'tflite'"):
        detect_format(files["onnx"], "tflite")
    with pytest.raises(DataError, match="does not exist"):
        miaudit.load_target(tmp_path / "missing.onnx")
    with pytest.raises(ConfigError, match="applies to safetensors and TorchScript"):
        miaudit.load_target(files["onnx"], model=RECIPE)


# -- Hugging Face ---------------------------------------------------------------------------


def test_huggingface_directory_equals_the_live_model(tmp_path):
    rng = np.random.default_rng(0)
    ids = rng.integers(1, 50, size=(20, 12))
    ids[:5, 8:] = 0  # padded records: the mask comes from the pad id
    for build in (h.tiny_bert, h.tiny_gpt2):
        live = build()
        path = h.save_pretrained(live, tmp_path / build.__name__)
        target = miaudit.load_target(path)
        assert target.num_classes == 3 and "parameters" not in target.capabilities
        pad = live.config.pad_token_id
        with torch.no_grad():
            t = torch.from_numpy(ids)
            if pad is None:  # no pad id: one record at a time, mask all ones
                want = torch.cat([live(input_ids=r[None]).logits for r in t])
            else:
                want = live(input_ids=t, attention_mask=(t != pad).long()).logits
        np.testing.assert_array_equal(target.predict_logits(ids), want.double().numpy())
    with pytest.raises(DataError, match="token ids must lie in 0..49"):
        target.predict_proba(ids + 40)
    with pytest.raises(DataError, match="not integers"):
        target.predict_proba(ids + 0.5)
    with pytest.raises(DataError, match="has 3 labels"):
        miaudit.load_target(path, num_classes=4)


def test_huggingface_pickled_weights_and_remote_code_refused(tmp_path):
    live = h.tiny_bert()
    path = h.save_pretrained(live, tmp_path / "bert")
    (path / "model.safetensors").unlink()
    torch.save(live.state_dict(), path / "pytorch_model.bin")
    with pytest.raises(ConfigError, match=r"pickled weights \(\*.bin\).*allow_pickle: true"):
        miaudit.load_target(path)
    ids = np.random.default_rng(1).integers(1, 50, size=(6, 10))
    target = miaudit.load_target(path, allow_pickle=True)
    with torch.no_grad():
        want = live(input_ids=torch.from_numpy(ids)).logits.double().numpy()
    np.testing.assert_array_equal(target.predict_logits(ids), want)
    config = json.loads((path / "config.json").read_text())
    config["auto_map"] = {"AutoModelForSequenceClassification": "evil.Model"}
    (path / "config.json").write_text(json.dumps(config))
    with pytest.raises(ConfigError, match="never runs a model directory's code"):
        miaudit.load_target(path, allow_pickle=True)


# -- white-box exactly where parameters are -------------------------------------------------


def test_white_box_attacks_run_where_parameters_are(files, mlp, sets, tmp_path):
    members, nonmembers, _ = sets
    members, nonmembers = (
        (members[0][:100], members[1][:100]),
        (nonmembers[0][:100], nonmembers[1][:100]),
    )
    sio.dump(LogisticRegression(max_iter=300).fit(*members), tmp_path / "lr.skops")
    refused = {
        files["onnx"]: "an ONNX file does not expose them",
        tmp_path / "lr.skops": "a skops file holds a scikit-learn model",
        h.save_pretrained(h.tiny_bert(), tmp_path / "bert"): "per-record gradients of a Hugging",
    }
    for path, message in refused.items():
        with pytest.raises(
            ConfigError, match=f"attack 'gradient_norm' needs the target's parameters \\({message}"
        ):
            miaudit.audit(
                miaudit.load_target(path),
                members=members,
                nonmembers=nonmembers,
                attacks=["loss", "gradient_norm"],
                progress=False,
                bootstrap=0,
            )
    live = miaudit.audit(
        mlp,
        members=members,
        nonmembers=nonmembers,
        attacks=["gradient_norm"],
        progress=False,
        bootstrap=0,
    )
    for target in (
        miaudit.load_target(files["torchscript"]),
        miaudit.load_target(files["safetensors"], model=RECIPE),
    ):
        res = miaudit.audit(
            target,
            members=members,
            nonmembers=nonmembers,
            attacks=["gradient_norm"],
            progress=False,
            bootstrap=0,
        )
        got = res.attack("gradient_norm")
        assert got.error is None
        np.testing.assert_array_equal(got.scores, live.attack("gradient_norm").scores)
    # "all" leaves white-box attacks out on a target without parameters
    res = miaudit.audit(
        miaudit.load_target(files["onnx"]),
        members=members,
        nonmembers=nonmembers,
        attacks="all",
        progress=False,
        bootstrap=0,
        random_queries=50,
    )
    assert "gradient_norm" not in [a.name for a in res.attacks]


def test_nasr_on_a_bare_torchscript_file_names_the_recipe(files, sets):
    """nasr_whitebox reads layer activations through forward hooks, which a TorchScript
    module does not take: refused with the fix; with the recipe it runs."""
    members, nonmembers, population = sets
    attack = {
        "name": "nasr_whitebox",
        "knowledge_setting": "partial",
        "known_members": (members[0][:100], members[1][:100]),
        "epochs": 2,
    }
    errors = []
    for target in (
        miaudit.load_target(files["torchscript"]),
        miaudit.load_target(files["torchscript"], model=RECIPE),
    ):
        res = miaudit.audit(
            target,
            members=members,
            nonmembers=nonmembers,
            population=population,
            attacks=[attack],
            progress=False,
            bootstrap=0,
        )
        errors.append(res.attacks[0].error)
    assert "give the model recipe (model: ...)" in errors[0]
    assert errors[1] is None


# -- config sections ------------------------------------------------------------------------


def test_check_path_section(files, tmp_path):
    base = files["onnx"].parent
    ok = check_path_section({"path": "mlp.onnx"}, source="c.yaml", base_dir=base)
    assert ok["path"] == str(files["onnx"])
    cases = [
        (
            {"path": "mlp.onnx", "outptu": "logits"},
            "c.yaml: target: unknown key 'outptu'.*did you mean 'output'",
        ),
        ({"path": "nope.onnx"}, "c.yaml: target: model file .*nope.onnx does not exist"),
        ({"path": "mlp.safetensors"}, "holds weights only: give the recipe"),
        (
            {"path": "mlp.safetensors", "model": {"model": "mlpp"}},
            "unknown model 'mlpp' in target.model; did you mean 'mlp'",
        ),
        (
            {"path": "mlp.onnx", "model": RECIPE},
            "applies to safetensors and TorchScript files, not to a ONNX",
        ),
        ({"path": "mlp.onnx", "device": "gpu"}, "unknown device 'gpu'"),
        ({"path": "mlp.onnx", "allow_pickle": "yes"}, "allow_pickle must be true or false"),
        ({"path": "mlp.onnx", "output": "probs"}, "output must be logits or probabilities"),
        ({"path": "mlp.onnx", "num_classes": 1}, "num_classes"),
        ({"path": "mlp.onnx", "trusted": ["x"]}, "trusted applies to skops files"),
    ]
    for section, message in cases:
        with pytest.raises(ConfigError, match=message):
            check_path_section(section, source="c.yaml", base_dir=base)
    torch.save({"w": torch.zeros(2)}, tmp_path / "m.pt")
    with pytest.raises(
        ConfigError, match="c.yaml: target: m.pt is a torch.save file.*allow_pickle: true"
    ):
        check_path_section({"path": str(tmp_path / "m.pt")}, source="c.yaml")
    spec = {"path": "mlp.safetensors", "model": {"model": "tests.unit.saved_model_helpers:factory"}}
    assert path_section_imports(spec) == "tests.unit.saved_model_helpers:factory"
    with pytest.raises(ConfigError, match="imports from configs are disabled"):
        check_path_section(spec, source="c.yaml", base_dir=base, allow_imports=False)


def test_target_from_path_section_and_white_box_flags(files, mlp, sets, tmp_path):
    base = files["onnx"].parent
    x = sets[1][0]
    section = {"path": "mlp.safetensors", "model": {**RECIPE, "epochs": 40}}
    target = target_from_path_section(section, num_classes=10, base_dir=base)
    np.testing.assert_array_equal(target.predict_logits(x), _live_logits(mlp, x))
    with pytest.raises(ConfigError, match="target.num_classes is 5, but the data have 10 classes"):
        target_from_path_section({**section, "num_classes": 5}, num_classes=10, base_dir=base)
    sio.dump(LogisticRegression(max_iter=100).fit(*sets[0]), tmp_path / "lr.skops")
    flags = {
        "mlp.pt": True,
        "mlp.safetensors": True,
        "mlp.onnx": False,
        str(tmp_path / "lr.skops"): False,
    }
    for path, expected in flags.items():
        assert path_section_exposes_parameters({"path": path}, base_dir=base) is expected
        note = path_section_parameters_note({"path": path}, base_dir=base)
        assert (note is None) is expected
        loaded = target_from_path_section(
            {"path": path, **({"model": RECIPE} if path.endswith("safetensors") else {})},
            num_classes=10,
            base_dir=base,
        )
        assert ("parameters" in loaded.capabilities) is expected
    assert not path_section_exposes_parameters(
        {"path": "mlp.pt", "output": "probabilities"}, base_dir=base
    )
