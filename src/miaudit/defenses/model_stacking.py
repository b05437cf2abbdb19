"""Model stacking (Salem et al. 2019, "ML-Leaks: Model and Data Independent Membership Inference
Attacks and Defenses on Machine Learning Models", NDSS, sec. VI-B "Model stacking").

The training set is split into three disjoint parts. Model A trains on part 1 and model B on
part 2; the final model C trains on part 3, reading the concatenation of A's and B's posteriors
on those records. The released model maps x -> C([softmax A(x), softmax B(x)]): no single model
sees a record both as its own training input and through the other models, which limits
overfitting to any one record.

Choices: A and B use the recipe ("mlp"/"cnn") with its training parameters; C is an MLP on the
2C posterior features with ``final_hidden`` hidden widths (the paper uses logistic regression or
a small network; ``final_hidden=()`` gives multinomial logistic regression) trained with the
recipe's epochs, batch size and optimiser. Part sizes follow ``fractions`` (default thirds) of a
seeded permutation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import torch
from torch import nn

from miaudit.defenses._training import (
    accuracy,
    as_tensor,
    module_device,
    prepare_torch,
    seeded,
)
from miaudit.defenses.base import Defense, DefenseData, register_defense
from miaudit.errors import ConfigError
from miaudit.models import MLP, ModelLike, train_torch
from miaudit.targets import Target, TorchTarget
from miaudit.validation import Interval, Items


class StackedModel(nn.Module):
    """x -> C([softmax A(x), softmax B(x)]) as one module returning C's logits."""

    def __init__(self, a: nn.Module, b: nn.Module, c: nn.Module, num_classes: int) -> None:
        super().__init__()
        self.a, self.b, self.c = a, b, c
        self.num_classes = num_classes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = torch.cat([torch.softmax(self.a(x), dim=1), torch.softmax(self.b(x), dim=1)], 1)
        return self.c(feats)

    def describe(self) -> str:
        name = getattr(self.a, "describe", None)
        base = name() if callable(name) else type(self.a).__name__
        return f"stacked(2 x {base} -> {self.c.describe()})"


@register_defense
class ModelStacking(Defense):
    """Model stacking (Salem et al. 2019, NDSS, sec. VI-B).

    Args:
        fractions: shares of the training set given to A, B and C (three positive numbers,
            normalised to sum to 1).
        final_hidden: hidden widths of the final MLP C.

    Fitted values (report): ``part_sizes`` (as a string "a/b/c"), ``train_accuracy_`` of the
    stacked model on the whole training set.
    """

    name = "model_stacking"
    kind = "training"
    cuda_training = True  # trains on the recipe's device (issue 11)
    paper = (
        "Salem et al. 2019, ML-Leaks: Model and Data Independent Membership Inference Attacks "
        "and Defenses on Machine Learning Models (NDSS), sec. VI-B"
    )

    param_constraints = {
        "fractions": Items(Interval(float, 0, closed="neither"), length=3),
        "final_hidden": Items(Interval(int, 1), min_length=0),
    }

    def __init__(
        self,
        *,
        fractions: Sequence[float] = (1 / 3, 1 / 3, 1 / 3),
        final_hidden: Sequence[int] = (32,),
    ) -> None:
        self.fractions = fractions
        self.final_hidden = final_hidden

    def _parts(self, n: int, seed: int) -> list[np.ndarray]:
        fr = self.fractions
        shares = np.array([float(v) for v in fr])
        shares = shares / shares.sum()
        bounds = np.round(np.cumsum(shares) * n).astype(np.int64)
        perm = np.random.default_rng(seed).permutation(n)
        parts = np.split(perm, bounds[:2])
        if min(len(p) for p in parts) < 1:
            raise ConfigError(
                f"model_stacking splits the training set into three parts; {n} records with "
                f"fractions {tuple(fr)} leave one empty"
            )
        return [np.sort(p) for p in parts]

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
        """Train A on part 1, B on part 2, C on A's and B's posteriors of part 3."""
        self.check_params()
        setup = prepare_torch(
            model, params, x, y, num_classes=num_classes, seed=seed, defense=self.name
        )
        config, xs, ys = setup.config, setup.x, setup.y
        p1, p2, p3 = self._parts(xs.shape[0], config.seed)
        models = []
        for k, part in enumerate((p1, p2)):
            s = config.seed + k
            module = setup.build(s)
            cfg = replace(config, seed=s)
            train_torch(module, xs[part], ys[part], cfg, progress=progress, desc=f"stack-{k}")
            models.append(module)
        device = module_device(models[0])  # the recipe's device: C is trained there too
        with torch.no_grad():
            x3 = as_tensor(models[0], xs[p3])
            feats = torch.cat([torch.softmax(m(x3), dim=1) for m in models], dim=1)
            feats = feats.cpu().numpy()
        s = config.seed + 2
        with seeded(s):  # C's weights drawn on the CPU, as before, then moved
            c = MLP(2 * num_classes, num_classes, hidden=self.final_hidden).to(device)
        cfg = replace(config, seed=s)
        train_torch(c, feats, ys[p3], cfg, progress=progress, desc="stack-final")
        stacked = StackedModel(models[0], models[1], c, num_classes).eval()
        self.part_sizes_ = f"{len(p1)}/{len(p2)}/{len(p3)}"
        self.train_accuracy_ = accuracy(stacked, xs, ys)
        return TorchTarget(stacked, num_classes=num_classes)
