"""Train and query miaudit's causal language models: windows, the deterministic trainer,
the :class:`TorchLM` target and the :class:`LMRecipe` the reference engine trains.

Records longer than the context. A record of N tokens is predicted token by token after
``<bos>``. With ``long_records="window"`` (the default) it is cut into consecutive windows
of ``context`` predicted tokens, trained and scored alike: every token is scored once,
and a window after the first sees only its own window's text (plus the one token before
it) as history. ``"truncate"`` scores and trains the first ``context`` tokens only.
Either way the choice is the same for the target and every reference model.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from miaudit.errors import ConfigError, DataError
from miaudit.models._trainer import seeded
from miaudit.text.answers import TokenAnswers
from miaudit.text.models import LMSpec, build_lm
from miaudit.text.tokenize import Tokenizer, tokenizer_from_json

LongRecords = Literal["window", "truncate"]
LONG_RECORDS = ("window", "truncate")
#: padding of the token-id matrices handed to the reference engine
PAD = -1
#: windows per forward pass when scoring
SCORE_BATCH = 32


def check_long_records(value: object) -> str:
    if value not in LONG_RECORDS:
        raise ConfigError(f"long_records must be one of {', '.join(LONG_RECORDS)}, got {value!r}")
    return str(value)


@dataclass(frozen=True)
class _Window:
    record: int
    offset: int  # position of the window's first predicted token in the record
    inputs: np.ndarray
    targets: np.ndarray


def windows(
    seqs: Sequence[np.ndarray], context: int, bos_id: int, long_records: str = "window"
) -> list[_Window]:
    """The (inputs, targets) windows of every record (see the module docstring)."""
    out = []
    for r, s in enumerate(seqs):
        full = np.concatenate([[bos_id], np.asarray(s, dtype=np.int64)])
        n = full.size - 1
        if n < 1:
            raise DataError(f"record {r} has no tokens (an empty record?)")
        stop = min(n, context) if long_records == "truncate" else n
        for start in range(0, stop, context):
            end = min(start + context, stop)
            out.append(_Window(r, start, full[start:end], full[start + 1 : end + 1]))
    return out


def _batch(ws: Sequence[_Window], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    t = max(w.inputs.size for w in ws)
    inputs = np.full((len(ws), t), pad_id, dtype=np.int64)
    targets = np.full((len(ws), t), -100, dtype=np.int64)
    for i, w in enumerate(ws):
        inputs[i, : w.inputs.size] = w.inputs
        targets[i, : w.targets.size] = w.targets
    return torch.from_numpy(inputs), torch.from_numpy(targets)


def record_lengths(ws: Sequence[_Window], n: int) -> np.ndarray:
    """Scored tokens of each of ``n`` records, from its windows."""
    lengths = np.zeros(n, dtype=np.int64)
    for w in ws:
        lengths[w.record] = max(lengths[w.record], w.offset + w.targets.size)
    return lengths


def window_logits(
    module: nn.Module, ws: Sequence[_Window], *, bos_id: int, batch_size: int = SCORE_BATCH
) -> Iterator[tuple[_Window, torch.Tensor]]:
    """Each window with its next-token logits (its own tokens only, (k, V)), in batches of
    ``batch_size`` windows of similar length, the module in eval mode (its mode restored
    afterwards). Shared by :func:`token_answers` and :func:`miaudit.text.ranks.token_ranks`."""
    was_training = module.training
    module.eval()
    try:
        order = sorted(range(len(ws)), key=lambda i: ws[i].inputs.size)
        for b in range(0, len(order), batch_size):
            chunk = [ws[i] for i in order[b : b + batch_size]]
            inputs, _ = _batch(chunk, bos_id)
            logits = module(inputs)
            for i, w in enumerate(chunk):
                yield w, logits[i, : w.targets.size]
    finally:
        module.train(was_training)


@torch.no_grad()
def token_answers(
    module: nn.Module,
    seqs: Sequence[np.ndarray],
    *,
    context: int,
    bos_id: int,
    long_records: str = "window",
    batch_size: int = SCORE_BATCH,
) -> TokenAnswers:
    """Teacher-forced answers of ``module`` (ids (B, T) -> next-token logits (B, T, V)) on
    every token of every record: log p_i, and the mean and variance of log p over the
    next-token distribution (computed in float64 from the logits); ``batch_size`` windows
    per forward pass."""
    ws = windows(seqs, context, bos_id, long_records)
    lengths = record_lengths(ws, len(seqs))
    width = int(lengths.max()) if len(seqs) else 0
    logp = np.zeros((len(seqs), width))
    mu = np.zeros_like(logp)
    var = np.zeros_like(logp)
    mask = np.zeros(logp.shape, dtype=bool)
    top1 = np.zeros(logp.shape, dtype=bool)
    for w, z in window_logits(module, ws, bos_id=bos_id, batch_size=batch_size):
        lp = torch.log_softmax(z.double(), dim=-1)
        p = lp.exp()
        m = (p * lp).sum(-1)
        sl = slice(w.offset, w.offset + w.targets.size)
        tgt = torch.from_numpy(w.targets)
        logp[w.record, sl] = lp.gather(1, tgt[:, None])[:, 0].numpy()
        mu[w.record, sl] = m.numpy()
        var[w.record, sl] = ((p * lp * lp).sum(-1) - m * m).numpy()
        mask[w.record, sl] = True
        top1[w.record, sl] = (lp.argmax(-1) == tgt).numpy()
    return TokenAnswers(logp, mu, var, mask, top1)


def train_lm(
    module: nn.Module,
    seqs: Sequence[np.ndarray],
    spec: LMSpec,
    *,
    seed: int,
    bos_id: int,
    long_records: str = "window",
) -> float:
    """Train ``module`` in place with AdamW on the windows of ``seqs`` (seeded shuffling,
    dropout and initialisation); returns the last epoch's mean token loss."""
    ws = windows(seqs, spec.context, bos_id, long_records)
    opt = torch.optim.AdamW(module.parameters(), lr=spec.lr, weight_decay=spec.weight_decay)
    gen = torch.Generator().manual_seed(int(seed))
    loss_fn = nn.CrossEntropyLoss(ignore_index=-100, reduction="sum")
    module.train()
    last = math.nan
    for _ in range(spec.epochs):
        perm = torch.randperm(len(ws), generator=gen).tolist()
        total, count = 0.0, 0
        for b in range(0, len(perm), spec.batch_size):
            inputs, targets = _batch([ws[i] for i in perm[b : b + spec.batch_size]], bos_id)
            logits = module(inputs)
            n_tok = int((targets != -100).sum())
            loss = loss_fn(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))
            opt.zero_grad(set_to_none=True)
            (loss / n_tok).backward()
            torch.nn.utils.clip_grad_norm_(module.parameters(), 1.0)
            opt.step()
            total += float(loss.detach())
            count += n_tok
        last = total / max(count, 1)
        if not math.isfinite(last):
            raise DataError(f"language-model training diverged (loss {last}); lower lr")
    module.eval()
    return last


