"""SecMI: Duan, Kong, Wang, Shi and Xu 2023, "Are Diffusion Models Vulnerable to Membership
Inference Attacks?" (ICML), SecMI_stat: the t-error of eq. 11-12.

x_t is the deterministic DDIM inversion of x_0 (Song et al. 2021 eq. 12 with sigma = 0) in
steps of k up to t; one deterministic step on to t + k and one back give x_hat_t; the
t-error is ||x_hat_t - x_t||^2 (summed over pixels) and a member has a smaller one. Score =
-error.

Choices follow the authors' code (github.com/jinhaoduan/SecMI, its
``get_intermediate_results``/``ddim_singlestep``) as read before this slice; not re-read
line by line here (to re-check): the inversion starts by reading
eps_theta(x_0, 0) at timestep index 0, and with their t_SEC = 100, k = 10 on T = 1000 the
error is measured at index 90 (inversion 0 -> 10 -> ... -> 90, then 90 -> 100 -> 90). Here
``t`` is the index where the error is measured, so the paper's setting is t = 90, k = 10
(the defaults); for a smaller T scale both by T / 1000 (T = 100: t = 9, k = 1).
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

SECMI = (
    "Duan et al. 2023, Are Diffusion Models Vulnerable to Membership Inference Attacks? "
    "(ICML), SecMI_stat, eq. 11-12"
)


@register_diffusion_attack
class SecMI(ThresholdDiffusionAttack):
    """Score = -||x_hat_t - x_t||^2, SecMI's t-error at timestep ``t`` with DDIM step ``k``.

    Args:
        t: where the error is measured (a multiple of k; t + k <= T - 1).
        k: the DDIM step interval. t / k + 2 queries per record.
    """

    name = "secmi"
    signals = ("secmi_error",)
    threat_model = denoiser_threat_model(SECMI)
    param_constraints = {"t": Interval(int, 0), "k": Interval(int, 1)}
    rule = SignalThreshold("secmi_error", "low")

    @staticmethod
    def param_combination_error(params: dict) -> str | None:
        t, k = params.get("t", 90), params.get("k", 10)
        if isinstance(t, int) and isinstance(k, int) and k > 0 and t % k:
            return f"secmi's t ({t}) must be a multiple of k ({k})"
        return None

    def __init__(self, *, t: int = 90, k: int = 10) -> None:
        self.t = t
        self.k = k

    def kind(self) -> DiffusionKind:
        return DiffusionKind(secmi=(self.t, self.k))
