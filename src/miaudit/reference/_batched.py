"""Batched executor: train k built-in MLPs at once as one stacked network.

Many small MLPs leave the CPU's matrix units idle (a 64 x 446 by 446 x 1024 product is too
small to keep two cores busy). Stacking k models turns every layer into one batched matrix
product ``torch.baddbmm`` over weights of shape (k, in, out), so the per-step overhead is paid
once for k models. Each model keeps everything it has in :func:`miaudit.models.train_torch`:
its initialisation (``torch.manual_seed(seed)`` then ``reset_parameters``), its own data
order (``torch.randperm`` from ``torch.Generator(seed)`` each epoch), its own last-batch
size (padded rows masked out of its mean loss) and its own optimizer state: torch's fused
Adam/SGD are elementwise, so applied to the stacked parameters they perform every model's
own update (models are stacked only with models that take the same number of steps per
epoch). The results equal separate training up to float rounding (summation order inside
the batched products), not bit for bit, so the
cache keeps batched models under their own keys. Dropout is not supported (separate
training draws its masks from per-model random streams).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from miaudit.errors import ConfigError
from miaudit.models._trainer import TrainConfig, module_device, reset_parameters, seeded
from miaudit.reference._jobs import Job, Resources, Result, Shared, finish
from miaudit.reference._recipe import Recipe, TrainRecipe
from miaudit.reference._threads import torch_threads
from miaudit.targets import TorchTarget

CHUNK = 8  # models trained together

_ACT = {"relu": F.relu, "tanh": torch.tanh, "gelu": F.gelu, "sigmoid": torch.sigmoid}


def check_batchable(recipe: Recipe) -> None:
    """Raise ConfigError unless ``recipe`` is a built-in MLP recipe without dropout or defense."""
    if not isinstance(recipe, TrainRecipe):
        raise ConfigError(
            "executor 'batched' trains built-in 'mlp' recipes; use 'serial', 'process' or "
            "'ray' for language models"
        )
    if recipe.defense is not None:
        raise ConfigError(
            f"executor 'batched' trains undefended models only, but the recipe has defense "
            f"{recipe.defense.name!r} (the defense-aware attacker); use 'serial', "
            "'process' or 'ray', or reference.defense_aware: false"
        )
    if recipe.model != "mlp" or float(recipe.full_params()["dropout"]) > 0:
        raise ConfigError(
            "executor 'batched' trains built-in 'mlp' recipes without dropout; use "
            "'serial', 'process' or 'ray' for other recipes"
        )


def _init_module(recipe: TrainRecipe, record_shape: tuple[int, ...], seed: int) -> nn.Module:
    """The module's initial weights exactly as train_torch produces them."""
    module = recipe.build_module(record_shape)  # on the recipe's device
    with seeded(seed, module_device(module)):  # as train_torch's reinit, RNG restored
        reset_parameters(module)
    return module


def _linears(module: nn.Module) -> list[nn.Linear]:
    return [m for m in module.modules() if isinstance(m, nn.Linear)]


