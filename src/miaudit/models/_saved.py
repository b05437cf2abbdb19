"""Saved models as audit targets: :func:`load_target` (Python) and the config's
``target: {path: ...}`` section (:func:`check_path_section`, :func:`target_from_path_section`).

The formats and their loaders live in :mod:`miaudit.targets.files`; this module adds what
needs the model registry: a safetensors state dict (or, optionally, a TorchScript file) is
loaded into the eager module of a *model recipe*, a mapping like a config's ``target:``
section (``{model: mlp, hidden: [256]}``), a registered name, a module factory
(``"package.module:factory"`` or the callable itself) or, in Python, a module instance
(copied, then given the file's weights).

A recipe's shapes come from the file when they can: ``num_classes`` from the rows of the
last ``nn.Linear``'s weight, and for ``mlp`` the input width from the first one's columns;
convnets need ``input_shape`` ([channels, height, width]). Training parameters in the recipe
(``epochs``, ``lr``, ...) are accepted and not used here (nothing trains the target).
"""

from __future__ import annotations

import copy
import difflib
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from miaudit._code_imports import import_named
from miaudit.errors import ConfigError, DataError, MiauditError, short_repr
from miaudit.models._factory import DEVICES, factory_name, is_module_factory, resolve_device
from miaudit.models._zoo import MODELS, build_torch_module, model_spec, torch_models
from miaudit.targets import Target
from miaudit.targets.files import FORMATS, detect_format, format_name, load_file
from miaudit.targets.files._detect import check_allowed, huggingface_weights
from miaudit.targets.files._huggingface import HF_NO_PARAMETERS
from miaudit.targets.files._load import RECIPE_FORMATS
from miaudit.targets.files._onnx import ONNX_NO_PARAMETERS
from miaudit.targets.files._skops import SKOPS_NO_PARAMETERS
from miaudit.targets.files._torch import PROBS_NO_PARAMETERS
from miaudit.validation import check_int

#: the keys of a config's ``target: {path: ...}`` section
PATH_KEYS = frozenset(
    {
        "path",
        "format",
        "model",
        "allow_pickle",
        "output",
        "device",
        "num_classes",
        "trusted",
        "input_shape",
        "batch_size",
    }
)
#: formats whose target exposes its parameters (white-box attacks), unless it outputs
#: probabilities; a pickle is assumed to hold a scikit-learn model, a torch.save file a module
_WHITE_BOX = ("torchscript", "safetensors", "torch_pickle")
_NO_PARAMETERS = {
    "onnx": ONNX_NO_PARAMETERS,
    "skops": SKOPS_NO_PARAMETERS,
    "huggingface": HF_NO_PARAMETERS,
    "pickle": "a pickled model is taken for a scikit-learn one; white-box attacks need a torch "
    "module (TorchScript, or a safetensors state dict with its model recipe)",
}

#: a recipe as :func:`load_target` takes it
ModelRecipe = str | Mapping[str, Any] | Callable[[], nn.Module] | nn.Module


def _close(name: object, valid: Sequence[str]) -> str:
    if not isinstance(name, str) or len(name) > 100:
        return ""
    hint = difflib.get_close_matches(name, list(valid), n=1)
    return f"; did you mean {hint[0]!r}?" if hint else ""


def import_factory(spec: str, *, allow_imports: bool = True) -> Callable[[], nn.Module]:
    """Import the module factory ``"package.module:factory"`` (importing runs its code).

    Raises:
        ConfigError: imports disabled, a malformed spec, an import that fails, or an
            attribute that is not callable.
    """
    where = f"model {short_repr(spec)}"
    if not allow_imports:
        raise ConfigError(
            f"{where} names code to import and imports from configs are disabled (--no-code or "
            "MIAUDIT_NO_CONFIG_IMPORTS=1); nothing was imported"
        )
    obj = import_named(spec, where=where, shape="package.module:factory")
    if not is_module_factory(obj):
        raise ConfigError(f"{where} is not callable; a module factory returns a torch.nn.Module")
    return obj


