"""Training a DDPM: Ho et al. 2020 ("Denoising Diffusion Probabilistic Models", NeurIPS)
Algorithm 1, the simplified objective of eq. 14: t ~ Uniform{0..T-1}, eps ~ N(0, I),
minimise ||eps - eps_theta(sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps, t)||^2 (per-pixel
mean), Adam; seeded end to end. :class:`DDPMRecipe` is miaudit's: the compact U-Net."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from miaudit.errors import ConfigError
from miaudit.generative.diffusion import DDPMSchedule, DiffusionTarget, _alphas_cumprod
from miaudit.generative.images import check_images
from miaudit.generative.unet import CompactUNet
from miaudit.validation import check_int, check_number


@dataclass(frozen=True)
class DDPMRecipe:
    """How miaudit trains a diffusion target.

    Attributes:
        timesteps: T. beta_start, beta_end: the linear schedule's ends; None (default)
            takes Ho et al.'s 1e-4 and 0.02 rescaled by 1000 / T (:meth:`DDPMSchedule.scaled`).
        width: the U-Net's channels at full resolution (twice as many below).
        epochs: passes over the training images. batch_size: images per step.
        lr: Adam's learning rate (Ho et al.: 2e-4; small models on CPU train faster at 1e-3).
        seed: seeds the weights, the batches, every t and every eps of training.
    """

    timesteps: int = 100
    beta_start: float | None = None
    beta_end: float | None = None
    width: int = 32
    epochs: int = 50
    batch_size: int = 64
    lr: float = 1e-3
    seed: int = 0

    def __post_init__(self) -> None:
        check_int(self.timesteps, "ddpm timesteps", low=1)
        check_int(self.width, "ddpm width", low=1)
        check_int(self.epochs, "ddpm epochs", low=1)
        check_int(self.batch_size, "ddpm batch_size", low=1)
        check_number(self.lr, "ddpm lr", low=0, closed="neither")
        check_int(self.seed, "ddpm seed", low=0)
        if (self.beta_start is None) != (self.beta_end is None):
            raise ConfigError("ddpm beta_start and beta_end are given together, or neither")
        self.schedule()  # validates the betas

    def schedule(self) -> DDPMSchedule:
        if self.beta_start is None or self.beta_end is None:
            return DDPMSchedule.scaled(self.timesteps)
        return DDPMSchedule(self.timesteps, self.beta_start, self.beta_end)

    def build(self, channels: int = 1) -> CompactUNet:
        """A fresh U-Net, initialised from ``seed``."""
        if channels < 1:
            raise ConfigError(f"ddpm channels must be a positive integer, got {channels}")
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            return CompactUNet(channels, self.width)


@dataclass(frozen=True)
class DDPMHistory:
    """The mean training loss per epoch and the training time in seconds."""

    loss: tuple[float, ...]
    seconds: float


def train_diffusion(
    model: nn.Module,
    schedule: object,
    images: np.ndarray,
    *,
    epochs: int,
    batch_size: int,
    lr: float,
    seed: int,
) -> DDPMHistory:
    """Train ``model`` (eps_theta(x_t, t)) in place on ``images`` in [0, 1] (n, C, H, W),
    mapped to [-1, 1], with ``schedule``'s abar (a DDPMSchedule or anything with
    ``alphas_cumprod``). Batches, t and eps all come from one ``torch.Generator(seed)``
    inside ``torch.random.fork_rng`` (the caller's RNG is untouched): same seed, same model
    on CPU. The model is left in eval mode. ConfigError when the loss diverges."""
    x = check_images(images, "training images")
    if x.min() < 0 or x.max() > 1:
        raise ConfigError("training images must be in [0, 1] (they are mapped to [-1, 1])")
    epochs = check_int(epochs, "epochs", low=1)
    batch_size = check_int(batch_size, "batch_size", low=1)
    abar = torch.from_numpy(_alphas_cumprod(schedule)).float()
    x_all = torch.from_numpy(2.0 * x - 1.0)
    n, T = len(x_all), len(abar)
    gen = torch.Generator().manual_seed(check_int(seed, "seed", low=0))
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    hist: list[float] = []
    start = time.perf_counter()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        model.train()
        for epoch in range(epochs):
            total = 0.0
            perm = torch.randperm(n, generator=gen)
            for lo in range(0, n, batch_size):
                x0 = x_all[perm[lo : lo + batch_size]]
                t = torch.randint(0, T, (len(x0),), generator=gen)
                eps = torch.randn(x0.shape, generator=gen)
                a = abar[t].view(-1, 1, 1, 1)
                loss = (eps - model(a.sqrt() * x0 + (1 - a).sqrt() * eps, t)).pow(2).mean()
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                total += float(loss.detach()) * len(x0)
            mean = total / n
            if not math.isfinite(mean):
                raise ConfigError(
                    f"DDPM training diverged in epoch {epoch + 1} (loss {mean}); lower lr ({lr})"
                )
            hist.append(mean)
    model.eval()
    return DDPMHistory(tuple(hist), time.perf_counter() - start)


def train_ddpm(recipe: DDPMRecipe, images: np.ndarray) -> tuple[DiffusionTarget, DDPMHistory]:
    """miaudit's DDPM trained by ``recipe`` on ``images`` (n, C, H, W) in [0, 1], H and W
    divisible by 4, as a :class:`DiffusionTarget`."""
    x = check_images(images, "training images")
    if x.shape[2] % 4 or x.shape[3] % 4:
        raise ConfigError(
            f"the ddpm recipe's U-Net halves the image twice: H and W must be divisible by "
            f"4, got {x.shape[2]}x{x.shape[3]}"
        )
    schedule = recipe.schedule()
    model = recipe.build(channels=x.shape[1])
    history = train_diffusion(
        model,
        schedule,
        x,
        epochs=recipe.epochs,
        batch_size=recipe.batch_size,
        lr=recipe.lr,
        seed=recipe.seed,
    )
    return DiffusionTarget(model, schedule, tuple(x.shape[1:])), history
