"""PIA: Kong, Duan, Wang, Xu and Shi 2024, "An Efficient Membership Inference Attack for the
Diffusion Model by Proximal Initialization" (ICLR), sec. 4: eps_0 = eps_theta(x_0, 0) (the
"proximal initialisation" of the noise), x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps_0,
and a member has a small ||eps_0 - eps_theta(x_t, t)||_p. Score = -that norm.

Choices follow the authors' code (github.com/kong13661/PIA, its ``Attacker`` with
``interval`` and ``attack_num``) as read before this slice; not re-read line by line here
(to re-check): eps_0 is the model's
output at timestep index 0 on the clean image; the distance is the sum over pixels of
|.|^p with p = 4 (here its p-th root: the same ranking), at t = 200 of T = 1000 (the
defaults). For a smaller T scale t by T / 1000 (T = 100: t = 20). Two queries per record.
"""

from __future__ import annotations

from miaudit.attacks.diffusion.base import (
    ThresholdDiffusionAttack,
    denoiser_threat_model,
    register_diffusion_attack,
)
from miaudit.generative import DiffusionKind
from miaudit.kinds import SignalThreshold
from miaudit.validation import Interval

PIA = (
    "Kong et al. 2024, An Efficient Membership Inference Attack for the Diffusion Model by "
    "Proximal Initialization (ICLR), sec. 4"
)


@register_diffusion_attack
class PIAAttack(ThresholdDiffusionAttack):
    """Score = -||eps_theta(x_0, 0) - eps_theta(x_t, t)||_p.

    Args:
        t: the timestep index of the second query.
        p: the norm's order (the authors: 4).
    """

    name = "pia"
    signals = ("pia_error",)
    threat_model = denoiser_threat_model(PIA)
    param_constraints = {"t": Interval(int, 0), "p": Interval(float, 0, closed="neither")}
    rule = SignalThreshold("pia_error", "low")

    def __init__(self, *, t: int = 200, p: float = 4.0) -> None:
        self.t = t
        self.p = p

    def kind(self) -> DiffusionKind:
        return DiffusionKind(pia=(self.t, self.p))
