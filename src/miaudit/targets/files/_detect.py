"""Which format a saved model is in, read from its name and checked against its bytes, and
the pickle policy: a file whose loading runs code is refused unless the caller opts in.

A pickle (``.pkl``, ``.pickle``, ``.joblib``, a ``torch.save`` of a whole module or of a
state dict) is a program: unpickling it calls whatever functions it names, so a model file
from somewhere else can run any code on the auditor's machine. The formats miaudit loads by
default hold data only (ONNX, TorchScript, safetensors, skops with its trusted-types check,
a Hugging Face directory with safetensors weights); ``allow_pickle=True`` (config:
``allow_pickle: true``) is the explicit opt-in for the rest.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

from miaudit.errors import ConfigError, DataError, short_repr

#: the ``format`` values a caller may give (``pickle`` only with ``allow_pickle``)
FORMATS = ("onnx", "torchscript", "safetensors", "skops", "huggingface", "pickle")
#: formats whose loading runs no code of the file's (pickle excluded)
SAFE_FORMATS = FORMATS[:-1]
_SUFFIXES = {
    ".onnx": "onnx",
    ".pt": "torchscript",
    ".pth": "torchscript",
    ".pts": "torchscript",
    ".ptl": "torchscript",
    ".safetensors": "safetensors",
    ".skops": "skops",
    ".pkl": "pickle",
    ".pickle": "pickle",
    ".joblib": "pickle",
}
#: what to save instead of a pickle
_INSTEAD = (
    "save the model as ONNX, TorchScript (torch.jit.script(model).save(path)), a safetensors "
    "state dict with its model recipe, or skops"
)
OPT_IN = "allow_pickle: true (Python: allow_pickle=True)"


def pickle_refusal(path: Path, what: str) -> str:
    """The message refusing ``path``, a pickle described by ``what``."""
    return (
        f"{path.name} is {what}: loading a pickle runs whatever code it holds, so miaudit "
        f"does not open it by default; {_INSTEAD}, or, only if you trust where the file comes "
        f"from, opt in with {OPT_IN}"
    )


def zip_names(path: Path) -> list[str] | None:
    """The member names of a zip archive, or None when ``path`` is not one."""
    if not zipfile.is_zipfile(path):
        return None
    try:
        with zipfile.ZipFile(path) as archive:
            return archive.namelist()
    except (zipfile.BadZipFile, OSError):
        return None


def torch_archive_kind(path: Path) -> str | None:
    """ "torchscript" for a ``torch.jit.save`` archive (a zip with ``code/`` and
    ``constants.pkl``), "torch_pickle" for a ``torch.save`` file (a zip holding only
    ``data.pkl`` and tensors, or the legacy raw pickle), None for anything else."""
    names = zip_names(path)
    if names is None:
        head = _head(path, 2)
        return "torch_pickle" if head[:1] == b"\x80" else None
    base = {n.split("/", 1)[-1] for n in names}
    if "constants.pkl" in base and any(n.startswith("code/") for n in base):
        return "torchscript"
    if "data.pkl" in base:
        return "torch_pickle"
    return None


def _head(path: Path, n: int) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read(n)
    except OSError as e:
        raise DataError(f"cannot read {path}: {e.strerror or e}") from None


def _sniff(path: Path) -> str | None:
    """The format of a file whose name says nothing, from its first bytes."""
    kind = torch_archive_kind(path)
    if kind is not None:
        return kind
    names = zip_names(path)
    if names is not None and "schema.json" in names:
        return "skops"
    head = _head(path, 9)
    if len(head) == 9 and head[8:9] == b"{":
        return "safetensors"  # 8-byte little-endian header length, then the JSON header
    if head[:1] == b"\x80":
        return "pickle"
    return None


def detect_format(path: Path, format: str | None = None) -> str:
    """The format of the saved model at ``path``: one of :data:`FORMATS`, or
    "torch_pickle" (a ``torch.save`` file, a pickle loaded by ``torch.load``).

    ``format`` (when given) is trusted, except that a file named TorchScript that is a
    ``torch.save`` pickle is reported as "torch_pickle". A directory is a Hugging Face model
    when it holds ``config.json``. Nothing is loaded and the policy is not applied here (see
    :func:`check_allowed`).

    Raises:
        ConfigError: an unknown ``format``; a path whose format cannot be told (the message
            lists the formats and the ``format`` option). DataError: a missing path.
    """
    if format is not None and format not in FORMATS:
        raise ConfigError(f"unknown model format {short_repr(format)}; valid: {', '.join(FORMATS)}")
    if not path.exists():
        raise DataError(f"model file {path} does not exist")
    if path.is_dir():
        if format not in (None, "huggingface"):
            raise ConfigError(f"{path} is a directory, not a {format} file")
        if not (path / "config.json").is_file():
            raise ConfigError(
                f"{path} is a directory without config.json; a saved model directory must be "
                "a Hugging Face one (save_pretrained) or give the model file itself"
            )
        return "huggingface"
    if format == "huggingface":
        raise ConfigError(f"{path} is a file; a Hugging Face model is a directory with config.json")
    found = format or _SUFFIXES.get(path.suffix.lower()) or _sniff(path)
    if found is None:
        raise ConfigError(
            f"cannot tell the format of {path.name} from its name or contents; name it "
            f"*.onnx, *.pt (TorchScript), *.safetensors or *.skops, or give format: "
            f"one of {', '.join(FORMATS)}"
        )
    if found == "torchscript":
        kind = torch_archive_kind(path)
        if kind == "torch_pickle":
            return "torch_pickle"
        if kind is None:
            raise DataError(
                f"{path.name} is not a TorchScript archive (torch.jit.save writes a zip with "
                "code/ and constants.pkl)"
            )
    if found == "pickle" and path.suffix.lower() in (".pt", ".pth"):
        return "torch_pickle"
    return found


def check_allowed(path: Path, found: str, allow_pickle: bool) -> None:
    """Refuse (ConfigError) a pickle-based file unless ``allow_pickle``; the message says
    why and names the opt-in."""
    if allow_pickle or found not in ("pickle", "torch_pickle"):
        return
    if found == "torch_pickle":
        what = "a torch.save file (a pickle of a module or state dict), not a TorchScript archive"
    else:
        what = f"a Python pickle ({path.suffix or 'no suffix'})"
    raise ConfigError(pickle_refusal(path, what))


def huggingface_weights(path: Path, allow_pickle: bool) -> str:
    """ "safetensors" or "pickle": which weights the Hugging Face directory ``path`` holds
    (refusing pickled ``*.bin`` weights unless ``allow_pickle``, and a directory whose
    config names code of its own, which miaudit never runs)."""
    import json

    try:
        config = json.loads((path / "config.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise DataError(f"{path / 'config.json'} is not a readable JSON file: {e}") from None
    if isinstance(config, dict) and config.get("auto_map"):
        raise ConfigError(
            f"{path.name}/config.json names model code of its own (auto_map, "
            "trust_remote_code): miaudit never runs a model directory's code; save the model "
            "with a transformers architecture"
        )
    names = {p.name for p in path.iterdir()}
    if any(n.endswith(".safetensors") or n == "model.safetensors.index.json" for n in names):
        return "safetensors"
    if any(n.endswith((".bin", ".pt", ".pth", ".ckpt")) for n in names):
        if not allow_pickle:
            raise ConfigError(
                pickle_refusal(path, "a Hugging Face directory with pickled weights (*.bin)")
                + "; model.save_pretrained(dir) writes safetensors"
            )
        return "pickle"
    raise DataError(f"{path.name} holds no model weights (model.safetensors or *.bin)")
