"""Built-in models (torch MLP and convnets, scikit-learn classifiers), the trainer and registry."""

from miaudit.models._architectures import ACTIVATIONS, CNN, MLP, SampleConvNet
from miaudit.models._factory import ModuleFactory, is_module_factory, resolve_device
from miaudit.models._trainer import OPTIMIZERS, TrainConfig, train_torch
from miaudit.models._zoo import (
    MODELS,
    ModelLike,
    ModelSpec,
    build_torch_module,
    model_params_schema,
    model_records,
    model_spec,
    torch_models,
    train_model,
)

__all__ = [
    "ACTIVATIONS",
    "CNN",
    "MLP",
    "MODELS",
    "OPTIMIZERS",
    "ModelLike",
    "ModelSpec",
    "ModuleFactory",
    "SampleConvNet",
    "TrainConfig",
    "build_torch_module",
    "is_module_factory",
    "model_params_schema",
    "model_records",
    "model_spec",
    "resolve_device",
    "torch_models",
    "train_model",
    "train_torch",
]