def _split_recipe(model: object) -> tuple[Any, dict[str, Any]]:
    """``(name, factory spec or callable, params)`` of a recipe value (not yet imported)."""
    if isinstance(model, Mapping):
        if "model" not in model:
            raise ConfigError(
                f"a model recipe mapping needs 'model' (one of {', '.join(torch_models())}, "
                "or 'package.module:factory')"
            )
        return model["model"], {k: v for k, v in model.items() if k != "model"}
    return model, {}


def check_recipe(model: object, *, allow_imports: bool = True, where: str = "model") -> None:
    """Refuse (ConfigError) a recipe value that cannot build a torch module, before any
    work: an unknown or non-torch model name, unknown parameters, a malformed factory spec
    (imported only when ``allow_imports``; refused otherwise)."""
    if model is None or isinstance(model, nn.Module):
        return
    name, params = _split_recipe(model)
    if isinstance(name, str) and ":" in name:
        name = import_factory(name, allow_imports=allow_imports)
    if is_module_factory(name):
        valid = sorted(model_spec(name).defaults)
        for key in params:
            if key not in valid:
                raise ConfigError(
                    f"unknown parameter {short_repr(key)} in {where} (module factory)"
                    f"{_close(key, valid)} (valid: {', '.join(valid)})"
                )
        return
    if not isinstance(name, str) or name not in MODELS.names():
        raise ConfigError(
            f"unknown model {short_repr(name)} in {where}{_close(name, torch_models())} "
            f"(torch models: {', '.join(torch_models())}, or 'package.module:factory')"
        )
    if name not in torch_models():
        raise ConfigError(
            f"{where}: {name!r} is not a torch model; a file's weights are loaded into a torch "
            f"recipe: {', '.join(torch_models())}, or a module factory"
        )
    valid = sorted(model_spec(name).defaults)
    for key in params:
        if key not in valid:
            raise ConfigError(
                f"unknown parameter {short_repr(key)} in {where} (model {name})"
                f"{_close(key, valid)} (valid: {', '.join(valid)})"
            )


def _linear_keys(module: nn.Module) -> list[str]:
    return [f"{n}.weight" for n, m in module.named_modules() if isinstance(m, nn.Linear)]


def _weight(state: Mapping[str, torch.Tensor], key: str, what: str) -> torch.Tensor:
    if key not in state or state[key].ndim != 2:
        raise DataError(
            f"the file has no 2-d tensor {key!r} to read {what} from; the recipe does not match"
        )
    return state[key]


def _recipe_builder(
    model: object,
    *,
    num_classes: int | None,
    input_shape: tuple[int, ...] | None,
    allow_imports: bool,
) -> nn.Module | Callable[[dict[str, torch.Tensor]], nn.Module]:
    """What :func:`miaudit.targets.files.load_file` takes as ``module``."""
    if isinstance(model, nn.Module):
        return copy.deepcopy(model)
    check_recipe(model, allow_imports=allow_imports)
    name, params = _split_recipe(model)
    if isinstance(name, str) and ":" in name:
        name = import_factory(name, allow_imports=allow_imports)
    if is_module_factory(name):
        factory = name

        def from_factory(state: dict[str, torch.Tensor]) -> nn.Module:
            try:
                module = factory()
            except TypeError as e:
                raise ConfigError(
                    f"module factory {factory_name(factory)} must be callable with no "
                    f"arguments: {e}"
                ) from None
            if not isinstance(module, nn.Module):
                raise ConfigError(
                    f"module factory {factory_name(factory)} returned a "
                    f"{type(module).__name__}, not a torch.nn.Module"
                )
            return module

        return from_factory
    spec = model_spec(name)

    def from_recipe(state: dict[str, torch.Tensor]) -> nn.Module:
        shape = input_shape
        if shape is None:
            if not spec.flatten:
                raise ConfigError(
                    f"model {name!r} needs input_shape (the records' shape, e.g. [1, 28, 28]) "
                    "to be built from a saved file"
                )
            probe = build_torch_module(name, params, (1,), 2, seed=0)
            keys = _linear_keys(probe)
            shape = (int(_weight(state, keys[0], "the input width").shape[1]),)
        classes = num_classes
        if classes is None:
            probe = build_torch_module(name, params, shape, 2, seed=0)
            keys = _linear_keys(probe)
            if not keys:
                raise ConfigError(f"model {name!r} has no nn.Linear to read num_classes from")
            classes = int(_weight(state, keys[-1], "the number of classes").shape[0])
        return build_torch_module(name, params, shape, classes, seed=0)

    return from_recipe


