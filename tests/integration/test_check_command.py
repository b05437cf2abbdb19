"""``miaudit check``: the privacy gate end to end on small digits audits (about a second
each): exit statuses 0/1/2/3/5, refusals before any data are loaded, check.md and
check.junit.xml equal to results.json, a saved audit checked again, DP epsilon, and MLflow
tracking read back with MLflow's own client."""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

import miaudit.pipeline.run as run_module
from miaudit.cli import main

SMALL = {
    "seed": 0,
    "dataset": {"name": "digits"},
    "split": {"members": 200, "nonmembers": 200},
    "target": {"model": "logistic_regression"},
    "attacks": ["loss", "confidence"],
    "evaluation": {"bootstrap": 20, "random_queries": 50},
}
DP = {
    **SMALL,
    "target": {
        "model": "mlp",
        "hidden": [16],
        "epochs": 2,
        "batch_size": 50,
        "defense": {"name": "dp_sgd", "noise_multiplier": 1.0, "max_grad_norm": 1.0},
    },
    "attacks": ["loss"],
}


def _config(tmp_path: Path, cfg: dict, name: str = "c.yaml") -> str:
    out = {"output": str(tmp_path / "out"), **cfg}
    path = tmp_path / name
    path.write_text(yaml.safe_dump(out))
    return str(path)


def _check(*args: str) -> int:
    return main(
        ["check", *args, "--no-progress"] if args[0].endswith(".yaml") else ["check", *args]
    )


def _results(tmp_path: Path) -> dict:
    return json.loads((tmp_path / "out" / "results.json").read_text())


def _junit(tmp_path: Path) -> ET.Element:
    return ET.parse(tmp_path / "out" / "check.junit.xml").getroot()


def _attack(results: dict, name: str) -> dict:
    return next(a for a in results["attacks"] if a["name"] == name)


def test_passing_gate_exits_0_and_its_files_carry_results_json_values(tmp_path, capsys):
    cfg = {**SMALL, "check": {"max_auc": 0.9, "max_tpr": {0.01: 0.5}}}
    assert _check(_config(tmp_path, cfg)) == 0
    out = capsys.readouterr().out
    assert "check: PASSED (2 of 2 thresholds hold)" in out
    results = _results(tmp_path)
    assert results["config"]["check"] == {"max_auc": 0.9, "max_tpr": {"0.01": 0.5}, "strict": False}
    worst = max(results["attacks"], key=lambda a: a["auc"])
    suite = _junit(tmp_path).find("testsuite")
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("2", "0", "0")
    auc_case = suite.findall("testcase")[0]
    rows = [r.split("\t") for r in auc_case.find("system-out").text.splitlines()[2:]]
    for name, value, lo, hi, _, verdict in rows:
        stored = _attack(results, name)
        assert float(value) == stored["auc"] and [float(lo), float(hi)] == stored["auc_ci"]
        assert verdict == "pass"
    md = (tmp_path / "out" / "check.md").read_text()
    assert md.startswith("## miaudit privacy gate: ✅ passed")
    row = next(line for line in md.splitlines() if line.startswith("| AUC <= 0.9 "))
    assert f"| {worst['name']} | {worst['auc']:.4f} |" in row
    lo, hi = worst["auc_ci"]
    assert f"[{lo:.4f}, {hi:.4f}]" in row
    # the other outputs of the audit are all there: the gate's files do not replace them
    assert {p.name for p in (tmp_path / "out").iterdir()} >= {
        "results.json",
        "scores.csv",
        "report.html",
        "check.md",
        "check.junit.xml",
    }


def test_exceeded_threshold_exits_1_naming_attack_metric_value_threshold_and_ci(tmp_path, capsys):
    assert _check(_config(tmp_path, SMALL), "--max-auc", "0.55", "--max-tpr", "0.1:0.9") == 1
    err = capsys.readouterr().err.strip().splitlines()
    results = _results(tmp_path)
    worst = max(results["attacks"], key=lambda a: a["auc"])
    lo, hi = worst["auc_ci"]
    assert err == [
        f"miaudit: threshold exceeded: AUC of attack {worst['name']!r} is {worst['auc']:.4g} "
        f"(95% CI [{lo:.4g}, {hi:.4g}]), above the threshold max_auc = 0.55; 1 more exceed it"
    ]
    suite = _junit(tmp_path).find("testsuite")
    assert (suite.get("tests"), suite.get("failures")) == ("2", "1")
    failure = suite.find("testcase/failure")
    assert failure.get("message") == err[0].removeprefix("miaudit: threshold exceeded: ")


