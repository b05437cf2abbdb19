"""``load_file``: a saved model as a :class:`~miaudit.targets.Target`, one branch per
format. Recipes are not resolved here (that needs :mod:`miaudit.models`, which imports this
package): the caller passes the eager module, or a function building it from the file's
state dict, as ``module``."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from torch import nn

from miaudit.errors import ConfigError, DataError, one_line, short_repr
from miaudit.targets._base import Target
from miaudit.targets._sklearn import SklearnTarget
from miaudit.targets.files._detect import (
    check_allowed,
    detect_format,
    huggingface_weights,
)
from miaudit.targets.files._outputs import check_output_kind
from miaudit.targets.files._torch import TorchFileTarget, TorchScriptWeights
from miaudit.targets.files._weights import load_weights, read_safetensors

#: the eager module of a file's recipe, or how to build it from the file's state dict
ModuleSource = nn.Module | Callable[[dict[str, torch.Tensor]], nn.Module]
#: formats whose weights can be loaded into a recipe's module
RECIPE_FORMATS = ("safetensors", "torchscript", "torch_pickle", "pickle")
_NAMES = {
    "onnx": "ONNX",
    "torchscript": "TorchScript",
    "safetensors": "safetensors",
    "skops": "skops",
    "huggingface": "Hugging Face",
    "torch_pickle": "torch.save",
    "pickle": "pickle",
}


def format_name(found: str) -> str:
    """How messages name a detected format ("ONNX", "TorchScript", ...)."""
    return _NAMES.get(found, found)


def _build(module: ModuleSource, state: dict[str, torch.Tensor], source: str) -> nn.Module:
    built = module if isinstance(module, nn.Module) else module(state)
    if not isinstance(built, nn.Module):
        raise ConfigError(f"the model recipe of {source} did not give a torch.nn.Module")
    return load_weights(built, state, source)


def load_file(
    path: str | Path,
    *,
    format: str | None = None,
    module: ModuleSource | None = None,
    allow_pickle: bool = False,
    output: str | None = None,
    device: str = "cpu",
    num_classes: int | None = None,
    trusted: Sequence[str] | None = None,
    batch_size: int | None = None,
) -> Target:
    """The model saved at ``path`` as a Target (see :func:`miaudit.load_target`, which
    resolves recipes into ``module``).

    Args:
        path: the file (a directory for Hugging Face).
        format: one of :data:`~miaudit.targets.files.FORMATS`; None detects it.
        module: for safetensors (required) and TorchScript or ``torch.save`` state dicts
            (optional, for an eager module: white-box attacks reading layer activations):
            the recipe's module, or ``build(state_dict) -> module``.
        allow_pickle: open pickle-based files (runs the code they name).
        output: "logits" or "probabilities"; None lets the format decide.
        device: torch device ("cpu" or "cuda", already resolved); ONNX and skops run on
            the CPU only.
        num_classes: C when known (checked against the model's output width).
        trusted: skops only: type names to trust beyond skops' defaults.
        batch_size: records per forward pass (None: the target's default).

    Raises:
        ConfigError: a refused file (pickle, untrusted skops types, remote code), an option
            that does not apply to the format. DataError: an unreadable file, or weights that
            do not fit the recipe.
    """
    if not isinstance(allow_pickle, bool):
        raise ConfigError(f"allow_pickle must be true or false, got {short_repr(allow_pickle)}")
    path = Path(path)
    found = detect_format(path, format)
    check_allowed(path, found, allow_pickle)
    output = check_output_kind(output)
    name = format_name(found)
    if module is not None and found not in RECIPE_FORMATS:
        raise ConfigError(
            f"a model recipe applies to safetensors, TorchScript and torch.save state dicts, "
            f"not to a {name} model ({path.name}); remove model:"
        )
    if trusted and found != "skops":
        raise ConfigError(f"trusted applies to skops files, not to a {name} model ({path.name})")
    if found in ("onnx", "skops") and device != "cpu":
        raise ConfigError(f"a {name} model runs on the CPU only (device: cpu), got {device!r}")
    sizes = {} if batch_size is None else {"batch_size": batch_size}
    if found == "onnx":
        from miaudit.targets.files._onnx import OnnxTarget

        return OnnxTarget(path, output=output, num_classes=num_classes, **sizes)
    if found == "skops":
        from miaudit.targets.files._skops import SkopsTarget, check_trusted, load_skops

        if output == "logits":
            raise ConfigError("a skops model outputs probabilities (predict_proba), not logits")
        estimator = load_skops(path, check_trusted(trusted))
        return SkopsTarget(estimator, path=path, num_classes=num_classes)
    if found == "huggingface":
        from miaudit.targets.files._huggingface import HuggingFaceTarget, load_huggingface

        if output == "probabilities":
            raise ConfigError("a Hugging Face classification head outputs logits")
        weights = huggingface_weights(path, allow_pickle)
        model = load_huggingface(path, weights=weights, device=device)
        return HuggingFaceTarget(model, path=path, num_classes=num_classes, **sizes)
    common = {
        "path": path,
        "output": output or "logits",
        "explicit": output is not None,
        "num_classes": num_classes,
        **sizes,
    }
    if found == "safetensors":
        if module is None:
            raise ConfigError(
                f"{path.name} holds weights only: give the model recipe it was trained with "
                "(model: {model: mlp, hidden: [...]}) or a module factory "
                "('package.module:factory')"
            )
        net = _build(module, read_safetensors(path, device), path.name).to(device)
        return TorchFileTarget(net, fmt=name, **common)
    if found == "torchscript":
        try:
            with warnings.catch_warnings():
                # torch 2.13 deprecates TorchScript in favour of torch.export; its archives
                # are still the one torch format that holds code and weights without pickle
                warnings.filterwarnings(
                    "ignore",
                    message=".*torch.jit.load.* is deprecated",
                    category=DeprecationWarning,
                )
                script = torch.jit.load(str(path), map_location=device)
        except (RuntimeError, ValueError) as e:
            raise DataError(f"torch.jit.load cannot read {path.name}: {one_line(e)}") from None
        if module is not None:
            state = {k: v.detach() for k, v in script.state_dict().items()}
            net = _build(module, state, path.name).to(device)
            return TorchFileTarget(net, fmt=name, reference=TorchScriptWeights(script), **common)
        weights = TorchScriptWeights(script)
        note = None
        if not any(p.is_floating_point() for p in weights.parameters()):
            note = f"the TorchScript module {path.name} has no floating-point parameters"
        return TorchFileTarget(weights, fmt=name, parameters_note=note, **common)
    from miaudit.targets.files._pickle import load_pickled

    obj = load_pickled(path, found, device)
    if isinstance(obj, Target):
        return obj
    if isinstance(obj, nn.Module):
        return TorchFileTarget(obj.to(device), fmt=name, **common)
    if isinstance(obj, dict) and obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
        if module is None:
            raise ConfigError(
                f"{path.name} holds a state dict: give the model recipe it was trained with"
            )
        net = _build(module, obj, path.name).to(device)
        return TorchFileTarget(net, fmt=name, **common)
    if callable(getattr(obj, "predict_proba", None)):
        if output == "logits":
            raise ConfigError("a scikit-learn model outputs probabilities (predict_proba)")
        return SklearnTarget(obj, num_classes=num_classes)
    raise DataError(
        f"{path.name} holds a {type(obj).__name__}, not a torch module, a state dict or a "
        "classifier with predict_proba"
    )
