"""Cache entries carry checksums; unusable ones are discarded with a warning (issue 9 item 2).

Before: a truncated .npz or model.safetensors crashed the audit, a truncated meta.json made
every later run fail (``OSError: Directory not empty``) and altered but valid outputs were
used silently.
"""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from miaudit.outputs import ModelOutputs
from miaudit.reference import _cache
from miaudit.reference._cache import CacheWarning

KEY = "ab" + "0" * 62
Q1, Q2 = "q1" * 16, "q2" * 16


def _outputs(seed: int = 0) -> ModelOutputs:
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(6, 3))
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    return ModelOutputs(probs=probs, y=np.array([0, 1, 2, 0, 1, 2]), logits=logits)


def _write(cache: Path, weights: bool = True) -> Path:
    state = {"w": torch.arange(6.0).reshape(2, 3)} if weights else None
    _cache.write_entry(cache, KEY, {"train_loss": 0.25, "seed": 1}, state, {Q1: _outputs()})
    return _cache.entry_dir(cache, KEY)


def _meta(entry: Path) -> dict:
    return json.loads((entry / _cache.META).read_text())


def _same(a: ModelOutputs, b: ModelOutputs) -> None:
    np.testing.assert_array_equal(a.probs, b.probs)
    np.testing.assert_array_equal(a.logits, b.logits)  # type: ignore[arg-type]
    np.testing.assert_array_equal(a.y, b.y)


def test_entry_records_a_checksum_of_every_file(tmp_path: Path) -> None:
    entry = _write(tmp_path)
    meta = _meta(entry)
    files = {p.name for p in entry.iterdir()} - {_cache.META}
    assert set(meta["checksums"]) == files == {_cache.WEIGHTS, _cache.outputs_name(Q1)}
    for name, digest in meta["checksums"].items():
        assert hashlib.sha256((entry / name).read_bytes()).hexdigest() == digest
    _cache.add_outputs(tmp_path, KEY, Q2, _outputs(1))
    meta = _cache.read_meta(entry)
    assert meta is not None and _cache.outputs_name(Q2) in meta["checksums"]
    _same(_cache.read_outputs(entry, Q2, meta), _outputs(1))  # type: ignore[arg-type]
    weights = _cache.read_weights(entry, meta)
    assert weights is not None and torch.equal(weights["w"], torch.arange(6.0).reshape(2, 3))


def _altered_but_valid_npz(path: Path) -> None:
    """The same arrays with one probability changed: a valid .npz, wrong content."""
    with np.load(path) as z:
        arrays = {k: z[k].copy() for k in z.files}
    arrays["probs"][0, 0] += 0.125
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    path.write_bytes(buf.getvalue())


@pytest.mark.parametrize(
    "corrupt,why",
    [
        (lambda p: p.write_bytes(p.read_bytes()[:100]), "does not match its checksum"),
        (_altered_but_valid_npz, "does not match its checksum"),
        (lambda p: p.unlink(), "is missing"),
    ],
    ids=["truncated", "altered", "deleted"],
)
def test_an_unusable_outputs_file_is_discarded(tmp_path: Path, corrupt, why: str) -> None:
    entry = _write(tmp_path)
    name = _cache.outputs_name(Q1)
    corrupt(entry / name)
    meta = _cache.read_meta(entry)
    assert meta is not None
    with pytest.warns(CacheWarning, match=f"{name} {why}; discarded"):
        assert _cache.read_outputs(entry, Q1, meta) is None
    assert not (entry / name).exists()
    meta = _cache.read_meta(entry)  # the checksum went with the file: no second warning
    assert meta is not None and name not in meta["checksums"]
    assert _cache.read_outputs(entry, Q1, meta) is None
    assert _cache.read_weights(entry, meta) is not None  # the rest of the entry is kept


