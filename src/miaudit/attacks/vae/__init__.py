"""Membership-inference attacks on VAEs (issue 14), registered in :data:`VAE_ATTACKS`:
``monte_carlo`` and ``vae_reconstruction`` (Hilprecht et al. 2019) and ``vae_elbo``.
:func:`run_vae_attack` runs one against a :class:`~miaudit.generative.VAETarget`."""

from miaudit.attacks.vae.base import VAE_ATTACKS, VAEAttack, VAENeeds, make_vae_attack
from miaudit.attacks.vae.hilprecht import MonteCarlo, VAEElbo, VAEReconstruction
from miaudit.attacks.vae.run import VAEAttackRun, run_vae_attack

__all__ = [
    "VAE_ATTACKS",
    "MonteCarlo",
    "VAEAttack",
    "VAEAttackRun",
    "VAEElbo",
    "VAENeeds",
    "VAEReconstruction",
    "make_vae_attack",
    "run_vae_attack",
]