def train_stack(
    xs: list[np.ndarray],
    ys: list[np.ndarray],
    modules: list[nn.Module],
    seeds: list[int],
    config: TrainConfig,
    activation: str,
) -> None:
    """Train ``modules`` (built-in MLPs of one architecture) together, in place.

    Model j trains on ``(xs[j], ys[j])`` with ``seeds[j]``, as :func:`train_torch` would.
    """
    k = len(modules)
    act = _ACT[activation]
    layers = [_linears(m) for m in modules]
    weights = [
        torch.stack([ls[i].weight.detach().T for ls in layers]).contiguous().requires_grad_()
        for i in range(len(layers[0]))
    ]
    biases = [
        torch.stack([ls[i].bias.detach() for ls in layers]).unsqueeze(1).contiguous()
        for i in range(len(layers[0]))
    ]
    for b in biases:
        b.requires_grad_()
    params = [*weights, *biases]
    device = weights[0].device  # the recipe's device (the modules were built there)
    sizes = [len(y) for y in ys]
    n_max, bs = max(sizes), config.batch_size
    d = int(np.prod(xs[0].shape[1:]))
    x_all = torch.zeros(k, n_max, d)
    y_all = torch.zeros(k, n_max, dtype=torch.int64)
    for j, (x, y) in enumerate(zip(xs, ys, strict=True)):
        x_all[j, : sizes[j]] = torch.from_numpy(np.ascontiguousarray(x, np.float32).reshape(-1, d))
        y_all[j, : sizes[j]] = torch.from_numpy(np.asarray(y, dtype=np.int64))
    x_all, y_all = x_all.to(device), y_all.to(device)
    gens = [torch.Generator(device="cpu").manual_seed(s) for s in seeds]
    steps = [math.ceil(n / bs) for n in sizes]
    if len(set(steps)) != 1:
        raise ValueError("train_stack needs models with the same number of steps per epoch")
    rows = torch.arange(k, device=device).unsqueeze(1)
    lr, wd = config.lr, config.weight_decay
    # torch's fused optimizers are elementwise, so on stacked parameters they perform each
    # model's own update (all models of a stack take the same number of steps)
    optimizer: torch.optim.Optimizer
    if config.optimizer == "adam":
        optimizer = torch.optim.Adam(params, lr=lr, weight_decay=wd, fused=True)
    else:
        optimizer = torch.optim.SGD(
            params, lr=lr, momentum=config.momentum, weight_decay=wd, fused=True
        )

    for epoch in range(config.epochs):
        perms = torch.zeros(k, max(steps) * bs, dtype=torch.int64)
        for j in range(k):
            perms[j, : sizes[j]] = torch.randperm(sizes[j], generator=gens[j])
        perms = perms.to(device)  # drawn on the CPU generators, the same order on any device
        total = torch.zeros(k, dtype=torch.float64, device=device)
        for s in range(max(steps)):
            lo = s * bs
            real = torch.tensor([min(bs, n - lo) for n in sizes], dtype=torch.float32)
            real = real.to(device)
            idx = perms[:, lo : lo + bs]
            mask = torch.arange(idx.shape[1], device=device).unsqueeze(0) < real.unsqueeze(1)
            mask = mask.float()
            h = x_all[rows, idx]
            for i, (w, b) in enumerate(zip(weights, biases, strict=True)):
                h = torch.baddbmm(b, h, w)
                if i < len(weights) - 1:
                    h = act(h)
            ce = F.cross_entropy(
                h.reshape(-1, h.shape[-1]), y_all[rows, idx].reshape(-1), reduction="none"
            ).reshape(k, -1)
            per_model = (ce * mask).sum(1) / real
            optimizer.zero_grad(set_to_none=True)
            per_model.sum().backward()
            optimizer.step()
            total += per_model.detach().double() * real.double()
        mean = total / torch.tensor(sizes, dtype=torch.float64, device=device)
        if not torch.isfinite(mean).all():
            raise ConfigError(
                f"training diverged: the loss is not finite in epoch {epoch + 1}; "
                f"lower the learning rate (lr={lr})"
            )
    with torch.no_grad():
        for j, ls in enumerate(layers):
            for i, lin in enumerate(ls):
                lin.weight.copy_(weights[i][j].T)
                lin.bias.copy_(biases[i][j, 0])
    for m in modules:
        m.eval()


def batched_results(jobs: list[Job], shared: Shared, resources: Resources) -> Iterator[Result]:
    """Train ``jobs`` in stacks of up to CHUNK models with ``resources.workers`` torch threads
    (``resources.threads`` is not used: batched training is not bitwise equal to per-model
    training anyway)."""
    recipe = shared.recipe
    check_batchable(recipe)
    full = recipe.full_params()
    config = TrainConfig(
        epochs=full["epochs"],
        batch_size=full["batch_size"],
        optimizer=full["optimizer"],
        lr=full["lr"],
        momentum=full["momentum"],
        weight_decay=full["weight_decay"],
    )
    x_pool, y_pool = shared.x_pool, shared.y_pool
    record_shape = tuple(x_pool.shape[1:])
    with torch_threads(max(1, min(resources.workers, os.cpu_count() or 1))):
        groups: dict[int, list[Job]] = {}  # stacks need equal steps per epoch
        for job in jobs:
            groups.setdefault(math.ceil(job.train_indices.size / config.batch_size), []).append(job)
        chunks = [g[i : i + CHUNK] for g in groups.values() for i in range(0, len(g), CHUNK)]
        for chunk in chunks:
            modules = [_init_module(recipe, record_shape, job.seed) for job in chunk]
            xs = [x_pool[job.train_indices] for job in chunk]
            ys = [y_pool[job.train_indices] for job in chunk]
            train_stack(xs, ys, modules, [job.seed for job in chunk], config, full["activation"])
            for job, module, x, y in zip(chunk, modules, xs, ys, strict=True):
                target = TorchTarget(module, num_classes=recipe.num_classes)
                yield finish(job, shared, target, x, y)
