"""The model registry and ``train_model``, the single entry point the audit pipeline calls."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from sklearn.base import ClassifierMixin
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression

from miaudit.data.integrity import check_num_classes
from miaudit.errors import ConfigError, DataError, short_repr
from miaudit.models._architectures import (
    CNN,
    MLP,
    SampleConvNet,
    cnn_footprint,
    mlp_footprint,
    sample_convnet_footprint,
)
from miaudit.models._factory import (
    ModuleFactory,
    build_from_factory,
    factory_name,
    is_module_factory,
    resolve_device,
)
from miaudit.models._trainer import TRAIN_FIELDS, TrainConfig, train_torch
from miaudit.outputs import check_labels
from miaudit.registry import Registry
from miaudit.resources import require_memory, training_bytes
from miaudit.targets import SklearnTarget, Target, TorchTarget
from miaudit.validation import check_int

#: a model of a recipe: a registered name, or a module factory (:mod:`miaudit.models._factory`)
ModelLike = str | ModuleFactory
TrainFn = Callable[[dict[str, Any], np.ndarray, np.ndarray, int, int, bool], Target]
#: ``build(record_shape, num_classes, arch) -> module`` for torch models
BuildFn = Callable[[tuple[int, ...], int, dict[str, Any]], torch.nn.Module]
#: ``footprint(record_shape, num_classes, arch) -> (parameters, activations per record)``
FootprintFn = Callable[[tuple[int, ...], int, dict[str, Any]], tuple[int, int]]

_TRAIN_DEFAULTS: dict[str, Any] = {k: v for k, v in TrainConfig().to_dict().items() if k != "seed"}
#: every torch recipe (built-in or module factory) takes ``device``: "cpu" (default),
#: "cuda" (refused without CUDA) or "auto" (CUDA when torch sees one, else the CPU)
_DEVICE_DEFAULT: dict[str, Any] = {"device": "cpu"}
#: parameters of a torch recipe that are neither architecture nor training loop
NON_ARCH = (*TRAIN_FIELDS, "device")


@dataclass(frozen=True)
class ModelSpec:
    """A registered model: its family, its parameters with defaults, and how to train it.

    Attributes:
        name: registry name.
        family: "torch" or "sklearn".
        defaults: every accepted parameter and its default value.
        train: ``train(params, x, y, num_classes, seed, progress) -> Target`` where
            ``params`` is complete (defaults filled in).
        description: one line for docs and the CLI.
        build: torch models only: ``build(record_shape, num_classes, arch)``, the untrained
            module for records of ``record_shape`` (as stored, e.g. (C, H, W)) from the
            architecture parameters ``arch``; ConfigError for records it cannot read.
        flatten: torch models only: records are flattened to vectors before the module.
        footprint: torch models only: ``footprint(record_shape, num_classes, arch)``, the
            (parameters, activations per record) of the module ``build`` would make,
            computed without allocating it (see :func:`estimate_training_bytes`).
    """

    name: str
    family: str
    defaults: dict[str, Any]
    train: TrainFn
    description: str
    build: BuildFn | None = None
    flatten: bool = False
    footprint: FootprintFn | None = None


MODELS: Registry[ModelSpec] = Registry("model")


def model_spec(model: ModelLike) -> ModelSpec:
    """The spec of a registered model name, or of a module factory (a torch model whose
    parameters are the torch training parameters and ``device``, default "cpu").

    Raises:
        UnknownNameError: unknown name. ConfigError: neither a name nor a callable.
    """
    if isinstance(model, str):
        return MODELS.get(model)
    if not is_module_factory(model):
        raise ConfigError(
            "model must be a registered name or a module factory (a callable with no "
            f"arguments returning a torch.nn.Module), got {short_repr(model)}"
        )
    factory: ModuleFactory = model  # type: ignore[assignment]

    def build(shape: tuple[int, ...], num_classes: int, arch: dict[str, Any]) -> torch.nn.Module:
        return build_from_factory(factory, shape, num_classes, arch)

    name = factory_name(factory)
    return ModelSpec(
        name=name,
        family="torch",
        defaults={**_TRAIN_DEFAULTS, **_DEVICE_DEFAULT},
        train=_torch_trainer(factory),
        description=f"torch module of the factory {name}",
        build=build,
    )


def _split_train(params: dict[str, Any], seed: int) -> tuple[dict[str, Any], TrainConfig]:
    """(architecture parameters with ``device``, the training configuration)."""
    arch = {k: v for k, v in params.items() if k not in TRAIN_FIELDS}
    train = {k: v for k, v in params.items() if k in TRAIN_FIELDS}
    return arch, TrainConfig(**train, seed=seed)


def _build_mlp(shape: tuple[int, ...], num_classes: int, arch: dict[str, Any]) -> torch.nn.Module:
    return MLP(math.prod(shape), num_classes, **arch)


def _image_shape(name: str, shape: tuple[int, ...]) -> tuple[int, int]:
    """(channels, side) of square (C, H, W) records; ConfigError otherwise."""
    if len(shape) != 3 or shape[1] != shape[2]:
        hint = ""
        if len(shape) == 3 and shape[2] in (1, 3, 4) and shape[0] == shape[1]:
            hint = "; the images look channels-last, transpose them with x.transpose(0, 3, 1, 2)"
        raise ConfigError(
            f"model {name!r} needs square images of shape (n, C, H, W) with H == W, but the "
            f"records have shape {shape}{hint}; use 'mlp' or a scikit-learn model for "
            "tabular data"
        )
    return shape[0], shape[1]


def _build_cnn(shape: tuple[int, ...], num_classes: int, arch: dict[str, Any]) -> torch.nn.Module:
    return CNN(*_image_shape("cnn", shape), num_classes, **arch)


def _build_sample_convnet(
    shape: tuple[int, ...], num_classes: int, arch: dict[str, Any]
) -> torch.nn.Module:
    return SampleConvNet(*_image_shape("sample_convnet", shape), num_classes, **arch)


#: Batch assumed for the activations when the training set's size is unknown.
_ACTIVATION_BATCH_CAP = 1024


def _mlp_footprint(
    shape: tuple[int, ...], num_classes: int, arch: dict[str, Any]
) -> tuple[int, int]:
    return mlp_footprint(math.prod(shape), num_classes, **arch)


def _cnn_footprint(
    shape: tuple[int, ...], num_classes: int, arch: dict[str, Any]
) -> tuple[int, int]:
    return cnn_footprint(*_image_shape("cnn", shape), num_classes, **arch)


def _sample_convnet_footprint(
    shape: tuple[int, ...], num_classes: int, arch: dict[str, Any]
) -> tuple[int, int]:
    return sample_convnet_footprint(*_image_shape("sample_convnet", shape), num_classes, **arch)


def estimate_training_bytes(
    name: ModelLike,
    params: dict[str, Any],
    record_shape: tuple[int, ...],
    num_classes: int,
    n_records: int | None = None,
) -> tuple[int, int] | None:
    """(parameters, bytes to train) of torch model ``name``, or None for other models.

    Counted from the recipe and the records' shape without building the module: float32
    parameters, gradients and Adam's two moments, plus one batch of activations (the
    batch bounded by ``n_records``, else by 1024). Issue 9 item 11: ``hidden: [100000000]``
    ran 52 s and took 11 GB before failing.

    Raises:
        ConfigError: bad architecture parameters or records the architecture cannot read.
    """
    spec = model_spec(name)
    if spec.footprint is None:
        return None
    arch = {k: v for k, v in params.items() if k not in NON_ARCH}
    try:
        parameters, activations = spec.footprint(
            tuple(int(d) for d in record_shape), num_classes, arch
        )
    except TypeError as e:
        raise ConfigError(f"bad parameters for model {name!r}: {e}") from None
    batch = params.get("batch_size", spec.defaults.get("batch_size", 64))
    batch = batch if isinstance(batch, int) and not isinstance(batch, bool) and batch > 0 else 64
    batch = min(batch, _ACTIVATION_BATCH_CAP if n_records is None else max(int(n_records), 1))
    return parameters, training_bytes(parameters, activations, batch)


def check_model_memory(
    name: ModelLike,
    params: dict[str, Any],
    record_shape: tuple[int, ...],
    num_classes: int,
    *,
    n_records: int | None = None,
    what: str = "model",
) -> None:
    """Refuse (ResourceError) a torch recipe too large to train on this machine.

    ``what`` names the model in the message (e.g. "target model", "reference model");
    ``n_records``, the training set's size, bounds the batch (a batch_size above it trains
    on full batches).
    """
    estimate = estimate_training_bytes(name, params, record_shape, num_classes, n_records)
    if estimate is None:
        return
    parameters, nbytes = estimate
    arch = {k: v for k, v in params.items() if k not in NON_ARCH or k == "batch_size"}
    recipe = ", ".join(f"{k}={short_repr(v, 40)}" for k, v in arch.items())
    features = "x".join(str(int(d)) for d in record_shape)
    require_memory(
        nbytes,
        f"{what} {name}{f' ({recipe})' if recipe else ''} on records of shape {features} has "
        f"{parameters:,} parameters and",
        "make the model smaller",
    )


def build_torch_module(
    name: ModelLike,
    params: dict[str, Any],
    record_shape: tuple[int, ...],
    num_classes: int,
    seed: int,
) -> torch.nn.Module:
    """The untrained torch model ``name`` (or a module factory's module) for records of
    ``record_shape``, seeded by ``seed``.

    ``params`` may hold training parameters too (they are ignored here) and ``device``
    (:func:`~miaudit.models.resolve_device`; the module is built on the CPU, then moved
    there); the global RNG is left untouched. The single place where miaudit builds its
    torch architectures (the trainer, the defenses and the reference engine all call it).

    Raises:
        UnknownNameError: unknown model. ConfigError: not a torch model, bad architecture
        parameters, records the architecture cannot read, or a factory that does not return
        a module of ``num_classes`` outputs.
    """
    spec = model_spec(name)
    if spec.build is None:
        raise ConfigError(
            f"model {name!r} is not a torch model (torch models: {', '.join(torch_models())})"
        )
    arch = {k: v for k, v in params.items() if k not in TRAIN_FIELDS}
    check_model_memory(name, params, record_shape, num_classes)
    factory = is_module_factory(name)  # a factory's build moves its module and probes it there
    device = resolve_device(arch.get("device", "cpu"))
    if not factory:
        arch.pop("device", None)
    with torch.random.fork_rng(devices=[]):  # the weights are drawn on the CPU, then moved
        torch.manual_seed(seed)
        try:
            module = spec.build(tuple(int(d) for d in record_shape), num_classes, arch)
        except TypeError as e:
            raise ConfigError(f"bad parameters for model {spec.name!r}: {e}") from None
    return module if factory else module.to(device)


def torch_models() -> tuple[str, ...]:
    """Names of the registered torch models."""
    return tuple(n for n in MODELS.names() if MODELS.get(n).build is not None)


def model_records(name: ModelLike, x: np.ndarray) -> np.ndarray:
    """Records as torch model ``name`` reads them (flattened for models that flatten; a
    module factory's module reads them as given)."""
    return x.reshape(x.shape[0], -1) if model_spec(name).flatten else x


def _torch_trainer(name: ModelLike) -> TrainFn:
    def train(
        params: dict[str, Any],
        x: np.ndarray,
        y: np.ndarray,
        num_classes: int,
        seed: int,
        progress: bool,
    ) -> Target:
        config = _split_train(params, seed)[1]
        module = build_torch_module(name, params, x.shape[1:], num_classes, seed)
        desc = name if isinstance(name, str) else "model"
        train_torch(module, model_records(name, x), y, config, progress=progress, desc=desc)
        return TorchTarget(module, num_classes=num_classes)

    return train


def _sklearn_trainer(factory: Callable[..., ClassifierMixin], name: str) -> TrainFn:
    def train(
        params: dict[str, Any],
        x: np.ndarray,
        y: np.ndarray,
        num_classes: int,
        seed: int,
        progress: bool,
    ) -> Target:
        estimator = factory(**params, random_state=seed)
        try:
            estimator.fit(x.reshape(x.shape[0], -1), y)
        except (ValueError, TypeError) as e:
            raise ConfigError(f"model {name!r} rejected its parameters: {e}") from None
        return SklearnTarget(estimator, num_classes=num_classes)

    return train


MODELS.add(
    "mlp",
    ModelSpec(
        name="mlp",
        family="torch",
        defaults={
            "hidden": (256,),
            "activation": "relu",
            "dropout": 0.0,
            **_TRAIN_DEFAULTS,
            **_DEVICE_DEFAULT,
        },
        train=_torch_trainer("mlp"),
        description="torch multi-layer perceptron (records are flattened)",
        build=_build_mlp,
        flatten=True,
        footprint=_mlp_footprint,
    ),
)
MODELS.add(
    "cnn",
    ModelSpec(
        name="cnn",
        family="torch",
        defaults={
            "channels": (32, 64),
            "hidden": 128,
            "dropout": 0.0,
            **_TRAIN_DEFAULTS,
            **_DEVICE_DEFAULT,
        },
        train=_torch_trainer("cnn"),
        description="torch small convnet for (n, C, H, W) images (28x28, 32x32)",
        build=_build_cnn,
        footprint=_cnn_footprint,
    ),
)
MODELS.add(
    "sample_convnet",
    ModelSpec(
        name="sample_convnet",
        family="torch",
        defaults={"channels": (16, 32), "hidden": 32, **_TRAIN_DEFAULTS, **_DEVICE_DEFAULT},
        train=_torch_trainer("sample_convnet"),
        description="torch convnet of Opacus' MNIST DP-SGD example (SampleConvNet), images",
        build=_build_sample_convnet,
        footprint=_sample_convnet_footprint,
    ),
)
MODELS.add(
    "logistic_regression",
    ModelSpec(
        name="logistic_regression",
        family="sklearn",
        defaults={
            "C": 1.0,
            "max_iter": 1000,
            "tol": 1e-4,
            "fit_intercept": True,
            "class_weight": None,
        },
        train=_sklearn_trainer(LogisticRegression, "logistic_regression"),
        description="scikit-learn LogisticRegression (lbfgs, multinomial)",
    ),
)
MODELS.add(
    "random_forest",
    ModelSpec(
        name="random_forest",
        family="sklearn",
        defaults={
            "n_estimators": 100,
            "max_depth": None,
            "min_samples_leaf": 1,
            "max_features": "sqrt",
            "criterion": "gini",
            "bootstrap": True,
            "class_weight": None,
            "n_jobs": None,
        },
        train=_sklearn_trainer(RandomForestClassifier, "random_forest"),
        description="scikit-learn RandomForestClassifier",
    ),
)
MODELS.add(
    "gradient_boosting",
    ModelSpec(
        name="gradient_boosting",
        family="sklearn",
        # HistGradientBoosting: much faster than GradientBoostingClassifier on thousands of
        # records. early_stopping is off by default so the model sees every training record
        # (sklearn's "auto" would hold out a random 10% above 10000 records).
        defaults={
            "max_iter": 100,
            "learning_rate": 0.1,
            "max_depth": None,
            "max_leaf_nodes": 31,
            "min_samples_leaf": 20,
            "l2_regularization": 0.0,
            "early_stopping": False,
        },
        train=_sklearn_trainer(HistGradientBoostingClassifier, "gradient_boosting"),
        description="scikit-learn HistGradientBoostingClassifier (histogram gradient boosting)",
    ),
)


def model_params_schema(name: str) -> dict[str, Any]:
    """Every parameter model ``name`` accepts, with its default (a fresh copy)."""
    return dict(MODELS.get(name).defaults)


def train_model(
    name: ModelLike,
    params: dict[str, Any],
    x: np.ndarray,
    y: np.ndarray,
    *,
    num_classes: int,
    seed: int,
    progress: bool = False,
) -> Target:
    """Train registered model ``name`` on ``(x, y)`` and return it as a Target.

    Args:
        name: a name in ``MODELS`` (mlp, cnn, sample_convnet, logistic_regression,
            random_forest, gradient_boosting), or a module factory: ``factory()`` returning
            a fresh torch ``nn.Module`` (records as given -> ``(batch, num_classes)``
            logits; see :mod:`miaudit.models._factory`).
        params: overrides of :func:`model_params_schema` (architecture and training
            parameters for torch models; estimator parameters for scikit-learn ones; for a
            factory the torch training parameters). Every torch recipe takes ``device``:
            "cpu" (default), "cuda" (ConfigError without CUDA) or "auto" (CUDA when
            ``torch.cuda.is_available()``, else the CPU); outputs come back as NumPy arrays.
        x: records (n, ...); flattened for every model except the convnets (``cnn``,
            ``sample_convnet``), which need (n, C, H, W) images.
        y: integer labels (n,) in ``[0, num_classes)``.
        num_classes: number of classes C of the task (outputs always have C columns).
        seed: seeds the weights, the shuffling and dropout (torch) or ``random_state``.
        progress: show a progress bar over epochs (torch models).

    Raises:
        UnknownNameError: unknown model. ConfigError: unknown or invalid parameter.
        DataError: malformed x or y.
    """
    full, x, y = check_training_inputs(name, params, x, y, num_classes, seed)
    return model_spec(name).train(full, x, y, num_classes, int(seed), progress)


def check_training_inputs(
    name: ModelLike,
    params: dict[str, Any],
    x: np.ndarray,
    y: np.ndarray,
    num_classes: int,
    seed: int,
) -> tuple[dict[str, Any], np.ndarray, np.ndarray]:
    """Validate a training call; return (params with defaults filled in, x, y).

    Raises:
        UnknownNameError: unknown model. ConfigError: unknown or invalid parameter,
        num_classes or seed. DataError: malformed x or y.
    """
    spec = model_spec(name)
    if not isinstance(params, dict):
        raise ConfigError(
            f"params of model {spec.name!r} must be a mapping, got {type(params).__name__}"
        )
    unknown = sorted(set(params) - set(spec.defaults))
    if unknown:
        raise ConfigError(
            f"unknown parameter {unknown[0]!r} for model {spec.name!r}; "
            f"valid: {', '.join(sorted(spec.defaults))}"
        )
    if "device" in spec.defaults:  # a torch recipe: refuse an unusable device now
        resolve_device(params.get("device", spec.defaults["device"]))
    check_int(num_classes, "num_classes", low=2)
    check_num_classes(num_classes, what=f"num_classes={num_classes}")
    check_int(seed, "seed", low=0)
    x = np.asarray(x)
    if x.ndim < 2 or x.shape[0] == 0:
        raise DataError(f"x must be a non-empty array of records (n, ...), got shape {x.shape}")
    if not (np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer)):
        raise DataError(f"x must be a numeric array, got dtype {x.dtype}")
    if not np.all(np.isfinite(x)):
        raise DataError("training records x contain NaN or inf")
    y = np.asarray(y)
    if y.shape != (x.shape[0],):
        raise DataError(f"mismatched lengths: {x.shape[0]} records but labels of shape {y.shape}")
    y = check_labels(y, num_classes, what="training labels")
    return {**spec.defaults, **params}, x, y
