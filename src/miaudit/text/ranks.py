"""Ranks of the true tokens under a causal LM (Song & Shmatikov 2019, the user-level audit's
features): the rank of x_i in the model's next-token distribution p(. | x_<i).

Rank 1 is the model's most likely token. Ties are counted in the true token's favour:
rank = 1 + the number of tokens with a strictly larger logit. Records are cut into the
same windows as training and :func:`miaudit.text.lm.token_answers` (``long_records``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from miaudit.text.lm import SCORE_BATCH, _batch, windows


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
    lengths = np.zeros(len(seqs), dtype=np.int64)
    for w in ws:
        lengths[w.record] = max(lengths[w.record], w.offset + w.targets.size)
    out = [np.zeros(int(n), dtype=np.int64) for n in lengths]
    was_training = module.training
    module.eval()
    try:
        order = sorted(range(len(ws)), key=lambda i: ws[i].inputs.size)
        for b in range(0, len(order), batch_size):
            chunk = [ws[i] for i in order[b : b + batch_size]]
            inputs, _ = _batch(chunk, bos_id)
            logits = module(inputs)
            for i, w in enumerate(chunk):
                k = w.targets.size
                tgt = torch.from_numpy(w.targets)
                z = logits[i, :k]
                true = z.gather(1, tgt[:, None])
                out[w.record][w.offset : w.offset + k] = (z > true).sum(-1).numpy() + 1
    finally:
        module.train(was_training)
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
