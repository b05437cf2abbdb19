"""DP-SGD: differentially private training with per-example clipping and Gaussian noise.

Abadi et al. 2016, "Deep Learning with Differential Privacy" (ACM CCS), sec. 3.1,
Algorithm 1: each step samples a lot (Poisson sampling with rate q), clips every per-example
gradient to L2 norm ``max_grad_norm`` (C), sums them, adds N(0, sigma^2 C^2 I) noise and
divides by the expected lot size; sec. 3.1 "Privacy accounting" (the moments accountant,
generalised by Renyi DP, Mironov 2017) gives the (epsilon, delta) spent.

Implemented with Opacus (Yousefpour et al. 2021) ``PrivacyEngine.make_private`` /
``make_private_with_epsilon``. Choices:

* Accountant: ``"rdp"`` by default (the moments accountant of the paper, as Renyi DP;
  Opacus 1.6's own default is ``"prv"``, which is tighter); ``accountant="prv"`` is accepted.
* Sampling: Opacus' Poisson sampling; the sample rate is ``1 / ceil(n / batch_size)`` (Opacus
  takes it from the number of batches of the plain data loader), so the expected lot size is
  about ``batch_size``.
* Determinism: ``secure_mode=False`` (pseudo-random noise; Opacus warns about it, and the
  warning is silenced locally because it is a documented choice). The Gaussian noise comes
  from a ``torch.Generator`` seeded with ``seed`` (``noise_generator``); Poisson sampling,
  the initialisation and dropout use the global torch RNG, seeded with ``seed`` inside
  ``torch.random.fork_rng`` so the caller's RNG state is untouched. Same seed, same model.
* Optimizer: the model's ``optimizer`` (adam or sgd), ``lr``, ``momentum`` and
  ``weight_decay``, unfused (Opacus wraps the optimizer), for the model's ``epochs``.
* The returned model is the plain module (Opacus' hooks and per-sample gradient buffers
  removed), so white-box signals see a normal MLP/CNN.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from miaudit.defenses._training import as_tensor, module_device, prepare_torch, seeded
from miaudit.defenses.base import Defense, DefenseData, register_defense
from miaudit.errors import ConfigError
from miaudit.models import ModelLike
from miaudit.models._trainer import reset_parameters
from miaudit.targets import Target, TorchTarget
from miaudit.validation import Interval, Options

ACCOUNTANTS = ("rdp", "prv")
_OPACUS_ATTRS = ("summed_grad", "grad_sample", "_forward_counter", "_processed")


def _optimizer(module: nn.Module, config: Any) -> torch.optim.Optimizer:
    params = [p for p in module.parameters() if p.requires_grad]
    if config.optimizer == "adam":
        return torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)
    return torch.optim.SGD(
        params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay
    )


@register_defense
class DPSGD(Defense):
    """Differentially private SGD (Abadi et al. 2016, CCS, Algorithm 1) through Opacus.

    Give either ``noise_multiplier`` (sigma) or ``target_epsilon`` (then sigma is the
    smallest one whose accountant epsilon after the model's ``epochs`` is at most
    ``target_epsilon``, found by Opacus' ``get_noise_multiplier``), not both.

    Args:
        noise_multiplier: sigma, the noise standard deviation relative to ``max_grad_norm``.
        target_epsilon: the epsilon to reach at ``delta`` after training.
        max_grad_norm: the per-example clipping norm C.
        delta: the delta at which epsilon is reported (and targeted).
        accountant: "rdp" (default) or "prv".

    Fitted attributes:
        epsilon_: epsilon spent at ``delta_``, from the accountant.
        delta_: the delta.
        noise_multiplier_: the sigma used.
        sample_rate_: Poisson sampling rate q.
        steps_: optimizer steps taken.
    """

    name = "dp_sgd"
    kind = "training"
    cuda_training = True  # trains on the recipe's device (issue 11)
    differentially_private = True
    paper = "Abadi et al. 2016, ACM CCS, sec. 3.1, Algorithm 1 (DP-SGD; via Opacus)"
    strength_param = "noise_multiplier"
    param_constraints = {
        "noise_multiplier": Interval(float, 0, closed="neither"),
        "target_epsilon": Interval(float, 0, closed="neither"),
        "max_grad_norm": Interval(float, 0, closed="neither"),
        "delta": Interval(float, 0, 1, closed="neither"),
        "accountant": Options(ACCOUNTANTS),
    }

    @staticmethod
    def param_combination_error(params: dict[str, Any]) -> str | None:
        """The noise is given directly or calibrated to a target epsilon, not both."""
        if (params["noise_multiplier"] is None) == (params["target_epsilon"] is None):
            return (
                "needs exactly one of noise_multiplier and target_epsilon "
                f"(got noise_multiplier={params['noise_multiplier']!r}, "
                f"target_epsilon={params['target_epsilon']!r})"
            )
        return None

    def __init__(
        self,
        *,
        noise_multiplier: float | None = None,
        target_epsilon: float | None = None,
        max_grad_norm: float = 1.0,
        delta: float = 1e-5,
        accountant: str = "rdp",
    ) -> None:
        self.noise_multiplier = noise_multiplier
        self.target_epsilon = target_epsilon
        self.max_grad_norm = max_grad_norm
        self.delta = delta
        self.accountant = accountant

    def train(
        self,
        model: ModelLike,
        params: dict[str, Any],
        x: np.ndarray,
        y: np.ndarray,
        *,
        num_classes: int,
        seed: int,
        data: DefenseData = DefenseData(),
        progress: bool = False,
    ) -> Target:
        """Train ``model`` with DP-SGD; set ``epsilon_`` at ``delta``."""
        self.check_params()
        from opacus import PrivacyEngine
        from opacus.validators import ModuleValidator

        setup = prepare_torch(
            model, params, x, y, num_classes=num_classes, seed=seed, defense=self.name
        )
        module, config = setup.module, setup.config
        errors = ModuleValidator.validate(module, strict=False)
        if errors:
            raise ConfigError(f"model {model!r} is not compatible with DP-SGD: {errors[0]}")
        device = module_device(module)  # the recipe's device; the lots are moved there
        xt = as_tensor(module, setup.x).cpu()  # the module's dtype, on the CPU
        yt = torch.from_numpy(setup.y)

        with seeded(seed, device), warnings.catch_warnings():
            # Silenced here only: Opacus warns that secure_mode=False uses a pseudo-random
            # generator (a documented choice, for reproducibility), its RDP accountant may warn
            # about the alpha grid, and torch warns that Opacus' full backward hooks fire on a
            # first layer whose input needs no gradient (harmless: Opacus reads the
            # activations and the output gradients, not input gradients).
            warnings.filterwarnings("ignore", category=UserWarning, module=r"opacus(\.|$)")
            warnings.filterwarnings(
                "ignore", message="Full backward hook is firing", category=UserWarning
            )
            reset_parameters(module)
            engine = PrivacyEngine(accountant=self.accountant, secure_mode=False)
            loader = DataLoader(TensorDataset(xt, yt), batch_size=config.batch_size)
            common = {
                "module": module,
                "optimizer": _optimizer(module, config),
                "data_loader": loader,
                "max_grad_norm": float(self.max_grad_norm),
                # Opacus draws the noise on the parameters' device, with this generator
                "noise_generator": torch.Generator(device=device).manual_seed(seed),
            }
            if self.noise_multiplier is not None:
                private, optimizer, dp_loader = engine.make_private(
                    noise_multiplier=float(self.noise_multiplier), **common
                )
            else:
                private, optimizer, dp_loader = engine.make_private_with_epsilon(
                    target_epsilon=float(self.target_epsilon),  # type: ignore[arg-type]
                    target_delta=float(self.delta),
                    epochs=config.epochs,
                    **common,
                )
            steps = 0
            private.train()
            for epoch in range(config.epochs):
                total, count = 0.0, 0
                for xb, yb in dp_loader:
                    xb, yb = xb.to(device), yb.to(device)
                    # an empty lot (possible with Poisson sampling) still takes a noise-only
                    # step, as the accounting assumes; Opacus handles the empty batch
                    optimizer.zero_grad(set_to_none=True)
                    loss = nn.functional.cross_entropy(private(xb), yb)
                    loss.backward()
                    optimizer.step()
                    if len(xb) > 0:
                        total += float(loss.detach()) * len(xb)
                        count += len(xb)
                    steps += 1
                if count and not math.isfinite(total):
                    raise ConfigError(
                        f"DP-SGD training diverged in epoch {epoch + 1}; lower lr={config.lr}"
                    )
            self.epsilon_ = float(engine.get_epsilon(float(self.delta)))
            self.noise_multiplier_ = float(optimizer.noise_multiplier)
            self.sample_rate_ = 1.0 / len(dp_loader)
            self.steps_ = steps
            self.delta_ = float(self.delta)
            trained = private.to_standard_module()
        for p in trained.parameters():  # drop Opacus' per-parameter buffers
            p.grad = None
            for attr in _OPACUS_ATTRS:
                if hasattr(p, attr):
                    delattr(p, attr)
        return TorchTarget(trained.eval(), num_classes=num_classes)
