"""Saved models as targets: ONNX, TorchScript, safetensors state dicts, skops and Hugging Face
directories, and the pickle policy (refused unless ``allow_pickle=True``).

One module per format, a detector (:func:`detect_format`) and a loader
(:func:`load_file`). Heavy libraries (onnxruntime, onnx, skops, transformers) are imported
only when a file of theirs is loaded. The public entry point, which also resolves model
recipes, is :func:`miaudit.load_target` (:mod:`miaudit.models._saved`).
"""

from miaudit.targets.files._detect import FORMATS, SAFE_FORMATS, detect_format
from miaudit.targets.files._load import RECIPE_FORMATS, format_name, load_file
from miaudit.targets.files._torch import TorchFileTarget, TorchScriptWeights

__all__ = [
    "FORMATS",
    "RECIPE_FORMATS",
    "SAFE_FORMATS",
    "TorchFileTarget",
    "TorchScriptWeights",
    "detect_format",
    "format_name",
    "load_file",
]
