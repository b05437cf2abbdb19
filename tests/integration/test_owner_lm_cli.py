"""Issue 13 part 1 for language models: ``miaudit owner CONFIG`` with a ``text:`` section on
a saved Hugging Face model (a tiny GPT-2 built and fine-tuned here, nothing downloaded): a used
owner is found, a never-used one is not, and the refusals are one line with exit 2."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import yaml

from miaudit.cli import main
from miaudit.pipeline.owner_lm import default_lm_attack

#: 200 records of 10 random digits: nothing to learn but the records themselves, so a model
#: fine-tuned on some memorises them and every other record is alike to it
RNG = np.random.default_rng(0)
LINES = [f"code {' '.join(str(d) for d in RNG.integers(0, 10, 10))}" for _ in range(200)]
TRAINED = list(range(40))  # the target's training records
FINE_TUNE = {"epochs": 100, "batch_size": 8, "lr": 5e-3}


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """base/: an untrained 1-layer GPT-2 with a BPE over the records; tuned/: it fine-tuned
    on records 0..39 (100 epochs: member loss 0.63 nats a token against 1.75, every member
    below every non-member, measured)."""
    from tokenizers import Tokenizer
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    from miaudit.text import HFLMRecipe, pack
    from miaudit.text.tokenize import BOS, BPETokenizer

    root = tmp_path_factory.mktemp("owner_lm")
    bpe = BPETokenizer.fit(LINES, 260)
    tok = PreTrainedTokenizerFast(
        tokenizer_object=Tokenizer.from_str(bpe.to_json()), bos_token=BOS, eos_token=BOS
    )
    config = GPT2Config(
        n_layer=1,
        n_embd=64,
        n_head=2,
        n_positions=32,
        vocab_size=len(tok),
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
    )
    torch.manual_seed(0)
    GPT2LMHeadModel(config).eval().save_pretrained(root / "base")
    tok.save_pretrained(root / "base")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # 2 shared cores: one thread trains this model fastest
    try:
        recipe = HFLMRecipe(str(root / "base"), **FINE_TUNE)
        tuned = recipe.train(pack(recipe.load_base().encode([LINES[i] for i in TRAINED])), None, 1)
    finally:
        torch.set_num_threads(threads)
    tuned.module.save_pretrained(root / "tuned")
    tuned.tokenizer.save_pretrained(root / "tuned")
    corpus = root / "codes.txt"
    corpus.write_text("\n".join(LINES) + "\n", encoding="utf-8")
    return root, corpus


def _write(root, name, **cfg):
    path = root / name
    path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    return str(path)


def _base(root, corpus, **over):
    cfg = {
        "text": {"path": str(corpus), "unit": "line"},
        "target": {"hf": str(root / "tuned")},
        "owner": TRAINED[:10],
        "reference_nonmembers": list(range(100, 200)),
        "output": str(root / "out"),
    }
    return {**cfg, **over}


def test_a_used_owner_is_found_and_a_never_used_one_is_not(saved, capsys):
    root, corpus = saved
    used = root / "used"
    cfg = _write(root, "used.yaml", **_base(root, corpus, output=str(used)))
    assert main(["owner", cfg, "--no-progress"]) == 0
    doc = json.loads((used / "owner.json").read_text())
    # 10 memorised records against 100 others: every owner record scores above every
    # reference one (measured), z about 5.2, p about 1e-7 on any CPU's rounding
    assert doc["attack"] == "lm_loss" and doc["target_kind"] == "language model"
    assert doc["reject"] is True and doc["p_value"] < 1e-4 and doc["auc"] > 0.9
    assert doc["owner_record_ids"] == TRAINED[:10] and doc["usage"] is None
    assert "not measured for language models" in doc["usage_note"]
    html = (used / "owner.html").read_text()
    assert html.index("Answer: Yes") < html.index("The test") < html.index("What the test assumes")
    assert (used / "audit" / "results.json").is_file()
    assert "Yes:" in capsys.readouterr().out

    # never-used owner: 10 of the 160 untrained records, the reference 100 others, the two
    # drawn by one seeded shuffle, so under H0 the owner's ranks are uniform and the rank
    # test's p-value is (super-)uniform: P(p <= 1e-3) <= 1e-3 over the draw, whatever
    # the model or the CPU
    rest = np.random.default_rng(7).permutation(np.arange(40, 200))
    unused = root / "unused"
    cfg = _write(
        root,
        "unused.yaml",
        **_base(
            root,
            corpus,
            owner=sorted(int(i) for i in rest[:10]),
            reference_nonmembers=sorted(int(i) for i in rest[10:110]),
            output=str(unused),
        ),
    )
    assert main(["owner", cfg, "--no-progress"]) == 0
    doc = json.loads((unused / "owner.json").read_text())
    assert doc["p_value"] > 1e-3
    capsys.readouterr()


def test_lm_owner_refusals_are_one_line(saved, capsys):
    root, corpus = saved
    with_base = {"hf": str(root / "tuned"), "base": str(root / "base")}
    cases = [
        ({"reference_nonmembers": [0, *range(100, 150)]}, "share record 0"),
        ({"owner": [3, 250]}, "lists record 250, outside 0..199"),
        ({"owner": [3, 3, 4]}, "'owner' lists a record twice"),
        (
            {"owner": [0, 1], "reference_nonmembers": [100, 101, 102, 103]},
            "needs at least 5 reference non-members",
        ),
        ({"owner": [1], "reference_nonmembers": list(range(100, 110))}, "at least 19"),
        ({"owner": [1], "test": "welch"}, "Welch t-test needs at least 2"),
        ({"target": {"model": "transformer_lm"}}, "is of a trained model (target.hf"),
        ({"owner": 5}, "not counts"),
        ({"colour": 1}, "unknown key 'colour'"),
        ({"attack": "lm_perplexity"}, "unknown language-model attack"),
        ({"reference": {"num_models": 2}}, "set target.base"),
        (
            {"attack": "reference_ratio", "population": 0, "target": with_base},
            "needs the attacker's population",
        ),
        ({"population": 95}, "more than the 90 records"),
        ({"alpha": 0}, "'alpha'"),
    ]
    for i, (over, message) in enumerate(cases):
        cfg = _write(
            root, f"bad{i}.yaml", **_base(root, corpus, **over, output=str(root / f"o{i}"))
        )
        assert main(["owner", cfg, "--no-progress"]) == 2, over
        err = capsys.readouterr().err.strip()
        assert message in err and "\n" not in err, (over, err)
        assert not (root / f"o{i}").exists(), over  # refused before any output or training


def test_the_default_lm_attack_is_the_strongest_calibrated_one():
    assert default_lm_attack({"num_models": 4}, None) == "lm_rmia"
    assert default_lm_attack({}, 500) == "lm_rmia"
    assert default_lm_attack({}, 0) == {"name": "lm_lira", "fixed_variance": True}
    assert default_lm_attack(None, 500) == "lm_loss"


def test_with_reference_lms_the_default_is_lm_rmia_and_finds_the_used_owner(saved, tmp_path):
    root, corpus = saved
    out = tmp_path / "rmia"
    # reference LMs fine-tuned 20 epochs (not the target's 100): enough to calibrate, fast
    target = {"hf": str(root / "tuned"), "base": str(root / "base")}
    cfg = _write(
        tmp_path,
        "rmia.yaml",
        **_base(
            root,
            corpus,
            target={**target, "fine_tune": {**FINE_TUNE, "epochs": 20}},
            reference={"num_models": 2, "cache_dir": str(tmp_path / "cache")},
            population=40,
            output=str(out),
        ),
    )
    assert main(["owner", cfg, "--no-progress"]) == 0
    doc = json.loads((out / "owner.json").read_text())
    # RMIA's ratio against 2 reference LMs on random halves of the 110 audited records: the
    # owner's memorised records still stand out (AUC near 1 measured), p far below 0.05
    assert doc["attack"] == "lm_rmia" and doc["reject"] is True and doc["p_value"] < 1e-3
    results = json.loads((out / "audit" / "results.json").read_text())
    assert results["target"]["language_model"]["reference_models"] == {"random": 2}
