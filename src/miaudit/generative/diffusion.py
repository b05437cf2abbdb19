"""Diffusion models as audit targets (issue 14): the DDPM noise schedule and
:class:`DiffusionTarget`, a denoiser eps_theta(x_t, t) with its schedule, whose forward
passes are counted as the attacker's queries.

Conventions (those of the SecMI and PIA authors' code and of diffusers): timesteps are
indices t = 0..T-1 into ``alphas_cumprod`` (Ho et al.'s t = 1..T, shifted by one), abar_t =
prod_{s <= t} (1 - beta_s), and x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps (Ho et al.
2020 eq. 4). Records are images in [0, 1]; the diffusion runs on x_0 = 2 x - 1 in [-1, 1]
(Ho et al. sec. 3.3), so a user model must have been trained on that scaling.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from miaudit.errors import ConfigError, DataError
from miaudit.generative.images import check_images
from miaudit.validation import check_int, check_number

#: images per forward pass (memory, not results: see each method for the tolerance)
DEFAULT_BATCH = 256


@dataclass(frozen=True)
class DDPMSchedule:
    """Linear betas from ``beta_start`` to ``beta_end`` over ``timesteps`` steps (Ho et
    al. 2020 sec. 4: T = 1000, 1e-4 to 0.02). For a smaller T, scale both by 1000 / T to
    keep the same total noise (Nichol & Dhariwal 2021's linear schedule does this);
    :meth:`scaled` builds that."""

    timesteps: int = 1000
    beta_start: float = 1e-4
    beta_end: float = 0.02

    def __post_init__(self) -> None:
        check_int(self.timesteps, "diffusion timesteps T", low=1)
        check_number(self.beta_start, "beta_start", low=0, high=1, closed="neither")
        check_number(self.beta_end, "beta_end", low=0, high=1, closed="neither")
        if self.beta_end < self.beta_start:
            raise ConfigError(
                f"beta_end ({self.beta_end}) must be >= beta_start ({self.beta_start})"
            )

    @classmethod
    def scaled(cls, timesteps: int) -> DDPMSchedule:
        """Ho et al.'s linear schedule rescaled to ``timesteps`` steps (betas x 1000 / T)."""
        s = 1000.0 / check_int(timesteps, "diffusion timesteps T", low=1)
        return cls(timesteps, min(1e-4 * s, 0.5), min(0.02 * s, 0.999))

    @property
    def betas(self) -> np.ndarray:
        """float64 (T,)."""
        return np.linspace(self.beta_start, self.beta_end, self.timesteps, dtype=np.float64)

    @property
    def alphas_cumprod(self) -> np.ndarray:
        """abar_t = prod_{s <= t} (1 - beta_s), float64 (T,)."""
        return np.cumprod(1.0 - self.betas)


def _alphas_cumprod(schedule: Any) -> np.ndarray:
    """A schedule's abar as float64 (T,): a DDPMSchedule, or any object with an
    ``alphas_cumprod`` array or tensor (a diffusers DDPMScheduler, duck-typed)."""
    raw = getattr(schedule, "alphas_cumprod", None)
    if raw is None:
        raise DataError(
            "a diffusion target's schedule must be a DDPMSchedule or have alphas_cumprod "
            f"(a diffusers scheduler), got {type(schedule).__name__}"
        )
    if isinstance(raw, torch.Tensor):
        raw = raw.detach().cpu().double().numpy()
    a = np.asarray(raw, dtype=np.float64).reshape(-1)
    if (
        a.size == 0
        or not np.all(np.isfinite(a))
        or np.any(a <= 0)
        or np.any(a >= 1)
        or np.any(np.diff(a) > 0)
    ):
        raise DataError(
            "the schedule's alphas_cumprod must be a non-empty, non-increasing sequence in (0, 1)"
        )
    return a


@dataclass(eq=False)
class DiffusionTarget:
    """A diffusion model under audit: ``model(x_t, t) -> eps_hat`` with x_t (b, C, H, W) in
    the [-1, 1] space and t (b,) int64 timestep indices, and its noise ``schedule`` (a
    :class:`DDPMSchedule` or any object with ``alphas_cumprod``, e.g. a diffusers
    DDPMScheduler). The model is used in eval mode, never trained here. ``queries`` counts
    the denoiser's forward passes, one per image.

    Threat model of every attack on it: query access to the denoiser eps_theta (white-box
    in the sense of the diffusion papers: the attacker evaluates the noise prediction at
    inputs and timesteps of its choice), not to the training data or gradients.
    """

    model: nn.Module
    schedule: Any
    record_shape: tuple[int, int, int]
    queries: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        if not isinstance(self.model, nn.Module):
            raise DataError(
                "a diffusion target's model must be a torch module, got "
                f"{type(self.model).__name__}"
            )
        self._abar = _alphas_cumprod(self.schedule)
        shape = tuple(int(s) for s in self.record_shape)
        if len(shape) != 3 or min(shape) < 1:
            raise DataError(f"record_shape must be (C, H, W), got {self.record_shape}")
        self.record_shape = shape  # type: ignore[assignment]

    @property
    def timesteps(self) -> int:
        """T, the number of diffusion steps."""
        return len(self._abar)

    @property
    def alphas_cumprod(self) -> np.ndarray:
        """abar_t, float64 (T,) (a copy)."""
        return self._abar.copy()

    def check_records(self, records: object) -> np.ndarray:
        """``records`` as float32 images in [0, 1] of ``record_shape``, or DataError."""
        x = check_images(records)
        if x.shape[1:] != self.record_shape:
            raise DataError(
                f"records are images of shape {x.shape[1:]}, but this diffusion model "
                f"denoises images of shape {self.record_shape}"
            )
        if x.min() < 0 or x.max() > 1:
            raise DataError(
                f"records must be images in [0, 1] (the target maps them to [-1, 1]), got "
                f"values in [{x.min():g}, {x.max():g}]"
            )
        return x

    def check_timestep(self, t: object, what: str = "timestep t") -> int:
        """``t`` as an int in [0, T - 1], or DataError."""
        return check_int(t, what, low=0, high=self.timesteps - 1, error=DataError)

    def abar(self, t: int) -> float:
        return float(self._abar[t])

    def eps(self, x_t: torch.Tensor, t: int | torch.Tensor) -> torch.Tensor:
        """eps_theta(x_t, t) on one batch (float32, no gradient), counted; DataError when
        the model's output is not of x_t's shape or not finite."""
        tt = torch.as_tensor(t, dtype=torch.long)
        if tt.ndim == 0:
            tt = tt.expand(len(x_t))
        was = self.model.training
        self.model.eval()
        try:
            with torch.no_grad():
                out = self.model(x_t, tt)
        finally:
            self.model.train(was)
        if not isinstance(out, torch.Tensor) and hasattr(out, "sample"):
            out = out.sample  # a diffusers UNet2DModel's output
        if tuple(out.shape) != tuple(x_t.shape):
            raise DataError(
                f"the denoiser returned shape {tuple(out.shape)} for inputs of shape "
                f"{tuple(x_t.shape)}; eps_theta(x_t, t) must have x_t's shape"
            )
        if not torch.all(torch.isfinite(out)):
            raise DataError("the denoiser returned NaN or inf values")
        self.queries += len(x_t)
        return out.float()

    # -- the attacks' measurements -------------------------------------------------------

    def timestep_losses(
        self,
        records: np.ndarray,
        timesteps: Sequence[int],
        *,
        draws: int,
        seed: int,
        batch_size: int = DEFAULT_BATCH,
    ) -> np.ndarray:
        """float64 (n, len(timesteps)): mean over ``draws`` noise draws of the per-pixel
        mean of (eps - eps_theta(sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps, t))^2 (Ho et al.
        eq. 14's loss, Carlini et al. 2023's and Matsumoto et al. 2023's signal; the mean
        over pixels ranks records as the squared norm does).

        The noise comes from ``torch.Generator(seed)``: for each draw, then each timestep,
        one (n, C, H, W) tensor for all records at once, so a record's noise does not depend
        on the batch size; results then agree across batch sizes to float32 rounding of
        batched convolutions (~1e-6 relative)."""
        x = self._to_model_space(records)
        ts = [self.check_timestep(t) for t in timesteps]
        if not ts:
            raise DataError("timestep_loss needs at least one timestep")
        draws = check_int(draws, "noise draws", low=1, error=DataError)
        batch_size = check_int(batch_size, "batch_size", low=1, error=DataError)
        gen = torch.Generator().manual_seed(check_int(seed, "seed", low=0, error=DataError))
        out = np.zeros((len(x), len(ts)), dtype=np.float64)
        for _ in range(draws):
            for j, t in enumerate(ts):
                noise = torch.randn(x.shape, generator=gen)
                a = self.abar(t)
                x_t = (a**0.5) * x + ((1 - a) ** 0.5) * noise
                for lo in range(0, len(x), batch_size):
                    e = self.eps(x_t[lo : lo + batch_size], t)
                    err = (noise[lo : lo + batch_size] - e).double().pow(2).flatten(1).mean(1)
                    out[lo : lo + len(e), j] += err.numpy()
        return out / draws

    def _ddim_step(self, x: torch.Tensor, t_from: int, t_to: int) -> torch.Tensor:
        """The deterministic DDIM step (Song et al. 2021 eq. 12 with sigma = 0) from
        timestep ``t_from`` to ``t_to`` (either direction): predict x_0 from eps_theta(x,
        t_from), then re-noise it to t_to with the same eps."""
        eps = self.eps(x, t_from).double()
        a_from, a_to = self.abar(t_from), self.abar(t_to)
        x0 = (x.double() - (1 - a_from) ** 0.5 * eps) / a_from**0.5
        return (a_to**0.5 * x0 + (1 - a_to) ** 0.5 * eps).float()

    def secmi_errors(
        self, records: np.ndarray, *, t: int, k: int, batch_size: int = DEFAULT_BATCH
    ) -> np.ndarray:
        """SecMI's t-error (Duan et al. 2023, eq. 11-12), float64 (n,): x_t by the
        deterministic DDIM inversion of x_0 in steps of k (0 -> k -> ... -> t, the first
        step reading eps_theta(x_0, 0) as the authors' code does), one DDIM step on to
        t + k and one back, and ||x_t - x_hat_t||^2 summed over pixels. Requires t % k ==
        0 and t + k <= T - 1. Records are independent, so batching changes only float
        rounding (~1e-6 relative)."""
        x = self._to_model_space(records)
        k = check_int(k, "SecMI step k", low=1, error=DataError)
        t = self.check_timestep(t, "SecMI timestep t")
        if t % k:
            raise DataError(f"SecMI's t ({t}) must be a multiple of its step k ({k})")
        self.check_timestep(t + k, f"SecMI's t + k ({t + k})")
        batch_size = check_int(batch_size, "batch_size", low=1, error=DataError)
        out = np.empty(len(x), dtype=np.float64)
        for lo in range(0, len(x), batch_size):
            xt = x[lo : lo + batch_size]
            for s in range(0, t, k):
                xt = self._ddim_step(xt, s, s + k)
            x_hat = self._ddim_step(self._ddim_step(xt, t, t + k), t + k, t)
            out[lo : lo + len(xt)] = (xt - x_hat).double().pow(2).flatten(1).sum(1).numpy()
        return out

    def pia_errors(
        self, records: np.ndarray, *, t: int, p: float, batch_size: int = DEFAULT_BATCH
    ) -> np.ndarray:
        """PIA's distance (Kong et al. 2024, sec. 4, "proximal initialization"), float64
        (n,): eps_0 = eps_theta(x_0, 0), x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps_0
        and ||eps_0 - eps_theta(x_t, t)||_p over the pixels (the authors' code sums
        |.|^p, the p-th power of this norm: the same ranking). Two queries per record;
        records are independent, so batching changes only float rounding."""
        x = self._to_model_space(records)
        t = self.check_timestep(t, "PIA timestep t")
        p = check_number(p, "PIA norm p", low=0, closed="neither", error=DataError)
        batch_size = check_int(batch_size, "batch_size", low=1, error=DataError)
        a = self.abar(t)
        out = np.empty(len(x), dtype=np.float64)
        for lo in range(0, len(x), batch_size):
            x0 = x[lo : lo + batch_size]
            eps0 = self.eps(x0, 0)
            x_t = a**0.5 * x0 + (1 - a) ** 0.5 * eps0
            diff = (eps0 - self.eps(x_t, t)).double().abs().flatten(1)
            out[lo : lo + len(x0)] = diff.pow(p).sum(1).pow(1.0 / p).numpy()
        return out

    def sample(self, k: int, *, seed: int, batch_size: int = DEFAULT_BATCH) -> np.ndarray:
        """``k`` generated images in [0, 1], float32 (k, C, H, W), by DDPM ancestral
        sampling (Ho et al. Algorithm 2, sigma_t^2 = beta_t) over all T steps. x_T and every
        step's noise are drawn for all k images at once from ``torch.Generator(seed)``, so
        the batch size changes only float rounding. T x k queries."""
        k = check_int(k, "the number of generated samples k", low=1, error=DataError)
        batch_size = check_int(batch_size, "batch_size", low=1, error=DataError)
        gen = torch.Generator().manual_seed(check_int(seed, "seed", low=0, error=DataError))
        abar = self._abar
        alphas = abar / np.r_[1.0, abar[:-1]]
        x = torch.randn((k, *self.record_shape), generator=gen)
        for t in range(self.timesteps - 1, -1, -1):
            z = torch.randn(x.shape, generator=gen) if t > 0 else torch.zeros_like(x)
            eps = torch.cat(
                [self.eps(x[lo : lo + batch_size], t) for lo in range(0, k, batch_size)]
            )
            beta = 1 - alphas[t]
            mean = (x - beta / (1 - abar[t]) ** 0.5 * eps) / alphas[t] ** 0.5
            x = mean + beta**0.5 * z
        return ((x.clamp(-1, 1) + 1) / 2).numpy().astype(np.float32)

    def _to_model_space(self, records: object) -> torch.Tensor:
        return torch.from_numpy(2.0 * self.check_records(records) - 1.0)
