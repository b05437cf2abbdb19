"""Configs that audit a model miaudit did not train (issue 11): ``target: {path: ...}`` (a
saved file) and ``target: {url: ...}`` (an HTTP endpoint), with the members listed.

The file is the very model a recipe config trains (same data, split and seed), so the
config audit of the file must equal the recipe config's audit: within float32 kernel
differences (onnxruntime's for ONNX, about 1e-7 on probabilities; for TorchScript and
safetensors the same torch computation, whose last bits can still depend on the batch
size, the CPU and the thread count): scores within 1e-5, AUC within 1e-3."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from miaudit.data import load_dataset, make_split
from miaudit.data.integrity import first_occurrences
from miaudit.errors import ConfigError
from miaudit.models import train_model
from miaudit.pipeline import parse_config, run_config
from tests.integration.http_server import ModelServer
from tests.unit import saved_model_helpers as h

RECIPE = {"model": "mlp", "hidden": [32], "epochs": 8, "batch_size": 32, "lr": 0.003}
ATTACKS = ["loss", "confidence", "entropy", "gap"]
BASE = {
    "seed": 5,
    "dataset": {"name": "digits"},
    "split": {"members": 200, "nonmembers": 200},
    "target": RECIPE,
    "attacks": ATTACKS,
    "evaluation": {"bootstrap": 0, "random_queries": 0},
}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """The recipe config's target, trained exactly as run_config trains it, its listed
    split, and the recipe config's audit."""
    tmp = tmp_path_factory.mktemp("external")
    data = load_dataset("digits")
    kept = first_occurrences(data.x)
    x, y = data.x[kept], data.y[kept]
    split = make_split(len(kept), members=200, nonmembers=200, seed=5)
    params = {k: v for k, v in RECIPE.items() if k != "model"}
    target = train_model("mlp", params, x[split.members], y[split.members], num_classes=10, seed=5)
    np.save(tmp / "members.npy", kept[split.members])
    np.save(tmp / "nonmembers.npy", kept[split.nonmembers])
    listed = {"members": str(tmp / "members.npy"), "nonmembers": str(tmp / "nonmembers.npy")}
    return tmp, target.module.eval(), listed, run_config(BASE, progress=False), (x, y, split)


def _config(target: dict, listed: dict, **extra) -> dict:
    return {**BASE, "target": target, "split": listed, **extra}


def _same(got, want, *, exact: bool) -> None:
    for name in ATTACKS:
        a, b = got.attack(name), want.attack(name)
        assert a.error is None, a.error
        if exact:
            np.testing.assert_array_equal(a.scores, b.scores)
            assert a.metrics == b.metrics
        else:
            np.testing.assert_allclose(a.scores, b.scores, rtol=0, atol=1e-5)
            assert abs(a.metrics.auc - b.metrics.auc) <= 1e-3


def test_saved_files_audit_like_the_recipe_config(trained):
    tmp, module, listed, want, (x, _, _) = trained
    script = h.save_torchscript(module, tmp / "m.pt")
    weights = h.save_safetensors(module, tmp / "m.safetensors")
    onnx = h.save_onnx(module, tmp / "m.onnx", x[:4])
    out = tmp / "run-ts"
    got = run_config(_config({"path": str(script)}, listed), output=out, progress=False)
    # the same torch computation, but the loaded file may batch its queries differently from
    # the trained target, and float32 kernels can then differ in the last bits on other CPUs
    # or thread counts: compared within the ONNX tolerance, not bit for bit
    _same(got, want, exact=False)
    source = json.loads((out / "results.json").read_text())["target"]["source"]
    assert source["kind"] == "path" and len(source["sha256"]) == 64
    assert source["bytes"] == script.stat().st_size
    recipe = {k: v for k, v in RECIPE.items() if k in ("model", "hidden")}
    st = run_config(_config({"path": str(weights), "model": recipe}, listed), progress=False)
    _same(st, want, exact=False)
    _same(run_config(_config({"path": str(onnx)}, listed), progress=False), want, exact=False)


