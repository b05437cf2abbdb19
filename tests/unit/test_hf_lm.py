"""Hugging Face causal LMs as targets (miaudit.text.hf, issue 12): a tiny GPT-2 built here
(a byte-level BPE trained on Tiny Shakespeare lines, nothing downloaded), saved, fine-tuned,
loaded back; answers against a slow one-record-at-a-time loop; LoRA adapters; the one-line
refusals; the reference recipe's determinism."""

from __future__ import annotations

import json
import os
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from miaudit.errors import ConfigError, DataError
from miaudit.text import HFCausalLM, HFLMRecipe, load_corpus, load_hf_lm, pack
from miaudit.text.tokenize import BOS, BPETokenizer

CONTEXT = 64
#: a saved float32 safetensors file holds the weights bit for bit, so a loaded model computes
#: the same float32 logits as the in-memory one (measured: equal to the last bit); 1e-6 nats
#: only leaves room for a different kernel order, far below the >1e-2 fine-tuning makes
SAME = 1e-6
#: a batched, right-padded forward pass against a one-record one: float32 logits of order 10
#: differ by a few ulps through 2 layers (measured <= 5e-7 nats); 1e-5 is 20x that and still
#: 1000x below the differences between the models compared here
LOOP = 1e-5


def _data_dir() -> Path:
    """$MIAUDIT_DATA, else the shared datasets folder; skip when it lacks Tiny Shakespeare."""
    root = Path(os.environ.get("MIAUDIT_DATA") or "/work/shared/datasets")
    if not (root / "text" / "tinyshakespeare_input.txt").is_file():
        pytest.skip(f"Tiny Shakespeare not in {root}; set MIAUDIT_DATA to the datasets folder")
    return root


@pytest.fixture(scope="module")
def lines() -> list[str]:
    records = load_corpus("tiny_shakespeare", unit="line", data_dir=_data_dir(), download=False)
    return list(records.texts[:400])


def _fast_tokenizer(lines: list[str], **special: str):
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast

    bpe = BPETokenizer.fit(lines, 300)
    return PreTrainedTokenizerFast(tokenizer_object=Tokenizer.from_str(bpe.to_json()), **special)


@pytest.fixture(scope="module")
def dirs(tmp_path_factory, lines):
    """base/: an untrained tiny GPT-2 and its tokenizer; tuned/: it fine-tuned on 200 lines
    (the in-memory model kept as ``tuned_model``)."""
    from transformers import GPT2Config, GPT2LMHeadModel

    root = tmp_path_factory.mktemp("hf")
    tok = _fast_tokenizer(lines, bos_token=BOS, eos_token=BOS)
    config = GPT2Config(
        n_layer=2,
        n_embd=32,
        n_head=2,
        n_positions=CONTEXT,
        vocab_size=len(tok),
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
    )
    torch.manual_seed(0)
    base = GPT2LMHeadModel(config).eval()
    base.save_pretrained(root / "base")
    tok.save_pretrained(root / "base")
    recipe = HFLMRecipe(str(root / "base"), epochs=2, batch_size=16, lr=3e-3)
    train = recipe.load_base()
    tuned = recipe.train(pack(train.encode(lines[:200])), None, seed=1)
    tuned.module.save_pretrained(root / "tuned")
    tuned.tokenizer.save_pretrained(root / "tuned")
    return {"root": root, "base": root / "base", "tuned": root / "tuned", "tuned_model": tuned}


def _slow(model, seqs, bos: int, context: int = CONTEXT):
    """log p, mu, var of each record, one record and one window at a time, full softmax."""
    out = []
    for s in seqs:
        full = [bos, *map(int, s)]
        parts = []
        for start in range(0, len(s), context):
            inputs = torch.tensor([full[start : start + context]])
            targets = torch.tensor(full[start + 1 : start + context + 1])
            with torch.no_grad():
                lp = torch.log_softmax(model(input_ids=inputs).logits[0].double(), -1)
            lp = lp[: len(targets)]
            p = lp.exp()
            mu = (p * lp).sum(-1)
            var = (p * (lp - mu[:, None]) ** 2).sum(-1)
            parts.append(np.stack([lp[torch.arange(len(targets)), targets], mu, var]))
        out.append(np.concatenate(parts, axis=1))
    return out


