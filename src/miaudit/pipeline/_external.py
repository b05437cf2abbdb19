"""Targets a config names but miaudit does not train: a saved model file (``target.path``,
:mod:`miaudit.targets.files`) or a model behind an HTTP endpoint (``target.url``,
:mod:`miaudit.targets.http`). One place maps each kind to its section check, its loader,
whether it exposes parameters, and what results.json records of where it came from."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from miaudit.targets import Target

#: the ``target:`` keys that name an external target, in the order the error lists them
EXTERNAL_KINDS = ("path", "url")


def check_external(
    kind: str, section: dict[str, Any], *, source: str, allow_imports: bool | None = None
) -> dict[str, Any]:
    """The validated ``target:`` section of an external target (ConfigError if invalid),
    checked before any data are loaded. A safetensors/TorchScript recipe that names a
    module factory is imported only when imports from configs are allowed
    (``allow_imports``, ``--no-code``, ``MIAUDIT_NO_CONFIG_IMPORTS``)."""
    if kind == "path":
        from miaudit.models import check_path_section
        from miaudit.pipeline._import_policy import imports_allowed

        return check_path_section(
            section, source=source, allow_imports=imports_allowed(allow_imports)
        )
    from miaudit.targets.http import check_url_section

    return check_url_section(section, source=source)


def build_external(
    kind: str,
    section: dict[str, Any],
    *,
    num_classes: int,
    record_shape: tuple[int, ...],
    cache_dir: str | Path | None,
    allow_imports: bool | None = None,
) -> Target:
    """The target the section names, loaded (a file) or connected (an endpoint)."""
    if kind == "path":
        from miaudit.models import target_from_path_section
        from miaudit.pipeline._import_policy import imports_allowed

        return target_from_path_section(
            section,
            num_classes=num_classes,
            record_shape=record_shape,
            allow_imports=imports_allowed(allow_imports),
        )
    from miaudit.targets.http import target_from_url_section

    return target_from_url_section(section, num_classes=num_classes, cache_dir=cache_dir)


def external_parameters_note(kind: str, section: dict[str, Any]) -> str | None:
    """Why the target will not expose its parameters (white-box attacks refused), known
    from the section alone, or None when it will: a TorchScript or safetensors file can;
    an ONNX, skops or Hugging Face model, or an endpoint, cannot."""
    if kind == "path":
        from miaudit.models import path_section_parameters_note

        return path_section_parameters_note(section)
    return "a model behind an HTTP endpoint exposes only its answers, not its parameters"


def describe_external(kind: str, section: dict[str, Any]) -> dict[str, Any]:
    """Where the audited model came from, for results.json's ``target.source``: the file
    (its size and SHA-256, so a report names exactly the bytes audited) or the endpoint
    (its URL and answer type; never its headers, which may hold credentials)."""
    if kind == "path":
        path = Path(str(section["path"]))
        described: dict[str, Any] = {"kind": "path", "path": str(path)}
        if "format" in section:
            described["format"] = section["format"]
        files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
        if files:
            described["bytes"] = sum(f.stat().st_size for f in files)
            described["sha256"] = _sha256(path, files)
        return described
    from miaudit.targets.http._target import check_url

    return {"kind": "url", "url": check_url(section["url"])[1], "output": section.get("output")}


def _sha256(root: Path, files: list[Path]) -> str:
    """The file's SHA-256; of a directory (a Hugging Face model), over each file's path
    relative to it and its bytes, in sorted order."""
    digest = hashlib.sha256()
    for file in files:
        if file != root:
            digest.update(str(file.relative_to(root)).encode() + b"\0")
        with file.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()
