"""Adversarial regularisation (Nasr, Shokri & Houmansadr 2018, "Machine Learning with Membership
Privacy using Adversarial Regularization", CCS; the survey's eq. 5).

The classifier f is trained with a min-max game against an inference model h that sees a record,
its label and f's prediction (the paper's eq. 3, 4 and Algorithm 1)::

    min_f  max_h  L_D(f) + lambda * G(f, h),
    G(f, h) = E_{(x,y) in D} [log h(x, y, f(x))] + E_{(x,y) in D'} [log(1 - h(x, y, f(x)))]

with D the training set and D' the defender's reference set (non-members). Per training batch,
h takes ``k_steps`` gradient-ascent steps on G (fresh member and reference mini-batches drawn from
the seeded generator), then f takes one step on ``L_D(f) + lambda * mean log h(x, y, f(x))`` over
the member batch (the only term of G that depends on f through members; Algorithm 1, line 12).

h follows the paper's architecture (sec. 5, Fig. 2) at a smaller width: the prediction vector f(x)
and the one-hot label y each go through a fully connected branch, the branch outputs are
concatenated and go through a fully connected head ending in a sigmoid. The paper's h does not
read x itself for its experiments' attack model either (it reads f(x) and y), so neither does ours.
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
from miaudit.models import ModelLike
from miaudit.targets import Target, TorchTarget
from miaudit.validation import Interval


class InferenceModel(nn.Module):
    """h(f(x), y): the paper's two-branch inference model (FC on the prediction vector, FC on
    the one-hot label, concatenation, FC head; output is the membership logit).

    Args:
        num_classes: C.
        width: width of the branches and of the head's hidden layer.
    """

    def __init__(self, num_classes: int, width: int = 64) -> None:
        super().__init__()
        self.num_classes = num_classes
        half = max(width // 2, 1)
        self.prediction = nn.Sequential(
            nn.Linear(num_classes, width), nn.ReLU(), nn.Linear(width, half), nn.ReLU()
        )
        self.label = nn.Sequential(nn.Linear(num_classes, half), nn.ReLU())
        self.head = nn.Sequential(nn.Linear(2 * half, half), nn.ReLU(), nn.Linear(half, 1))

    def forward(self, probs: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        onehot = nn.functional.one_hot(y, self.num_classes).to(probs.dtype)
        return self.head(torch.cat([self.prediction(probs), self.label(onehot)], dim=1))[:, 0]


def _gain(
    h: InferenceModel,
    p_in: torch.Tensor,
    y_in: torch.Tensor,
    p_out: torch.Tensor,
    y_out: torch.Tensor,
) -> torch.Tensor:
    """G = mean log h(members) + mean log(1 - h(non-members)) (the paper's eq. 4)."""
    sig = nn.functional.logsigmoid
    return sig(h(p_in, y_in)).mean() + sig(-h(p_out, y_out)).mean()


@register_defense
class AdversarialRegularization(Defense):
    """Adversarial regularisation (Nasr, Shokri & Houmansadr 2018, CCS; Algorithm 1, eq. 3-4).

    Args:
        alpha: lambda, the weight of the inference gain in f's loss (>= 0; 0 is plain training
            with an idle adversary).
        k_steps: gradient steps of the inference model h per step of f.
        attack_width: width of h's layers.
        attack_lr: Adam learning rate of h.

    Fitted values (report): ``inference_gain_`` (G on the whole training and reference sets
    after training, the paper's eq. 4; log 0.25 = -1.386 at chance), ``inference_accuracy_``
    (h's balanced accuracy on them), ``train_accuracy_``.
    """

    name = "adversarial_regularization"
    kind = "training"
    cuda_training = True  # trains on the recipe's device (issue 11)
    paper = (
        "Nasr, Shokri & Houmansadr 2018, Machine Learning with Membership Privacy using "
        "Adversarial Regularization (CCS)"
    )
    strength_param = "alpha"
    needs_reference = True
    param_constraints = {
        "alpha": Interval(float, 0),
        "k_steps": Interval(int, 1),
        "attack_width": Interval(int, 1),
        "attack_lr": Interval(float, 0, closed="neither"),
    }

    def __init__(
        self,
        *,
        alpha: float = 1.0,
        k_steps: int = 1,
        attack_width: int = 64,
        attack_lr: float = 1e-3,
    ) -> None:
        self.alpha = alpha
        self.k_steps = k_steps
        self.attack_width = attack_width
        self.attack_lr = attack_lr

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
        """Alternate ``k_steps`` steps of h and one of f per member batch (Algorithm 1)."""
        self.check_params()
        lam, k = float(self.alpha), int(self.k_steps)
        width, attack_lr = int(self.attack_width), float(self.attack_lr)
        setup = prepare_torch(
            model, params, x, y, num_classes=num_classes, seed=seed, defense=self.name
        )
        xr, yr = require_reference(self.name, data, setup)
        config, xs, ys = setup.config, setup.x, setup.y
        f = init_module(setup.module, config.seed)
        device = module_device(f)  # the recipe's device: h, records and batches go there
        h = init_module(InferenceModel(num_classes, width).to(device), config.seed + 1)
        opt_f = make_optimizer(f, config)
        opt_h = torch.optim.Adam(h.parameters(), lr=attack_lr)
        gen = torch.Generator().manual_seed(config.seed)  # index draws: CPU, any device
        x_in, x_out = as_tensor(f, xs), as_tensor(f, xr)
        y_in = torch.from_numpy(ys).to(device)
        y_out = torch.from_numpy(yr).to(device)
        n, m, bs = xs.shape[0], xr.shape[0], config.batch_size

        with seeded(config.seed, device):
            for epoch in range(config.epochs):
                total = 0.0
                for idx in batches(n, bs, gen, device):
                    # k steps of h: maximise the gain G on fresh member / reference batches
                    f.eval()
                    h.train()
                    for _ in range(k):
                        i_in = torch.randint(n, (min(bs, n),), generator=gen).to(device)
                        i_out = torch.randint(m, (min(bs, m),), generator=gen).to(device)
                        with torch.no_grad():
                            p_in = torch.softmax(f(x_in[i_in]), dim=1)
                            p_out = torch.softmax(f(x_out[i_out]), dim=1)
                        loss_h = -_gain(h, p_in, y_in[i_in], p_out, y_out[i_out])
                        opt_h.zero_grad(set_to_none=True)
                        loss_h.backward()
                        opt_h.step()
                    # one step of f: classification loss + lambda * log h on the member batch
                    f.train()
                    h.eval()
                    logits = f(x_in[idx])
                    loss = nn.functional.cross_entropy(logits, y_in[idx])
                    if lam > 0:
                        member = nn.functional.logsigmoid(h(torch.softmax(logits, 1), y_in[idx]))
                        loss = loss + lam * member.mean()
                    opt_f.zero_grad(set_to_none=True)
                    loss.backward()
                    opt_f.step()
                    total += float(loss.detach()) * idx.numel()
                check_finite(total / n, epoch, config)
        f.eval()
        h.eval()
        with torch.no_grad():
            p_in, p_out = torch.softmax(f(x_in), 1), torch.softmax(f(x_out), 1)
            self.inference_gain_ = float(_gain(h, p_in, y_in, p_out, y_out))
            tpr = float((h(p_in, y_in) > 0).float().mean())
            tnr = float((h(p_out, y_out) <= 0).float().mean())
        self.inference_accuracy_ = 0.5 * (tpr + tnr)
        self.train_accuracy_ = accuracy(f, xs, ys)
        return TorchTarget(f, num_classes=num_classes)