def _input_shape(value: object) -> tuple[int, ...] | None:
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        value = [value]
    if isinstance(value, str) or not isinstance(value, Sequence) or not value:
        raise ConfigError(f"input_shape must be a list of sizes, got {short_repr(value)}")
    return tuple(check_int(v, "each entry of input_shape", low=1) for v in value)


def load_target(
    path: str | Path,
    *,
    format: str | None = None,
    num_classes: int | None = None,
    model: ModelRecipe | None = None,
    allow_pickle: bool = False,
    output: str | None = None,
    device: str = "cpu",
    trusted: Sequence[str] | None = None,
    input_shape: Sequence[int] | None = None,
    batch_size: int | None = None,
    allow_imports: bool = True,
) -> Target:
    """A saved model as a :class:`~miaudit.targets.Target`, ready for :func:`miaudit.audit`.

    Formats (``format`` detected from the name and checked against the contents):

    ========================  ===============================  ============================
    file                      loaded with                      white-box (parameters)
    ========================  ===============================  ============================
    ``*.onnx``                onnxruntime, CPU provider        no
    ``*.pt`` TorchScript      ``torch.jit.load``               yes (gradient attacks; with
                                                               ``model`` also activations)
    ``*.safetensors``         safetensors + ``model`` recipe   yes
    ``*.skops``               ``skops.io.load`` (trusted-      no
                              types check, ``trusted``)
    directory + config.json   transformers (local, no remote   no (torch.func.vmap fails
                              code), token-id records          on transformers' masks)
    ``*.pkl``/``.joblib``,    refused unless                   a torch module: yes
    ``torch.save`` files      ``allow_pickle=True``
    ========================  ===============================  ============================

    Args:
        path: the file, or a Hugging Face directory.
        format: "onnx", "torchscript", "safetensors", "skops", "huggingface" or "pickle";
            None detects it.
        num_classes: C when known; checked against the model's output width.
        model: the recipe whose module receives a state dict (see the module docstring).
        allow_pickle: open pickle-based files; loading them runs the code they name.
        output: "logits" or "probabilities"; None lets the format decide (a final Softmax
            node of an ONNX graph means probabilities; torch modules give logits).
        device: "cpu" (default), "cuda" or "auto" for torch formats; ONNX and skops: "cpu".
        trusted: skops: type names to trust beyond skops' defaults.
        input_shape: the records' shape, for recipes that cannot read it from the file
            (convnets).
        batch_size: records per forward pass.
        allow_imports: whether ``model: "package.module:factory"`` may be imported.

    Raises:
        ConfigError: a refused file or a bad option (the message names the fix).
        DataError: an unreadable file, weights that do not fit the recipe.
    """
    if not isinstance(allow_pickle, bool):
        raise ConfigError(f"allow_pickle must be true or false, got {short_repr(allow_pickle)}")
    source = Path(path)
    found = detect_format(source, format)
    check_allowed(source, found, allow_pickle)
    if num_classes is not None:
        num_classes = check_int(num_classes, "num_classes", low=2)
    if batch_size is not None:
        batch_size = check_int(batch_size, "batch_size", low=1)
    resolved = resolve_device(device)
    builder = None
    if model is not None:
        if found not in RECIPE_FORMATS:
            raise ConfigError(
                f"a model recipe applies to safetensors and TorchScript files and torch.save "
                f"state dicts, not to a {format_name(found)} model ({source.name}); remove model"
            )
        builder = _recipe_builder(
            model,
            num_classes=num_classes,
            input_shape=_input_shape(input_shape),
            allow_imports=allow_imports,
        )
    return load_file(
        source,
        format=format,
        module=builder,
        allow_pickle=allow_pickle,
        output=output,
        device=resolved,
        num_classes=num_classes,
        trusted=trusted,
        batch_size=batch_size,
    )