def _close_to_slow(answers, slow, atol: float) -> None:
    for r, (lp, mu, var) in enumerate(slow):
        n = lp.size
        assert answers.mask[r].sum() == n and answers.mask[r, :n].all()
        np.testing.assert_allclose(answers.logp[r, :n], lp, atol=atol, rtol=0)
        np.testing.assert_allclose(answers.mu[r, :n], mu, atol=atol, rtol=0)
        np.testing.assert_allclose(answers.var[r, :n], var, atol=atol, rtol=0)


def test_loaded_target_answers_equal_the_in_memory_model(dirs, lines):
    loaded = load_hf_lm(dirs["tuned"])
    memory = dirs["tuned_model"]
    assert isinstance(loaded, HFCausalLM) and loaded.context == CONTEXT
    assert not loaded.module.training and next(loaded.module.parameters()).dtype == torch.float32
    texts = lines[:40]
    a, b = loaded.answers(texts), memory.answers(texts)
    np.testing.assert_array_equal(a.mask, b.mask)
    for name in ("logp", "mu", "var"):
        np.testing.assert_allclose(getattr(a, name), getattr(b, name), atol=SAME, rtol=0)
    base = load_hf_lm(dirs["base"]).answers(texts)
    assert np.abs(base.logp - a.logp).max() > 1e-2  # fine-tuning moved the answers


def test_answers_match_a_slow_loop_on_short_records(dirs, lines):
    target = load_hf_lm(dirs["tuned"], batch_size=5)
    seqs = target.encode(lines[200:230])
    assert max(map(len, seqs)) < CONTEXT
    _close_to_slow(target.answers_ids(seqs), _slow(target.module, seqs, target.bos_id), LOOP)


def test_long_record_is_scored_in_windows_like_the_slow_loop(dirs, lines):
    target = load_hf_lm(dirs["tuned"])
    long_text = "\n".join(lines[230:260])
    seqs = target.encode([long_text, lines[300]])
    assert len(seqs[0]) > 2 * CONTEXT + 1  # three windows or more
    answers = target.answers([long_text, lines[300]])
    _close_to_slow(answers, _slow(target.module, seqs, target.bos_id), LOOP)
    cut = load_hf_lm(dirs["tuned"], long_records="truncate").answers([long_text])
    assert cut.lengths.tolist() == [CONTEXT]
    np.testing.assert_allclose(cut.logp[0], answers.logp[0, :CONTEXT], atol=LOOP, rtol=0)


def _lora(dirs, name: str = "adapter") -> tuple[Path, torch.nn.Module]:
    from peft import LoraConfig, get_peft_model

    base = load_hf_lm(dirs["base"]).module
    config = LoraConfig(
        r=4, lora_alpha=8, target_modules=["c_attn"], fan_in_fan_out=True, init_lora_weights=False
    )
    with warnings.catch_warnings():  # transformers 5.24's deprecation, raised in peft's code
        warnings.filterwarnings("ignore", ".*is_gradient_checkpointing", FutureWarning)
        torch.manual_seed(2)
        model = get_peft_model(base, config).eval()
    out = dirs["root"] / name
    model.save_pretrained(out)
    return out, model


