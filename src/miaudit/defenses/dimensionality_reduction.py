"""Dimensionality reduction of the inputs as a membership-inference defense.

The survey's Table 4 lists dimensionality reduction among the defenses: projecting the records
onto a few principal components before training removes the fine detail a model could
memorise about individual records (Pearson 1901 / Hotelling 1933 for PCA). Here PCA
(scikit-learn) is fitted on the flattened training records, the model is trained on the
projected records, and the returned Target projects every query the same way, so the audit
queries it with raw records like any other target:

* torch ``mlp``: a :class:`ProjectedModel` ``nn.Sequential(Flatten, Linear(d, k), MLP(k, ...))``
  whose first linear layer holds the fixed PCA map (weight = ``components_``, bias =
  ``-components_ @ mean_``, ``requires_grad=False``), so it stays a TorchTarget with logits
  and parameter gradients (only the MLP's parameters are trainable). The MLP is trained on the
  features computed by that same float32 layer, so training and queries see identical inputs.
* scikit-learn models: a fitted ``Pipeline([("pca", PCA), ("model", estimator)])`` in a
  SklearnTarget.
* ``cnn``, ``sample_convnet``: ConfigError (the projected records are vectors, not images;
  use ``mlp``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from sklearn.decomposition import PCA
from sklearn.pipeline import Pipeline
from torch import nn

from miaudit.defenses.base import Defense, DefenseData, register_defense
from miaudit.errors import ConfigError
from miaudit.models import MODELS, ModelLike, is_module_factory, train_model
from miaudit.models._trainer import module_device
from miaudit.models._zoo import check_training_inputs as check_inputs
from miaudit.targets import SklearnTarget, Target, TorchTarget
from miaudit.targets._torch import module_description
from miaudit.validation import Interval


class ProjectedModel(nn.Sequential):
    """``Flatten -> fixed linear projection -> model``: a torch model on projected inputs.

    Args:
        projection: the fixed ``nn.Linear(d, k)`` (PCA as an affine map).
        model: the classifier trained on the k projected features.
        num_classes: C.
    """

    def __init__(self, projection: nn.Linear, model: nn.Module, num_classes: int) -> None:
        super().__init__(nn.Flatten(), projection, model)
        self.num_classes = num_classes

    def describe(self) -> str:
        """E.g. ``PCA(446->20) + MLP(20-256-30, relu)``."""
        lin = self[1]
        return f"PCA({lin.in_features}->{lin.out_features}) + {module_description(self[2])}"


def pca_layer(pca: PCA) -> nn.Linear:
    """The fitted (non-whitened) PCA transform ``(x - mean) @ components.T`` as a frozen
    ``nn.Linear`` (float32)."""
    components = np.asarray(pca.components_, dtype=np.float64)
    mean = np.asarray(pca.mean_, dtype=np.float64)
    k, d = components.shape
    layer = nn.Linear(d, k)
    with torch.no_grad():
        layer.weight.copy_(torch.from_numpy(components))
        layer.bias.copy_(torch.from_numpy(-components @ mean))
    layer.weight.requires_grad_(False)
    layer.bias.requires_grad_(False)
    return layer


@register_defense
class DimensionalityReduction(Defense):
    """PCA on the inputs, then the model on the projected inputs (survey Table 4).

    Works for ``mlp`` and every scikit-learn model; not for ``cnn``.

    Args:
        n_components: number of principal components (an integer >= 1, at most
            ``min(n_records, n_features)``), or a share of variance to keep in (0, 1).

    Fitted attributes:
        n_components_: the number of components kept.
        explained_variance_: the share of the training records' variance they explain.
    """

    name = "dimensionality_reduction"
    kind = "training"
    cuda_training = True  # trains on the recipe's device (issue 11)
    paper = "survey Table 4 (dimensionality reduction of the inputs, PCA)"
    strength_param = "n_components"
    #: an integer number of components, or a float share of variance in (0, 1)
    param_constraints = {
        "n_components": (Interval(int, 1), Interval(float, 0, 1, closed="neither")),
    }

    def __init__(self, *, n_components: int | float = 10) -> None:
        self.n_components = n_components

    def _components(self, n: int, d: int) -> int | float:
        """The PCA's n_components (types and ranges checked by ``check_params``; here the
        limit that depends on the data)."""
        k = self.n_components
        if isinstance(k, int | np.integer):
            if k > min(n, d):
                raise ConfigError(
                    f"dimensionality_reduction n_components must be in [1, {min(n, d)}] "
                    f"(min of {n} records and {d} features), got {k}"
                )
            return int(k)
        return float(k)

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
        """Fit PCA on ``x``, train ``model`` on the projection, return the composed Target."""
        self.check_params()
        if is_module_factory(model):
            raise ConfigError(
                "defense 'dimensionality_reduction' trains its model on the projected "
                "features, which a module factory's module does not read; give it a model "
                "name ('mlp' or a scikit-learn model)"
            )
        spec = MODELS.get(model)  # type: ignore[arg-type]
        if spec.build is not None and not spec.flatten:
            raise ConfigError(
                "defense 'dimensionality_reduction' projects records to vectors, which model "
                f"{model!r} cannot read; use 'mlp' or a scikit-learn model"
            )
        _, x, y = check_inputs(model, params, x, y, num_classes, seed)
        flat = x.reshape(x.shape[0], -1).astype(np.float64)
        k = self._components(*flat.shape)
        solver = "full" if isinstance(k, float) else "auto"
        pca = PCA(n_components=k, svd_solver=solver, random_state=int(seed)).fit(flat)
        self.n_components_ = int(pca.n_components_)
        self.explained_variance_ = float(np.sum(pca.explained_variance_ratio_))
        if spec.family == "torch":
            layer = pca_layer(pca)
            with torch.no_grad():
                projected = layer(torch.from_numpy(flat.astype(np.float32))).numpy()
            inner = train_model(
                model, params, projected, y, num_classes=num_classes, seed=seed, progress=progress
            )
            assert isinstance(inner, TorchTarget)
            layer = layer.to(module_device(inner.module))  # the recipe's device
            module = ProjectedModel(layer, inner.module, num_classes).eval()
            return TorchTarget(module, num_classes=num_classes)
        inner = train_model(
            model, params, pca.transform(flat), y, num_classes=num_classes, seed=seed
        )
        assert isinstance(inner, SklearnTarget)
        pipeline = Pipeline([("pca", pca), ("model", inner.estimator)])
        return SklearnTarget(pipeline, num_classes=num_classes)
