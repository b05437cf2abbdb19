"""A Hugging Face tiny GPT-2 fine-tuned on WikiText-2 records, audited from its saved
directory with the language-model attacks (issue 12).

Nothing is downloaded: the base model is a tiny GPT-2 configuration (2 layers, 128 wide,
128 positions) with a byte-level BPE trained here on the corpus, pre-trained from random
weights on one part of WikiText-2 (standing in for a pre-trained checkpoint) and saved with
``save_pretrained``; the target is that base fine-tuned on the member records and saved
again. ``miaudit audit`` then reads the target's directory, lists its members and
non-members in the config's split, and fine-tunes its reference LMs from the base
directory with the target's fine-tuning recipe.

Run:  MIAUDIT_DATA=../shared/datasets .venv/bin/python benchmarks/lm_hf_wikitext.py --work /tmp/hfw
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
import yaml

from miaudit.text import HFLMRecipe, load_corpus, pack
from miaudit.text.tokenize import BOS, BPETokenizer

CHUNK = 256
PRETRAIN, MEMBERS, NONMEMBERS, POPULATION = 3000, 500, 500, 1000
FINE_TUNE = {"epochs": 8, "batch_size": 16, "lr": 1e-3}


def build(work: Path, seed: int = 0) -> Path:
    """Save base/ and target/ under ``work``; write and return the audit config."""
    from tokenizers import Tokenizer
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    records = load_corpus("wikitext2", unit="chunk", chunk_chars=CHUNK)
    texts = list(records.texts)
    order = np.random.default_rng(seed).permutation(len(texts))
    pre = order[:PRETRAIN]
    members = order[PRETRAIN : PRETRAIN + MEMBERS]
    nonmembers = order[PRETRAIN + MEMBERS : PRETRAIN + MEMBERS + NONMEMBERS]
    rest = order[PRETRAIN + MEMBERS + NONMEMBERS :]
    # the tokenizer sees only the pre-training text, as a public checkpoint's would
    bpe = BPETokenizer.fit([texts[i] for i in pre], 1024)
    tok = PreTrainedTokenizerFast(
        tokenizer_object=Tokenizer.from_str(bpe.to_json()), bos_token=BOS, eos_token=BOS
    )
    config = GPT2Config(
        n_layer=2,
        n_embd=128,
        n_head=4,
        n_positions=128,
        vocab_size=len(tok),
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
    )
    torch.set_num_threads(1)  # as the audit trains its reference LMs (reference.threads)
    torch.manual_seed(seed)
    for name in ("init", "base", "target"):
        (work / name).mkdir(parents=True, exist_ok=True)
    GPT2LMHeadModel(config).save_pretrained(work / "init")
    tok.save_pretrained(work / "init")
    start = time.perf_counter()
    pretrain = HFLMRecipe(str(work / "init"), epochs=3, batch_size=16, lr=1e-3)
    base = pretrain.train(pack(pretrain.load_base().encode([texts[i] for i in pre])), None, seed)
    base.module.save_pretrained(work / "base")
    tok.save_pretrained(work / "base")
    print(f"pre-trained the base in {time.perf_counter() - start:.0f} s", flush=True)
    start = time.perf_counter()
    tune = HFLMRecipe(str(work / "base"), **FINE_TUNE)
    target = tune.train(pack(tune.load_base().encode([texts[i] for i in members])), None, seed + 1)
    target.module.save_pretrained(work / "target")
    tok.save_pretrained(work / "target")
    print(f"fine-tuned the target in {time.perf_counter() - start:.0f} s", flush=True)
    audit = {
        "title": "Tiny GPT-2 fine-tuned on WikiText-2, audited from its directory",
        "text": {"corpus": "wikitext2", "unit": "chunk", "chunk_chars": CHUNK},
        "split": {
            "members": sorted(map(int, members)),
            "nonmembers": sorted(map(int, nonmembers)),
            "population": min(POPULATION, rest.size),
        },
        "target": {"hf": str(work / "target"), "base": str(work / "base"), "fine_tune": FINE_TUNE},
        "attacks": "all",
        "reference": {"num_models": 4, "cache_dir": str(work / "cache")},
        "evaluation": {"bootstrap": 200},
        "seed": seed,
    }
    path = work / "audit.yaml"
    path.write_text(yaml.safe_dump(audit), encoding="utf-8")
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, required=True)
    args = parser.parse_args()
    config = build(args.work)
    cmd = [
        sys.executable,
        "-m",
        "miaudit.cli",
        "audit",
        str(config),
        "--output",
        str(args.work / "out"),
        "--no-progress",
        "--overwrite",
    ]
    return subprocess.call(["/usr/bin/time", "-v", *cmd])


if __name__ == "__main__":
    raise SystemExit(main())
