"""LOGAN: Hayes, Melis, Danezis and De Cristofaro 2019, "LOGAN: Membership Inference
Attacks Against Generative Models" (PoPETs 2019(1)), the white-box and black-box
attacks (section numbers are not cited here: they were not checked against the paper).

* White-box: the attacker holds the target's discriminator D, feeds it every
  candidate record and ranks them by D(x); the records D finds most "real" are called
  members (the paper takes the top n, n = the number of members; the metrics sweep every
  threshold instead). Score = D's logit on x, the same ranking as D's probability.
* Black-box without auxiliary data: the attacker trains its own GAN on samples
  of the target generator, and ranks the records by its own discriminator, as above.
  The attacker's GAN is miaudit's DCGAN (the paper uses a DCGAN too, trained on the
  target's samples); how many samples, and its epochs, are this attack's parameters.
  Not done here: the black-box variant with auxiliary (partial) knowledge of the
  training set.
"""

from __future__ import annotations

from miaudit.attacks.base import ThreatModel
from miaudit.attacks.gan.base import GANNeeds, ThresholdGANAttack, register_gan_attack
from miaudit.generative import DCGANRecipe, GeneratorKind
from miaudit.kinds import SignalThreshold
from miaudit.validation import Interval

LOGAN = "Hayes et al. 2019, LOGAN: Membership Inference Attacks Against Generative Models (PoPETs)"


@register_gan_attack
class LoganWhiteBox(ThresholdGANAttack):
    """Score = D(x), the target discriminator's logit on each record (higher = member)."""

    name = "logan_white_box"
    requires = GANNeeds(access="white-box", signals=("discriminator_score",))
    threat_model = ThreatModel(
        knowledge="white-box",
        needs_shadow_models=False,
        needs_same_distribution_data=False,
        needs_architecture=False,
        paper=LOGAN + ", white-box attack",
    )
    rule = SignalThreshold("discriminator_score", "high")

    def kind(self) -> GeneratorKind:
        return GeneratorKind(white_box=True)


@register_gan_attack
class LoganBlackBox(ThresholdGANAttack):
    """Score = D_a(x), the logit of the discriminator of the attacker's GAN, trained on
    ``k`` samples of the target's generator.

    Args:
        k: generated samples of the target the attacker trains on.
        epochs: the attacker's DCGAN training epochs (other settings: DCGAN's).
        width: the attacker's DCGAN width.
        seed: seeds the target samples and the attacker's GAN.
    """

    name = "logan_black_box"
    requires = GANNeeds(access="samples", signals=("discriminator_score",), surrogate=True)
    threat_model = ThreatModel(
        knowledge="black-box samples",
        needs_shadow_models=True,
        needs_same_distribution_data=False,
        needs_architecture=False,
        paper=LOGAN + ", black-box attack without auxiliary knowledge",
    )
    param_constraints = {
        "k": Interval(int, 1),
        "epochs": Interval(int, 1),
        "width": Interval(int, 1),
        "seed": Interval(int, 0),
    }
    rule = SignalThreshold("discriminator_score", "high")

    def __init__(self, *, k: int = 10_000, epochs: int = 20, width: int = 32, seed: int = 0):
        self.k = k
        self.epochs = epochs
        self.width = width
        self.seed = seed

    def surrogate_recipe(self, latent_dim: int = 64) -> DCGANRecipe:
        """How the attacker trains its GAN on the target's samples."""
        return DCGANRecipe(
            latent_dim=latent_dim, width=self.width, epochs=self.epochs, seed=self.seed
        )

    def kind(self) -> GeneratorKind:
        """The query of the attacker's GAN (its discriminator: white-box to the attacker)."""
        return GeneratorKind(white_box=True)