@pytest.mark.parametrize(
    "cfg,args,message",
    [
        (SMALL, ["--max-auc", "1.5"], r"--max-auc must be a number in [0, 1]"),
        (SMALL, ["--max-tpr", "0.001"], "--max-tpr takes FPR:TPR"),
        (SMALL, ["--max-tpr", "0.001:-0.1"], "must be a number in [0, 1]"),
        (SMALL, ["--max-epsilon", "0"], "--max-epsilon must be a number > 0"),
        (SMALL, [], "no thresholds: give --max-auc"),
        (SMALL, ["--max-epsilon", "8"], "max_epsilon needs a differentially private defense"),
        (
            {**SMALL, "check": {"attacks": {"lira": {"max_auc": 0.6}}}},
            [],
            "check.attacks.lira: no attack of the audit is labelled 'lira'",
        ),
        (
            {**SMALL, "evaluation": {"bootstrap": 0}},
            ["--max-auc", "0.6", "--strict"],
            "evaluation.bootstrap is 0",
        ),
        ({**SMALL, "check": {"max_auc": 2}}, [], "check.max_auc must be a number in [0, 1]"),
        (
            {**SMALL, "tracking": {"mlflow": "http://u:secret@host"}},
            ["--max-auc", "0.6"],
            "tracking.mlflow carries a password",
        ),
    ],
)
def test_bad_thresholds_exit_2_with_one_line_before_any_data_is_read(
    tmp_path, capsys, monkeypatch, cfg, args, message
):
    def no_data(*a, **k):
        raise AssertionError("the audit started")

    monkeypatch.setattr(run_module, "_audit_sets", no_data)
    assert _check(_config(tmp_path, cfg), *args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("miaudit: error: ") and message in err[0]
    assert not (tmp_path / "out" / "results.json").exists()


def test_saved_audit_is_checked_again_without_rerunning(tmp_path, capsys, monkeypatch):
    """``miaudit check DIR``: the config's check section, the command line's thresholds,
    default and strict rules on the same numbers, an FPR level computed from scores.csv."""
    config = _config(tmp_path, {**SMALL, "check": {"max_tpr": {0.001: 0.9}}})
    assert main(["audit", config, "--no-progress"]) == 0
    out = str(tmp_path / "out")
    results = _results(tmp_path)
    auc = max(a["auc"] for a in results["attacks"])
    hi = max(a["auc_ci"][1] for a in results["attacks"])
    between = f"{(auc + hi) / 2:.6f}"
    monkeypatch.setattr(run_module, "run_config", None)  # nothing may rerun
    assert main(["check", out]) == 0  # the config's own section
    assert "TPR at FPR 0.001 <= 0.9" in capsys.readouterr().out
    assert main(["check", out, "--max-auc", between]) == 0  # estimate within
    assert main(["check", out + "/results.json", "--max-auc", between, "--strict"]) == 1
    err = capsys.readouterr().err
    assert "(strict: the CI's upper end)" in err
    suite = _junit(tmp_path).find("testsuite")
    props = {p.get("name"): p.get("value") for p in suite.find("properties")}
    assert props["strict"] == "true" and suite.get("failures") == "1"
    # a level results.json lacks, from scores.csv; without scores.csv it is refused
    assert main(["check", out, "--max-tpr", "0.05:0.9"]) == 0
    assert "TPR at FPR 0.05 <= 0.9" in (tmp_path / "out" / "check.md").read_text()
    (tmp_path / "out" / "scores.csv").unlink()
    assert main(["check", out, "--max-tpr", "0.05:0.9"]) == 2
    assert "they have FPR 0.001, 0.01, 0.1" in capsys.readouterr().err
    assert main(["check", out, "--max-auc", "0.9"]) == 0  # stored metrics need no scores
    assert main(["check", out, "--max-auc", "0.9", "--output", "x"]) == 2
    assert "--output: only with a CONFIG" in capsys.readouterr().err
    assert main(["check", str(tmp_path / "nothing.json"), "--max-auc", "0.9"]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_new_thresholds_rerun_the_same_output_without_overwrite(tmp_path):
    """Thresholds change nothing the audit computes: not "another run's results"."""
    assert _check(_config(tmp_path, {**SMALL, "check": {"max_auc": 0.9}})) == 0
    assert _check(_config(tmp_path, {**SMALL, "check": {"max_auc": 0.55}})) == 1
    assert _check(_config(tmp_path, {**SMALL, "seed": 1, "check": {"max_auc": 0.9}})) == 2


def test_failed_attack_exits_3_when_no_threshold_is_exceeded(tmp_path, capsys, monkeypatch):
    from miaudit.attacks.yeom import LossAttack

    def broken(self, *args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(LossAttack, "score_samples", broken)
    assert _check(_config(tmp_path, SMALL), "--max-auc", "0.99") == 3
    err = capsys.readouterr().err
    assert "threshold not checked" in err and "'loss'" in err and "boom" in err
    suite = _junit(tmp_path).find("testsuite")
    assert suite.get("errors") == "1" and suite.find("testcase/error") is not None
    assert _check(_config(tmp_path, SMALL), "--max-auc", "0.5") == 1  # exceeded wins
    capsys.readouterr()
    only_confidence = {**SMALL, "check": {"attacks": {"confidence": {"max_auc": 0.99}}}}
    assert _check(_config(tmp_path, only_confidence)) == 0  # the gate asked about confidence
    assert "note: attacks loss failed and no threshold applies" in capsys.readouterr().err


def test_dp_epsilon_threshold(tmp_path, capsys):
    config = _config(tmp_path, {**DP, "check": {"max_epsilon": 100}})
    assert _check(config) == 0
    results = _results(tmp_path)
    eps, delta = results["target"]["epsilon"], results["target"]["defense"]["delta"]
    assert 0 < eps < 100
    assert _check(config, "--max-epsilon", f"{eps / 2}") == 1
    err = capsys.readouterr().err
    assert f"DP epsilon of the target is {eps:.4g}, above the threshold max_epsilon" in err
    md = (tmp_path / "out" / "check.md").read_text()
    assert f"at delta = {delta:g}" in md and f"| target | {eps:.4f} | – | ❌ exceeded |" in md


# -- MLflow tracking ------------------------------------------------------------------------


def _runs(uri: str, experiment: str, monkeypatch):
    """The runs of ``experiment``, read with MLflow's own client."""
    from mlflow import MlflowClient

    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # reading the test's file store
    client = MlflowClient(tracking_uri=uri)
    found = client.get_experiment_by_name(experiment)
    return client, ([] if found is None else client.search_runs([found.experiment_id]))


def test_check_logs_metrics_params_and_files_to_mlflow(tmp_path, monkeypatch):
    pytest.importorskip("mlflow")
    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE", raising=False)
    uri = (tmp_path / "mlruns").as_uri()
    tracking = {"mlflow": uri, "experiment": "gate-test", "run_name": "pr-42"}
    assert _check(_config(tmp_path, {**SMALL, "tracking": tracking}), "--max-auc", "0.9") == 0
    assert "MLFLOW_ALLOW_FILE_STORE" not in os.environ  # set only while logging
    client, runs = _runs(uri, "gate-test", monkeypatch)
    (run,) = runs
    assert run.info.status == "FINISHED" and run.info.run_name == "pr-42"
    results = _results(tmp_path)
    metrics = run.data.metrics
    for a in results["attacks"]:
        prefix = f"attack/{a['name']}/"
        assert metrics[prefix + "auc"] == a["auc"]
        assert [metrics[prefix + "auc_ci_low"], metrics[prefix + "auc_ci_high"]] == a["auc_ci"]
        for level, tpr in a["tpr_at_fpr"].items():
            assert metrics[f"{prefix}tpr_at_fpr_{level}"] == tpr
        for key in ("advantage", "balanced_accuracy", "epsilon_lower_bound_heldout"):
            assert metrics[prefix + key] == a[key]
    assert metrics["target/test_accuracy"] == results["target"]["test_accuracy"]
    assert metrics["check/passed"] == 1.0 and metrics["check/exceeded"] == 0.0
    params = run.data.params
    assert params["target.model"] == "logistic_regression"
    assert params["split.members"] == "200" and json.loads(params["attacks"]) == SMALL["attacks"]
    assert not any(k.startswith("tracking") for k in params)
    assert run.data.tags["miaudit.check"] == "passed"
    files = {f.path for f in client.list_artifacts(run.info.run_id, "miaudit")}
    assert files == {
        f"miaudit/{n}"
        for n in ("results.json", "scores.csv", "report.html", "check.md", "check.junit.xml")
    }
    logged = Path(client.download_artifacts(run.info.run_id, "miaudit/results.json", tmp_path))
    assert json.loads(logged.read_text()) == results


def test_audit_command_logs_too_and_tracking_failures_exit_5(tmp_path, capsys, monkeypatch):
    pytest.importorskip("mlflow")
    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE", raising=False)
    uri = (tmp_path / "mlruns").as_uri()
    config = _config(tmp_path, {**SMALL, "tracking": {"mlflow": uri, "experiment": "e"}})
    assert main(["audit", config, "--no-progress"]) == 0
    client, runs = _runs(uri, "e", monkeypatch)
    assert len(runs) == 1 and "check/passed" not in runs[0].data.metrics
    # a store that answers but refuses the run (its experiment deleted): the results are
    # saved first, the failure is named, exit status 5
    client.delete_experiment(client.get_experiment_by_name("e").experiment_id)
    (tmp_path / "out" / "results.json").unlink()
    assert _check(config, "--max-auc", "0.9") == 5
    err = capsys.readouterr().err
    assert "the audit's results are saved in" in err and "logging them to MLflow" in err
    assert (tmp_path / "out" / "results.json").is_file()
    assert (tmp_path / "out" / "check.md").is_file()
    assert _check(config, "--max-auc", "0.5") == 1  # the gate's verdict outranks tracking
    # a store that cannot be opened (a file where its folder should be): before any work
    blocked = tmp_path / "not-a-store"
    blocked.write_text("")
    config = _config(tmp_path, {**SMALL, "tracking": {"mlflow": blocked.as_uri()}}, "b.yaml")
    (tmp_path / "out" / "results.json").unlink()
    assert main(["audit", config, "--no-progress"]) == 5
    err = capsys.readouterr().err
    assert "cannot reach the MLflow tracking store" in err and "nothing was run" in err
    assert not (tmp_path / "out" / "results.json").exists()


def test_run_config_logs_by_itself_and_needs_an_output(tmp_path, monkeypatch):
    """The Python API: run_config with a tracking section logs the saved audit."""
    pytest.importorskip("mlflow")
    from miaudit.errors import ConfigError
    from miaudit.pipeline import run_config

    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE", raising=False)
    uri = (tmp_path / "mlruns").as_uri()
    cfg = {**SMALL, "tracking": {"mlflow": uri}}
    with pytest.raises(ConfigError, match="tracking logs the audit's saved files: set 'output'"):
        run_config(cfg, progress=False)
    result = run_config(cfg, output=tmp_path / "api", progress=False)
    _, runs = _runs(uri, "miaudit", monkeypatch)
    (run,) = runs
    assert run.info.run_name == result.title
    assert run.data.metrics["attack/loss/auc"] == result.attack("loss").metrics.auc


def test_tradeoff_refuses_a_tracking_section(tmp_path, capsys):
    cfg = {**SMALL, "tracking": {"mlflow": "file:x"}, "tradeoff": [{"name": "l2"}]}
    path = _config(tmp_path, cfg)
    assert main(["tradeoff", path, "--output", str(tmp_path / "t")]) == 2
    assert "tradeoff sweeps do not log to 'tracking'" in capsys.readouterr().err
