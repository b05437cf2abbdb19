"""Membership-inference attacks on causal language models (issue 12), one module per
paper, registered in :data:`LM_ATTACKS`: ``lm_loss`` (Yeom et al. 2018 on sequences),
``zlib_ratio`` and ``lowercase_ratio`` (Carlini et al. 2021), ``reference_ratio``
(Carlini et al. 2021; Mireshghallah et al. 2022), ``min_k`` (Shi et al. 2024), ``min_k_pp``
(Zhang et al. 2025), ``lm_lira`` and ``lm_rmia`` (the classifier's LiRA and RMIA fed the LM
kind's signals)."""

from miaudit.attacks.lm import likelihood_ratio, loss, lowercase, min_k, reference_ratio, zlib
from miaudit.attacks.lm.base import (
    LM_ATTACKS,
    LMAttack,
    LMKnowledge,
    LMNeeds,
    LMReference,
    make_lm_attack,
    smallest_fraction_mean,
)

del likelihood_ratio, loss, lowercase, min_k, reference_ratio, zlib

__all__ = [
    "LM_ATTACKS",
    "LMAttack",
    "LMKnowledge",
    "LMNeeds",
    "LMReference",
    "make_lm_attack",
    "smallest_fraction_mean",
]
