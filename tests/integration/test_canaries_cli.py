"""``miaudit canaries CONFIG``: the files it writes, and config errors refused in one line
(exit 2) before anything trains."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from miaudit.cli import main


def _config(tmp_path: Path, **changes) -> dict:
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(f"line {i} of the little corpus" for i in range(40)), "utf-8")
    cfg = {
        "seed": 0,
        "text": {"path": str(corpus), "unit": "line", "max_records": 30},
        "tokenizer": {"kind": "char"},
        "target": {
            "model": "transformer_lm",
            "layers": 1,
            "d_model": 16,
            "heads": 2,
            "context": 32,
            "epochs": 1,
            "batch_size": 16,
            "lr": 0.003,
        },
        "canaries": {
            "format": "key {digits:3}",
            "repetitions": [1, 4],
            "canaries_per_repetition": 2,
            "controls": 2,
            "sample_size": 200,
        },
    }
    for dotted, value in changes.items():
        *path, last = dotted.split("__")
        d = cfg
        for p in path:
            d = d[p]
        if value is _DROP:
            d.pop(last)
        else:
            d[last] = value
    return cfg


_DROP = object()


def _write(tmp_path: Path, cfg: dict) -> str:
    path = tmp_path / "canaries.yaml"
    path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    return str(path)


def test_cli_writes_canaries_json_and_png(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["canaries", _write(tmp_path, _config(tmp_path)), "--output", str(out)]) == 0
    data = json.loads((out / "canaries.json").read_text(encoding="utf-8"))
    assert data["method"] == "exact" and data["candidates"] == 1000
    assert [c["repetitions"] for c in data["canaries"]] == [1, 1, 4, 4, 0, 0]
    for c in data["canaries"]:
        assert 1 <= c["rank"] <= 1000 and 0 <= c["exposure"] <= data["log2_candidates"]
        assert c["method"] == "exact"
    assert data["training"]["canary_records"] == 10 and data["peak_rss_mb"] > 0
    assert data["training"]["seconds"] > 0
    assert abs(data["no_memorisation_exposure"] - 1.436) < 1e-3
    assert (out / "exposure.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(out.glob(".tmp-*"))  # the staging folder is gone
    printed = capsys.readouterr().out
    assert "0 (control)" in printed and "canaries.json" in printed


def test_cli_estimate_when_the_space_is_too_large(tmp_path):
    cfg = _config(tmp_path, canaries__exact_limit=10)
    out = tmp_path / "out"
    assert main(["canaries", _write(tmp_path, cfg), "--output", str(out)]) == 0
    data = json.loads((out / "canaries.json").read_text(encoding="utf-8"))
    assert data["method"] == "estimate" and data["candidates_scored"] == 206
    assert set(data["skew_normal"]) == {"shape", "loc", "scale"}


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"bogus": 1}, "unknown key 'bogus'"),
        ({"canaries__formt": "x"}, "did you mean 'format'"),
        ({"canaries__format": "no slots"}, "has no slot"),
        ({"canaries__format": "{digits:1}", "canaries__controls": 20}, "distinct canaries"),
        ({"canaries__repetitions": []}, "non-empty list"),
        ({"canaries__repetitions": [1, "4"]}, "canaries.repetitions[1]"),
        ({"canaries__repetitions": [4, 4]}, "a count twice"),
        ({"canaries__sample_size": 5}, "canaries.sample_size"),
        ({"canaries__exact_limit": -1}, "canaries.exact_limit"),
        ({"target__layers": "two"}, "target layers"),
        ({"target__model": "gpt"}, "unknown language model"),
        ({"target__context": 4}, "more than the target context"),
        ({"tokenizer__kind": "word"}, "tokenizer.kind"),
        ({"text__path": "/nonexistent/corpus.txt"}, "text file not found"),
        ({"text__path": "corpus.csv"}, ".txt or .jsonl"),
        ({"text__unit": "page"}, "text.unit"),
        ({"text__max_records": 0}, "text.max_records"),
        ({"text__max_records": 1000}, "asks for 1000 records"),
        ({"seed": -1}, "'seed'"),
        ({"canaries": _DROP}, "missing required key 'canaries'"),
    ],
)
def test_config_errors_exit_2_in_one_line(tmp_path, capsys, changes, message):
    cfg = _config(tmp_path, **changes)
    out = tmp_path / "out"
    assert main(["canaries", _write(tmp_path, cfg), "--output", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err, err
    assert not (out / "canaries.json").exists()


def test_missing_config_and_output(tmp_path, capsys):
    assert main(["canaries", str(tmp_path / "missing.yaml"), "--output", str(tmp_path)]) == 2
    assert "config file not found" in capsys.readouterr().err
    assert main(["canaries", _write(tmp_path, _config(tmp_path))]) == 2
    assert "no output directory" in capsys.readouterr().err
