"""Issue 12 end to end: ``miaudit audit`` on a language-model config (a real tiny LM trained
on real text), its outputs, the escaped text snippets, determinism, and one-line refusals."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml

from miaudit.cli import main
from miaudit.results import load_result

# a user's own text file: records that memorise quickly, one of them with markup the report
# must escape
LINES = [f"record {i}: the quick brown fox {i * 7 % 13} jumps <b>over</b> {i}" for i in range(80)]


def _config(tmp_path, **over):
    text = tmp_path / "corpus.txt"
    text.write_text("\n".join(LINES) + "\n", encoding="utf-8")
    cfg = {
        "text": {"path": str(text), "unit": "line"},
        "split": {"members": 20, "nonmembers": 20, "population": 40},
        "target": {
            "model": "transformer_lm",
            "layers": 1,
            "d_model": 32,
            "heads": 2,
            "context": 64,
            "epochs": 30,
            "batch_size": 8,
            "lr": 0.003,
        },
        "attacks": ["lm_loss", "zlib_ratio", "min_k", "min_k_pp", "reference_ratio"],
        "reference": {"num_models": 1, "cache_dir": str(tmp_path / "cache")},
        "evaluation": {"bootstrap": 20},
        "seed": 0,
    }
    cfg.update(over)
    path = tmp_path / "lm.yaml"
    path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    return path


@pytest.mark.timeout(600)
def test_an_lm_config_audits_a_memorising_model(tmp_path, capsys):
    config = _config(tmp_path)
    out = tmp_path / "out"
    assert main(["audit", str(config), "--output", str(out), "--no-progress"]) == 0
    data = json.loads((out / "results.json").read_text())
    lm = data["target"]["language_model"]
    assert lm["tokenizer"] == "char" and lm["member_loss"] < lm["nonmember_loss"]
    assert len(data["record_texts"]) == 40
    result = load_result(out)
    loss = result.attack("lm_loss")
    # 20 short records, 30 epochs: the model memorises its members, so the loss attack must
    # separate them (a CI on 40 records, far from chance on any CPU's rounding)
    assert loss.metrics.auc_ci[0] > 0.5
    html = (out / "report.html").read_text()
    assert "&lt;b&gt;over&lt;/b&gt;" in html and "<b>over</b>" not in html
    # same config, same seed: the same scores (the reference LM now from the cache)
    again = tmp_path / "again"
    assert main(["audit", str(config), "--output", str(again), "--no-progress"]) == 0
    second = load_result(again)
    for a in result.attacks:
        np.testing.assert_array_equal(a.scores, second.attack(a.name).scores)
    capsys.readouterr()


@pytest.mark.parametrize(
    ("over", "message"),
    [
        ({"split": {"members": 50, "nonmembers": 50, "population": 10}}, "asks for 110 records"),
        ({"target": {"model": "transformer_lm", "epochs": 0}}, "target epochs"),
        ({"attacks": ["perplexity"]}, "unknown language-model attack"),
    ],
)
def test_bad_lm_configs_exit_2_with_one_line(tmp_path, capsys, over, message):
    config = _config(tmp_path, **over)
    assert main(["audit", str(config), "--output", str(tmp_path / "o"), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err and err.startswith("miaudit: error:")


def test_a_text_file_that_is_not_utf8_exits_2(tmp_path, capsys):
    config = _config(tmp_path)
    (tmp_path / "corpus.txt").write_bytes(b"caf\xe9\n" * 100)
    assert main(["audit", str(config), "--output", str(tmp_path / "o"), "--no-progress"]) == 2
    assert "is not UTF-8 text" in capsys.readouterr().err