def _resolve_path(section: Mapping[str, Any], base_dir: str | Path | None) -> Path:
    path = section.get("path")
    if not isinstance(path, str) or not path:
        raise ConfigError(f"'path' must be a file name, got {short_repr(path)}")
    p = Path(path).expanduser()
    if not p.is_absolute() and base_dir is not None:
        p = Path(base_dir) / p
    return p


def check_path_section(
    section: dict[str, Any],
    *,
    source: str,
    base_dir: str | Path | None = None,
    allow_imports: bool = True,
) -> dict[str, Any]:
    """Validate a config's ``target: {path: ...}`` section before any work.

    Checks every key (unknown ones refused with a "did you mean"), the values' types, that
    the file exists and its format is known, the pickle policy (refused unless
    ``allow_pickle: true``), skops' untrusted types (unless listed in ``trusted``), a
    Hugging Face directory's weights and code, and the model recipe (a factory is imported
    only when ``allow_imports``). Nothing is loaded.

    Returns:
        the section with ``path`` resolved against ``base_dir`` (the config file's folder)
        when relative.

    Raises:
        ConfigError: prefixed ``"{source}: "``.
    """
    try:
        return _check_path_section(section, base_dir, allow_imports)
    except MiauditError as e:
        raise ConfigError(f"{source}: target: {e}") from None


def _check_path_section(
    section: Any, base_dir: str | Path | None, allow_imports: bool
) -> dict[str, Any]:
    if not isinstance(section, dict):
        raise ConfigError(f"the section must be a mapping, got {type(section).__name__}")
    for key in section:
        if key not in PATH_KEYS:
            raise ConfigError(
                f"unknown key {short_repr(key)} in a target with a path"
                f"{_close(key, sorted(PATH_KEYS))} (valid: {', '.join(sorted(PATH_KEYS))})"
            )
    path = _resolve_path(section, base_dir)
    fmt = section.get("format")
    found = detect_format(path, fmt)
    allow_pickle = section.get("allow_pickle", False)
    if not isinstance(allow_pickle, bool):
        raise ConfigError(f"allow_pickle must be true or false, got {short_repr(allow_pickle)}")
    check_allowed(path, found, allow_pickle)
    output = section.get("output")
    if output is not None and output not in ("logits", "probabilities"):
        raise ConfigError(f"output must be logits or probabilities, got {short_repr(output)}")
    device = section.get("device", "cpu")
    if device not in DEVICES:
        raise ConfigError(f"unknown device {short_repr(device)}; valid: {', '.join(DEVICES)}")
    resolve_device(device)
    if found in ("onnx", "skops") and device != "cpu":
        raise ConfigError(f"a {format_name(found)} model runs on the CPU only (device: cpu)")
    for key, low in (("num_classes", 2), ("batch_size", 1)):
        if section.get(key) is not None:
            check_int(section[key], key, low=low)
    _input_shape(section.get("input_shape"))
    trusted = section.get("trusted")
    if trusted is not None and found != "skops":
        raise ConfigError(f"trusted applies to skops files, not to a {format_name(found)} model")
    if found == "skops":
        from miaudit.targets.files._skops import check_trusted, refuse_untrusted

        refuse_untrusted(path, check_trusted(trusted))
        if output == "logits":
            raise ConfigError("a skops model outputs probabilities (predict_proba), not logits")
    if found == "huggingface":
        huggingface_weights(path, allow_pickle)
        if output == "probabilities":
            raise ConfigError("a Hugging Face classification head outputs logits")
    model = section.get("model")
    if model is not None:
        if found not in RECIPE_FORMATS:
            raise ConfigError(
                f"model (a recipe) applies to safetensors and TorchScript files, not to a "
                f"{format_name(found)} model; remove it"
            )
        check_recipe(model, allow_imports=allow_imports, where="target.model")
    elif found == "safetensors":
        raise ConfigError(
            f"{path.name} holds weights only: give the recipe they were trained with, "
            "model: {model: mlp, hidden: [...]} or model: 'package.module:factory'"
        )
    return {**section, "path": str(path)}


