"""Mix-up training with an MMD regulariser (Li, Li & Ribeiro 2021, "Membership Inference Attacks
and Defenses in Classification Models", CODASPY, sec. 5).

Each step trains on a mix-up batch (Zhang et al. 2018): with lambda ~ Beta(a, a) and a seeded
permutation pi of the batch, x~ = lambda x + (1 - lambda) x_pi and the loss is
``lambda CE(f(x~), y) + (1 - lambda) CE(f(x~), y_pi)``. To it is added ``mmd_weight`` times the
squared maximum mean discrepancy between the softmax outputs of the model on the (un-mixed)
training batch and on an equally sized batch of the defender's validation (reference) records,
so that members' and non-members' output distributions are pulled together::

    MMD^2(P, Q) = E k(p, p') + E k(q, q') - 2 E k(p, q),   k(a, b) = exp(-||a - b||^2 / (2 s^2))

Choices: the MMD is computed per class (between the outputs of training and reference records
of the same true label, averaged over the classes present in both batches), as the paper
compares the output distributions class by class; the biased (V-statistic) estimator is used.
Kernel bandwidth s (the paper does not pin it down): fixed, ``bandwidth = 0.1`` on the softmax
outputs by default, or the median heuristic (Gretton et al. 2012; s^2 = half the median
squared distance between all pooled outputs of the batch, detached, recomputed per step) with
``bandwidth=None``. The default is fixed because the median heuristic rescales the kernel with
the outputs, so the penalty stays of order one however close the two distributions get and
keeps pushing them together until the outputs collapse: on Location (MLP, 1,000 records,
weight 1) the median heuristic gave test accuracy 0.063 (chance 0.033), a fixed s = 0.1 gave
0.491 (undefended: 0.439) with the loss attack's TPR at 1% FPR 0.033 (undefended: 0.030);
see BENCHMARKS.md.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from miaudit.defenses._training import (
    accuracy,
    as_tensor,
    batches,
    check_finite,
    init_module,
    make_optimizer,
    module_device,
    prepare_torch,
    require_reference,
    seeded,
)
from miaudit.defenses.base import Defense, DefenseData, register_defense
from miaudit.errors import ConfigError
from miaudit.models import ModelLike
from miaudit.targets import Target, TorchTarget
from miaudit.validation import Interval


def gaussian_mmd2(p: torch.Tensor, q: torch.Tensor, bandwidth: float | None = None) -> torch.Tensor:
    """Biased estimate of MMD^2 between samples ``p`` (n, d) and ``q`` (m, d), Gaussian kernel.

    ``bandwidth`` s of ``exp(-||a-b||^2 / (2 s^2))``; None uses the median heuristic on the
    pooled samples (2 s^2 = median squared distance, detached from the graph).
    """
    z = torch.cat([p, q], dim=0)
    d2 = torch.cdist(z, z).pow(2)
    if bandwidth is None:
        off = d2.detach()[~torch.eye(z.shape[0], dtype=torch.bool, device=z.device)]
        one = torch.tensor(1.0, dtype=z.dtype, device=z.device)
        two_s2 = off.median().clamp_min(1e-6) if off.numel() else one
    else:
        two_s2 = torch.tensor(2.0 * bandwidth**2, dtype=z.dtype, device=z.device)
    k = torch.exp(-d2 / two_s2)
    n = p.shape[0]
    return k[:n, :n].mean() + k[n:, n:].mean() - 2.0 * k[:n, n:].mean()


def class_mmd2(
    p: torch.Tensor, yp: torch.Tensor, q: torch.Tensor, yq: torch.Tensor, bandwidth: float | None
) -> torch.Tensor:
    """Mean over the classes present in both batches of the per-class MMD^2 (0 if none)."""
    terms = [
        gaussian_mmd2(p[yp == c], q[yq == c], bandwidth)
        for c in torch.unique(yp).tolist()
        if bool((yq == c).any())
    ]
    return torch.stack(terms).mean() if terms else p.sum() * 0.0


@register_defense
class MMDMixup(Defense):
    """Mix-up + MMD regularisation (Li, Li & Ribeiro 2021, CODASPY, sec. 5).

    Args:
        mixup_alpha: a of the Beta(a, a) mixing distribution (> 0; mix-up coefficients are
            drawn from a ``numpy.random.Generator`` seeded by the training seed).
        mmd_weight: weight of the MMD^2 penalty (>= 0).
        bandwidth: Gaussian kernel bandwidth s on softmax outputs (default 0.1); None for the
            median heuristic (which collapses training on Location, see the module docstring).

    Fitted values (report): ``mmd_`` (the per-class MMD^2 between the outputs on the whole
    training and reference sets after training, median-heuristic bandwidth unless fixed),
    ``train_accuracy_``.
    """

    name = "mmd_mixup"
    kind = "training"
    cuda_training = True  # trains on the recipe's device (issue 11)
    paper = (
        "Li, Li & Ribeiro 2021, Membership Inference Attacks and Defenses in Classification "
        "Models (CODASPY)"
    )
    strength_param = "mmd_weight"
    needs_reference = True
    param_constraints = {
        "mixup_alpha": Interval(float, 0, closed="neither"),
        "mmd_weight": Interval(float, 0),
        "bandwidth": Interval(float, 0, closed="neither"),
    }

    def __init__(
        self, *, mixup_alpha: float = 1.0, mmd_weight: float = 1.0, bandwidth: float | None = 0.1
    ) -> None:
        self.mixup_alpha = mixup_alpha
        self.mmd_weight = mmd_weight
        self.bandwidth = bandwidth

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
        """Mix-up cross-entropy plus ``mmd_weight`` * MMD^2(train outputs, reference outputs)."""
        self.check_params()
        a, weight = float(self.mixup_alpha), float(self.mmd_weight)
        bw = None if self.bandwidth is None else float(self.bandwidth)
        setup = prepare_torch(
            model, params, x, y, num_classes=num_classes, seed=seed, defense=self.name
        )
        xr, yr = require_reference(self.name, data, setup)
        if xr.shape[0] < 2:
            raise ConfigError("mmd_mixup needs at least 2 reference (validation) records")
        config, xs, ys = setup.config, setup.x, setup.y
        f = init_module(setup.module, config.seed)
        device = module_device(f)  # the recipe's device: records and batches go there
        opt = make_optimizer(f, config)
        gen = torch.Generator().manual_seed(config.seed)  # index draws: CPU, any device
        rng = np.random.default_rng(config.seed)
        x_in, x_out = as_tensor(f, xs), as_tensor(f, xr)
        y_in = torch.from_numpy(ys).to(device)
        y_out = torch.from_numpy(yr).to(device)
        n, m = xs.shape[0], xr.shape[0]
        ce = nn.functional.cross_entropy

        with seeded(config.seed, device):
            f.train()
            for epoch in range(config.epochs):
                total = 0.0
                for idx in batches(n, config.batch_size, gen, device):
                    lam = float(rng.beta(a, a))
                    pi = torch.randperm(idx.numel(), generator=gen).to(device)
                    xb, yb = x_in[idx], y_in[idx]
                    mixed = f(lam * xb + (1.0 - lam) * xb[pi])
                    loss = lam * ce(mixed, yb) + (1.0 - lam) * ce(mixed, yb[pi])
                    if weight > 0:
                        j = torch.randint(m, (min(idx.numel(), m),), generator=gen)
                        j = j.to(device)
                        p_in = torch.softmax(f(xb), dim=1)
                        p_out = torch.softmax(f(x_out[j]), dim=1)
                        loss = loss + weight * class_mmd2(p_in, yb, p_out, y_out[j], bw)
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
                    total += float(loss.detach()) * idx.numel()
                check_finite(total / n, epoch, config)
        f.eval()
        with torch.no_grad():
            p_in, p_out = torch.softmax(f(x_in), 1), torch.softmax(f(x_out), 1)
            self.mmd_ = float(class_mmd2(p_in, y_in, p_out, y_out, bw))
        self.train_accuracy_ = accuracy(f, xs, ys)
        return TorchTarget(f, num_classes=num_classes)
