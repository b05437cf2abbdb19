"""Built-in models (torch MLP and convnets, scikit-learn classifiers), the trainer and registry."""

from miaudit.models._architectures import ACTIVATIONS, CNN, MLP, SampleConvNet
from miaudit.models._trainer import OPTIMIZERS, TrainConfig, train_torch
from miaudit.models._zoo import (
    MODELS,
    ModelSpec,
    build_torch_module,
    model_params_schema,
    model_records,
    torch_models,
    train_model,
)

__all__ = [
    "ACTIVATIONS",
    "CNN",
    "MLP",
    "MODELS",
    "OPTIMIZERS",
    "ModelSpec",
    "SampleConvNet",
    "TrainConfig",
    "build_torch_module",
    "model_params_schema",
    "model_records",
    "torch_models",
    "train_model",
    "train_torch",
]
