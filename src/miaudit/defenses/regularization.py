"""Regularisation defenses: L2 weight decay, dropout, early stopping and label smoothing.

Overfitting is the main cause of membership leakage (Shokri et al. 2017, IEEE S&P, sec. VI;
Yeom et al. 2018, IEEE CSF, sec. 3), so generic regularisers are the first defenses evaluated
against it: L2 regularisation (Shokri et al. 2017, sec. VI "Mitigation"), dropout (Salem et al.
2019, NDSS, sec. VI "Dropout"), early stopping (Song & Mittal 2021, USENIX Security, sec. 6.2)
and label smoothing (Szegedy et al. 2016, CVPR, sec. 7; as a membership defense examined by
Kaya & Dumitras 2021, ICML, "When does data augmentation help with membership inference
attacks?" and in the survey's Table 4).

All four train miaudit's torch models (``mlp``, ``cnn``) with the undefended model's own loop,
:func:`miaudit.models.train_torch` (its ``loss_fn`` and ``on_epoch_end`` arguments), so a
defense whose knob is zero trains exactly the undefended model. scikit-learn models raise
ConfigError (their own regularisers, e.g. logistic regression's ``C``, are model parameters).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import torch
from torch import nn

from miaudit.defenses._training import mean_loss, override_param, prepare_torch
from miaudit.defenses.base import Defense, DefenseData, register_defense
from miaudit.errors import ConfigError
from miaudit.models import ModelLike, is_module_factory, train_torch
from miaudit.targets import Target, TorchTarget
from miaudit.validation import Interval


@register_defense
class L2Regularization(Defense):
    """L2 regularisation (weight decay) of every parameter.

    Shokri et al. 2017, "Membership Inference Attacks against Machine Learning Models"
    (IEEE S&P), sec. VI "Mitigation strategies", regularisation: adds ``lambda * ||w||^2`` to
    the training loss. Implemented as the optimizer's ``weight_decay`` (the gradient of
    ``weight_decay / 2 * ||w||^2``; for Adam this is coupled L2, not AdamW's decoupled decay).

    Args:
        weight_decay: the L2 coefficient (>= 0); overrides the model's ``weight_decay``.

    Fitted attributes:
        weight_norm_: the L2 norm of all trained parameters.
    """

    name = "l2"
    kind = "training"
    cuda_training = True
    paper = "Shokri et al. 2017, IEEE S&P, sec. VI (L2 regularisation)"
    strength_param = "weight_decay"
    param_constraints = {"weight_decay": Interval(float, 0)}

    def __init__(self, *, weight_decay: float = 1e-3) -> None:
        self.weight_decay = weight_decay

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
        """Train ``model`` with weight decay ``self.weight_decay``."""
        self.check_params()
        wd = float(self.weight_decay)
        params = override_param(params, "weight_decay", wd, defense=self.name, param="weight_decay")
        setup = prepare_torch(
            model, params, x, y, num_classes=num_classes, seed=seed, defense=self.name
        )
        train_torch(setup.module, setup.x, setup.y, setup.config, progress=progress, desc="l2")
        with torch.no_grad():
            self.weight_norm_ = float(
                torch.sqrt(sum((p.double() ** 2).sum() for p in setup.module.parameters()))
            )
        return TorchTarget(setup.module, num_classes=num_classes)


@register_defense
class Dropout(Defense):
    """Dropout after each hidden layer (MLP) or before the last layer (CNN).

    Salem et al. 2019, "ML-Leaks: Model and Data Independent Membership Inference Attacks and
    Defenses on Machine Learning Models" (NDSS), sec. VI-A "Dropout": randomly dropping units
    during training (Srivastava et al. 2014, JMLR) reduces overfitting and membership leakage.

    Args:
        rate: dropout probability in ``[0, 1)``; overrides the model's ``dropout``.
    """

    name = "dropout"
    kind = "training"
    cuda_training = True
    paper = "Salem et al. 2019, NDSS, sec. VI-A (dropout)"
    strength_param = "rate"
    param_constraints = {"rate": Interval(float, 0, 1, closed="left")}

    def __init__(self, *, rate: float = 0.5) -> None:
        self.rate = rate

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
        """Train ``model`` with dropout probability ``self.rate``."""
        self.check_params()
        if is_module_factory(model):
            raise ConfigError(
                "defense 'dropout' sets the dropout rate of miaudit's built-in architectures; "
                "a module factory's module has none to set: add nn.Dropout(rate) to the "
                "module itself"
            )
        rate = float(self.rate)
        params = override_param(params, "dropout", rate, defense=self.name, param="rate")
        setup = prepare_torch(
            model, params, x, y, num_classes=num_classes, seed=seed, defense=self.name
        )
        train_torch(setup.module, setup.x, setup.y, setup.config, progress=progress, desc="dropout")
        self.dropout_layers_ = sum(isinstance(m, nn.Dropout) for m in setup.module.modules())
        return TorchTarget(setup.module, num_classes=num_classes)


@register_defense
class EarlyStopping(Defense):
    """Stop training when the validation loss stops improving.

    Song & Mittal 2021, "Systematic Evaluation of Privacy Risks of Machine Learning Models"
    (USENIX Security), sec. 6.2: early stopping as a baseline defense (fewer epochs, less
    overfitting); Caruana et al. 2001 (NIPS) for the procedure.

    Procedure (two phases, so that every audited member is trained on):

    1. Hold out a seeded random ``validation_fraction`` of the training set; train on the
       rest for at most the model's ``epochs``, evaluating the validation loss after each
       epoch; stop after ``patience`` epochs without an improvement larger than ``min_delta``.
       The best epoch ``e*`` is the one with the lowest validation loss.
    2. With ``refit=True`` (default): retrain from the same seeded initialisation on *all*
       of ``x`` for ``e*`` epochs and return that model. The audit's members are then
       exactly the records the released model was trained on. With ``refit=False``: return
       the phase-1 model with the best epoch's weights restored (Keras-style early stopping);
       the held-out records are then members of ``x`` the model never trained on, which
       understates the leakage an audit measures on ``x`` (use only when the audit's members
       are the phase-1 training records).

    Args:
        patience: epochs without improvement before stopping (>= 1).
        validation_fraction: share of ``x`` held out in phase 1, in (0, 1).
        min_delta: the smallest decrease of the validation loss that counts as improvement.
        refit: retrain on all records for the chosen number of epochs (see above).

    Fitted attributes:
        epochs_trained_: epochs of the returned model (``e*``).
        stopped_epoch_: the phase-1 epoch at which training stopped.
        best_validation_loss_: the validation loss at ``e*``.
    """

    name = "early_stopping"
    kind = "training"
    cuda_training = True
    paper = "Song & Mittal 2021, USENIX Security, sec. 6.2 (early stopping)"
    strength_param = "patience"
    param_constraints = {
        "patience": Interval(int, 1),
        "validation_fraction": Interval(float, 0, 1, closed="neither"),
        "min_delta": Interval(float, 0),
    }

    def __init__(
        self,
        *,
        patience: int = 3,
        validation_fraction: float = 0.2,
        min_delta: float = 0.0,
        refit: bool = True,
    ) -> None:
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.min_delta = min_delta
        self.refit = refit

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
        """Choose the number of epochs on a validation split, then (re)train."""
        self.check_params()
        setup = prepare_torch(
            model, params, x, y, num_classes=num_classes, seed=seed, defense=self.name
        )
        n = setup.x.shape[0]
        n_val = int(round(self.validation_fraction * n))
        if n_val < 1 or n - n_val < 1:
            raise ConfigError(
                f"early_stopping validation_fraction={self.validation_fraction} leaves an "
                f"empty training or validation part of {n} records"
            )
        perm = np.random.default_rng(seed).permutation(n)
        val, tr = perm[:n_val], perm[n_val:]
        x_val, y_val = setup.x[val], setup.y[val]
        module = setup.module
        state = {"best": float("inf"), "best_epoch": 0, "epoch": 0, "since": 0, "weights": None}

        def on_epoch_end(epoch: int, _train_loss: float) -> bool:
            state["epoch"] = epoch
            loss = mean_loss(module, x_val, y_val)
            if loss < state["best"] - self.min_delta or state["best_epoch"] == 0:
                state.update(best=loss, best_epoch=epoch, since=0)
                if not self.refit:
                    state["weights"] = {k: v.clone() for k, v in module.state_dict().items()}
            else:
                state["since"] += 1
            return state["since"] >= self.patience

        train_torch(
            module,
            setup.x[tr],
            setup.y[tr],
            setup.config,
            on_epoch_end=on_epoch_end,
            progress=progress,
            desc="early_stopping",
        )
        self.stopped_epoch_ = int(state["epoch"])
        self.epochs_trained_ = int(state["best_epoch"])
        self.best_validation_loss_ = float(state["best"])
        if self.refit:
            config = replace(setup.config, epochs=self.epochs_trained_)
            train_torch(
                module, setup.x, setup.y, config, progress=progress, desc="early_stopping refit"
            )
        else:
            module.load_state_dict(state["weights"])
        return TorchTarget(module.eval(), num_classes=num_classes)


def smoothed_cross_entropy(logits: torch.Tensor, y: torch.Tensor, smoothing: float) -> torch.Tensor:
    """Mean cross-entropy against smoothed targets ``(1 - s) * onehot(y) + s / C``.

    Szegedy et al. 2016, "Rethinking the Inception Architecture for Computer Vision" (CVPR),
    sec. 7 (label-smoothing regularisation): ``(1 - s) * CE(y) + s * mean_k(-log p_k)``.
    """
    return nn.functional.cross_entropy(logits, y, label_smoothing=smoothing)


@register_defense
class LabelSmoothing(Defense):
    """Train with label-smoothed cross-entropy.

    Szegedy et al. 2016 (CVPR), sec. 7, the regulariser; as a membership-inference defense in
    the survey's Table 4 (and Kaya & Dumitras 2021, ICML, sec. 4): smoothed targets cap the
    confidence the model reaches on its training records (the loss is minimised at
    ``p_y = 1 - s + s / C``), which shrinks the member/non-member confidence gap.

    Args:
        smoothing: ``s`` in ``[0, 1)``.
    """

    name = "label_smoothing"
    kind = "training"
    cuda_training = True
    paper = "Szegedy et al. 2016, CVPR, sec. 7 (label smoothing); survey Table 4"
    strength_param = "smoothing"
    param_constraints = {"smoothing": Interval(float, 0, 1, closed="left")}

    def __init__(self, *, smoothing: float = 0.1) -> None:
        self.smoothing = smoothing

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
        """Train ``model`` with label smoothing ``self.smoothing``."""
        self.check_params()
        s = float(self.smoothing)
        setup = prepare_torch(
            model, params, x, y, num_classes=num_classes, seed=seed, defense=self.name
        )
        train_torch(
            setup.module,
            setup.x,
            setup.y,
            setup.config,
            loss_fn=lambda logits, t: smoothed_cross_entropy(logits, t, s),
            progress=progress,
            desc="label_smoothing",
        )
        return TorchTarget(setup.module, num_classes=num_classes)
