"""Built-in models (torch MLP and CNN, scikit-learn classifiers), the trainer and registry."""

from miaudit.models._architectures import ACTIVATIONS, CNN, MLP
from miaudit.models._trainer import OPTIMIZERS, TrainConfig, train_torch
from miaudit.models._zoo import MODELS, ModelSpec, model_params_schema, train_model

__all__ = [
    "ACTIVATIONS",
    "CNN",
    "MLP",
    "MODELS",
    "OPTIMIZERS",
    "ModelSpec",
    "TrainConfig",
    "model_params_schema",
    "train_model",
    "train_torch",
]
