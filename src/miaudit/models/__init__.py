"""Built-in models (torch MLP and convnets, scikit-learn classifiers), the trainer and registry;
saved models as targets (:func:`load_target`, the config's ``target: {path: ...}``)."""

from miaudit.models._architectures import ACTIVATIONS, CNN, MLP, SampleConvNet
from miaudit.models._factory import ModuleFactory, is_module_factory, resolve_device
from miaudit.models._saved import (
    check_path_section,
    load_target,
    path_section_exposes_parameters,
    path_section_imports,
    path_section_parameters_note,
    target_from_path_section,
)
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
    "check_path_section",
    "is_module_factory",
    "load_target",
    "model_params_schema",
    "model_records",
    "model_spec",
    "path_section_exposes_parameters",
    "path_section_imports",
    "path_section_parameters_note",
    "resolve_device",
    "target_from_path_section",
    "torch_models",
    "train_model",
    "train_torch",
]