def test_lora_adapter_loads_with_the_adapted_answers(dirs, lines):
    path, adapted = _lora(dirs)
    assert json.loads((path / "adapter_config.json").read_text())["base_model_name_or_path"] == str(
        dirs["base"]
    )
    target = load_hf_lm(path)  # the tokenizer comes from the base directory
    seqs = target.encode(lines[:20])
    # merged weights: W + BA rounded once in float32, hence the loop tolerance
    _close_to_slow(target.answers_ids(seqs), _slow(adapted, seqs, target.bos_id), LOOP)
    base = load_hf_lm(dirs["base"]).answers_ids(seqs)
    assert np.abs(base.logp - target.answers_ids(seqs).logp).max() > 1e-2


def _copy(dirs, name: str, drop: tuple[str, ...] = ()) -> Path:
    out = dirs["root"] / name
    if not out.exists():
        shutil.copytree(dirs["base"], out)
        for pattern in drop:
            for p in out.glob(pattern):
                p.unlink()
    return out


def _one_line(info) -> str:
    text = str(info.value)
    assert "\n" not in text
    return text


def test_bad_directories_are_refused_in_one_line(dirs):
    cases = {
        "does not exist": dirs["root"] / "missing",
        "has no config.json": _copy(dirs, "no_config", ("config.json",)),
        "holds no model weights": _copy(dirs, "no_weights", ("*.safetensors",)),
        "has no tokenizer files": _copy(dirs, "no_tokenizer", ("tokenizer*",)),
    }
    for expected, path in cases.items():
        with pytest.raises(DataError) as info:
            load_hf_lm(path)
        assert expected in _one_line(info), (expected, str(info.value))


def test_pickled_weights_need_allow_pickle(dirs, lines):
    from safetensors.torch import load_file

    path = _copy(dirs, "pickled")
    if (path / "model.safetensors").exists():
        torch.save(load_file(path / "model.safetensors"), path / "pytorch_model.bin")
        (path / "model.safetensors").unlink()
    with pytest.raises(ConfigError) as info:
        load_hf_lm(path)
    text = _one_line(info)
    assert "pickled weights (*.bin)" in text and "allow_pickle" in text
    a = load_hf_lm(path, allow_pickle=True).answers(lines[:5])
    b = load_hf_lm(dirs["base"]).answers(lines[:5])
    np.testing.assert_allclose(a.logp, b.logp, atol=SAME, rtol=0)


def test_pickled_adapter_weights_need_allow_pickle(dirs, lines):
    from safetensors.torch import load_file

    path, adapted = _lora(dirs, "pickled_adapter")
    torch.save(load_file(path / "adapter_model.safetensors"), path / "adapter_model.bin")
    (path / "adapter_model.safetensors").unlink()
    with pytest.raises(ConfigError) as info:
        load_hf_lm(path)
    text = _one_line(info)
    assert "pickled weights (adapter_model.bin)" in text and "allow_pickle" in text
    target = load_hf_lm(path, allow_pickle=True)
    seqs = target.encode(lines[:5])
    _close_to_slow(target.answers_ids(seqs), _slow(adapted, seqs, target.bos_id), LOOP)


def test_adapter_over_a_hub_id_is_refused(dirs):
    path, _ = _lora(dirs, "hub_adapter")
    config = json.loads((path / "adapter_config.json").read_text())
    config["base_model_name_or_path"] = "openai-community/gpt2"
    (path / "adapter_config.json").write_text(json.dumps(config))
    with pytest.raises(DataError) as info:
        load_hf_lm(path)
    assert "'openai-community/gpt2' is not a local directory" in _one_line(info)


def test_tokenizer_must_fit_the_model_and_have_a_bos(dirs, lines):
    from transformers import GPT2Config, GPT2LMHeadModel

    tok = load_hf_lm(dirs["base"]).tokenizer
    small = GPT2LMHeadModel(GPT2Config(n_layer=1, n_embd=8, n_head=1, vocab_size=100))
    with pytest.raises(DataError) as info:
        HFCausalLM(small, tok)
    assert _one_line(info) == (
        f"tokenizer has {len(tok)} tokens, the model's embeddings 100: not the tokenizer "
        "this model was trained with"
    )
    with pytest.raises(DataError) as info:
        HFCausalLM(load_hf_lm(dirs["base"]).module, _fast_tokenizer(lines))
    assert "no bos or eos token" in _one_line(info)


