"""miaudit.tracking without an audit: the config section, the MLflow keys and parameters,
the lazy import, and how the MLflow file store is opened."""

from __future__ import annotations

import subprocess
import sys

import pytest

from miaudit.errors import ConfigError, TrackingError
from miaudit.tracking import (
    TrackingSettings,
    audit_params,
    check_tracking,
    is_file_store,
    parse_tracking_section,
)
from miaudit.tracking._mlflow import MAX_PARAM_CHARS, _keys


def test_section_defaults_and_errors() -> None:
    assert parse_tracking_section({"mlflow": "file:./mlruns"}) == TrackingSettings(
        "file:./mlruns", "miaudit", None
    )
    full = {"mlflow": "https://mlflow.example.org", "experiment": "x", "run_name": "nightly"}
    assert parse_tracking_section(full).to_dict() == full
    for value, message in [
        ("file:./mlruns", "tracking must be a mapping"),
        ({}, "tracking needs 'mlflow'"),
        ({"mlflow": ""}, "tracking.mlflow must be a non-empty string"),
        ({"mlflow": "file:x", "experment": "x"}, "unknown key 'experment'"),
        ({"mlflow": "file:x", "run_name": 3}, "tracking.run_name must be a non-empty string"),
        ({"mlflow": "https://me:pw@host"}, "carries a password"),
    ]:
        with pytest.raises(ConfigError, match=message):
            parse_tracking_section(value)


def test_params_are_the_config_flattened_without_tracking() -> None:
    config = {
        "seed": 0,
        "dataset": {"name": "digits"},
        "target": {"model": "mlp", "hidden": [64, 32], "defense": {"name": "l2"}},
        "attacks": ["loss", {"name": "lira", "label": "lira offline", "online": False}],
        "reference": {"cache_dir": None},
        "tracking": {"mlflow": "file:x"},
        "title": "t" * (MAX_PARAM_CHARS + 10),
    }
    params = audit_params(config)
    assert params == {
        "seed": "0",
        "dataset.name": "digits",
        "target.model": "mlp",
        "target.hidden": "[64, 32]",
        "target.defense.name": "l2",
        "attacks": '["loss", {"label": "lira offline", "name": "lira", "online": false}]',
        "title": params["title"],
    }
    assert len(params["title"]) == MAX_PARAM_CHARS and params["title"].endswith("results.json)")


def test_attack_labels_become_valid_unique_mlflow_keys() -> None:
    assert _keys(["lira", "lira offline", "lira/offline", "a:b", "..", "lira_offline"]) == [
        "lira",
        "lira_offline",
        "lira_offline_2",
        "a_b",
        "__",
        "lira_offline_3",
    ]


def test_file_store_uris() -> None:
    assert is_file_store("file:///tmp/mlruns") and is_file_store("./mlruns")
    assert is_file_store("FILE:relative")
    for uri in ("http://localhost:5000", "https://x", "databricks", "sqlite:///m.db"):
        assert is_file_store(uri) == (uri == "databricks")  # a bare name is a path to MLflow


def test_mlflow_is_imported_lazily() -> None:
    code = (
        "import sys, miaudit, miaudit.cli, miaudit.pipeline, miaudit.gate, miaudit.tracking; "
        "assert 'mlflow' not in sys.modules, 'mlflow imported'"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]


def test_missing_mlflow_is_a_config_error(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "mlflow", None)  # import mlflow -> ImportError
    with pytest.raises(ConfigError, match=r"pip install 'miaudit\[tracking\]'"):
        check_tracking(TrackingSettings("file:///nowhere"))


def test_file_store_opened_for_the_check_only_and_the_environment_respected(
    tmp_path, monkeypatch
) -> None:
    pytest.importorskip("mlflow")
    import os

    # (MLflow caches a store per URI once opened, so each case has a store of its own)
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "false")  # the user's choice wins
    with pytest.raises(TrackingError, match="nothing was run.*MLFLOW_ALLOW_FILE_STORE"):
        check_tracking(TrackingSettings((tmp_path / "refused").as_uri()))
    assert os.environ["MLFLOW_ALLOW_FILE_STORE"] == "false"
    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE")
    check_tracking(TrackingSettings((tmp_path / "mlruns").as_uri()))  # a file: URI opens it
    assert "MLFLOW_ALLOW_FILE_STORE" not in os.environ  # only while miaudit uses it