def test_reference_models_for_a_saved_file_come_from_reference_model(trained):
    """LiRA against a saved file: its reference models use reference.model; without it the
    config is refused before any work, naming what is missing."""
    tmp, module, listed, _, _ = trained
    script = str(h.save_torchscript(module, tmp / "ref.pt"))
    cfg = _config({"path": script}, listed, attacks=["lira"])
    with pytest.raises(ConfigError, match="a recipe to train reference/shadow models"):
        parse_config(cfg)
    cfg["reference"] = {"num_models": 2, "model": RECIPE}
    result = run_config(cfg, progress=False)
    assert result.attack("lira").error is None
    assert 0.0 <= result.attack("lira").metrics.auc <= 1.0


def test_white_box_on_an_onnx_file_is_refused_when_read(trained):
    tmp, module, listed, _, (x, _, _) = trained
    onnx = str(h.save_onnx(module, tmp / "wb.onnx", x[:4]))
    with pytest.raises(ConfigError, match="an ONNX file does not expose them"):
        parse_config(_config({"path": onnx}, listed, attacks=["gradient_norm"]))
    script = str(h.save_torchscript(module, tmp / "wb.pt"))
    result = run_config(_config({"path": script}, listed, attacks=["gradient_norm"]))
    assert result.attack("gradient_norm").error is None


@pytest.mark.parametrize(
    ("target", "split", "message"),
    [
        ({"path": "m.pt"}, {"members": 10, "nonmembers": 10}, "miaudit cannot draw them"),
        (
            {"path": "m.pt", "defense": {"name": "dp_sgd", "target_epsilon": 3.0}},
            None,
            "is applied while training, but a target given by 'path' is already trained",
        ),
        ({"path": "m.pt", "url": "http://h/p"}, None, "exactly one of"),
        ({"hidden": [3]}, None, "target needs exactly one of 'model'"),
    ],
)
def test_external_target_refusals(trained, target, split, message):
    tmp, module, listed, _, _ = trained
    h.save_torchscript(module, tmp / "m.pt")
    target = {k: (str(tmp / v) if k == "path" else v) for k, v in target.items()}
    with pytest.raises(ConfigError, match=message):
        parse_config(_config(target, split or listed))


def test_no_code_refuses_a_factory_recipe_before_importing_it(trained, monkeypatch):
    tmp, module, listed, _, _ = trained
    weights = str(h.save_safetensors(module, tmp / "f.safetensors"))
    target = {"path": weights, "model": "tests.unit.saved_model_helpers:factory"}
    with pytest.raises(ConfigError, match="imports from configs are disabled"):
        parse_config(_config(target, listed), allow_imports=False)
    monkeypatch.setenv("MIAUDIT_NO_CONFIG_IMPORTS", "1")
    with pytest.raises(ConfigError, match="imports from configs are disabled"):
        parse_config(_config(target, listed))


def test_an_endpoint_config_audits_like_the_model_and_resumes(trained, tmp_path):
    """A scikit-learn model behind a real 127.0.0.1 server, audited from a config: equal to
    the Python API's audit of the model itself (JSON carries float64 exactly); results.json
    records the queries; a second run into the same folder asks the server for nothing."""
    _, _, listed, _, (x, y, split) = trained
    model = LogisticRegression(C=100.0, max_iter=3000).fit(x[split.members], y[split.members])
    with ModelServer(model) as server:
        cfg = _config({"url": server.url, "query_budget": 5000}, listed)
        out = tmp_path / "run"
        got = run_config(cfg, output=out, progress=False)
        first = server.records
        saved = json.loads((out / "results.json").read_text())
        assert saved["target"]["source"] == {
            "kind": "url",
            "url": server.url,
            "output": "probabilities",
        }
        assert saved["queries"]["sent_all_runs"] == first == 400
        again = run_config(cfg, output=out, progress=False, overwrite=True)
        assert server.records == first  # every answer came from the cache
    import miaudit

    # the server reads the JSON records as float64 (exact copies of the float32 values), so
    # the model it runs is compared with the model run on float64 copies
    x64 = x.astype(np.float64)
    want = miaudit.audit(
        model,
        members=(x64[split.members], y[split.members]),
        nonmembers=(x64[split.nonmembers], y[split.nonmembers]),
        attacks=ATTACKS,
        bootstrap=0,
        random_queries=0,
        seed=5,
        progress=False,
    )
    for result in (got, again):
        for name in ATTACKS:
            np.testing.assert_array_equal(result.attack(name).scores, want.attack(name).scores)


