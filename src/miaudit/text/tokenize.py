"""Tokenizers of miaudit's language-model recipes: characters, or byte-level BPE (the
``tokenizers`` package, as GPT-2 uses).

A tokenizer is fitted once per audit on every record of the corpus (members, non-members
and the attacker's population alike), so the target and every reference model share one
vocabulary and the vocabulary itself says nothing about which records were members.
Both kinds put a beginning-of-sequence token (id 0) before each record, so the record's
first token is predicted too.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Literal, Protocol

import numpy as np

from miaudit.errors import ConfigError, DataError

BOS = "<bos>"
UNK = "<unk>"
TokenizerKind = Literal["char", "bpe"]


class Tokenizer(Protocol):
    """Text to token ids and back; ``bos_id`` precedes every record."""

    kind: str
    vocab_size: int
    bos_id: int

    def encode(self, text: str) -> np.ndarray: ...

    def decode(self, ids: Sequence[int]) -> str: ...

    def to_json(self) -> str: ...


def fingerprint(tokenizer: Tokenizer) -> str:
    """sha256 of the tokenizer's serialised form (enters the reference-model cache key)."""
    return hashlib.sha256(tokenizer.to_json().encode("utf-8")).hexdigest()


class CharTokenizer:
    """One token per character; characters not seen when fitting map to ``<unk>`` (id 1)."""

    kind = "char"
    bos_id = 0
    unk_id = 1

    def __init__(self, chars: Sequence[str]) -> None:
        self.chars = tuple(chars)
        self._index = {c: i + 2 for i, c in enumerate(self.chars)}
        self.vocab_size = len(self.chars) + 2

    @classmethod
    def fit(cls, texts: Sequence[str]) -> CharTokenizer:
        return cls(sorted(set().union(*map(set, texts))))

    def encode(self, text: str) -> np.ndarray:
        get = self._index.get
        return np.fromiter((get(c, 1) for c in text), dtype=np.int64, count=len(text))

    def decode(self, ids: Sequence[int]) -> str:
        out = []
        for i in ids:
            i = int(i)
            if i >= 2:
                out.append(self.chars[i - 2])
            elif i == self.unk_id:
                out.append("\ufffd")
        return "".join(out)

    def to_json(self) -> str:
        return json.dumps({"kind": "char", "chars": "".join(self.chars)}, ensure_ascii=False)


class BPETokenizer:
    """Byte-level BPE (Radford et al. 2019, GPT-2), trained with the ``tokenizers`` package
    on the corpus to ``vocab_size`` tokens (``<bos>`` included); no unknown tokens."""

    kind = "bpe"
    bos_id = 0

    def __init__(self, serialised: str) -> None:
        from tokenizers import Tokenizer as HFTokenizer

        self._tok = HFTokenizer.from_str(serialised)
        self._serialised = serialised
        self.vocab_size = int(self._tok.get_vocab_size())
        if self._tok.token_to_id(BOS) != 0:
            raise DataError("a BPE tokenizer for miaudit needs <bos> as token 0")

    @classmethod
    def fit(cls, texts: Sequence[str], vocab_size: int) -> BPETokenizer:
        from tokenizers import Tokenizer as HFTokenizer
        from tokenizers import decoders, models, pre_tokenizers, trainers

        tok = HFTokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(
            vocab_size=vocab_size,
            special_tokens=[BOS],
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            show_progress=False,
        )
        tok.train_from_iterator(list(texts), trainer=trainer)
        return cls(tok.to_str())

    def encode(self, text: str) -> np.ndarray:
        return np.asarray(self._tok.encode(text, add_special_tokens=False).ids, dtype=np.int64)

    def decode(self, ids: Sequence[int]) -> str:
        return str(self._tok.decode([int(i) for i in ids], skip_special_tokens=True))

    def to_json(self) -> str:
        return self._serialised


def build_tokenizer(kind: str, texts: Sequence[str], *, vocab_size: int = 512) -> Tokenizer:
    """A tokenizer of ``kind`` ("char" or "bpe") fitted on ``texts``."""
    if kind == "char":
        return CharTokenizer.fit(texts)
    if kind == "bpe":
        if not isinstance(vocab_size, int) or isinstance(vocab_size, bool) or vocab_size < 258:
            raise ConfigError(
                f"tokenizer vocab_size must be an integer >= 258 for byte-level BPE "
                f"(256 bytes + <bos> + one merge), got {vocab_size!r}"
            )
        return BPETokenizer.fit(texts, vocab_size)
    raise ConfigError(f"unknown tokenizer {kind!r}; choose 'char' or 'bpe'")


def tokenizer_from_json(serialised: str) -> Tokenizer:
    """The tokenizer :meth:`to_json` wrote (the BPE kind is the ``tokenizers`` JSON)."""
    data = json.loads(serialised)
    if isinstance(data, dict) and data.get("kind") == "char":
        return CharTokenizer(list(data["chars"]))
    return BPETokenizer(serialised)
