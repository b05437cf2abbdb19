"""Hugging Face causal language models (GPT-2, Radford et al. 2019, and the like) read from
a local ``save_pretrained`` directory, or a LoRA adapter (Hu et al. 2022) over one, as
audit targets; and :class:`HFLMRecipe`, their reference models: fine-tuned from the same
base directory (Carlini et al. 2021; Mireshghallah et al. 2022).

Loading follows issue 11's policy for Hugging Face directories: local files only (nothing
is downloaded), no model code of the directory's own, safetensors weights (pickled
``*.bin`` weights only with ``allow_pickle=True``), float32 on the CPU, eval mode. A LoRA
adapter is merged into its base's weights (``merge_and_unload``): the target is then a
plain ``transformers`` model of the base's architecture (answers equal the unmerged
adapter's up to float32 rounding), so its weights are the base's state dict.

Scoring and windows are :func:`miaudit.text.lm.token_answers`'s: the tokenizer's BOS
(else its EOS, as GPT-2's ``<|endoftext|>`` is both) precedes every record, and windows are
``context`` = the model's positions long, BOS included.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from miaudit.errors import ConfigError, DataError, one_line
from miaudit.models._trainer import seeded
from miaudit.targets.files._detect import huggingface_weights, pickle_refusal
from miaudit.text.answers import TokenAnswers
from miaudit.text.lm import (
    EngineRecipe,
    LMQueries,
    check_long_records,
    token_answers,
    train_lm,
    unpack,
)
from miaudit.text.models import LMSpec
from miaudit.validation import check_int

ADAPTER_CONFIG = "adapter_config.json"
#: files a tokenizer is read from (one of them must be there)
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.json", "tokenizer.model")
#: files whose bytes make a model directory what it is (the reference cache key hashes them)
_KEY_FILES = (
    "config.json",
    ADAPTER_CONFIG,
    "special_tokens_map.json",
    "added_tokens.json",
    "merges.txt",
    "vocab.txt",
    "spiece.model",
    *TOKENIZER_FILES,
)
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".index.json")


class _Logits(nn.Module):
    """ids (B, T) -> next-token logits (B, T, V): the form ``token_answers`` and
    ``train_lm`` drive (no attention mask: right padding cannot reach earlier tokens)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.model(input_ids=ids, use_cache=False).logits


class HFCausalLM(LMQueries):
    """A ``transformers`` causal LM and its tokenizer as an audit target (see
    :class:`miaudit.text.lm.TorchLM` for the methods).

    Args:
        model: e.g. a ``GPT2LMHeadModel``; its context is ``config.n_positions`` (or
            ``max_position_embeddings``).
        tokenizer: the one it was trained with (a BOS or EOS token; at most as many tokens
            as the model's embedding rows).
        long_records: "window" or "truncate" (:mod:`miaudit.text.lm`).
        batch_size: windows per forward pass.
    """

    kind = "causal_lm"

    def __init__(
        self,
        model: nn.Module,
        tokenizer: Any,
        *,
        long_records: str = "window",
        batch_size: int = 8,
    ) -> None:
        config = model.config
        context = getattr(config, "n_positions", None) or getattr(
            config, "max_position_embeddings", None
        )
        if not context:
            raise DataError(f"{type(model).__name__}'s config gives no n_positions")
        bos = tokenizer.bos_token_id
        bos = tokenizer.eos_token_id if bos is None else bos
        if bos is None:
            raise DataError(
                "the tokenizer has no bos or eos token to put before each record; "
                "give it one (bos_token=...)"
            )
        rows = int(model.get_input_embeddings().num_embeddings)
        if len(tokenizer) > rows:
            raise DataError(
                f"tokenizer has {len(tokenizer)} tokens, the model's embeddings {rows}: not "
                "the tokenizer this model was trained with"
            )
        self.module = model.eval()
        self.tokenizer = tokenizer
        self.context = int(context)
        self.bos_id = int(bos)
        self.long_records = check_long_records(long_records)
        self.batch_size = check_int(batch_size, "batch_size", low=1, error=DataError)
        self._logits = _Logits(model).eval()

    def encode(self, texts: Sequence[str]) -> list[np.ndarray]:
        # verbose=False: records longer than the context are expected (windows), no warning
        ids = self.tokenizer(list(texts), add_special_tokens=False, verbose=False)["input_ids"]
        return [np.asarray(s, dtype=np.int64) for s in ids]

    def answers_ids(self, seqs: Sequence[np.ndarray]) -> TokenAnswers:
        return token_answers(
            self._logits,
            seqs,
            context=self.context,
            bos_id=self.bos_id,
            long_records=self.long_records,
            batch_size=self.batch_size,
        )

    def __repr__(self) -> str:
        return f"<HFCausalLM {type(self.module).__name__}, {len(self.tokenizer)} tokens>"


