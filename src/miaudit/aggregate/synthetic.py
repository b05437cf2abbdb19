"""A synthetic genotype panel (no real allele-frequency spectrum is available offline).

Allele frequencies p_j ~ Beta(a, b) (default a = b = 0.5: the U-shaped spectrum of neutral
SNPs, many rare and many common alleles), redrawn until the minor-allele frequency is at least
``min_maf`` (default 0.05, the usual genotyping-array filter). Genotypes are sampled under
Hardy-Weinberg equilibrium, g_ij ~ Binomial(2, p_j) independently per SNP (no linkage), and
returned scaled to [0, 1] as g / 2 (ternary values 0, 0.5, 1), or, with ``binary=True``, as
the carrier indicator g > 0 (the dominant coding).
"""

from __future__ import annotations

import numpy as np

from miaudit.aggregate._checks import check_count, check_positive
from miaudit.errors import ConfigError


def genotype_panel(
    n_individuals: int,
    n_snps: int,
    *,
    beta_a: float = 0.5,
    beta_b: float = 0.5,
    min_maf: float = 0.05,
    binary: bool = False,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """``(genotypes (n_individuals, n_snps) float64 in {0, 0.5, 1} (or {0, 1}),
    allele_frequencies (n_snps,))``."""
    n = check_count(n_individuals, "n_individuals")
    d = check_count(n_snps, "n_snps")
    a, b = check_positive(beta_a, "beta_a"), check_positive(beta_b, "beta_b")
    if not isinstance(min_maf, int | float) or not 0 <= min_maf < 0.5:
        raise ConfigError(f"min_maf must be in [0, 0.5), got {min_maf!r}")
    rng = np.random.default_rng(seed)
    p = rng.beta(a, b, size=d)
    for _ in range(1000):
        bad = np.minimum(p, 1 - p) < min_maf
        if not bad.any():
            break
        p[bad] = rng.beta(a, b, size=int(bad.sum()))
    g = rng.binomial(2, p, size=(n, d))
    x = (g > 0).astype(np.float64) if binary else g / 2.0
    return x, p
