"""Knowledge distillation as a membership-inference defense (Zheng et al. 2021, "Resisting
Membership Inference Attacks through Knowledge Distillation", Neurocomputing; Shejwalkar &
Houmansadr 2021, "Membership Privacy for Machine Learning Models Through Knowledge Transfer"
(DMP), AAAI).

A teacher is trained on the private training set; it then labels the defender's reference set
with its soft labels, and the released student, of the same architecture, is trained *only* on
those soft labels (it never sees a private record). The student's loss is the temperature-scaled
distillation loss of Hinton et al. 2015 (DMP's eq. 2, with KL divergence)::

    L(student) = T^2 * KL( softmax(teacher(x') / T) || softmax(student(x') / T) ),  x' in reference

This module also holds the small training utilities shared by miaudit's training-time defenses
(recipe resolution for the torch models, seeded initialisation, optimisers and batches),
mirroring the conventions of :func:`miaudit.models.train_torch`: weights re-initialised from the
seed inside ``torch.random.fork_rng`` (the global RNG is untouched), batches from a
``torch.Generator(seed)`` permutation, float32 tensors converted once.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import torch
from torch import nn

from miaudit.defenses.base import Defense, DefenseData, register_defense
from miaudit.errors import ConfigError, DataError
from miaudit.models import TrainConfig, build_torch_module, model_records, torch_models, train_torch
from miaudit.models._trainer import reset_parameters
from miaudit.models._zoo import check_training_inputs
from miaudit.outputs import check_labels
from miaudit.targets import Target, TorchTarget

_TRAIN_FIELDS = frozenset(f.name for f in fields(TrainConfig))


# -- shared utilities of the training-time defenses ------------------------------------------
@dataclass(frozen=True)
class Recipe:
    """A resolved torch-model recipe: how to build a fresh module and how to train it.

    Attributes:
        model: a torch model of the registry ("mlp", "cnn", "sample_convnet").
        arch: architecture keyword arguments (``hidden``, ``activation``, ...).
        config: training hyper-parameters and seed.
        record_shape: shape of one record as the module reads it (flattened for "mlp").
        num_classes: C.
    """

    model: str
    arch: dict[str, Any]
    config: TrainConfig
    record_shape: tuple[int, ...]
    num_classes: int

    def build(self, seed: int) -> nn.Module:
        """A new module with weights initialised from ``seed`` (global RNG untouched)."""
        return build_torch_module(self.model, self.arch, self.record_shape, self.num_classes, seed)

    def prepare(self, x: np.ndarray, *, what: str = "x") -> np.ndarray:
        """Records as the module reads them (float32; flattened for "mlp")."""
        x = np.asarray(x)
        if x.ndim < 2 or x.shape[0] == 0:
            raise DataError(f"{what} must be a non-empty array of records (n, ...), got {x.shape}")
        if not (np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer)):
            raise DataError(f"{what} must be a numeric array, got dtype {x.dtype}")
        if not np.all(np.isfinite(x)):
            raise DataError(f"{what} contains NaN or inf")
        x = model_records(self.model, x)
        if tuple(x.shape[1:]) != self.record_shape:
            raise DataError(
                f"{what} has records of shape {tuple(x.shape[1:])}, but the training records "
                f"have shape {self.record_shape}"
            )
        return np.ascontiguousarray(x, dtype=np.float32)


def resolve_recipe(
    defense: str,
    model: str,
    params: dict[str, Any],
    x: np.ndarray,
    y: np.ndarray,
    *,
    num_classes: int,
    seed: int,
) -> tuple[Recipe, np.ndarray, np.ndarray]:
    """Validate a training-time defense's inputs; return the recipe and (x, y) as arrays.

    Raises ConfigError for a model that is not a torch model, unknown parameters, records the
    architecture cannot read, a bad seed or number of classes; DataError for malformed
    records or labels.
    """
    if model not in torch_models():
        raise ConfigError(
            f"defense {defense!r} trains torch models only; model {model!r} is not supported "
            f"(valid: {', '.join(torch_models())})"
        )
    full, x, y = check_training_inputs(model, params, x, y, num_classes, seed)
    arch = {k: v for k, v in full.items() if k not in _TRAIN_FIELDS}
    config = TrainConfig(**{k: v for k, v in full.items() if k in _TRAIN_FIELDS}, seed=int(seed))
    build_torch_module(model, arch, x.shape[1:], num_classes, int(seed))  # checks the shape
    shape = tuple(model_records(model, x[:1]).shape[1:])
    recipe = Recipe(model, arch, config, shape, num_classes)
    return recipe, recipe.prepare(x, what="training records x"), y


def require_reference(
    defense: str, data: DefenseData, recipe: Recipe, num_classes: int
) -> tuple[np.ndarray, np.ndarray]:
    """The defender's reference records, prepared for ``recipe`` (ConfigError when absent)."""
    if not isinstance(data, DefenseData) or data.reference is None:
        raise ConfigError(
            f"defense {defense!r} needs a reference set of records disjoint from the training "
            "set: pass data=DefenseData(reference=(x_ref, y_ref))"
        )
    x_ref, y_ref = data.reference
    xr = recipe.prepare(x_ref, what="reference records")
    y_ref = np.asarray(y_ref)
    if y_ref.shape != (xr.shape[0],):
        raise DataError(
            f"mismatched lengths: {xr.shape[0]} reference records but labels of shape {y_ref.shape}"
        )
    return xr, check_labels(y_ref, num_classes, what="reference labels")


@contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Run a block with the global torch RNG seeded and restored afterwards (dropout masks)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def init_module(module: nn.Module, seed: int) -> nn.Module:
    """Re-initialise ``module``'s weights from ``seed`` (as :func:`train_torch` does)."""
    with seeded(seed):
        reset_parameters(module)
    return module


def make_optimizer(params: list[nn.Parameter], config: TrainConfig) -> torch.optim.Optimizer:
    """The recipe's optimizer (adam or sgd with its lr, momentum and weight decay)."""
    if config.optimizer == "adam":
        return torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)
    return torch.optim.SGD(
        params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay
    )


def batches(n: int, batch_size: int, gen: torch.Generator) -> Iterator[torch.Tensor]:
    """Index batches of one epoch from a seeded permutation (the last may be smaller)."""
    perm = torch.randperm(n, generator=gen)
    for start in range(0, n, batch_size):
        yield perm[start : start + batch_size]


def check_finite(loss: float, epoch: int, config: TrainConfig) -> None:
    """ConfigError when training diverged."""
    if not math.isfinite(loss):
        raise ConfigError(
            f"training diverged: the loss is {loss} in epoch {epoch + 1}; "
            f"lower the learning rate (lr={config.lr})"
        )


def accuracy(module: nn.Module, x: np.ndarray, y: np.ndarray) -> float:
    """Top-1 accuracy of ``module`` on prepared records."""
    module.eval()
    with torch.no_grad():
        pred = module(torch.from_numpy(x)).argmax(dim=1).numpy()
    return float(np.mean(pred == y))


def positive_number(value: object, what: str, *, allow_zero: bool = False) -> float:
    """``value`` as a float, ConfigError unless finite and positive (or zero if allowed)."""
    ok = isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool)
    if ok:
        v = float(value)  # type: ignore[arg-type]
        if math.isfinite(v) and (v > 0 or (allow_zero and v == 0)):
            return v
    bound = ">= 0" if allow_zero else "> 0"
    raise ConfigError(f"{what} must be a finite number {bound}, got {value!r}")


def positive_int(value: object, what: str) -> int:
    """``value`` as an int, ConfigError unless a positive integer."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ConfigError(f"{what} must be a positive integer, got {value!r}")
    return int(value)


# -- the defense ------------------------------------------------------------------------------
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
    paper = (
        "Shejwalkar & Houmansadr 2021, Membership Privacy for Machine Learning Models Through "
        "Knowledge Transfer (AAAI); Zheng et al. 2021 (Neurocomputing)"
    )
    strength_param = "temperature"

    def __init__(self, *, temperature: float = 4.0) -> None:
        self.temperature = temperature

    def train(
        self,
        model: str,
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
        t = positive_number(self.temperature, "temperature")
        recipe, xs, ys = resolve_recipe(
            self.name, model, params, x, y, num_classes=num_classes, seed=seed
        )
        xr, _ = require_reference(self.name, data, recipe, num_classes)
        config = recipe.config
        teacher = recipe.build(config.seed)
        train_torch(teacher, xs, ys, config, progress=progress, desc="teacher")
        with torch.no_grad():
            soft = torch.softmax(teacher(torch.from_numpy(xr)) / t, dim=1)

        student_seed = config.seed + 1
        student = init_module(recipe.build(student_seed), student_seed)
        optimizer = make_optimizer(list(student.parameters()), config)
        gen = torch.Generator().manual_seed(student_seed)
        xt = torch.from_numpy(xr)
        n = xr.shape[0]
        with seeded(student_seed):
            student.train()
            for epoch in range(config.epochs):
                total = 0.0
                for idx in batches(n, config.batch_size, gen):
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