def pack(seqs: Sequence[np.ndarray], width: int | None = None) -> np.ndarray:
    """Token sequences as one int64 matrix padded with :data:`PAD` to ``width`` (default
    the longest; the reference engine's records, whose pool and query sets share a width)."""
    width = max((len(s) for s in seqs), default=0) if width is None else int(width)
    x = np.full((len(seqs), width), PAD, dtype=np.int64)
    for i, s in enumerate(seqs):
        x[i, : len(s)] = s
    return x


def unpack(x: np.ndarray) -> list[np.ndarray]:
    """The inverse of :func:`pack`."""
    x = np.asarray(x, dtype=np.int64)
    return [row[row != PAD] for row in x]


class LMQueries:
    """``answers(texts)`` and the engine's ``outputs(x)`` from a target's ``encode`` and
    ``answers_ids`` (:class:`TorchLM`, :class:`miaudit.text.HFCausalLM`)."""

    def encode(self, texts: Sequence[str]) -> list[np.ndarray]:
        raise NotImplementedError

    def answers_ids(self, seqs: Sequence[np.ndarray]) -> TokenAnswers:
        raise NotImplementedError

    def answers(self, texts: Sequence[str]) -> TokenAnswers:
        """Answers on every token of each text."""
        return self.answers_ids(self.encode(texts))

    def outputs(self, x: np.ndarray, y: np.ndarray | None = None) -> TokenAnswers:
        """Answers on packed token ids (:func:`pack`; the reference engine's query)."""
        return self.answers_ids(unpack(x))


class EngineRecipe:
    """The reference engine's questions a language model's recipe answers alike: no
    classes, no defense, no MLP batching, weights always rebuildable, picklable by
    construction (a frozen dataclass of plain values)."""

    def can_rebuild(self) -> bool:
        return True

    def with_classes(self, num_classes: int) -> Any:
        return self

    def mlp_params(self, input_dim: int) -> int | None:
        return None

    @property
    def needs_defender_data(self) -> bool:
        return False

    def defender_indices(self, *args: Any, **kwargs: Any) -> None:
        return None

    def check_picklable(self) -> None:
        return None


