"""Content-addressed on-disk cache of trained reference models and their outputs (no pickle).

Layout of one entry, ``cache_dir/<key[:2]>/<key>/``:

* ``meta.json``: train loss, recipe fingerprint, seed, library versions, whether weights exist.
* ``model.safetensors``: the torch ``state_dict`` (``safetensors.torch.save_file``). Models
  that are not torch modules (scikit-learn estimators, user Targets) store no weights, only
  outputs: a query set missing from their entry is recomputed by retraining (deterministic
  for a given seed).
* ``outputs_<queryhash>.npz``: outputs on one query set (probs, y, logits, augmented views;
  a language model's ``token_*`` arrays of :class:`~miaudit.text.TokenAnswers`).

The key is a sha256 over the training records' content (x and y bytes of this model's
training set), the recipe fingerprint (with the defense's name and parameters, if any), the
seed and the miaudit/torch/numpy/scikit-learn versions, plus, for an inference-time defense,
the defender's reference records (they shape the defended outputs); the query hash covers
the query records, labels and augmented views. Entries are written into ``cache_dir/.tmp/``
and moved into place with ``os.replace``, so a killed run never leaves a half-written entry
(at worst an orphan under ``.tmp/``, safe to delete).

Integrity (issue 9 item 2: a truncated file crashed the audit, a truncated ``meta.json``
blocked every later run, altered outputs were used silently): ``meta.json`` records the
sha256 of every file of the entry (``checksums``, updated when outputs on a new query set
are added) and of its own content (``meta_sha256``). Every file is checked when it is read;
an entry whose ``meta.json`` or weights are unusable is discarded (and its model retrained),
an unusable outputs file alone is discarded (and recomputed), each with a
:class:`CacheWarning` naming it. Entries written before checksums existed (same format, no
``checksums`` key) stay valid: their files are used when they parse. A cache that cannot be
written (a full disk, no permission) raises ``OSError`` here; the engine warns once and goes
on without caching.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import json
import os
import shutil
import uuid
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import sklearn
import torch

import miaudit
from miaudit.outputs import ModelOutputs
from miaudit.text.answers import TokenAnswers

#: a model's answers on one query set: a classifier's outputs or a language model's tokens
Answers = ModelOutputs | TokenAnswers

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


def _outputs_arrays(out: Answers) -> dict[str, np.ndarray]:
    if isinstance(out, TokenAnswers):
        return {f"token_{k}": v for k, v in out.to_arrays().items()}
    arrays = {"probs": out.probs, "y": out.y}
    if out.logits is not None:
        arrays["logits"] = out.logits
    if out.augmented is not None:
        arrays["aug_probs"] = np.stack([a.probs for a in out.augmented])
        if all(a.logits is not None for a in out.augmented):
            arrays["aug_logits"] = np.stack([a.logits for a in out.augmented])  # type: ignore[misc]
    return arrays


def outputs_name(qhash: str) -> str:
    """File name of the outputs on the query set ``qhash`` inside an entry."""
    return f"outputs_{qhash}.npz"


class CacheWarning(UserWarning):
    """A cache entry or file was unusable and is recomputed, or the cache cannot be written."""


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _meta_digest(meta: dict[str, Any]) -> str:
    """Checksum of ``meta.json``'s content (everything but the checksum itself)."""
    body = {k: v for k, v in meta.items() if k != "meta_sha256"}
    return _sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode())


def _meta_problem(meta: Any) -> str | None:
    """Why a parsed ``meta.json`` is unusable, or None."""
    if not isinstance(meta, dict):
        return "meta.json is not a JSON object"
    if meta.get("format") != CACHE_FORMAT:
        return f"cache format {meta.get('format')!r}, this miaudit reads {CACHE_FORMAT}"
    if "meta_sha256" in meta and meta["meta_sha256"] != _meta_digest(meta):
        return "meta.json does not match its checksum"
    loss = meta.get("train_loss")
    if isinstance(loss, bool) or not isinstance(loss, int | float):
        return "meta.json has no train_loss"
    if not isinstance(meta.get("has_weights"), bool):
        return "meta.json has no has_weights"
    checks = meta.get("checksums")
    if checks is not None and not (
        isinstance(checks, dict) and all(isinstance(v, str) for v in checks.values())
    ):
        return "meta.json has malformed checksums"
    return None


