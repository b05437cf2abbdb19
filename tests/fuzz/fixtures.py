"""Tiny data files and other inputs the fuzz cases name, generated at test time.

A case names a data file as ``$DATA(NAME)`` (NAME a key of :data:`DATA`); the runner
writes it into the case's work folder and substitutes its path. A case whose whole content is made
by code says ``# generate: NAME`` (NAME a key of :data:`CONTENT`). Nothing here is a real
data set: every array is a few hundred bytes of seeded random numbers.
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

N = 120  # records: enough for split {members: 20, nonmembers: 20} and a population


def _x(n: int = N, d: int = 4) -> np.ndarray:
    return np.random.default_rng(0).normal(size=(n, d)).astype(np.float32)


def _y(n: int = N) -> np.ndarray:
    return np.arange(n) % 2


def _npz(path: Path, **arrays: np.ndarray) -> Path:
    path = path.with_suffix(".npz")
    with path.open("wb") as f:  # np.savez on a path would append .npz to odd names
        np.savez(f, **arrays)
    return path


def good(path: Path) -> Path:
    return _npz(path, x=_x(), y=_y())


def missing(path: Path) -> Path:
    return path.with_name("no-such-file.npz")


def directory(path: Path) -> Path:
    d = path.with_name("a-directory.npz")
    d.mkdir()
    return d


def npy_named_npz(path: Path) -> Path:
    target = path.with_suffix(".npz")
    with target.open("wb") as f:
        np.save(f, _x())
    return target


def truncated(path: Path) -> Path:
    full = good(path)
    data = full.read_bytes()
    full.write_bytes(data[: len(data) // 2])
    return full


def not_a_zip(path: Path) -> Path:
    target = path.with_suffix(".npz")
    target.write_bytes(b"PK\x03\x04 this is not really a zip archive" * 4)
    return target


def no_y(path: Path) -> Path:
    return _npz(path, x=_x())


def no_x(path: Path) -> Path:
    return _npz(path, features=_x(), y=_y())


def complex_x(path: Path) -> Path:
    return _npz(path, x=_x() + 1j * _x(), y=_y())


def object_x(path: Path) -> Path:
    target = path.with_suffix(".npz")
    x = np.empty(N, dtype=object)
    x[:] = [[1.0, 2.0]] * N
    with zipfile.ZipFile(target, "w") as z:  # np.savez refuses nothing; write it as numpy would
        with z.open("x.npy", "w") as f:
            np.lib.format.write_array(f, x, allow_pickle=True)
        with z.open("y.npy", "w") as f:
            np.lib.format.write_array(f, _y())
    return target


def string_x(path: Path) -> Path:
    return _npz(path, x=np.array([["a", "b"]] * N), y=_y())


def huge_labels(path: Path) -> Path:
    y = _y().astype(np.int64)
    y[:3] = [0, 1, 2**31]
    return _npz(path, x=_x(), y=y)


def float_labels(path: Path) -> Path:
    return _npz(path, x=_x(), y=_y() + 0.5)


def string_labels(path: Path) -> Path:
    return _npz(path, x=_x(), y=np.array(["cat", "dog"] * (N // 2)))


def negative_labels(path: Path) -> Path:
    return _npz(path, x=_x(), y=_y() - 5)


def one_class(path: Path) -> Path:
    return _npz(path, x=_x(), y=np.zeros(N, dtype=np.int64))


def nan_x(path: Path) -> Path:
    x = _x()
    x[5, 2] = np.nan
    return _npz(path, x=x, y=_y())


def inf_x(path: Path) -> Path:
    x = _x()
    x[7, 0] = np.inf
    return _npz(path, x=x, y=_y())


def one_dim_x(path: Path) -> Path:
    return _npz(path, x=_x()[:, 0], y=_y())


def scalar_x(path: Path) -> Path:
    return _npz(path, x=np.float32(1.0), y=_y())


def mismatched(path: Path) -> Path:
    return _npz(path, x=_x(), y=_y(N - 7))


def two_dim_y(path: Path) -> Path:
    return _npz(path, x=_x(), y=np.stack([_y(), _y()], axis=1))


def empty(path: Path) -> Path:
    return _npz(path, x=np.zeros((0, 4), np.float32), y=np.zeros(0, np.int64))


def all_duplicates(path: Path) -> Path:
    """Every record appears many times: members would equal non-members (issue 9 item 5)."""
    x = np.repeat(_x(4), N // 4, axis=0)
    y = np.repeat(_y(4), N // 4)
    return _npz(path, x=x, y=y)


def tiny(path: Path) -> Path:
    return _npz(path, x=_x(10), y=_y(10))


def images(path: Path) -> Path:
    x = np.random.default_rng(0).random((N, 1, 8, 8)).astype(np.float32)
    return _npz(path, x=x, y=_y())


DATA: dict[str, Callable[[Path], Path]] = {
    f.__name__: f
    for f in (
        good, missing, directory, npy_named_npz, truncated, not_a_zip, no_y, no_x, complex_x,
        object_x, string_x, huge_labels, float_labels, string_labels, negative_labels,
        one_class, nan_x, inf_x, one_dim_x, scalar_x, mismatched, two_dim_y, empty,
        all_duplicates, tiny, images,
    )
}  # fmt: skip


def _bomb(levels: int = 9, fan: int = 9) -> bytes:
    lines = [f"a0: &a0 [{', '.join(['lol'] * fan)}]"]
    for i in range(1, levels + 1):
        lines.append(f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * fan)}]")
    return ("\n".join(lines) + f"\ntitle: *a{levels}\n").encode()


BASE = (
    "dataset: {path: $DATA(good)}\nsplit: {members: 20, nonmembers: 20}\n"
    "target: {model: logistic_regression}\nattacks: [loss]\n"
)

#: Whole config files made by code (too big, empty or odd to store as a case file).
CONTENT: dict[str, Callable[[], bytes]] = {
    "empty": lambda: b"",
    "too_big": lambda: b"# padding\n" * 200_000,
    "long_value": lambda: (BASE + "title: [" + "x" * 300_000 + "]\n").encode(),
    "long_optimizer": lambda: (
        BASE.replace("logistic_regression", "mlp, optimizer: " + "o" * 300_000) + "\n"
    ).encode(),
    "long_key": lambda: (BASE + "? " + "k" * 300_000 + "\n: 1\n").encode(),
    "deep": lambda: b"a: " + b"[" * 50_000 + b"]" * 50_000 + b"\n",
    "huge_int": lambda: (BASE + "seed: " + "7" * 6000 + "\n").encode(),
    "bomb": _bomb,
    "many_aliases": lambda: (BASE + "x: &x 1\ntitle: [" + ", ".join(["*x"] * 500) + "]\n").encode(),
    "binary": lambda: bytes(np.random.default_rng(1).integers(0, 256, 4096, dtype=np.uint8)),
    "utf16": lambda: BASE.encode("utf-16"),
}