# -- loading a directory -----------------------------------------------------------------


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """No "Loading weights" bars, and no transformers deprecation warning raised from
    peft's own calls (``is_gradient_checkpointing``, transformers 5.24 / peft 0.21)."""
    import transformers

    log = transformers.utils.logging
    bars = log.is_progress_bar_enabled()
    log.disable_progress_bar()
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", ".*is_gradient_checkpointing", FutureWarning)
            yield
    finally:
        if bars:
            log.enable_progress_bar()


def _model_dir(path: Path, allow_pickle: bool) -> str:
    """Check the model directory ``path``; returns its weights' kind (issue 11's checks)."""
    if not path.is_dir():
        raise DataError(f"Hugging Face model directory {path} does not exist")
    if not (path / "config.json").is_file():
        raise DataError(
            f"{path} has no config.json: not a Hugging Face model directory (save_pretrained)"
        )
    return huggingface_weights(path, allow_pickle)


def _adapter_base(path: Path, allow_pickle: bool) -> Path:
    """The local base directory of the LoRA adapter in ``path`` (its weights checked)."""
    try:
        config = json.loads((path / ADAPTER_CONFIG).read_text(encoding="utf-8"))
        base = str(config["base_model_name_or_path"] or "")
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as e:
        raise DataError(f"{path / ADAPTER_CONFIG} is not a readable adapter config: {e}") from None
    names = {p.name for p in path.iterdir()}
    if "adapter_model.safetensors" not in names:
        if "adapter_model.bin" not in names:
            raise DataError(f"{path.name} holds no adapter weights (adapter_model.safetensors)")
        if not allow_pickle:
            raise ConfigError(
                pickle_refusal(path, "a LoRA adapter with pickled weights (adapter_model.bin)")
                + "; model.save_pretrained(dir) writes safetensors"
            )
    found = Path(base).expanduser()
    if not found.is_absolute() and (path / found).is_dir():
        found = path / found
    if not base or not found.is_dir():
        raise DataError(
            f"{path.name}'s base model {base!r} is not a local directory (a model hub id?); "
            "miaudit downloads nothing: save the base with save_pretrained and set "
            "base_model_name_or_path in adapter_config.json to its directory"
        )
    return found


def _tokenizer_dir(*dirs: Path) -> Path:
    for d in dirs:
        if any((d / name).is_file() for name in TOKENIZER_FILES):
            return d
    raise DataError(
        f"{dirs[0]} has no tokenizer files ({', '.join(TOKENIZER_FILES)}); save the "
        "tokenizer with tokenizer.save_pretrained(dir)"
    )


def _load_causal(path: Path, weights: str) -> nn.Module:
    from transformers import AutoModelForCausalLM

    try:
        model = AutoModelForCausalLM.from_pretrained(
            str(path),
            local_files_only=True,
            trust_remote_code=False,
            use_safetensors=True if weights == "safetensors" else None,
            dtype=torch.float32,
        )
    except Exception as e:  # noqa: BLE001 -- transformers raises many types
        raise DataError(
            f"transformers cannot load {path.name} as a causal LM: {one_line(e)}"
        ) from None
    return model


def load_hf_lm(
    path: str | Path,
    *,
    long_records: str = "window",
    allow_pickle: bool = False,
    batch_size: int = 8,
) -> HFCausalLM:
    """The causal LM saved in the directory ``path`` (``save_pretrained`` of the model and
    its tokenizer), or a LoRA adapter there (``adapter_config.json``) merged into its local
    base model; float32, CPU, eval mode.

    Raises:
        DataError: a missing directory, config.json, weights or tokenizer files; an
            adapter whose base is not a local directory; a model transformers cannot load.
        ConfigError: pickled ``*.bin`` weights without ``allow_pickle``, or model code of
            the directory's own (issue 11's refusals, same messages).
    """
    from transformers import AutoTokenizer

    path = Path(path).expanduser()
    if not path.is_dir():
        raise DataError(f"Hugging Face model directory {path} does not exist")
    check_long_records(long_records)
    adapter = (path / ADAPTER_CONFIG).is_file()
    base = _adapter_base(path, allow_pickle) if adapter else path
    weights = _model_dir(base, allow_pickle)
    tok_dir = _tokenizer_dir(path, base) if adapter else _tokenizer_dir(path)
    with _quiet():
        model = _load_causal(base, weights)
        if adapter:
            from peft import PeftModel

            try:
                model = PeftModel.from_pretrained(model, str(path), is_trainable=False)
                model = model.merge_and_unload()
            except Exception as e:  # noqa: BLE001 -- peft raises many types
                raise DataError(
                    f"peft cannot apply the adapter {path.name}: {one_line(e)}"
                ) from None
        try:
            tokenizer = AutoTokenizer.from_pretrained(
                str(tok_dir), local_files_only=True, trust_remote_code=False
            )
        except Exception as e:  # noqa: BLE001
            raise DataError(
                f"transformers cannot read {tok_dir.name}'s tokenizer: {one_line(e)}"
            ) from None
    model = model.to("cpu", torch.float32).eval()
    return HFCausalLM(model, tokenizer, long_records=long_records, batch_size=batch_size)


