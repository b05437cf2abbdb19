"""miaudit's DCGAN recipe for small grey images (Radford et al. 2016, "Unsupervised
Representation Learning with Deep Convolutional Generative Adversarial Networks", ICLR):
strided (transposed) convolutions, batch norm and ReLU in the generator, LeakyReLU(0.2) in
the discriminator, Adam(lr 2e-4, beta1 0.5).

Sized for 28x28 images (MNIST) and 2 CPU cores: the generator maps z ~ N(0, I) of
``latent_dim`` to (2w, 7, 7), then two stride-2 transposed convolutions to (1, 28, 28)
with an output in [0, 1] (``(tanh + 1) / 2``, DCGAN's tanh rescaled to the records'
range); the discriminator mirrors it and returns one logit. Departure from DCGAN: the
discriminator has no batch norm. With it, D's score of a record depends on the batch
statistics of training (real and fake batches alternate, so eval-mode running statistics
mix both), and LOGAN reads D's score of each record alone; without it, D(x) is a function
of x only.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from miaudit.errors import ConfigError
from miaudit.validation import check_int, check_number

#: the image size the recipe builds for (two stride-2 up-samplings from 7x7)
IMAGE_SIZE = 28


class DCGANGenerator(nn.Module):
    """z (b, latent_dim) -> images (b, channels, 28, 28) in [0, 1]."""

    def __init__(self, latent_dim: int = 64, width: int = 32, channels: int = 1) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        w2 = 2 * width
        self.project = nn.Sequential(
            nn.Linear(latent_dim, w2 * 7 * 7, bias=False), nn.BatchNorm1d(w2 * 7 * 7), nn.ReLU()
        )
        self.up = nn.Sequential(
            nn.ConvTranspose2d(w2, width, 4, 2, 1, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(),
            nn.ConvTranspose2d(width, channels, 4, 2, 1),
        )
        self._w2 = w2

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.project(z).view(z.shape[0], self._w2, 7, 7)
        return 0.5 * (torch.tanh(self.up(h)) + 1.0)


class DCGANDiscriminator(nn.Module):
    """images (b, channels, 28, 28) -> logits (b,) (higher = "real")."""

    def __init__(self, width: int = 32, channels: int = 1) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(channels, width, 4, 2, 1),
            nn.LeakyReLU(0.2),
            nn.Conv2d(width, 2 * width, 4, 2, 1),
            nn.LeakyReLU(0.2),
            nn.Flatten(),
            nn.Linear(2 * width * 7 * 7, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(1)


@dataclass(frozen=True)
class DCGANRecipe:
    """How miaudit trains a GAN target (and the reference and attacker GANs).

    Attributes:
        latent_dim: size of the generator's input z ~ N(0, I).
        width: channels of the first (last) convolution; the other has twice as many.
        epochs: passes over the training images.
        batch_size: images per step (the last batch of an epoch may be smaller).
        lr: Adam's learning rate, for both networks (DCGAN: 2e-4).
        beta1: Adam's first-moment decay (DCGAN: 0.5).
        seed: seeds the weights, the batches and every z drawn in training.
    """

    latent_dim: int = 64
    width: int = 32
    epochs: int = 100
    batch_size: int = 64
    lr: float = 2e-4
    beta1: float = 0.5
    seed: int = 0

    def __post_init__(self) -> None:
        check_int(self.latent_dim, "dcgan latent_dim", low=1)
        check_int(self.width, "dcgan width", low=1)
        check_int(self.epochs, "dcgan epochs", low=1)
        check_int(self.batch_size, "dcgan batch_size", low=2)
        check_number(self.lr, "dcgan lr", low=0, closed="neither")
        check_number(self.beta1, "dcgan beta1", low=0, high=1, closed="left")
        check_int(self.seed, "dcgan seed", low=0)

    def build(self, channels: int = 1) -> tuple[DCGANGenerator, DCGANDiscriminator]:
        """A fresh (generator, discriminator) pair, initialised from ``seed``."""
        if channels < 1:
            raise ConfigError(f"dcgan channels must be a positive integer, got {channels}")
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            g = DCGANGenerator(self.latent_dim, self.width, channels)
            d = DCGANDiscriminator(self.width, channels)
        return g, d
