"""Pruning as a membership-inference defense.

Wang, Wang, Wu, Tang 2021, "Against Membership Inference Attack: Pruning is All You Need"
(IJCAI), sec. 3 (MIA-Pruning): pruning removes parameters that memorise individual records;
the pruned network keeps its accuracy after fine-tuning while membership inference accuracy
drops. The paper searches the sparsity that keeps accuracy and minimises attack success; here
the sparsity is the parameter a privacy/utility sweep varies.

Procedure (standard magnitude pruning, Han et al. 2015, NIPS, sec. 3):

1. train the model normally (the same run as the undefended model for the seed);
2. global magnitude pruning: the ``sparsity`` share of the smallest-magnitude weights of all
   ``nn.Linear`` and ``nn.Conv2d`` layers together is set to zero
   (``torch.nn.utils.prune.global_unstructured`` with ``L1Unstructured``; biases are kept);
3. fine-tune for ``finetune_epochs`` with the pruning mask fixed (the reparametrisation
   ``weight = weight_orig * mask`` keeps the pruned weights at zero) with the model's
   optimizer and learning rate, batches shuffled from seed + 1;
4. make the pruning permanent (``prune.remove``), so the returned module is a plain MLP/CNN
   whose pruned weights are exact zeros.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn.utils import prune

from miaudit.defenses._training import prepare_torch
from miaudit.defenses.base import Defense, DefenseData, register_defense
from miaudit.models import ModelLike, train_torch
from miaudit.targets import Target, TorchTarget
from miaudit.validation import Interval

PRUNABLE = (nn.Linear, nn.Conv2d)


def prunable_weights(module: nn.Module) -> list[tuple[nn.Module, str]]:
    """The ``(layer, "weight")`` pairs pruned: every Linear and Conv2d weight."""
    return [(m, "weight") for m in module.modules() if isinstance(m, PRUNABLE)]


def weight_sparsity(module: nn.Module) -> float:
    """Share of exactly-zero entries among the prunable weights of ``module``."""
    weights = [getattr(m, name).detach() for m, name in prunable_weights(module)]
    zeros = sum(int((w == 0).sum()) for w in weights)
    total = sum(w.numel() for w in weights)
    return zeros / total if total else 0.0


def magnitude_prune(module: nn.Module, sparsity: float) -> None:
    """Global L1 (magnitude) unstructured pruning of the Linear/Conv2d weights, in place.

    Leaves torch's pruning reparametrisation in place (``weight_orig`` and ``weight_mask``);
    call :func:`make_permanent` after fine-tuning.
    """
    prune.global_unstructured(
        prunable_weights(module), pruning_method=prune.L1Unstructured, amount=float(sparsity)
    )


def make_permanent(module: nn.Module) -> None:
    """Fold every pruning mask into its weight (``prune.remove``)."""
    for m, name in prunable_weights(module):
        if prune.is_pruned(m):
            prune.remove(m, name)


@register_defense
class Pruning(Defense):
    """Train, prune the smallest weights globally, fine-tune with the mask, make permanent.

    Wang et al. 2021, "Against Membership Inference Attack: Pruning is All You Need" (IJCAI),
    sec. 3. See the module docstring for the procedure.

    Args:
        sparsity: share of Linear/Conv2d weights set to zero, in ``[0, 1)``.
        finetune_epochs: epochs of fine-tuning after pruning (>= 0).

    Fitted attributes:
        sparsity_: the measured share of zero weights in the returned model.
        pruned_weights_: the number of weights pruned.
    """

    name = "pruning"
    kind = "training"
    cuda_training = True  # trains on the recipe's device (issue 11)
    paper = "Wang et al. 2021, IJCAI, sec. 3 (Pruning is All You Need)"
    strength_param = "sparsity"
    param_constraints = {
        "sparsity": Interval(float, 0, 1, closed="left"),
        "finetune_epochs": Interval(int, 0),
    }

    def __init__(self, *, sparsity: float = 0.5, finetune_epochs: int = 5) -> None:
        self.sparsity = sparsity
        self.finetune_epochs = finetune_epochs

    def train(
        self,
        model: ModelLike,
        params: dict[str, Any],
        x: np.ndarray,
        y: np.ndarray,
        *,
        num_classes: int,
        seed: int,
        data: DefenseData = DefenseData(),
        progress: bool = False,
    ) -> Target:
        """Train ``model``, prune it to ``self.sparsity`` and fine-tune it."""
        self.check_params()
        sparsity, finetune = float(self.sparsity), int(self.finetune_epochs)
        setup = prepare_torch(
            model, params, x, y, num_classes=num_classes, seed=seed, defense=self.name
        )
        module = setup.module
        train_torch(module, setup.x, setup.y, setup.config, progress=progress, desc="pruning")
        magnitude_prune(module, sparsity)
        with torch.no_grad():
            self.pruned_weights_ = sum(
                int((m.weight_mask == 0).sum()) for m, _ in prunable_weights(module)
            )
        if finetune > 0:
            config = replace(setup.config, epochs=finetune, seed=(setup.config.seed + 1) % 2**63)
            train_torch(
                module,
                setup.x,
                setup.y,
                config,
                reinit=False,
                progress=progress,
                desc="pruning finetune",
            )
        make_permanent(module)
        self.sparsity_ = weight_sparsity(module)
        return TorchTarget(module.eval(), num_classes=num_classes)
