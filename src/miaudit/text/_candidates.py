"""Scoring canary candidates: the log-perplexity -log p(s) (nats, summed over the tokens of
s after ``<bos>``) of many candidates of one format under a :class:`TorchLM`.

:func:`enumerate_nll` scores every candidate of a format. With a character tokenizer the
candidates share prefixes, so it walks the prefix tree slot by slot: one forward pass per
prefix gives the next slot character's distribution for all its children, so a 6-digit
format needs 111,111 short forward passes rather than 10^6 (plus one pass per candidate
only when fixed text follows the last slot). Other tokenizers do not split a candidate
into the same tokens as its prefix, so there every candidate is scored in full
(:func:`candidate_nll`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from miaudit.text.canaries import CanaryFormat
from miaudit.text.lm import TorchLM

#: candidates (or prefixes) per forward pass
BATCH = 4096


def candidate_nll(lm: TorchLM, texts: Sequence[str], *, batch: int = BATCH) -> np.ndarray:
    """-log p(text) of each text (teacher-forced, :meth:`TorchLM.answers`), float64 (n,)."""
    out = np.empty(len(texts))
    for b in range(0, len(texts), batch):
        out[b : b + batch] = -lm.answers(list(texts[b : b + batch])).log_likelihood()
    return out


def enumerate_nll(lm: TorchLM, fmt: CanaryFormat, *, batch: int = BATCH) -> np.ndarray:
    """-log p(candidate) of every candidate in :meth:`CanaryFormat.index` order, (|R|,)."""
    if lm.tokenizer.kind != "char":
        texts = (fmt.render(fmt.choice(i)) for i in range(fmt.size))
        out = np.empty(fmt.size)
        chunk: list[str] = []
        start = 0
        for i, t in enumerate(texts):
            chunk.append(t)
            if len(chunk) == batch or i == fmt.size - 1:
                out[start : start + len(chunk)] = candidate_nll(lm, chunk, batch=batch)
                start += len(chunk)
                chunk = []
        return out
    return _prefix_tree_nll(lm, fmt, batch)


def _layout(lm: TorchLM, fmt: CanaryFormat) -> tuple[np.ndarray, list[int], list[np.ndarray]]:
    """The token template ``[bos] + canary`` (slot characters 0), the slot positions in the
    canary, and each slot's alphabet as token ids."""
    tok = lm.tokenizer
    ids, slots, alphabets = [tok.bos_id], [], []
    for p in fmt.parts:
        if isinstance(p, tuple):
            slots.append(len(ids) - 1)
            alphabets.append(np.array([int(tok.encode(c)[0]) for c in p], dtype=np.int64))
            ids.append(0)
        else:
            ids.extend(int(i) for i in tok.encode(p))
    return np.array(ids, dtype=np.int64), slots, alphabets


@torch.no_grad()
def _logp(lm: TorchLM, inputs: np.ndarray, lo: int) -> torch.Tensor:
    """log p(. | inputs[:, :j+1]) for positions j >= lo, float64 (B, T - lo, V)."""
    logits = lm.module(torch.from_numpy(inputs))[:, lo:, :]
    return torch.log_softmax(logits.double(), dim=-1)


def _states(
    template: np.ndarray,
    slots: list[int],
    alphabets: list[np.ndarray],
    k: int,
    first: int,
    count: int,
    width: int,
) -> np.ndarray:
    """Inputs (count, width) of the prefixes ``first .. first + count - 1`` at depth k (the
    first k slot characters set, in mixed-radix order)."""
    x = np.repeat(template[None, :width], count, axis=0)
    index = np.arange(first, first + count, dtype=np.int64)
    for j in range(k - 1, -1, -1):
        size = alphabets[j].size
        x[:, slots[j] + 1] = alphabets[j][index % size]
        index //= size
    return x


def _prefix_tree_nll(lm: TorchLM, fmt: CanaryFormat, batch: int) -> np.ndarray:
    template, slots, alphabets = _layout(lm, fmt)
    module_was_training = lm.module.training
    lm.module.eval()
    score = np.zeros(1)  # log p of each depth-k prefix's tokens so far
    done = 0  # canary tokens scored so far
    try:
        for k, slot in enumerate(slots + [None]):
            stop = len(template) - 1 if slot is None else slot  # score canary tokens < stop
            if slot is None and stop == done:
                break
            width = stop + 1 if slot is not None else stop
            n = score.size
            nxt = np.empty(n * (alphabets[k].size if slot is not None else 1))
            for b in range(0, n, batch):
                m = min(batch, n - b)
                x = _states(template, slots, alphabets, k, b, m, width)
                lp = _logp(lm, x, done)
                fixed = np.zeros(m)
                if stop > done:
                    targets = torch.from_numpy(template[done + 1 : stop + 1])
                    picked = lp[:, : stop - done].gather(2, targets[None, :, None].expand(m, -1, 1))
                    fixed = picked[..., 0].sum(1).numpy()
                base = score[b : b + m] + fixed
                if slot is None:
                    nxt[b : b + m] = base
                else:
                    a = alphabets[k]
                    child = lp[:, stop - done, :].numpy()[:, a]
                    nxt[b * a.size : (b + m) * a.size] = (base[:, None] + child).ravel()
            score = nxt
            done = stop + 1 if slot is not None else stop
    finally:
        lm.module.train(module_was_training)
    return -score