def target_from_path_section(
    section: dict[str, Any],
    *,
    num_classes: int | None,
    base_dir: str | Path | None = None,
    record_shape: Sequence[int] | None = None,
    allow_imports: bool = True,
    source: str = "config",
) -> Target:
    """The target a checked ``target: {path: ...}`` section names, loaded.

    Args:
        num_classes: the data's number of classes (None: the model's); a different
            ``num_classes`` in the section, or a model with another output width, is refused.
        record_shape: the records' shape, for recipes that need it (``input_shape``).
    """
    checked = check_path_section(
        section, source=source, base_dir=base_dir, allow_imports=allow_imports
    )
    given = checked.get("num_classes")
    if given is not None and num_classes is not None and given != num_classes:
        raise ConfigError(
            f"{source}: target.num_classes is {given}, but the data have {num_classes} classes"
        )
    shape = checked.get("input_shape")
    if shape is None and record_shape is not None and checked.get("model") is not None:
        shape = list(record_shape)
    return load_target(
        checked["path"],
        format=checked.get("format"),
        num_classes=given if given is not None else num_classes,
        model=checked.get("model"),
        allow_pickle=checked.get("allow_pickle", False),
        output=checked.get("output"),
        device=checked.get("device", "cpu"),
        trusted=checked.get("trusted"),
        input_shape=shape,
        batch_size=checked.get("batch_size"),
        allow_imports=allow_imports,
    )


def _section_format(section: Mapping[str, Any], base_dir: str | Path | None, source: str) -> str:
    try:
        return detect_format(_resolve_path(section, base_dir), section.get("format"))
    except MiauditError as e:
        raise ConfigError(f"{source}: target: {e}") from None


def path_section_exposes_parameters(
    section: Mapping[str, Any], *, base_dir: str | Path | None = None, source: str = "config"
) -> bool:
    """Whether the target of a ``target: {path: ...}`` section will expose its parameters
    (white-box attacks), decided from its format without loading it: TorchScript,
    safetensors and ``torch.save`` files yes unless ``output: probabilities``; ONNX, skops,
    Hugging Face and other pickles no."""
    return path_section_parameters_note(section, base_dir=base_dir, source=source) is None


def path_section_parameters_note(
    section: Mapping[str, Any], *, base_dir: str | Path | None = None, source: str = "config"
) -> str | None:
    """Why the section's target has no parameters (for :class:`miaudit.attacks.Offer`'s
    ``parameters_note``), or None when it has them."""
    found = _section_format(section, base_dir, source)
    if found in _WHITE_BOX:
        if section.get("output") == "probabilities":
            return PROBS_NO_PARAMETERS
        return None
    return _NO_PARAMETERS.get(found, _NO_PARAMETERS["pickle"])


def path_section_imports(section: Mapping[str, Any]) -> str | None:
    """The ``"package.module:factory"`` a section's recipe would import, or None (for the
    ``--no-code`` refusal before anything is imported)."""
    model = section.get("model")
    name = None if model is None else _split_recipe(model)[0]
    return name if isinstance(name, str) and ":" in name else None


__all__ = [
    "FORMATS",
    "PATH_KEYS",
    "check_path_section",
    "check_recipe",
    "import_factory",
    "load_target",
    "path_section_exposes_parameters",
    "path_section_imports",
    "path_section_parameters_note",
    "target_from_path_section",
]
