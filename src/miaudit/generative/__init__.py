"""Generative models as audit targets (issue 14, first slice: GANs).

* :class:`GANTarget`: a generator (and, for white-box audits only, its discriminator);
  seeded, batched, counted sampling.
* :class:`DCGANRecipe` and :func:`train_dcgan`: miaudit's DCGAN for 28x28 grey images;
  :func:`train_gan` trains any user (generator, discriminator) pair the same way.
* :class:`GeneratorKind`: the target kind whose signals LOGAN (``discriminator_score``)
  and GAN-Leaks (``reconstruction_distance``) read.
* :func:`nearest_distances`: each record's distance to its nearest generated sample.

The attacks are in :mod:`miaudit.attacks.gan`.

Diffusion models: :class:`DiffusionTarget` (a denoiser and its schedule, counted
queries), :class:`DDPMSchedule`, :class:`DDPMRecipe` / :func:`train_ddpm` (miaudit's
:class:`CompactUNet`) and :func:`train_diffusion` for user models, and
:class:`DiffusionKind`; the attacks are in :mod:`miaudit.attacks.diffusion`.
"""

from miaudit.generative.dcgan import DCGANDiscriminator, DCGANGenerator, DCGANRecipe
from miaudit.generative.ddpm_training import DDPMHistory, DDPMRecipe, train_ddpm, train_diffusion
from miaudit.generative.diffusion import DDPMSchedule, DiffusionTarget
from miaudit.generative.diffusion_kind import DiffusionAnswers, DiffusionKind
from miaudit.generative.distances import nearest_distances
from miaudit.generative.images import check_images
from miaudit.generative.kind import GANAnswers, GeneratorKind
from miaudit.generative.monte_carlo import mc_share, pairwise_distances
from miaudit.generative.target import GANTarget
from miaudit.generative.training import GANHistory, train_dcgan, train_gan
from miaudit.generative.unet import CompactUNet
from miaudit.generative.vae import VAEHistory, VAERecipe, VAETarget, train_vae, train_vae_modules
from miaudit.generative.vae_kind import VAEAnswers, VAEKind

__all__ = [
    "CompactUNet",
    "DDPMHistory",
    "DDPMRecipe",
    "DDPMSchedule",
    "DiffusionAnswers",
    "DiffusionKind",
    "DiffusionTarget",
    "train_ddpm",
    "train_diffusion",
    "DCGANDiscriminator",
    "DCGANGenerator",
    "DCGANRecipe",
    "GANAnswers",
    "GANHistory",
    "GANTarget",
    "GeneratorKind",
    "VAEAnswers",
    "VAEHistory",
    "VAEKind",
    "VAERecipe",
    "VAETarget",
    "mc_share",
    "pairwise_distances",
    "train_vae",
    "train_vae_modules",
    "check_images",
    "nearest_distances",
    "train_dcgan",
    "train_gan",
]
