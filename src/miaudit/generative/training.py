"""Training a GAN: the non-saturating minimax game of Goodfellow et al. 2014 ("Generative
Adversarial Nets", NeurIPS, sec. 3: G maximises log D(G(z)) rather than minimising
log(1 - D(G(z)))), one discriminator step and one generator step per batch, Adam for both
(DCGAN's settings); seeded end to end."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from miaudit.errors import ConfigError
from miaudit.generative.dcgan import IMAGE_SIZE, DCGANRecipe
from miaudit.generative.images import check_images
from miaudit.generative.target import GANTarget


@dataclass(frozen=True)
class GANHistory:
    """Mean losses per epoch (``d_loss``, ``g_loss``) and the training time in seconds."""

    d_loss: tuple[float, ...]
    g_loss: tuple[float, ...]
    seconds: float


def train_gan(
    generator: nn.Module,
    discriminator: nn.Module,
    images: np.ndarray,
    *,
    latent_dim: int,
    epochs: int,
    batch_size: int,
    lr: float,
    beta1: float,
    seed: int,
) -> GANHistory:
    """Train ``generator`` and ``discriminator`` in place on ``images`` (n, C, H, W).

    Per batch of real images x: D minimises BCE(D(x), 1) + BCE(D(G(z)), 0); then G
    minimises BCE(D(G(z')), 1) on fresh z'. Batches come from a ``torch.Generator(seed)``
    permutation per epoch and every z from the same generator, inside
    ``torch.random.fork_rng`` (the caller's RNG is untouched): same seed, same GAN on CPU.
    Both modules are left in eval mode. ConfigError when a loss diverges.
    """
    import time

    x_all = torch.from_numpy(np.ascontiguousarray(check_images(images, "training images")))
    n = len(x_all)
    gen = torch.Generator().manual_seed(int(seed))
    opt_d = torch.optim.Adam(discriminator.parameters(), lr=lr, betas=(beta1, 0.999))
    opt_g = torch.optim.Adam(generator.parameters(), lr=lr, betas=(beta1, 0.999))
    d_hist: list[float] = []
    g_hist: list[float] = []
    start = time.perf_counter()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        generator.train()
        discriminator.train()
        for epoch in range(epochs):
            d_sum = g_sum = 0.0
            steps = 0
            perm = torch.randperm(n, generator=gen)
            for lo in range(0, n, batch_size):
                real = x_all[perm[lo : lo + batch_size]]
                b = len(real)
                if b < 2:  # batch norm in G needs two samples; a lone last image waits
                    continue
                z = torch.randn(b, latent_dim, generator=gen)
                fake = generator(z)
                d_real = discriminator(real)
                d_fake = discriminator(fake.detach())
                d_loss = F.binary_cross_entropy_with_logits(
                    d_real, torch.ones_like(d_real)
                ) + F.binary_cross_entropy_with_logits(d_fake, torch.zeros_like(d_fake))
                opt_d.zero_grad(set_to_none=True)
                d_loss.backward()
                opt_d.step()
                z = torch.randn(b, latent_dim, generator=gen)
                d_gen = discriminator(generator(z))
                g_loss = F.binary_cross_entropy_with_logits(d_gen, torch.ones_like(d_gen))
                opt_g.zero_grad(set_to_none=True)
                g_loss.backward()
                opt_g.step()
                d_sum += float(d_loss.detach())
                g_sum += float(g_loss.detach())
                steps += 1
            d_mean, g_mean = d_sum / max(steps, 1), g_sum / max(steps, 1)
            if not (math.isfinite(d_mean) and math.isfinite(g_mean)):
                raise ConfigError(
                    f"GAN training diverged in epoch {epoch + 1} (D loss {d_mean}, G loss "
                    f"{g_mean}); lower the learning rate (lr={lr})"
                )
            d_hist.append(d_mean)
            g_hist.append(g_mean)
    generator.eval()
    discriminator.eval()
    return GANHistory(tuple(d_hist), tuple(g_hist), time.perf_counter() - start)


def train_dcgan(recipe: DCGANRecipe, images: np.ndarray) -> tuple[GANTarget, GANHistory]:
    """A DCGAN trained by ``recipe`` on ``images`` (n, C, 28, 28), as a white-box
    :class:`GANTarget` (use ``.black_box()`` for what a black-box attacker holds)."""
    x = check_images(images, "training images")
    if x.shape[2:] != (IMAGE_SIZE, IMAGE_SIZE):
        raise ConfigError(
            f"the dcgan recipe builds for {IMAGE_SIZE}x{IMAGE_SIZE} images, got "
            f"{x.shape[2]}x{x.shape[3]}; resize the records or give your own GAN modules"
        )
    g, d = recipe.build(channels=x.shape[1])
    history = train_gan(
        g,
        d,
        x,
        latent_dim=recipe.latent_dim,
        epochs=recipe.epochs,
        batch_size=recipe.batch_size,
        lr=recipe.lr,
        beta1=recipe.beta1,
        seed=recipe.seed,
    )
    return GANTarget(g, recipe.latent_dim, tuple(x.shape[1:]), d), history
