"""Hilprecht, Haerterich and Bernau 2019, "Monte Carlo and Reconstruction Membership
Inference Attacks against Generative Models" (PoPETs 2019(4)).

* Monte-Carlo attack (sec. 4.1, black-box: samples only): f(x) = (1/k) sum_i
  1[d(x, g_i) <= eps] over k generated samples; members get a larger share. eps by the
  authors' heuristics (``mc_attack_cvae.py``): a percentile of all record-sample distances,
  or the median of the records' nearest-sample distances; Euclidean distance on pixels
  (the authors also use PCA-40 and HOG features: not built in).
* Reconstruction attack (sec. 4.2, white-box: encoder and decoder): the reconstruction
  error of x averaged over draws z ~ q(z|x); members reconstruct better, score = -error.
  Error = mean squared pixel error of the decoded mean, as the authors'
  ``autoencoder_rec_loss`` (they average 3 x 300,000 draws; ``samples`` here).

The ELBO attack (:class:`VAEElbo`) is the VAE's own loss as the threshold signal (the
loss attack of Yeom et al. 2018 applied to the VAE's objective; also Hilprecht et al.'s
white-box baseline idea), score = ELBO estimate.
"""

from __future__ import annotations

from miaudit.attacks.base import ThreatModel
from miaudit.attacks.vae.base import ThresholdVAEAttack, VAENeeds, register_vae_attack
from miaudit.generative import VAEKind
from miaudit.kinds import SignalThreshold
from miaudit.validation import Interval

HILPRECHT = (
    "Hilprecht et al. 2019, Monte Carlo and Reconstruction Membership Inference Attacks "
    "against Generative Models (PoPETs)"
)

_POS = Interval(int, 1)
_SEED = Interval(int, 0)


@register_vae_attack
class MonteCarlo(ThresholdVAEAttack):
    """Score = the share of ``k`` seeded generated samples within eps of x.

    Args:
        k: generated samples (the authors use up to millions; the share is 0 for most
            records at small k).
        eps: "median_min", "percentile:P" (P in (0, 100]) or a positive distance.
        seed: seeds the latent codes.
    """

    name = "monte_carlo"
    requires = VAENeeds(access="samples", signals=("mc_share",))
    threat_model = ThreatModel(
        knowledge="black-box samples",
        needs_shadow_models=False,
        needs_same_distribution_data=False,
        needs_architecture=False,
        paper=HILPRECHT + ", Monte-Carlo attack (sec. 4.1)",
    )
    param_constraints = {"k": _POS, "seed": _SEED}
    rule = SignalThreshold("mc_share", "high")

    def __init__(self, *, k: int = 10_000, eps: str | float = "median_min", seed: int = 0):
        self.k = k
        self.eps = eps
        self.seed = seed

    def kind(self) -> VAEKind:
        return VAEKind(k=self.k, eps=self.eps, seed=self.seed)


@register_vae_attack
class VAEReconstruction(ThresholdVAEAttack):
    """Score = -(mean squared error of x's reconstructions over ``samples`` draws
    z ~ q(z|x)).

    Args:
        samples: posterior draws per record; seed: seeds them.
    """

    name = "vae_reconstruction"
    requires = VAENeeds(access="white-box", signals=("reconstruction_error",))
    threat_model = ThreatModel(
        knowledge="white-box",
        needs_shadow_models=False,
        needs_same_distribution_data=False,
        needs_architecture=False,
        paper=HILPRECHT + ", reconstruction attack (sec. 4.2)",
    )
    param_constraints = {"samples": _POS, "seed": _SEED}
    rule = SignalThreshold("reconstruction_error", "low")

    def __init__(self, *, samples: int = 100, seed: int = 0) -> None:
        self.samples = samples
        self.seed = seed

    def kind(self) -> VAEKind:
        return VAEKind(white_box=True, posterior_samples=self.samples, seed=self.seed)


@register_vae_attack
class VAEElbo(ThresholdVAEAttack):
    """Score = the ELBO estimate of x over ``samples`` posterior draws (minus the VAE's
    loss; high = member).

    Args:
        samples: posterior draws per record; seed: seeds them.
    """

    name = "vae_elbo"
    requires = VAENeeds(access="white-box", signals=("elbo",))
    threat_model = ThreatModel(
        knowledge="white-box",
        needs_shadow_models=False,
        needs_same_distribution_data=False,
        needs_architecture=False,
        paper="Kingma & Welling 2014 (ELBO, eq. 10) as the loss signal of Yeom et al. 2018",
    )
    param_constraints = {"samples": _POS, "seed": _SEED}
    rule = SignalThreshold("elbo", "high")

    def __init__(self, *, samples: int = 10, seed: int = 0) -> None:
        self.samples = samples
        self.seed = seed

    def kind(self) -> VAEKind:
        return VAEKind(white_box=True, posterior_samples=self.samples, seed=self.seed)