def _load_meta(entry: Path) -> tuple[dict[str, Any] | None, str | None]:
    """(meta, None) for a usable entry, (None, None) when absent, (None, why) otherwise."""
    if not entry.exists():
        return None, None
    try:
        meta = json.loads((entry / META).read_bytes().decode("utf-8"))
    except FileNotFoundError:
        return None, "meta.json is missing"
    except OSError as exc:
        return None, f"meta.json is unreadable ({exc.strerror or exc})"
    except ValueError as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        return None, f"meta.json is unreadable ({type(exc).__name__})"
    problem = _meta_problem(meta)
    return (meta, None) if problem is None else (None, problem)


def read_meta(entry: Path) -> dict[str, Any] | None:
    """The entry's metadata, or None when there is no usable entry.

    A present but unusable entry (``meta.json`` missing, unreadable, altered, of another
    format) is discarded with a :class:`CacheWarning`, so the model is trained again and its
    new entry can take the place (issue 9: a truncated ``meta.json`` made every later run
    fail with ``OSError: Directory not empty``).
    """
    meta, problem = _load_meta(entry)
    if problem is not None:
        discard_entry(entry, problem)
    return meta


def discard_entry(entry: Path, reason: str) -> None:
    """Warn that ``entry`` is unusable and remove it (moved aside first, then deleted)."""
    warnings.warn(
        f"reference-model cache entry {entry} is unusable ({reason}); "
        "discarded, the model is trained again",
        CacheWarning,
        stacklevel=3,
    )
    _remove_tree(entry)


def _remove_tree(path: Path) -> None:
    """Remove a directory; renamed into ``.tmp/`` first so no reader sees it half-deleted."""
    try:
        trash = _tmp_path(path.parent.parent)
        os.replace(path, trash)
        path = trash
    except OSError:
        pass
    shutil.rmtree(path, ignore_errors=True)


def _discard_file(entry: Path, name: str, reason: str) -> None:
    """Warn that one outputs file is unusable, delete it and drop its checksum."""
    warnings.warn(
        f"reference-model cache file {entry / name} {reason}; discarded, the outputs are "
        "computed again",
        CacheWarning,
        stacklevel=3,
    )
    with contextlib.suppress(OSError):
        (entry / name).unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        _update_checksums(entry, name, None)


def _verified_bytes(
    entry: Path, name: str, meta: dict[str, Any]
) -> tuple[bytes | None, str | None]:
    """(content, None) for a file that matches its recorded checksum; (None, None) for a
    file that is absent and not recorded; (None, why) for anything else."""
    checks = meta.get("checksums")
    expected = None if checks is None else checks.get(name)
    try:
        data = (entry / name).read_bytes()
    except FileNotFoundError:
        return None, (None if expected is None else "is missing")
    except OSError as exc:
        return None, f"is unreadable ({exc.strerror or exc})"
    if checks is not None and expected is None:
        return None, "has no recorded checksum"
    if expected is not None and _sha256(data) != expected:
        return None, "does not match its checksum"
    return data, None


def _parse_outputs(data: bytes) -> Answers:
    with np.load(io.BytesIO(data), allow_pickle=False) as z:
        if "token_logp" in z.files:
            return TokenAnswers.from_arrays(
                {k[6:]: z[k] for k in z.files if k.startswith("token_")}
            )
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


def read_outputs(entry: Path, qhash: str, meta: dict[str, Any]) -> Answers | None:
    """Cached outputs on one query set, or None when absent.

    A file that is unreadable, does not match its checksum or does not parse is discarded
    with a :class:`CacheWarning` (None: the caller computes the outputs again).
    """
    name = outputs_name(qhash)
    data, problem = _verified_bytes(entry, name, meta)
    if data is not None:
        try:
            return _parse_outputs(data)
        except Exception as exc:  # noqa: BLE001 -- any parse failure: the file is unusable
            problem = f"is unreadable ({type(exc).__name__})"
    if problem is not None:
        _discard_file(entry, name, problem)
    return None