class TorchLM(LMQueries):
    """A torch causal LM as an audit target: texts -> :class:`TokenAnswers`.

    Args:
        module: ids (B, T) -> next-token logits (B, T, V).
        tokenizer: the tokenizer the module was trained with (``vocab_size`` must match V).
        context: the most tokens the module takes at once.
        long_records: "window" or "truncate" (module docstring).
    """

    kind = "causal_lm"

    def __init__(
        self,
        module: nn.Module,
        tokenizer: Tokenizer,
        *,
        context: int,
        long_records: str = "window",
    ) -> None:
        self.module = module.eval()
        self.tokenizer = tokenizer
        self.context = int(context)
        self.long_records = check_long_records(long_records)

    def encode(self, texts: Sequence[str]) -> list[np.ndarray]:
        return [self.tokenizer.encode(t) for t in texts]

    def answers_ids(self, seqs: Sequence[np.ndarray]) -> TokenAnswers:
        return token_answers(
            self.module,
            seqs,
            context=self.context,
            bos_id=self.tokenizer.bos_id,
            long_records=self.long_records,
        )

    def __repr__(self) -> str:
        return f"<TorchLM {type(self.module).__name__}, vocab {self.tokenizer.vocab_size}>"


@dataclass(frozen=True)
class LMRecipe(EngineRecipe):
    """How the reference engine trains one reference LM: ``train(x, y, seed)`` on packed
    token ids (``y`` is unused: a language model's records have no labels).

    Same recipe and tokenizer as the target, so references differ from it only in their
    training records and seed (Carlini et al. 2022; Mireshghallah et al. 2022).
    """

    spec: LMSpec
    tokenizer_json: str
    long_records: str = "window"
    num_classes: int = 1
    defense: None = None

    def tokenizer(self) -> Tokenizer:
        return tokenizer_from_json(self.tokenizer_json)

    def build(self) -> nn.Module:
        return build_lm(self.tokenizer().vocab_size, self.spec)

    def target(self, module: nn.Module) -> TorchLM:
        return TorchLM(
            module, self.tokenizer(), context=self.spec.context, long_records=self.long_records
        )

    def train(
        self, x: np.ndarray, y: np.ndarray | None, seed: int, defender: Any = None
    ) -> TorchLM:
        tok = self.tokenizer()
        with seeded(int(seed)):
            module = build_lm(tok.vocab_size, self.spec)
            train_lm(
                module,
                unpack(x),
                self.spec,
                seed=int(seed),
                bos_id=tok.bos_id,
                long_records=self.long_records,
            )
        return self.target(module)

    # -- what the reference engine asks of a recipe ------------------------------------

    def train_loss(self, target: TorchLM, x: np.ndarray, y: np.ndarray) -> float:
        """Mean token loss of ``target`` on its training records."""
        a = target.outputs(x)
        return float(-a.logp.sum() / a.mask.sum())

    def can_rebuild(self) -> bool:
        return True

    def rebuild(
        self, weights: Mapping[str, torch.Tensor], record_shape: tuple[int, ...]
    ) -> TorchLM:
        module = self.build()
        module.load_state_dict(dict(weights))
        return self.target(module)

    def weights(self, target: Any) -> dict[str, torch.Tensor] | None:
        return target.module.state_dict() if isinstance(target, TorchLM) else None

    def fingerprint(self) -> str:
        tok = hashlib.sha256(self.tokenizer_json.encode("utf-8")).hexdigest()
        return "lm-v1|" + json.dumps(
            {"spec": self.spec.to_dict(), "tokenizer": tok, "long_records": self.long_records},
            sort_keys=True,
        )

    def full_params(self) -> dict[str, Any]:
        return self.spec.to_dict()


def train_target_lm(
    texts: Sequence[str],
    tokenizer: Tokenizer,
    spec: LMSpec,
    *,
    seed: int,
    long_records: str = "window",
) -> tuple[TorchLM, float]:
    """Train the target LM on ``texts``; returns it and its last epoch's training loss."""
    with seeded(int(seed)):
        module = build_lm(tokenizer.vocab_size, spec)
        loss = train_lm(
            module,
            [tokenizer.encode(t) for t in texts],
            spec,
            seed=int(seed),
            bos_id=tokenizer.bos_id,
            long_records=long_records,
        )
    return TorchLM(module, tokenizer, context=spec.context, long_records=long_records), loss
