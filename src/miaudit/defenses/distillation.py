"""Knowledge distillation as a membership-inference defense (Zheng et al. 2021, "Resisting
Membership Inference Attacks through Knowledge Distillation", Neurocomputing; Shejwalkar &
Houmansadr 2021, "Membership Privacy for Machine Learning Models Through Knowledge Transfer"
(DMP), AAAI).

A teacher is trained on the private training set; it then labels the defender's reference set
with its soft labels, and the released student, of the same architecture, is trained *only* on
those soft labels (it never sees a private record). The student's loss is the temperature-scaled
distillation loss of Hinton et al. 2015 (DMP's eq. 2, with KL divergence)::

    L(student) = T^2 * KL( softmax(teacher(x') / T) || softmax(student(x') / T) ),  x' in reference
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
from miaudit.models import ModelLike, train_torch
from miaudit.targets import Target, TorchTarget
from miaudit.validation import Interval


@register_defense
class Distillation(Defense):
    """Distillation for membership privacy (DMP; Shejwalkar & Houmansadr 2021, Zheng et al. 2021).

    The teacher is the recipe trained on ``(x, y)``; the student (same architecture, another
    seed) trains on ``data.reference``'s records only, with the teacher's soft labels at
    ``temperature`` (KL divergence scaled by T^2, Hinton et al. 2015; DMP eq. 2). The
    reference labels are not used. The student is released. Its epochs, batch size and
    optimiser are the recipe's.

    Args:
        temperature: softmax temperature T > 0 of the soft labels and of the student.

    Fitted values (report): ``teacher_accuracy_`` and ``student_accuracy_`` on the private
    training set, ``reference_size_``.
    """

    name = "distillation"
    kind = "training"
    cuda_training = True  # trains on the recipe's device (issue 11)
    paper = (
        "Shejwalkar & Houmansadr 2021, Membership Privacy for Machine Learning Models Through "
        "Knowledge Transfer (AAAI); Zheng et al. 2021 (Neurocomputing)"
    )
    strength_param = "temperature"
    needs_reference = True
    param_constraints = {"temperature": Interval(float, 0, closed="neither")}

    def __init__(self, *, temperature: float = 4.0) -> None:
        self.temperature = temperature

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
        """Train the teacher on ``(x, y)``, the student on the teacher's soft reference labels."""
        self.check_params()
        t = float(self.temperature)
        setup = prepare_torch(
            model, params, x, y, num_classes=num_classes, seed=seed, defense=self.name
        )
        xr, _ = require_reference(self.name, data, setup)
        config, xs, ys = setup.config, setup.x, setup.y
        teacher = train_torch(setup.module, xs, ys, config, progress=progress, desc="teacher")
        device = module_device(teacher)  # the recipe's device; teacher and student share it
        xt = as_tensor(teacher, xr)
        with torch.no_grad():
            soft = torch.softmax(teacher(xt) / t, dim=1)

        student_seed = config.seed + 1
        student = init_module(setup.build(student_seed), student_seed)
        optimizer = make_optimizer(student, config)
        gen = torch.Generator().manual_seed(student_seed)
        n = xr.shape[0]
        with seeded(student_seed, device):
            student.train()
            for epoch in range(config.epochs):
                total = 0.0
                for idx in batches(n, config.batch_size, gen, device):
                    log_q = torch.log_softmax(student(xt[idx]) / t, dim=1)
                    loss = nn.functional.kl_div(log_q, soft[idx], reduction="batchmean") * t * t
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    optimizer.step()
                    total += float(loss.detach()) * idx.numel()
                check_finite(total / n, epoch, config)
        student.eval()
        self.teacher_accuracy_ = accuracy(teacher, xs, ys)
        self.student_accuracy_ = accuracy(student, xs, ys)
        self.reference_size_ = int(n)
        return TorchTarget(student, num_classes=num_classes)