def read_weights(entry: Path, meta: dict[str, Any]) -> dict[str, torch.Tensor] | None:
    """The entry's torch ``state_dict``; None when it has none or they are unusable (then
    the entry is discarded with a :class:`CacheWarning` and the model must be retrained)."""
    if not meta.get("has_weights"):
        return None
    data, problem = _verified_bytes(entry, WEIGHTS, meta)
    if data is not None:
        from safetensors.torch import load

        try:
            return load(data)
        except Exception as exc:  # noqa: BLE001 -- any parse failure: the file is unusable
            problem = f"is unreadable ({type(exc).__name__})"
    discard_entry(entry, f"{WEIGHTS} {problem or 'is missing'}")
    return None


def _tmp_path(cache_dir: Path) -> Path:
    tmp = cache_dir / ".tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    return tmp / uuid.uuid4().hex


def _write_bytes(path: Path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)


def _npz_bytes(out: Answers) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **_outputs_arrays(out))
    return buf.getvalue()


def _meta_bytes(meta: dict[str, Any]) -> bytes:
    full = {k: v for k, v in meta.items() if k != "meta_sha256"}
    full["meta_sha256"] = _meta_digest(full)
    return json.dumps(full, indent=1, sort_keys=True).encode("utf-8")


def write_entry(
    cache_dir: Path,
    key: str,
    meta: dict[str, Any],
    state_dict: dict[str, torch.Tensor] | None,
    outputs: dict[str, Answers],
) -> None:
    """Write a complete entry atomically (tmp dir, then ``os.replace``), with checksums.

    ``outputs`` maps query hashes to outputs. When another process wrote a usable entry
    under the same key first, its entry is kept (both are results of the same
    deterministic training); an unusable one in the way is replaced.

    Raises:
        OSError: the cache cannot be written (full disk, no permission, read-only).
    """
    from safetensors.torch import save

    tmp = _tmp_path(cache_dir)
    tmp.mkdir()
    try:
        files: dict[str, bytes] = {}
        if state_dict is not None:
            tensors = {k: v.detach().to("cpu").contiguous().clone() for k, v in state_dict.items()}
            files[WEIGHTS] = save(tensors)
        for qhash, out in outputs.items():
            files[outputs_name(qhash)] = _npz_bytes(out)
        for name, data in files.items():
            _write_bytes(tmp / name, data)
        full = {
            **meta,
            "format": CACHE_FORMAT,
            "has_weights": state_dict is not None,
            "checksums": {name: _sha256(data) for name, data in files.items()},
        }
        _write_bytes(tmp / META, _meta_bytes(full))
        final = entry_dir(cache_dir, key)
        final.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.replace(tmp, final)
        except OSError as exc:
            if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                raise
            if _load_meta(final)[0] is not None:
                return  # another process wrote it first
            _remove_tree(final)  # an unusable entry in the way
            os.replace(tmp, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _update_checksums(entry: Path, name: str, digest: str | None) -> None:
    """Record (or, with None, drop) one file's checksum in ``meta.json`` (atomic replace).

    Entries written before checksums existed get none: recording one would mark their
    other files as unrecorded.
    """
    meta, _ = _load_meta(entry)
    if meta is None or meta.get("checksums") is None:
        return
    checks = dict(meta["checksums"])
    if digest is None:
        if checks.pop(name, None) is None:
            return
    else:
        checks[name] = digest
    tmp = _tmp_path(entry.parent.parent)
    try:
        _write_bytes(tmp, _meta_bytes({**meta, "checksums": checks}))
        os.replace(tmp, entry / META)
    finally:
        tmp.unlink(missing_ok=True)


def add_outputs(cache_dir: Path, key: str, qhash: str, out: Answers) -> None:
    """Add outputs on one more query set to an existing entry (atomic file replace) and
    record their checksum.

    Raises:
        OSError: the cache cannot be written.
    """
    entry = entry_dir(cache_dir, key)
    name = outputs_name(qhash)
    data = _npz_bytes(out)
    tmp = _tmp_path(cache_dir)
    try:
        _write_bytes(tmp, data)
        os.replace(tmp, entry / name)
    finally:
        tmp.unlink(missing_ok=True)
    _update_checksums(entry, name, _sha256(data))