def test_recipe_training_is_deterministic_and_leaves_the_base(dirs, lines):
    recipe = HFLMRecipe(str(dirs["base"]), epochs=1, batch_size=16, lr=3e-3)
    base = recipe.load_base()
    x = pack(base.encode(lines[100:200]))
    query = pack(base.encode(lines[300:330]))
    one, two = recipe.train(x, None, seed=5), recipe.train(x, None, seed=5)
    other = recipe.train(x, None, seed=6)
    a = one.outputs(query)
    np.testing.assert_array_equal(a.logp, two.outputs(query).logp)
    assert np.abs(a.logp - other.outputs(query).logp).max() > 1e-4
    assert np.abs(a.logp - base.outputs(query).logp).max() > 1e-2
    assert recipe.train_loss(one, x, None) < recipe.train_loss(base, x, None)
    # the engine's cache path: weights out, rebuilt from the base directory
    rebuilt = recipe.rebuild(recipe.weights(one), query.shape[1:])
    np.testing.assert_allclose(rebuilt.outputs(query).logp, a.logp, atol=SAME, rtol=0)
    assert recipe.weights(object()) is None and recipe.with_classes(3) is recipe
    assert recipe.fingerprint() == HFLMRecipe(str(dirs["base"]), 1, 16, 3e-3).fingerprint()
    assert recipe.fingerprint() != HFLMRecipe(str(dirs["base"]), 2, 16, 3e-3).fingerprint()


def test_fingerprint_follows_weights_and_tokenizer_files(dirs):
    path = _copy(dirs, "fingerprinted")
    before = HFLMRecipe(str(path)).fingerprint()
    assert "model.safetensors" in before and "tokenizer.json" in before
    tokenizer = path / "tokenizer_config.json"
    tokenizer.write_text(tokenizer.read_text() + "\n")
    after_tok = HFLMRecipe(str(path)).fingerprint()
    weights = path / "model.safetensors"
    weights.write_bytes(weights.read_bytes() + b" ")
    assert len({before, after_tok, HFLMRecipe(str(path)).fingerprint()}) == 3
    adapter, _ = _lora(dirs, "fingerprint_adapter")
    assert "base/model.safetensors" in HFLMRecipe(str(adapter)).fingerprint()


def test_a_saved_hf_model_is_audited_from_a_config(dirs, lines, tmp_path, capsys):
    """The fine-tuned directory as the target (members: the 200 lines it was tuned on),
    reference LMs fine-tuned from the base directory with the same recipe (issue 12)."""
    import yaml

    from miaudit.cli import main
    from miaudit.results import load_result

    corpus = tmp_path / "lines.txt"
    corpus.write_text("\n".join(lines) + "\n", encoding="utf-8")
    config = {
        "text": {"path": str(corpus), "unit": "line"},
        "split": {"members": list(range(200)), "nonmembers": list(range(200, 300))},
        "target": {
            "hf": str(dirs["tuned"]),
            "base": str(dirs["base"]),
            "fine_tune": {"epochs": 2, "batch_size": 16, "lr": 3e-3},
        },
        "attacks": ["lm_loss", "min_k", "zlib_ratio", "reference_ratio"],
        "evaluation": {"bootstrap": 0},
    }
    path = tmp_path / "hf.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    out = tmp_path / "out"
    assert main(["audit", str(path), "--output", str(out), "--no-progress"]) == 0
    result = load_result(out)
    assert result.target.model == "GPT2LMHeadModel" and result.target.n_members == 200
    assert all(a.error is None for a in result.attacks)
    assert result.target.language_model["reference_models"] == {"population": 1}
    assert result.target.source["format"] == "huggingface"
    assert "model.safetensors" in result.target.source["sha256"]
    capsys.readouterr()
