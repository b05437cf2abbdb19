"""VAE targets (issue 14): miaudit's convolutional VAE recipe, user encoder/decoder pairs,
and the per-record quantities the VAE attacks read (Kingma and Welling 2014,
"Auto-Encoding Variational Bayes", ICLR: the ELBO of eq. 3 with the analytic Gaussian KL
of appendix B).

Likelihood: the decoder returns Bernoulli logits per pixel and log p(x|z) is minus the
binary cross-entropy summed over pixels, the standard choice for MNIST in [0, 1] (and the
one of Hilprecht et al.'s reference VAE, a Bernoulli decoder). Generated samples are the
Bernoulli means sigmoid(logits) of z ~ N(0, I), as in the authors' code (not binarised).
The encoder maps images (b, C, H, W) in [0, 1] to (mu, logvar), each (b, latent_dim).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from miaudit.errors import ConfigError, DataError
from miaudit.generative.images import check_images
from miaudit.generative.target import DEFAULT_BATCH
from miaudit.validation import check_int, check_number

#: the image size the recipe builds for (two stride-2 down/up-samplings around 7x7)
VAE_IMAGE_SIZE = 28


class ConvEncoder(nn.Module):
    """images (b, C, 28, 28) -> (mu, logvar), each (b, latent_dim)."""

    def __init__(self, latent_dim: int = 16, width: int = 32, channels: int = 1) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(channels, width, 4, 2, 1),
            nn.ReLU(),
            nn.Conv2d(width, 2 * width, 4, 2, 1),
            nn.ReLU(),
            nn.Flatten(),
        )
        self.head = nn.Linear(2 * width * 7 * 7, 2 * latent_dim)
        self.latent_dim = latent_dim

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.head(self.net(x))
        return h[:, : self.latent_dim], h[:, self.latent_dim :]


class ConvDecoder(nn.Module):
    """z (b, latent_dim) -> Bernoulli logits (b, C, 28, 28)."""

    def __init__(self, latent_dim: int = 16, width: int = 32, channels: int = 1) -> None:
        super().__init__()
        self._w2 = 2 * width
        self.project = nn.Sequential(nn.Linear(latent_dim, self._w2 * 7 * 7), nn.ReLU())
        self.up = nn.Sequential(
            nn.ConvTranspose2d(self._w2, width, 4, 2, 1),
            nn.ReLU(),
            nn.ConvTranspose2d(width, channels, 4, 2, 1),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.up(self.project(z).view(z.shape[0], self._w2, 7, 7))


@dataclass(frozen=True)
class VAERecipe:
    """How miaudit trains a VAE target.

    Attributes:
        latent_dim: size of z; ``width``: channels of the outer convolutions (the inner
            ones have twice as many); ``epochs``, ``batch_size``: passes and images per
            step; ``lr``: Adam's learning rate; ``beta``: the KL weight (1 = the ELBO);
        seed: seeds the weights, the batches and every reparameterisation draw.
    """

    latent_dim: int = 16
    width: int = 32
    epochs: int = 50
    batch_size: int = 64
    lr: float = 1e-3
    beta: float = 1.0
    seed: int = 0

    def __post_init__(self) -> None:
        check_int(self.latent_dim, "vae latent_dim", low=1)
        check_int(self.width, "vae width", low=1)
        check_int(self.epochs, "vae epochs", low=1)
        check_int(self.batch_size, "vae batch_size", low=1)
        check_number(self.lr, "vae lr", low=0, closed="neither")
        check_number(self.beta, "vae beta", low=0)
        check_int(self.seed, "vae seed", low=0)

    def build(self, channels: int = 1) -> tuple[ConvEncoder, ConvDecoder]:
        """A fresh (encoder, decoder) pair, initialised from ``seed``."""
        if not isinstance(channels, int) or channels < 1:
            raise ConfigError(f"vae channels must be a positive integer, got {channels}")
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            enc = ConvEncoder(self.latent_dim, self.width, channels)
            dec = ConvDecoder(self.latent_dim, self.width, channels)
        return enc, dec


def _gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(0, I)) per row (Kingma & Welling 2014, appendix B)."""
    return 0.5 * torch.sum(mu.square() + logvar.exp() - logvar - 1.0, dim=1)


