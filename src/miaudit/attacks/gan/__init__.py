"""Membership-inference attacks on GANs (issue 14), one module per paper, registered in
:data:`GAN_ATTACKS`: ``logan_white_box`` and ``logan_black_box`` (Hayes et al. 2019),
``gan_leaks_fbb`` and ``gan_leaks_calibrated`` (Chen et al. 2020). :func:`run_gan_attack`
runs one against a :class:`~miaudit.generative.GANTarget`."""

from miaudit.attacks.gan.base import (
    GAN_ATTACKS,
    GANAttack,
    GANKnowledge,
    GANNeeds,
    make_gan_attack,
)
from miaudit.attacks.gan.gan_leaks import GANLeaksCalibrated, GANLeaksFullBlackBox
from miaudit.attacks.gan.logan import LoganBlackBox, LoganWhiteBox
from miaudit.attacks.gan.run import GANAttackRun, run_gan_attack

__all__ = [
    "GAN_ATTACKS",
    "GANAttack",
    "GANAttackRun",
    "GANKnowledge",
    "GANLeaksCalibrated",
    "GANLeaksFullBlackBox",
    "GANNeeds",
    "LoganBlackBox",
    "LoganWhiteBox",
    "make_gan_attack",
    "run_gan_attack",
]
