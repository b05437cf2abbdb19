"""Releasing a cohort's feature means, optionally with differential-privacy noise.

The target of this package is a data holder who publishes only the mean vector of a cohort's
features (allele frequencies of a case group, the fraction of users who visited each
location), not a model. Features lie in [0, 1] (binary features, or genotypes scaled as
allele count / 2).

Sensitivity. Neighbouring cohorts differ by *replacing* one record (the cohort size n is
public). Each mean moves by at most 1/n, so the mean vector of d features has L1 sensitivity
d/n and L2 sensitivity sqrt(d)/n.

- ``noise="laplace"``: the Laplace mechanism (Dwork, McSherry, Nissim & Smith 2006), i.i.d.
  Laplace(0, b) per feature with b = (d/n) / epsilon; epsilon-DP (delta = 0).
- ``noise="gaussian"``: the *analytic* Gaussian mechanism (Balle & Wang 2018, ICML, Theorem 8):
  the smallest sigma with Phi(D/(2 sigma) - eps sigma/D) - e^eps Phi(-D/(2 sigma) - eps sigma/D)
  <= delta for D = sqrt(d)/n, found by root finding; (epsilon, delta)-DP for every epsilon > 0
  (the classic sigma = sqrt(2 ln(1.25/delta)) D / epsilon of Dwork & Roth, Thm A.1, is only
  valid for epsilon < 1 and is larger; :func:`classic_gaussian_sigma` gives it for comparison).
- ``epsilon=inf`` or ``noise=None``: the exact means (no privacy; ``epsilon`` is recorded as inf).

After the noise, released values are clipped to [0, 1] (post-processing: the DP guarantee is
unchanged).

Suppression (``suppress_below=t``): a feature whose *exact* cohort frequency is below t is
withheld: its released value is 0 and ``AggregateRelease.withheld`` marks it, so attacks can
ignore it (a minimum-cell-count rule, as statistical agencies apply). The decision reads the
exact data, so it is not covered by the DP epsilon; with noise the guarantee holds only for the
released values of features that are not withheld.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike
from scipy import optimize, special

from miaudit.aggregate._checks import check_positive, check_unit_matrix
from miaudit.errors import ConfigError

Noise = Literal["laplace", "gaussian"] | None
NOISES = (None, "laplace", "gaussian")


def analytic_gaussian_sigma(epsilon: float, delta: float, sensitivity: float) -> float:
    """Smallest sigma of the analytic Gaussian mechanism (Balle & Wang 2018, Theorem 8).

    Solves delta(sigma) = Phi(D/(2 sigma) - eps sigma/D) - e^eps Phi(-D/(2 sigma) - eps sigma/D)
    = delta for D = ``sensitivity``; delta(sigma) decreases in sigma.
    """
    eps = check_positive(epsilon, "epsilon", allow_inf=True)
    dl = _check_delta(delta)
    d = check_positive(sensitivity, "sensitivity")
    if math.isinf(eps):
        return 0.0

    def log_gap(log_sigma: float) -> float:
        s = math.exp(log_sigma)
        a = d / (2 * s) - eps * s / d
        b = -d / (2 * s) - eps * s / d
        value = special.ndtr(a) - math.exp(eps + special.log_ndtr(b))
        return value - dl

    lo, hi = math.log(d) - 30.0, math.log(d) + 30.0
    return float(math.exp(optimize.brentq(log_gap, lo, hi, xtol=1e-12, rtol=1e-12)))


def classic_gaussian_sigma(epsilon: float, delta: float, sensitivity: float) -> float:
    """sigma = sqrt(2 ln(1.25 / delta)) * sensitivity / epsilon (Dwork & Roth 2014, Thm A.1;
    valid for epsilon < 1 only)."""
    eps = check_positive(epsilon, "epsilon", allow_inf=True)
    return (
        0.0
        if math.isinf(eps)
        else math.sqrt(2 * math.log(1.25 / _check_delta(delta)))
        * (check_positive(sensitivity, "sensitivity") / eps)
    )


@dataclass(frozen=True)
class AggregateRelease:
    """What the data holder publishes about one cohort (see :func:`release_means`).

    ``means`` (d,) released values (withheld features are 0); ``withheld`` (d,) bool;
    ``noise``, ``epsilon`` (inf without noise), ``delta`` (0 for Laplace or no noise),
    ``scale`` (Laplace b or Gaussian sigma per feature, 0 without noise), ``sensitivity``
    (L1 for Laplace, L2 for Gaussian), ``cohort_size`` n.
    """

    means: np.ndarray
    withheld: np.ndarray
    noise: Noise
    epsilon: float
    delta: float
    scale: float
    sensitivity: float
    cohort_size: int


@dataclass(frozen=True)
class ReleaseMechanism:
    """How cohorts are released: noise kind, privacy budget and suppression threshold.

    A plain value, so the target's release (:func:`release_means`) and an attacker who
    simulates it (:class:`~miaudit.aggregate.PyrgelisAttack`) use the same one.
    """

    noise: Noise = None
    epsilon: float = math.inf
    delta: float = 0.0
    suppress_below: float | None = None
    _checked: bool = field(default=False, repr=False, compare=False)

    def checked(self) -> ReleaseMechanism:
        """This mechanism validated (one-line ConfigError naming the bad setting)."""
        if self.noise not in NOISES:
            raise ConfigError(
                f"noise must be one of None, 'laplace', 'gaussian', got {self.noise!r}"
            )
        eps = check_positive(self.epsilon, "epsilon", allow_inf=True)
        if self.noise is None and not math.isinf(eps):
            raise ConfigError(
                f"epsilon={eps:g} needs noise='laplace' or 'gaussian' (noise=None "
                "releases the exact means, epsilon inf)"
            )
        if self.noise == "gaussian":
            delta = 0.0 if math.isinf(eps) else _check_delta(self.delta)
        elif self.delta not in (0, 0.0, None):
            raise ConfigError(
                f"delta={self.delta!r} applies only to noise='gaussian'; "
                "Laplace (and no noise) have delta 0"
            )
        else:
            delta = 0.0
        t = self.suppress_below
        if t is not None:
            if isinstance(t, bool) or not isinstance(t, int | float) or not 0 < float(t) <= 1:
                raise ConfigError(
                    f"suppress_below must be None or a frequency in (0, 1], got {t!r}"
                )
            t = float(t)
        noise = None if math.isinf(eps) else self.noise
        return ReleaseMechanism(noise, eps, delta, t, _checked=True)

    def sensitivity(self, n: int, d: int) -> float:
        """L1 (Laplace) or L2 (Gaussian) sensitivity of the mean of d features over n records."""
        return float(d) / n if self.noise != "gaussian" else math.sqrt(d) / n

    def scale(self, n: int, d: int) -> float:
        """Per-feature noise scale: Laplace b = (d/n)/epsilon or analytic Gaussian sigma."""
        m = self if self._checked else self.checked()
        if m.noise is None:
            return 0.0
        if m.noise == "laplace":
            return m.sensitivity(n, d) / m.epsilon
        return analytic_gaussian_sigma(m.epsilon, m.delta, m.sensitivity(n, d))

    def release_exact(
        self, exact_means: np.ndarray, n: int, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        """Released values and withheld mask from exact cohort means, shape (d,) or (k, d):
        the vectorised core of :func:`release_means` (no input checks)."""
        m = self if self._checked else self.checked()
        d = exact_means.shape[-1]
        scale = m.scale(n, d)
        values = exact_means.astype(np.float64, copy=True)
        if m.noise == "laplace":
            values += rng.laplace(0.0, scale, size=values.shape)
        elif m.noise == "gaussian":
            values += rng.normal(0.0, scale, size=values.shape)
        np.clip(values, 0.0, 1.0, out=values)
        if m.suppress_below is None:
            withheld = np.zeros(values.shape, dtype=bool)
        else:
            # the exact frequency decides (1e-12: a frequency k/n equal to the threshold stays)
            withheld = exact_means < m.suppress_below - 1e-12
            values[withheld] = 0.0
        return values, withheld


#: the default mechanism: the exact means, no noise, no suppression
EXACT = ReleaseMechanism()


def release_means(
    cohort_x: ArrayLike,
    *,
    noise: Noise = None,
    epsilon: float = math.inf,
    delta: float = 0.0,
    suppress_below: float | None = None,
    seed: int | np.random.Generator = 0,
) -> AggregateRelease:
    """The cohort's feature means, optionally with Laplace or analytic-Gaussian noise.

    ``cohort_x`` (n, d) with values in [0, 1]. See the module docstring for the sensitivity,
    the mechanisms, the clip to [0, 1] and suppression.
    """
    x = check_unit_matrix(cohort_x, "cohort_x")
    mechanism = ReleaseMechanism(noise, epsilon, delta, suppress_below).checked()
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    n, d = x.shape
    values, withheld = mechanism.release_exact(x.mean(axis=0), n, rng)
    return AggregateRelease(
        means=values,
        withheld=withheld,
        noise=mechanism.noise,
        epsilon=mechanism.epsilon,
        delta=mechanism.delta,
        scale=mechanism.scale(n, d),
        sensitivity=mechanism.sensitivity(n, d),
        cohort_size=n,
    )


def _check_delta(delta: object) -> float:
    if isinstance(delta, bool) or not isinstance(delta, int | float | np.floating):
        raise ConfigError(f"delta must be a number in (0, 1), got {delta!r}")
    v = float(delta)
    if not 0 < v < 1:
        raise ConfigError(f"delta must be in (0, 1) for Gaussian noise, got {delta!r}")
    return v
