"""``GANTarget``: a trained generator (and, for white-box audits only, its discriminator)
as an audit target; generated samples are drawn in seeded batches and counted."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from miaudit.errors import DataError
from miaudit.generative.images import check_images
from miaudit.validation import check_int

#: images per forward pass when sampling or scoring (memory, not results: the values do
#: not depend on it)
DEFAULT_BATCH = 512


@dataclass(frozen=True)
class SampleCost:
    """What drawing generated samples cost: ``samples`` generator outputs in ``seconds``."""

    samples: int
    seconds: float


@dataclass(eq=False)
class GANTarget:
    """A GAN under audit: ``generator`` maps z (b, latent_dim) ~ N(0, I) to images of
    ``record_shape`` (C, H, W).

    ``discriminator`` (images -> one logit per image) is the white-box part: a black-box
    attacker sees generated samples only, and :meth:`discriminate` refuses when it is None.
    Both modules are used in eval mode and never trained here. ``samples_drawn`` counts
    every generated sample (the generator's queries).
    """

    generator: nn.Module
    latent_dim: int
    record_shape: tuple[int, int, int]
    discriminator: nn.Module | None = None
    samples_drawn: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        if not isinstance(self.generator, nn.Module):
            raise DataError(
                "a GAN target's generator must be a torch module, got "
                f"{type(self.generator).__name__}"
            )
        if self.discriminator is not None and not isinstance(self.discriminator, nn.Module):
            raise DataError(
                "a GAN target's discriminator must be a torch module or None, got "
                f"{type(self.discriminator).__name__}"
            )
        self.latent_dim = check_int(self.latent_dim, "latent_dim", low=1, error=DataError)
        shape = tuple(int(s) for s in self.record_shape)
        if len(shape) != 3 or min(shape) < 1:
            raise DataError(f"record_shape must be (C, H, W), got {self.record_shape}")
        self.record_shape = shape  # type: ignore[assignment]

    @property
    def white_box(self) -> bool:
        """Whether the discriminator is available."""
        return self.discriminator is not None

    def black_box(self) -> GANTarget:
        """A view of this target without its discriminator (what a black-box attacker
        holds); samples drawn through it are counted on the view."""
        return GANTarget(self.generator, self.latent_dim, self.record_shape, None)

    def sample(self, k: int, *, seed: int, batch_size: int = DEFAULT_BATCH) -> np.ndarray:
        """``k`` generated images, float32 (k, C, H, W): G(z_i) for z_i ~ N(0, I) drawn from
        ``torch.Generator(seed)`` all at once, then generated batch by batch (same seed
        and k: the same latent codes whatever the batch size, and the same images up to
        the float rounding of batched convolutions, ~1e-7; bit-identical at the same
        batch size). DataError for k < 1 or a generator whose outputs are not images
        of ``record_shape`` (or not finite)."""
        k = check_int(k, "the number of generated samples k", low=1, error=DataError)
        batch_size = check_int(batch_size, "batch_size", low=1, error=DataError)
        gen = torch.Generator().manual_seed(check_int(seed, "seed", low=0, error=DataError))
        z = torch.randn(k, self.latent_dim, generator=gen)
        out = np.empty((k, *self.record_shape), dtype=np.float32)
        was = self.generator.training
        self.generator.eval()
        try:
            with torch.no_grad():
                for start in range(0, k, batch_size):
                    g = self.generator(z[start : start + batch_size])
                    expected = (min(batch_size, k - start), *self.record_shape)
                    if tuple(g.shape) != expected:
                        raise DataError(
                            f"the generator's output has shape {tuple(g.shape)} for "
                            f"{expected[0]} latent codes; the records are images of shape "
                            f"{self.record_shape} (a generator for other images, or the "
                            "wrong latent_dim?)"
                        )
                    out[start : start + len(g)] = g.float().cpu().numpy()
        finally:
            self.generator.train(was)
        if not np.all(np.isfinite(out)):
            raise DataError("the generator returned NaN or inf pixels")
        self.samples_drawn += k
        return out

    def discriminate(self, records: np.ndarray, *, batch_size: int = DEFAULT_BATCH) -> np.ndarray:
        """The discriminator's logit on each record, float64 (n,) (higher = "real").
        DataError when the target has no discriminator (a black-box target) or the
        records are not images of ``record_shape``."""
        if self.discriminator is None:
            raise DataError(
                "this attack is white-box: it needs the target's discriminator, and this "
                "GAN target has none (give GANTarget(..., discriminator=D))"
            )
        x = self.check_records(records)
        out = np.empty(len(x), dtype=np.float64)
        was = self.discriminator.training
        self.discriminator.eval()
        try:
            with torch.no_grad():
                for start in range(0, len(x), batch_size):
                    d = self.discriminator(torch.from_numpy(x[start : start + batch_size]))
                    d = d.reshape(d.shape[0], -1)
                    if d.shape[1] != 1:
                        raise DataError(
                            f"the discriminator must return one logit per image, got "
                            f"{d.shape[1]} values each"
                        )
                    out[start : start + len(d)] = d[:, 0].double().cpu().numpy()
        finally:
            self.discriminator.train(was)
        if not np.all(np.isfinite(out)):
            raise DataError("the discriminator returned NaN or inf scores")
        return out

    def check_records(self, records: object) -> np.ndarray:
        """``records`` as float32 images, or DataError when they are not of ``record_shape``."""
        x = check_images(records)
        if x.shape[1:] != self.record_shape:
            raise DataError(
                f"records are images of shape {x.shape[1:]}, but this GAN generates images "
                f"of shape {self.record_shape}"
            )
        return x
