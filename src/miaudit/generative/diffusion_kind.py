"""The diffusion kind (issue 14): records are images (n, C, H, W) in [0, 1]; a diffusion
target's answers are its denoiser's errors on them, measured as the attacks read them
(REFERENCES.md, "Generative models", Diffusion):

* ``timestep_loss`` (n, len(timesteps)): the DDPM loss at each chosen timestep, averaged
  over seeded noise draws (Carlini et al. 2023; Matsumoto et al. 2023; low = member);
* ``secmi_error`` (n,): SecMI's t-error (Duan et al. 2023; low = member);
* ``pia_error`` (n,): PIA's p-norm distance (Kong et al. 2024; low = member).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from miaudit.errors import DataError
from miaudit.generative.diffusion import DEFAULT_BATCH, DiffusionTarget
from miaudit.kinds import Signals, resolve_names
from miaudit.validation import check_int, check_number


@dataclass(frozen=True, eq=False)
class DiffusionAnswers:
    """A diffusion target's answers on n records: the measured errors (None where not
    asked for), the denoiser's forward passes (``queries``) and the wall time."""

    n: int
    timestep_loss: np.ndarray | None
    secmi_error: np.ndarray | None
    pia_error: np.ndarray | None
    queries: int
    seconds: float


class DiffusionKind:
    """Diffusion targets (miaudit's DDPM recipe and user (model, scheduler) pairs).

    ``query(target, images)`` measures what the parameters ask for: the loss at
    ``timesteps`` over ``draws`` noise draws seeded by ``seed``; SecMI's t-error at
    ``secmi`` = (t, k); PIA's distance at ``pia`` = (t, p). Each is None (not measured)
    by default except nothing: give at least one."""

    name = "diffusion"
    signal_names: tuple[str, ...] = ("timestep_loss", "secmi_error", "pia_error")

    def __init__(
        self,
        *,
        timesteps: Sequence[int] | None = None,
        draws: int = 1,
        seed: int = 0,
        secmi: tuple[int, int] | None = None,
        pia: tuple[int, float] | None = None,
        batch_size: int = DEFAULT_BATCH,
    ) -> None:
        if timesteps is not None:
            if isinstance(timesteps, str) or len(timesteps) == 0:
                raise DataError(
                    f"timesteps must be a non-empty list of integers, got {timesteps!r}"
                )
            timesteps = tuple(check_int(t, "timestep", low=0, error=DataError) for t in timesteps)
        self.timesteps = timesteps
        self.draws = check_int(draws, "noise draws", low=1, error=DataError)
        self.seed = check_int(seed, "seed", low=0, error=DataError)
        if secmi is not None:
            secmi = (
                check_int(secmi[0], "SecMI t", low=0, error=DataError),
                check_int(secmi[1], "SecMI k", low=1, error=DataError),
            )
        if pia is not None:
            pia = (
                check_int(pia[0], "PIA t", low=0, error=DataError),
                check_number(pia[1], "PIA p", low=0, closed="neither", error=DataError),
            )
        self.secmi = secmi
        self.pia = pia
        self.batch_size = check_int(batch_size, "batch_size", low=1, error=DataError)

    def check_target(self, target: DiffusionTarget) -> None:
        """DataError when a timestep is outside the target's [0, T - 1] (before any query)."""
        if not isinstance(target, DiffusionTarget):
            raise DataError(
                f"the diffusion kind queries a DiffusionTarget, got {type(target).__name__}"
            )
        for t in self.timesteps or ():
            target.check_timestep(t)
        if self.secmi is not None:
            t, k = self.secmi
            target.check_timestep(t, "SecMI timestep t")
            target.check_timestep(t + k, f"SecMI's t + k ({t + k})")
            if t % k:
                raise DataError(f"SecMI's t ({t}) must be a multiple of its step k ({k})")
        if self.pia is not None:
            target.check_timestep(self.pia[0], "PIA timestep t")

    def query(self, target: DiffusionTarget, records: np.ndarray) -> DiffusionAnswers:
        self.check_target(target)
        x = target.check_records(records)
        start = time.perf_counter()
        before = target.queries
        loss = secmi = pia = None
        if self.timesteps is not None:
            loss = target.timestep_losses(
                x, self.timesteps, draws=self.draws, seed=self.seed, batch_size=self.batch_size
            )
        if self.secmi is not None:
            secmi = target.secmi_errors(
                x, t=self.secmi[0], k=self.secmi[1], batch_size=self.batch_size
            )
        if self.pia is not None:
            pia = target.pia_errors(x, t=self.pia[0], p=self.pia[1], batch_size=self.batch_size)
        return DiffusionAnswers(
            len(x), loss, secmi, pia, target.queries - before, time.perf_counter() - start
        )

    def signals(self, answers: DiffusionAnswers, names: Sequence[str] | None = None) -> Signals:
        if not isinstance(answers, DiffusionAnswers):
            raise DataError(
                f"the diffusion kind reads DiffusionAnswers, got {type(answers).__name__}"
            )
        how = {
            "timestep_loss": "DiffusionKind(timesteps=[...])",
            "secmi_error": "DiffusionKind(secmi=(t, k))",
            "pia_error": "DiffusionKind(pia=(t, p))",
        }
        values: dict[str, np.ndarray] = {}
        for name in resolve_names(self, names):
            value = getattr(answers, name)
            if value is None:
                raise DataError(f"{name} was not measured: query with {how[name]}")
            values[name] = value
        return Signals(answers.n, values)

    def __repr__(self) -> str:
        return (
            f"<DiffusionKind timesteps={self.timesteps} draws={self.draws} seed={self.seed} "
            f"secmi={self.secmi} pia={self.pia}>"
        )
