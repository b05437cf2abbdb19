"""Ranks of the true tokens under a causal LM (Song & Shmatikov 2019, the user-level audit's
features): the rank of x_i in the model's next-token distribution p(. | x_<i).

Rank 1 is the model's most likely token. Ties are counted in the true token's favour:
rank = 1 + the number of tokens with a strictly larger logit. Records are cut into the
same windows as training and :func:`miaudit.text.lm.token_answers` (``long_records``).

The user-level features: :func:`rank_histogram` in the bins of :data:`RANK_EDGES`,
:func:`user_records` (a seeded, nested choice of each user's texts), and
:class:`RankLMRecipe`, whose models answer the reference engine with ranks. The audit
itself is :mod:`miaudit.pipeline.user_audit`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from miaudit.errors import ConfigError, DataError
from miaudit.text.answers import TokenAnswers
from miaudit.text.lm import SCORE_BATCH, LMRecipe, TorchLM, record_lengths, window_logits, windows
from miaudit.text.records import TextRecords


@torch.no_grad()
def token_ranks(
    module: nn.Module,
    seqs: Sequence[np.ndarray],
    *,
    context: int,
    bos_id: int,
    long_records: str = "window",
    batch_size: int = SCORE_BATCH,
) -> list[np.ndarray]:
    """Per record, the int64 rank (1 = most likely) of each true token under ``module``
    (ids (B, T) -> next-token logits (B, T, V)), teacher-forced, ``batch_size`` windows
    per forward pass."""
    ws = windows(seqs, context, bos_id, long_records)
    out = [np.zeros(int(n), dtype=np.int64) for n in record_lengths(ws, len(seqs))]
    for w, z in window_logits(module, ws, bos_id=bos_id, batch_size=batch_size):
        true = z.gather(1, torch.from_numpy(w.targets)[:, None])
        out[w.record][w.offset : w.offset + w.targets.size] = (z > true).sum(-1).numpy() + 1
    return out


def lm_ranks(target: Any, texts: Sequence[str]) -> list[np.ndarray]:
    """:func:`token_ranks` of a :class:`~miaudit.text.TorchLM` target on ``texts``."""
    return token_ranks(
        target.module,
        target.encode(list(texts)),
        context=target.context,
        bos_id=target.tokenizer.bos_id,
        long_records=target.long_records,
    )


#: lower edges of the rank bins (the last bin is open-ended)
RANK_EDGES = (1, 2, 3, 5, 9, 17, 33, 65)


def _check_edges(edges: Sequence[int]) -> np.ndarray:
    e = np.asarray(edges, dtype=np.int64)
    if e.ndim != 1 or e.size < 2 or e[0] != 1 or np.any(np.diff(e) <= 0):
        raise ConfigError(f"rank bin edges must rise from 1, got {list(edges)}")
    return e


def rank_histogram(ranks: Sequence[np.ndarray], edges: Sequence[int] = RANK_EDGES) -> np.ndarray:
    """The normalised histogram (float64, one entry per bin of ``edges``) of the ranks of
    every token of ``ranks`` (one int array per text), pooled over the texts."""
    e = _check_edges(edges)
    counts = np.zeros(e.size, dtype=np.float64)
    for r in ranks:
        r = np.asarray(r, dtype=np.int64)
        if r.size and r.min() < 1:
            raise DataError("token ranks start at 1")
        counts += np.bincount(np.searchsorted(e, r, side="right") - 1, minlength=e.size)
    total = counts.sum()
    if total == 0:
        raise DataError("no tokens to build a rank histogram from")
    return counts / total


def user_records(
    records: TextRecords, users: Sequence[str], *, texts_per_user: int | None = None, seed: int = 0
) -> list[np.ndarray]:
    """Per user, the indices of their records: all of them, or a seeded choice of at most
    ``texts_per_user`` (the choice for k is the first k of the choice for more, so
    histograms over 1, 2, 4, ... texts are nested)."""
    if records.users is None:
        raise ConfigError(f"a user-level audit needs records with users; {records.name} has none")
    if texts_per_user is not None and (
        isinstance(texts_per_user, bool)
        or not isinstance(texts_per_user, int | np.integer)
        or texts_per_user < 1
    ):
        raise ConfigError(f"texts_per_user must be a positive integer, got {texts_per_user!r}")
    by_user: dict[str, list[int]] = {}
    for i, u in enumerate(records.users):
        by_user.setdefault(u, []).append(i)
    out = []
    for u in users:
        idx = np.asarray(by_user.get(str(u), []), dtype=np.int64)
        if idx.size == 0:
            raise DataError(f"user {u!r} has no texts in {records.name}")
        name_seed = int.from_bytes(str(u).encode("utf-8")[:16].ljust(16, b"\0"), "little")
        rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0x05E2, name_seed]))
        idx = rng.permutation(idx)
        out.append(idx if texts_per_user is None else idx[: int(texts_per_user)])
    return out


def user_histograms(
    ranks: Sequence[np.ndarray],
    groups: Sequence[np.ndarray],
    edges: Sequence[int] = RANK_EDGES,
) -> np.ndarray:
    """(n_users, n_bins) float64: the rank histogram of each group of records (indices into
    ``ranks``, one int array per record)."""
    return np.stack([rank_histogram([ranks[i] for i in g], edges) for g in groups])


@dataclass(frozen=True)
class RankLMRecipe(LMRecipe):
    """An :class:`LMRecipe` whose trained models answer the reference engine with the true
    tokens' ranks instead of their log-probabilities, so the engine (cache, executors)
    trains and queries shadow LMs unchanged: the answers are :class:`TokenAnswers` with
    ``logp = -log(rank)`` (``mu = var = 0``, ``top1 = rank == 1``); decode with
    :func:`decode_ranks`. Its cache fingerprint differs from the plain recipe's."""

    def target(self, module: Any) -> TorchLM:
        return _RankingLM(
            module, self.tokenizer(), context=self.spec.context, long_records=self.long_records
        )

    def train_loss(self, target: Any, x: np.ndarray, y: np.ndarray) -> float:
        return float("nan")  # the answers are ranks; the engine only reports this value

    def fingerprint(self) -> str:
        return "ranks-v1|" + super().fingerprint()


class _RankingLM(TorchLM):
    def answers_ids(self, seqs: Sequence[np.ndarray]) -> Any:
        ranks = token_ranks(
            self.module,
            seqs,
            context=self.context,
            bos_id=self.tokenizer.bos_id,
            long_records=self.long_records,
        )
        width = max((r.size for r in ranks), default=0)
        logp = np.zeros((len(ranks), width))
        mask = np.zeros(logp.shape, dtype=bool)
        for i, r in enumerate(ranks):
            logp[i, : r.size] = -np.log(r.astype(np.float64))
            mask[i, : r.size] = True
        zero = np.zeros_like(logp)
        return TokenAnswers(logp, zero, zero, mask, mask & (logp == 0.0))


def decode_ranks(answers: Any) -> list[np.ndarray]:
    """The per-record int64 ranks a :class:`RankLMRecipe` model answered."""
    return [
        np.rint(np.exp(-row[m])).astype(np.int64)
        for row, m in zip(answers.logp, answers.mask, strict=True)
    ]