def test_a_label_only_endpoint_config_runs_the_label_only_attacks(trained, tmp_path):
    """``output: labels`` from a config: probability attacks refused before any query (one
    line), the label-only attack audited, its queries in results.json and the report."""
    _, _, listed, _, (x, y, split) = trained
    model = LogisticRegression(C=100.0, max_iter=3000).fit(x[split.members], y[split.members])
    target = {"url": "", "output": "labels", "query_budget": 3000}
    with ModelServer(model, output="labels") as server:
        target["url"] = server.url
        with pytest.raises(ConfigError, match="'loss' needs the target's probability outputs"):
            run_config(_config(target, listed), progress=False)
        assert server.requests == 0
        attacks = ["gap", {"name": "augmentation", "n_augmentations": 2}]
        out = tmp_path / "labels"
        got = run_config(_config(target, listed, attacks=attacks), output=out, progress=False)
    gap, result = got.attacks
    # the gap attack reads the predicted label only (Yeom et al.'s baseline is label-only):
    # it runs here, from the labels already fetched for the accuracies, and scores each
    # record's correctness exactly as the model itself does
    assert gap.error is None, gap.error
    audited = np.concatenate([split.members, split.nonmembers])
    x64 = x.astype(np.float64)
    right = (model.predict(x64[audited]) == y[audited]).astype(float)
    np.testing.assert_array_equal(gap.scores, right)
    assert result.error is None, result.error
    assert result.queries_per_record == 3
    saved = json.loads((out / "results.json").read_text())
    assert saved["target"]["source"]["output"] == "labels"
    # 400 labels for the accuracies; the attack's plain view is cached, 2 noisy views sent
    assert saved["queries"]["sent_all_runs"] == server.records == 400 * 3
    assert 0.9 < got.target.train_accuracy <= 1.0
    assert (out / "report.html").exists()


def test_an_endpoint_that_stops_answering_exits_6_not_bad_input(trained, tmp_path):
    """A server that is down is not bad input (exit 2 is 'refused before any model
    trains'): the CLI exits 6 with one line that says a rerun resumes."""
    import socket
    import subprocess
    import sys

    import yaml

    _, _, listed, _, _ = trained
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    target = {"url": f"http://127.0.0.1:{port}/p", "retries": 0, "timeout_s": 1}
    cfg = tmp_path / "down.yaml"
    cfg.write_text(yaml.safe_dump(_config(target, listed, output=str(tmp_path / "o"))))
    done = subprocess.run(
        [sys.executable, "-m", "miaudit.cli", "audit", str(cfg), "--no-progress"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 6, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "rerun the audit to resume" in lines[0]


def test_a_closed_pipe_is_not_an_error():
    """``miaudit attacks | head -1``: the reader closes the pipe early; exit 0, no
    traceback."""
    import subprocess
    import sys

    done = subprocess.run(
        f"{sys.executable} -m miaudit.cli attacks | head -1",
        shell=True,
        capture_output=True,
        text=True,
        timeout=120,
        executable="/bin/bash",
    )
    assert done.stdout.startswith("attack") and "Traceback" not in done.stderr
    # `true` exits at once without reading, long before the interpreter starts writing, so
    # the first write always meets a closed pipe (head -1 may read everything first)
    piped = subprocess.run(
        ["bash", "-c", f"set -o pipefail; {sys.executable} -m miaudit.cli attacks | true"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert piped.returncode == 0 and "Traceback" not in piped.stderr, piped.stderr