def _log_likelihood(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """log p(x|z) of a Bernoulli decoder per image: minus BCE summed over pixels."""
    bce = F.binary_cross_entropy_with_logits(logits, x, reduction="none")
    return -bce.reshape(len(x), -1).sum(dim=1)


@dataclass(eq=False)
class VAETarget:
    """A VAE under audit: ``decoder`` maps z (b, latent_dim) to Bernoulli logits of images
    of ``record_shape`` (C, H, W); ``encoder`` (images -> (mu, logvar)) is the white-box
    part ("full" access: encoder and decoder). A black-box view (:meth:`black_box`) has
    only the decoder of prior samples. Modules are used in eval mode and never trained
    here; ``samples_drawn`` counts generated samples (the generator's queries)."""

    decoder: nn.Module
    latent_dim: int
    record_shape: tuple[int, int, int]
    encoder: nn.Module | None = None
    samples_drawn: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        if not isinstance(self.decoder, nn.Module):
            raise DataError(
                f"a VAE target's decoder must be a torch module, got {type(self.decoder).__name__}"
            )
        if self.encoder is not None and not isinstance(self.encoder, nn.Module):
            raise DataError(
                "a VAE target's encoder must be a torch module or None, got "
                f"{type(self.encoder).__name__}"
            )
        self.latent_dim = check_int(self.latent_dim, "latent_dim", low=1, error=DataError)
        shape = tuple(int(s) for s in self.record_shape)
        if len(shape) != 3 or min(shape) < 1:
            raise DataError(f"record_shape must be (C, H, W), got {self.record_shape}")
        self.record_shape = shape  # type: ignore[assignment]

    @property
    def white_box(self) -> bool:
        """Whether the encoder is available (full access)."""
        return self.encoder is not None

    def black_box(self) -> VAETarget:
        """This target without its encoder: what a sample-only attacker holds."""
        return VAETarget(self.decoder, self.latent_dim, self.record_shape, None)

    def check_records(self, records: object) -> np.ndarray:
        """``records`` as float32 images of ``record_shape`` in [0, 1], or DataError."""
        x = check_images(records)
        if x.shape[1:] != self.record_shape:
            raise DataError(
                f"records are images of shape {x.shape[1:]}, but this VAE generates images "
                f"of shape {self.record_shape}"
            )
        if x.min() < 0 or x.max() > 1:
            raise DataError(
                "records must have pixels in [0, 1] (the VAE's Bernoulli likelihood), got "
                f"values in [{x.min()}, {x.max()}]"
            )
        return x

    def _decode(self, z: torch.Tensor) -> torch.Tensor:
        logits = self.decoder(z)
        expected = (len(z), *self.record_shape)
        if tuple(logits.shape) != expected:
            raise DataError(
                f"the decoder's output has shape {tuple(logits.shape)} for {len(z)} latent "
                f"codes; the records are images of shape {self.record_shape} (a decoder for "
                "other images, or the wrong latent_dim?)"
            )
        return logits.float()

    def _encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.encoder is None:
            raise DataError(
                "this needs the VAE's encoder (white-box/full access), and this target has "
                "none (give VAETarget(..., encoder=E), or run the black-box monte_carlo attack)"
            )
        out = self.encoder(x)
        if not (isinstance(out, tuple | list) and len(out) == 2):
            raise DataError("the encoder must return (mu, logvar), a pair of tensors")
        mu, logvar = out
        expected = (len(x), self.latent_dim)
        if tuple(mu.shape) != expected or tuple(logvar.shape) != expected:
            raise DataError(
                f"the encoder returned mu {tuple(mu.shape)} and logvar {tuple(logvar.shape)} "
                f"for {len(x)} images; expected {expected} each (latent_dim={self.latent_dim})"
            )
        return mu.float(), logvar.float()

    def sample(self, k: int, *, seed: int, batch_size: int = DEFAULT_BATCH) -> np.ndarray:
        """``k`` generated images, float32 (k, C, H, W): sigmoid(decoder(z_i)), z_i ~ N(0, I)
        drawn from ``torch.Generator(seed)`` all at once, then decoded batch by batch (the
        same latent codes whatever the batch size; the images equal up to the float
        rounding of batched convolutions, ~1e-7)."""
        k = check_int(k, "the number of generated samples k", low=1, error=DataError)
        batch_size = check_int(batch_size, "batch_size", low=1, error=DataError)
        gen = torch.Generator().manual_seed(check_int(seed, "seed", low=0, error=DataError))
        z = torch.randn(k, self.latent_dim, generator=gen)
        out = np.empty((k, *self.record_shape), dtype=np.float32)
        with _eval(self.decoder), torch.no_grad():
            for lo in range(0, k, batch_size):
                out[lo : lo + batch_size] = torch.sigmoid(self._decode(z[lo : lo + batch_size]))
        if not np.all(np.isfinite(out)):
            raise DataError("the decoder returned NaN or inf pixels")
        self.samples_drawn += k
        return out

    def _posterior_pass(
        self, records: object, samples: int, seed: int, batch_size: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Per record, averaged over ``samples`` draws z_s = mu + sigma * e_s: the ELBO
        log p(x|z_s) - KL(q(z|x) || p(z)) and the mean squared pixel error between x and
        the decoded mean sigmoid(decoder(z_s)). The noise e (n, samples, latent_dim) is
        drawn from ``torch.Generator(seed)`` at once, so results do not depend on
        ``batch_size`` beyond float rounding."""
        x = self.check_records(records)
        samples = check_int(samples, "posterior samples", low=1, error=DataError)
        batch_size = check_int(batch_size, "batch_size", low=1, error=DataError)
        gen = torch.Generator().manual_seed(check_int(seed, "seed", low=0, error=DataError))
        noise = torch.randn(len(x), samples, self.latent_dim, generator=gen)
        elbo = np.empty(len(x), dtype=np.float64)
        mse = np.empty(len(x), dtype=np.float64)
        if self.encoder is None:
            self._encode(torch.from_numpy(x[:1]))  # raises the one-line DataError
        with _eval(self.encoder), _eval(self.decoder), torch.no_grad():
            for lo in range(0, len(x), batch_size):
                xb = torch.from_numpy(x[lo : lo + batch_size])
                b = len(xb)
                mu, logvar = self._encode(xb)
                z = mu[:, None] + torch.exp(0.5 * logvar)[:, None] * noise[lo : lo + b]
                logits = self._decode(z.reshape(b * samples, self.latent_dim))
                xr = xb.repeat_interleave(samples, dim=0)
                ll = _log_likelihood(logits, xr).double().reshape(b, samples).mean(1)
                kl = _gaussian_kl(mu, logvar).double()
                err = (torch.sigmoid(logits) - xr).square().reshape(b * samples, -1).mean(1)
                elbo[lo : lo + b] = (ll - kl).numpy()
                mse[lo : lo + b] = err.double().reshape(b, samples).mean(1).numpy()
        if not (np.all(np.isfinite(elbo)) and np.all(np.isfinite(mse))):
            raise DataError("the VAE returned NaN or inf values (encoder or decoder)")
        return elbo, mse

    def elbo(
        self, records: object, *, samples: int = 1, seed: int = 0, batch_size: int = 256
    ) -> np.ndarray:
        """float64 (n,): each record's ELBO estimate, mean over ``samples`` posterior draws
        of log p(x|z) minus the analytic KL (Kingma & Welling 2014, eq. 10)."""
        return self._posterior_pass(records, samples, seed, batch_size)[0]

    def reconstruct(
        self, records: object, *, samples: int = 1, seed: int = 0, batch_size: int = 256
    ) -> np.ndarray:
        """float64 (n,): each record's reconstruction error through encoder and decoder,
        the mean squared pixel error of sigmoid(decoder(z)) for z ~ q(z|x), averaged over
        ``samples`` draws (Hilprecht et al. 2019's reconstruction attack; MSE as in the
        authors' ``vae.autoencoder_rec_loss``)."""
        return self._posterior_pass(records, samples, seed, batch_size)[1]


class _eval:
    """Context: a module (or None) in eval mode, its mode restored after."""

    def __init__(self, module: nn.Module | None) -> None:
        self.module = module

    def __enter__(self) -> None:
        if self.module is not None:
            self.was = self.module.training
            self.module.eval()

    def __exit__(self, *exc: object) -> None:
        if self.module is not None:
            self.module.train(self.was)


@dataclass(frozen=True)
class VAEHistory:
    """Mean loss (minus the beta-ELBO, per image) per epoch, and the training seconds."""

    loss: tuple[float, ...]
    seconds: float


def train_vae_modules(
    encoder: nn.Module,
    decoder: nn.Module,
    images: np.ndarray,
    *,
    latent_dim: int,
    epochs: int,
    batch_size: int,
    lr: float,
    beta: float = 1.0,
    seed: int = 0,
) -> tuple[VAETarget, VAEHistory]:
    """Train ``encoder`` and ``decoder`` in place on ``images`` (n, C, H, W) in [0, 1] by
    minimising the mean over a batch of BCE(x, decoder(z)) + beta * KL, z = mu + sigma * e
    (the reparameterisation trick). Batches and e come from ``torch.Generator(seed)``,
    inside ``torch.random.fork_rng``: same seed, same VAE on CPU. The modules' shapes are
    checked on one image before training (DataError). Returns a white-box VAETarget."""
    x_all = check_images(images, "training images")
    for v, what in ((epochs, "epochs"), (batch_size, "batch_size"), (latent_dim, "latent_dim")):
        check_int(v, what, low=1)
    check_number(lr, "lr", low=0, closed="neither")
    check_number(beta, "beta", low=0)
    target = VAETarget(decoder, latent_dim, tuple(x_all.shape[1:]), encoder)
    x_all = target.check_records(x_all)
    with torch.no_grad(), _eval(encoder), _eval(decoder):  # shapes, before training
        mu, _ = target._encode(torch.from_numpy(x_all[:2]))
        target._decode(mu)
    xt = torch.from_numpy(np.ascontiguousarray(x_all))
    n = len(xt)
    gen = torch.Generator().manual_seed(int(seed))
    params = list(encoder.parameters()) + list(decoder.parameters())
    opt = torch.optim.Adam(params, lr=lr)
    hist: list[float] = []
    start = time.perf_counter()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        encoder.train()
        decoder.train()
        for epoch in range(epochs):
            total = 0.0
            perm = torch.randperm(n, generator=gen)
            for lo in range(0, n, batch_size):
                xb = xt[perm[lo : lo + batch_size]]
                mu, logvar = encoder(xb)
                z = mu + torch.exp(0.5 * logvar) * torch.randn(mu.shape, generator=gen)
                nll = -_log_likelihood(decoder(z), xb)
                loss = (nll + beta * _gaussian_kl(mu, logvar)).mean()
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                total += float(loss.detach()) * len(xb)
            mean = total / n
            if not math.isfinite(mean):
                raise ConfigError(
                    f"VAE training diverged in epoch {epoch + 1} (loss {mean}); lower lr={lr}"
                )
            hist.append(mean)
    encoder.eval()
    decoder.eval()
    return target, VAEHistory(tuple(hist), time.perf_counter() - start)


def train_vae(recipe: VAERecipe, images: np.ndarray) -> tuple[VAETarget, VAEHistory]:
    """miaudit's conv VAE trained by ``recipe`` on ``images`` (n, C, 28, 28) in [0, 1], as
    a white-box :class:`VAETarget` (``.black_box()`` for a sample-only attacker)."""
    x = check_images(images, "training images")
    if x.shape[2:] != (VAE_IMAGE_SIZE, VAE_IMAGE_SIZE):
        raise ConfigError(
            f"the vae recipe builds for {VAE_IMAGE_SIZE}x{VAE_IMAGE_SIZE} images, got "
            f"{x.shape[2]}x{x.shape[3]}; resize the records or give your own VAE modules"
        )
    enc, dec = recipe.build(channels=int(x.shape[1]))
    return train_vae_modules(
        enc,
        dec,
        x,
        latent_dim=recipe.latent_dim,
        epochs=recipe.epochs,
        batch_size=recipe.batch_size,
        lr=recipe.lr,
        beta=recipe.beta,
        seed=recipe.seed,
    )
