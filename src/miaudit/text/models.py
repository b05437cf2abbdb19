"""miaudit's causal language models: a GPT-style decoder (``transformer_lm``) and an LSTM
(``lstm_lm``), with the hyper-parameters a config gives them (:class:`LMSpec`)."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

import torch
from torch import nn

from miaudit.errors import ConfigError
from miaudit.validation import check_int, check_number

LM_MODELS = ("transformer_lm", "lstm_lm")
_LIMITS = {
    "layers": 256,
    "d_model": 16_384,
    "heads": 1_024,
    "context": 65_536,
    "epochs": 100_000,
    "batch_size": 65_536,
}


@dataclass(frozen=True)
class LMSpec:
    """A language-model recipe: architecture and training (one object, validated once).

    Attributes:
        model: "transformer_lm" (pre-LayerNorm decoder, learned positions, tied embeddings;
            Radford et al. 2019) or "lstm_lm".
        layers, d_model, heads: depth, width, attention heads (transformer; d_model % heads == 0).
        context: tokens per window; records longer than this are trained and scored in
            consecutive windows (see :mod:`miaudit.text.lm`).
        dropout: dropout probability (0 keeps the most memorisation).
        epochs, batch_size, lr, weight_decay: AdamW training (Loshchilov & Hutter 2019),
            gradients clipped to norm 1.
    """

    model: str = "transformer_lm"
    layers: int = 2
    d_model: int = 128
    heads: int = 4
    context: int = 128
    dropout: float = 0.0
    epochs: int = 20
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 0.0

    def __post_init__(self) -> None:
        if self.model not in LM_MODELS:
            close = difflib.get_close_matches(str(self.model), LM_MODELS, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ConfigError(
                f"unknown language model {self.model!r} (choose {', '.join(LM_MODELS)}){hint}"
            )
        # bounds far above what trains on a CPU, low enough that a typo cannot ask for
        # terabytes of weights (d_model 10^6 would be 10^12 parameters per layer)
        for name, high in _LIMITS.items():
            check_int(getattr(self, name), f"target {name}", low=1, high=high)
        check_number(self.dropout, "target dropout", low=0, high=1, closed="left")
        check_number(self.lr, "target lr", low=0, high=10, closed="right")
        check_number(self.weight_decay, "target weight_decay", low=0, high=10)
        if self.model == "transformer_lm" and self.d_model % self.heads:
            raise ConfigError(
                f"target d_model ({self.d_model}) must be a multiple of heads ({self.heads})"
            )

    @classmethod
    def from_mapping(cls, params: Mapping[str, Any]) -> LMSpec:
        """From a config's ``target:`` section (unknown keys refused with the valid ones)."""
        known = {f.name for f in fields(cls)}
        for key in params:
            if key not in known:
                close = difflib.get_close_matches(str(key), sorted(known), n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                raise ConfigError(
                    f"unknown language-model parameter {key!r} (valid: "
                    f"{', '.join(sorted(known))}){hint}"
                )
        return cls(**dict(params))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class TransformerLM(nn.Module):
    """GPT-style causal decoder: token + learned position embeddings, ``layers`` pre-LN
    blocks of causal self-attention and a 4x MLP, a final LayerNorm, tied output weights."""

    def __init__(self, vocab_size: int, spec: LMSpec) -> None:
        super().__init__()
        self.context = spec.context
        self.tokens = nn.Embedding(vocab_size, spec.d_model)
        self.positions = nn.Embedding(spec.context, spec.d_model)
        block = nn.TransformerEncoderLayer(
            spec.d_model,
            spec.heads,
            dim_feedforward=4 * spec.d_model,
            dropout=spec.dropout,
            activation="gelu",
            batch_first=True,
            norm_first=True,
        )
        self.blocks = nn.TransformerEncoder(block, spec.layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(spec.d_model)
        self.head = nn.Linear(spec.d_model, vocab_size, bias=False)
        self.head.weight = self.tokens.weight
        # GPT-2's initialisation of the embeddings (std 0.02): tied output logits start small
        nn.init.normal_(self.tokens.weight, std=0.02)
        nn.init.normal_(self.positions.weight, std=0.02)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        t = ids.shape[1]
        pos = torch.arange(t, device=ids.device)
        h = self.tokens(ids) + self.positions(pos)[None]
        mask = nn.Transformer.generate_square_subsequent_mask(t, device=ids.device)
        h = self.blocks(h, mask=mask, is_causal=True)
        return self.head(self.norm(h))


class LSTMLM(nn.Module):
    """Embedding, ``layers`` LSTM layers of width ``d_model``, a linear head."""

    def __init__(self, vocab_size: int, spec: LMSpec) -> None:
        super().__init__()
        self.context = spec.context
        self.tokens = nn.Embedding(vocab_size, spec.d_model)
        self.lstm = nn.LSTM(
            spec.d_model,
            spec.d_model,
            num_layers=spec.layers,
            batch_first=True,
            dropout=spec.dropout if spec.layers > 1 else 0.0,
        )
        self.head = nn.Linear(spec.d_model, vocab_size)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        h, _ = self.lstm(self.tokens(ids))
        return self.head(h)


def build_lm(vocab_size: int, spec: LMSpec) -> nn.Module:
    """A fresh (untrained) module of ``spec`` over ``vocab_size`` tokens."""
    return (
        TransformerLM(vocab_size, spec)
        if spec.model == "transformer_lm"
        else LSTMLM(vocab_size, spec)
    )
