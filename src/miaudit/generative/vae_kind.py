"""The VAE kind (issue 14): records are images (n, C, H, W) in [0, 1]; a VAE target's
answers are, with full (white-box) access, each record's ELBO and reconstruction error
through encoder and decoder, and, with samples only, each record's Monte-Carlo share of k
generated samples (Hilprecht et al. 2019)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from miaudit.errors import DataError
from miaudit.generative.monte_carlo import choose_eps, mc_share
from miaudit.generative.target import DEFAULT_BATCH
from miaudit.generative.vae import VAETarget
from miaudit.kinds import Signals, resolve_names
from miaudit.validation import check_int


@dataclass(frozen=True, eq=False)
class VAEAnswers:
    """A VAE target's answers on n records: ``elbo`` and ``reconstruction_error`` (float64
    (n,), or None without a white-box query), ``mc_share`` (float64 (n,), or None without
    samples), generated ``samples`` drawn and the query's ``seconds``."""

    n: int
    elbo: np.ndarray | None
    reconstruction_error: np.ndarray | None
    mc_share: np.ndarray | None
    samples: int
    seconds: float


class VAEKind:
    """VAE targets (miaudit's conv VAE recipe and user encoder/decoder pairs).

    ``query(target, images)``: with ``white_box``, the ELBO and reconstruction error of
    each image over ``posterior_samples`` seeded draws z ~ q(z|x) (DataError when the
    target has no encoder); with ``k``, k seeded generated samples and each image's share
    of them within ``eps``. Signals: ``elbo`` (high = member), ``reconstruction_error``
    (low = member), ``mc_share`` (high = member).
    """

    name = "vae"
    signal_names: tuple[str, ...] = ("elbo", "reconstruction_error", "mc_share")

    def __init__(
        self,
        *,
        white_box: bool = False,
        posterior_samples: int = 1,
        k: int | None = None,
        eps: str | float = "median_min",
        seed: int = 0,
        batch_size: int = DEFAULT_BATCH,
    ) -> None:
        self.white_box = bool(white_box)
        self.posterior_samples = check_int(
            posterior_samples, "posterior_samples", low=1, error=DataError
        )
        self.k = (
            None if k is None else check_int(k, "k (generated samples)", low=1, error=DataError)
        )
        choose_eps(np.ones((1, 1)), eps)  # a bad eps is refused now, not after sampling
        self.eps = eps
        self.seed = check_int(seed, "seed", low=0, error=DataError)
        self.batch_size = check_int(batch_size, "batch_size", low=1, error=DataError)

    def query(self, target: VAETarget, records: np.ndarray) -> VAEAnswers:
        if not isinstance(target, VAETarget):
            raise DataError(f"the vae kind queries a VAETarget, got {type(target).__name__}")
        start = time.perf_counter()
        x = target.check_records(records)
        elbo = rec = share = None
        if self.white_box:
            elbo, rec = target._posterior_pass(
                x, self.posterior_samples, self.seed, self.batch_size
            )
        if self.k is not None:
            samples = target.sample(self.k, seed=self.seed, batch_size=self.batch_size)
            share = mc_share(x, samples, self.eps)
        return VAEAnswers(len(x), elbo, rec, share, self.k or 0, time.perf_counter() - start)

    def signals(self, answers: VAEAnswers, names: Sequence[str] | None = None) -> Signals:
        if not isinstance(answers, VAEAnswers):
            raise DataError(f"the vae kind reads VAEAnswers, got {type(answers).__name__}")
        values: dict[str, np.ndarray] = {}
        for name in resolve_names(self, names):
            value = getattr(answers, name)
            if value is None:
                how = (
                    "VAEKind(k=number of samples)"
                    if name == "mc_share"
                    else ("a white-box query: VAEKind(white_box=True), a target with its encoder")
                )
                raise DataError(f"{name} was not asked of the target ({how})")
            values[name] = value
        return Signals(answers.n, values)

    def __repr__(self) -> str:
        return f"<VAEKind white_box={self.white_box} k={self.k} eps={self.eps} seed={self.seed}>"
