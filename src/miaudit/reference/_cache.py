"""Content-addressed on-disk cache of trained reference models and their outputs (no pickle).

Layout of one entry, ``cache_dir/<key[:2]>/<key>/``:

* ``meta.json``: train loss, recipe fingerprint, seed, library versions, whether weights exist.
* ``model.safetensors``: the torch ``state_dict`` (``safetensors.torch.save_file``). Models
  that are not torch modules (scikit-learn estimators, user Targets) store no weights, only
  outputs: a query set missing from their entry is recomputed by retraining (deterministic
  for a given seed).
* ``outputs_<queryhash>.npz``: outputs on one query set (probs, y, logits, augmented views).

The key is a sha256 over the training records' content (x and y bytes of this model's
training set), the recipe fingerprint (with the defense's name and parameters, if any), the
seed and the miaudit/torch/numpy/scikit-learn versions, plus, for an inference-time defense,
the defender's reference records (they shape the defended outputs); the query hash covers
the query records, labels and augmented views. Entries are written into ``cache_dir/.tmp/``
and moved into place with ``os.replace``, so a killed run never leaves a half-written entry
(at worst an orphan under ``.tmp/``, safe to delete).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import sklearn
import torch

import miaudit
from miaudit.outputs import ModelOutputs

CACHE_FORMAT = 1
META = "meta.json"
WEIGHTS = "model.safetensors"


def versions() -> dict[str, str]:
    """Library versions that enter every cache key."""
    return {
        "miaudit": miaudit.__version__,
        "torch": torch.__version__,
        "numpy": np.__version__,
        "sklearn": sklearn.__version__,
    }


def _update_array(h: Any, a: np.ndarray) -> None:
    a = np.ascontiguousarray(a)
    h.update(f"{a.dtype.str}{a.shape}".encode())
    h.update(memoryview(a).cast("B"))


def model_key(
    x_train: np.ndarray,
    y_train: np.ndarray,
    fingerprint: str,
    seed: int,
    *,
    defender: tuple[np.ndarray, np.ndarray] | None = None,
) -> str:
    """The entry key of one model: its training data, recipe, seed and library versions.

    ``defender``: the defender's reference records of an inference-time defense (MemGuard's
    non-members), which shape the defended outputs; hashed after everything else, so keys
    of models without one are unchanged.
    """
    h = hashlib.sha256(f"miaudit-reference-model-v{CACHE_FORMAT}".encode())
    _update_array(h, x_train)
    _update_array(h, np.asarray(y_train, dtype=np.int64))
    h.update(fingerprint.encode())
    h.update(str(int(seed)).encode())
    h.update(json.dumps(versions(), sort_keys=True).encode())
    if defender is not None:
        h.update(b"defender")
        _update_array(h, defender[0])
        _update_array(h, np.asarray(defender[1], dtype=np.int64))
    return h.hexdigest()


def query_hash(x: np.ndarray, y: np.ndarray, views: tuple[np.ndarray, ...] | None) -> str:
    """Hash of one query set: records, labels and the augmented views (their content)."""
    h = hashlib.sha256(f"miaudit-reference-query-v{CACHE_FORMAT}".encode())
    _update_array(h, x)
    _update_array(h, np.asarray(y, dtype=np.int64))
    h.update(f"views={0 if views is None else len(views)}".encode())
    for v in views or ():
        _update_array(h, v)
    return h.hexdigest()[:32]


def entry_dir(cache_dir: Path, key: str) -> Path:
    return cache_dir / key[:2] / key


def _outputs_file(entry: Path, qhash: str) -> Path:
    return entry / f"outputs_{qhash}.npz"


def _outputs_arrays(out: ModelOutputs) -> dict[str, np.ndarray]:
    arrays = {"probs": out.probs, "y": out.y}
    if out.logits is not None:
        arrays["logits"] = out.logits
    if out.augmented is not None:
        arrays["aug_probs"] = np.stack([a.probs for a in out.augmented])
        if all(a.logits is not None for a in out.augmented):
            arrays["aug_logits"] = np.stack([a.logits for a in out.augmented])  # type: ignore[misc]
    return arrays


def _write_npz(path: Path, out: ModelOutputs) -> None:
    with open(path, "wb") as f:
        np.savez(f, **_outputs_arrays(out))


def read_meta(entry: Path) -> dict[str, Any] | None:
    """The entry's metadata, or None when the entry does not exist (or is unreadable)."""
    try:
        with open(entry / META, encoding="utf-8") as f:
            meta = json.load(f)
    except (OSError, ValueError):
        return None
    return meta if meta.get("format") == CACHE_FORMAT else None


def read_outputs(entry: Path, qhash: str) -> ModelOutputs | None:
    """Cached outputs on one query set, or None when absent."""
    path = _outputs_file(entry, qhash)
    if not path.is_file():
        return None
    with np.load(path, allow_pickle=False) as z:
        logits = z["logits"] if "logits" in z.files else None
        augmented = None
        if "aug_probs" in z.files:
            aug_logits = z["aug_logits"] if "aug_logits" in z.files else None
            augmented = tuple(
                ModelOutputs(
                    probs=p, y=z["y"], logits=None if aug_logits is None else aug_logits[i]
                )
                for i, p in enumerate(z["aug_probs"])
            )
        return ModelOutputs(probs=z["probs"], y=z["y"], logits=logits, augmented=augmented)


def read_weights(entry: Path) -> dict[str, torch.Tensor] | None:
    path = entry / WEIGHTS
    if not path.is_file():
        return None
    from safetensors.torch import load_file

    return load_file(str(path))


def _tmp_path(cache_dir: Path) -> Path:
    tmp = cache_dir / ".tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    return tmp / uuid.uuid4().hex


def write_entry(
    cache_dir: Path,
    key: str,
    meta: dict[str, Any],
    state_dict: dict[str, torch.Tensor] | None,
    outputs: dict[str, ModelOutputs],
) -> None:
    """Write a complete entry atomically (tmp dir, then ``os.replace``).

    ``outputs`` maps query hashes to outputs. When another process wrote the same entry
    first, its entry is kept (both are results of the same deterministic training).
    """
    from safetensors.torch import save_file

    tmp = _tmp_path(cache_dir)
    tmp.mkdir()
    try:
        if state_dict is not None:
            tensors = {k: v.detach().to("cpu").contiguous().clone() for k, v in state_dict.items()}
            save_file(tensors, str(tmp / WEIGHTS))
        for qhash, out in outputs.items():
            _write_npz(_outputs_file(tmp, qhash), out)
        full = {**meta, "format": CACHE_FORMAT, "has_weights": state_dict is not None}
        with open(tmp / META, "w", encoding="utf-8") as f:
            json.dump(full, f, indent=1, sort_keys=True)
        final = entry_dir(cache_dir, key)
        final.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.replace(tmp, final)
        except OSError:
            if read_meta(final) is None:
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def add_outputs(cache_dir: Path, key: str, qhash: str, out: ModelOutputs) -> None:
    """Add outputs on one more query set to an existing entry (atomic file replace)."""
    tmp = _tmp_path(cache_dir)
    try:
        _write_npz(tmp, out)
        os.replace(tmp, _outputs_file(entry_dir(cache_dir, key), qhash))
    finally:
        tmp.unlink(missing_ok=True)