@pytest.mark.parametrize(
    "corrupt,why",
    [
        (lambda p: p.write_text('{"train_loss": 0.2'), "meta.json is unreadable"),
        (lambda p: p.write_bytes(b"\xff\xfe garbage"), "meta.json is unreadable"),
        (lambda p: p.write_text("[1, 2]"), "not a JSON object"),
        (lambda p: p.write_text(p.read_text().replace("0.25", "0.5")), "match its checksum"),
        (lambda p: p.unlink(), "meta.json is missing"),
    ],
    ids=["truncated", "binary", "not-an-object", "altered", "deleted"],
)
def test_an_unusable_meta_discards_the_entry(tmp_path: Path, corrupt, why: str) -> None:
    entry = _write(tmp_path)
    corrupt(entry / _cache.META)
    with pytest.warns(CacheWarning, match=f"{KEY}.*{why}.*trained again"):
        assert _cache.read_meta(entry) is None
    assert not entry.exists()
    _write(tmp_path)  # the model's new entry takes the place
    assert _cache.read_meta(entry) is not None


def test_replacing_an_unusable_entry_in_the_way(tmp_path: Path) -> None:
    """Before: os.replace onto the old entry failed with 'Directory not empty' forever."""
    entry = _write(tmp_path)
    (entry / _cache.META).write_text("{")
    _write(tmp_path)  # no OSError: the unusable entry is replaced
    assert _cache.read_meta(entry) is not None


def test_a_usable_entry_written_first_is_kept(tmp_path: Path) -> None:
    entry = _write(tmp_path)
    before = (entry / _cache.META).read_bytes()
    _cache.write_entry(tmp_path, KEY, {"train_loss": 9.0}, None, {Q2: _outputs(2)})
    assert (entry / _cache.META).read_bytes() == before


@pytest.mark.parametrize("corrupt", ["truncate", "delete"])
def test_unusable_weights_discard_the_entry(tmp_path: Path, corrupt: str) -> None:
    entry = _write(tmp_path)
    weights = entry / _cache.WEIGHTS
    if corrupt == "truncate":
        weights.write_bytes(weights.read_bytes()[:40])
    else:
        weights.unlink()
    meta = _cache.read_meta(entry)
    assert meta is not None
    with pytest.warns(CacheWarning, match=f"{_cache.WEIGHTS} (does not match|is missing)"):
        assert _cache.read_weights(entry, meta) is None
    assert not entry.exists()


def _strip_checksums(entry: Path) -> None:
    """An entry as miaudit wrote it before checksums existed (same cache format)."""
    meta = _meta(entry)
    del meta["checksums"], meta["meta_sha256"]
    (entry / _cache.META).write_text(json.dumps(meta))


def test_entries_without_checksums_stay_valid(tmp_path: Path) -> None:
    entry = _write(tmp_path)
    _strip_checksums(entry)
    meta = _cache.read_meta(entry)
    assert meta is not None
    _same(_cache.read_outputs(entry, Q1, meta), _outputs())  # type: ignore[arg-type]
    assert _cache.read_weights(entry, meta) is not None
    _cache.add_outputs(tmp_path, KEY, Q2, _outputs(1))  # adds no checksum to such an entry
    meta = _cache.read_meta(entry)
    assert meta is not None and "checksums" not in meta
    _same(_cache.read_outputs(entry, Q1, meta), _outputs())  # type: ignore[arg-type]
    (entry / _cache.outputs_name(Q2)).write_bytes(b"PK\x03\x04 truncated")
    with pytest.warns(CacheWarning, match="is unreadable"):  # still no crash
        assert _cache.read_outputs(entry, Q2, meta) is None


def test_another_format_is_discarded(tmp_path: Path) -> None:
    entry = _write(tmp_path)
    meta = _meta(entry)
    meta["format"] = 99
    del meta["meta_sha256"]
    (entry / _cache.META).write_text(json.dumps(meta))
    with pytest.warns(CacheWarning, match="cache format 99"):
        assert _cache.read_meta(entry) is None


def test_write_errors_raise_oserror_and_leave_nothing(tmp_path: Path, monkeypatch) -> None:
    import errno

    def full(path: Path, data: bytes) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(_cache, "_write_bytes", full)
    with pytest.raises(OSError, match="No space"):
        _write(tmp_path)
    assert not _cache.entry_dir(tmp_path, KEY).exists()
    assert list((tmp_path / ".tmp").iterdir()) == []