# -- reference models --------------------------------------------------------------------


@functools.lru_cache(maxsize=64)
def _file_sha256(path: str, size: int, mtime_ns: int) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def directory_digest(path: Path) -> dict[str, str]:
    """sha256 of each file that makes the model directory ``path`` (its weights, config
    and tokenizer files; an adapter's base directory under ``base/``)."""
    out = {}
    for p in sorted(path.iterdir()):
        if p.is_file() and (p.name in _KEY_FILES or p.name.endswith(_WEIGHT_SUFFIXES)):
            st = p.stat()
            out[p.name] = _file_sha256(str(p), st.st_size, st.st_mtime_ns)
    if ADAPTER_CONFIG in out:
        base = _adapter_base(path, allow_pickle=True)
        out.update({f"base/{k}": v for k, v in directory_digest(base).items()})
    return out


@dataclass(frozen=True)
class HFLMRecipe(EngineRecipe):
    """Reference models for a Hugging Face target: the model in ``base`` fine-tuned on the
    reference's records (AdamW, :func:`miaudit.text.lm.train_lm`; windows of the model's
    context), with the methods the reference engine asks of a recipe (as
    :class:`miaudit.text.lm.LMRecipe`). Deterministic given the seed (shuffling, dropout).

    For a LoRA target give its base directory: references are fully fine-tuned from it.
    """

    base: str
    epochs: int = 1
    batch_size: int = 8
    lr: float = 5e-5
    weight_decay: float = 0.0
    long_records: str = "window"
    allow_pickle: bool = False
    num_classes: int = 1
    defense: None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "base", str(Path(self.base).expanduser()))
        check_long_records(self.long_records)
        self.spec(1)  # validates the training parameters

    def spec(self, context: int) -> LMSpec:
        return LMSpec(
            context=context,
            epochs=self.epochs,
            batch_size=self.batch_size,
            lr=self.lr,
            weight_decay=self.weight_decay,
        )

    def load_base(self) -> HFCausalLM:
        return load_hf_lm(self.base, long_records=self.long_records, allow_pickle=self.allow_pickle)

    def train(
        self, x: np.ndarray, y: np.ndarray | None, seed: int, defender: Any = None
    ) -> HFCausalLM:
        """Fine-tune the base on packed token ids ``x`` (``y`` unused)."""
        with seeded(int(seed)):
            target = self.load_base()
            train_lm(
                target._logits,
                unpack(x),
                self.spec(target.context),
                seed=int(seed),
                bos_id=target.bos_id,
                long_records=self.long_records,
            )
        target.module.eval()
        return target

    def train_loss(self, target: HFCausalLM, x: np.ndarray, y: np.ndarray | None) -> float:
        """Mean token loss of ``target`` on its training records."""
        a = target.outputs(x)
        return float(-a.logp.sum() / a.mask.sum())

    def rebuild(
        self, weights: Mapping[str, torch.Tensor], record_shape: tuple[int, ...]
    ) -> HFCausalLM:
        target = self.load_base()
        target.module.load_state_dict(dict(weights))
        return target

    def weights(self, target: Any) -> dict[str, torch.Tensor] | None:
        if not isinstance(target, HFCausalLM):
            return None
        return {k: v.detach().clone() for k, v in target.module.state_dict().items()}

    def fingerprint(self) -> str:
        return "hf-lm-v1|" + json.dumps(
            {"base": directory_digest(Path(self.base)), **self.full_params()}, sort_keys=True
        )

    def full_params(self) -> dict[str, Any]:
        return {
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "lr": self.lr,
            "weight_decay": self.weight_decay,
            "long_records": self.long_records,
        }
