"""Parsers for the raw formats the public data sets ship in.

- IDX (LeCun et al., "THE MNIST DATABASE", http://yann.lecun.com/exdb/mnist/): big-endian
  header, gzip-compressed or not.
- Label-first integer CSV (privacytrustlab/datasets: Location ``bangkok``, Purchase
  ``dataset_purchase``) and the Texas ``feats`` / ``labels`` files.
- CIFAR-10 python batches (Krizhevsky 2009, https://www.cs.toronto.edu/~kriz/cifar.html),
  read with a restricted unpickler.
- UCI Adult CSV (Kohavi 1996, https://archive.ics.uci.edu/dataset/2/adult).
"""

from __future__ import annotations

import gzip
import io
import pickle
import tarfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import IO, Any

import numpy as np

from miaudit.errors import DataError

# --- IDX ------------------------------------------------------------------------------

_IDX_DTYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def read_bytes_maybe_gzip(path: Path) -> bytes:
    """The file's bytes, gunzipped when it starts with the gzip magic number."""
    raw = Path(path).read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError) as err:
            raise DataError(f"{path}: corrupt gzip data ({err})") from None
    return raw


def parse_idx(data: bytes, *, source: str = "IDX data") -> np.ndarray:
    """Decode an IDX array: 2 zero bytes, a dtype code, ndim, ndim big-endian uint32 sizes."""
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise DataError(f"{source}: not an IDX file (bad magic number)")
    code, ndim = data[2], data[3]
    if code not in _IDX_DTYPES:
        raise DataError(f"{source}: unknown IDX data type code 0x{code:02x}")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{source}: truncated IDX header")
    shape = tuple(int(s) for s in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    dtype = _IDX_DTYPES[code]
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(data) - header != expected:
        raise DataError(
            f"{source}: IDX payload is {len(data) - header} bytes, expected {expected} "
            f"for shape {shape}"
        )
    arr = np.frombuffer(data, dtype=dtype, offset=header).reshape(shape)
    return arr.astype(dtype.newbyteorder("="), copy=True)


def read_idx(path: Path) -> np.ndarray:
    """Read an IDX file, ``*-ubyte`` or ``*-ubyte.gz``."""
    return parse_idx(read_bytes_maybe_gzip(path), source=str(path))


def find_idx(folders: Sequence[Path], stem: str) -> Path | None:
    """First existing ``stem`` or ``stem.gz`` in ``folders``, in order; None when absent."""
    for folder in folders:
        for candidate in (Path(folder) / stem, Path(folder) / f"{stem}.gz"):
            if candidate.is_file():
                return candidate
    return None


def idx_images_labels(images: np.ndarray, labels: np.ndarray, *, source: str) -> None:
    """Check an IDX image/label pair: (n, H, W) uint8 images and n labels."""
    if images.ndim != 3 or images.dtype != np.uint8:
        raise DataError(
            f"{source}: expected (n, H, W) uint8 images, got {images.dtype} {images.shape}"
        )
    if labels.ndim != 1 or len(labels) != len(images):
        raise DataError(f"{source}: {len(images)} images but labels of shape {labels.shape}")


# --- archives ---------------------------------------------------------------------------


def _matches(name: str, suffix: str) -> bool:
    parts = PurePosixPath(name).parts
    want = PurePosixPath(suffix).parts
    return len(parts) >= len(want) and parts[len(parts) - len(want) :] == want


@contextmanager
def open_tar_member(archive: Path, suffix: str) -> Iterator[IO[bytes]]:
    """Open, read-only and in memory, the regular file of a tar archive whose path ends
    with the components of ``suffix`` (e.g. ``texas/100/feats``); nothing is extracted.
    """
    try:
        tar = tarfile.open(archive, mode="r:*")
    except (tarfile.TarError, OSError) as err:
        raise DataError(f"{archive}: cannot read the archive ({err})") from None
    with tar:
        try:
            members = [m for m in tar.getmembers() if m.isfile()]
        except (tarfile.TarError, OSError, EOFError) as err:
            raise DataError(f"{archive}: corrupt archive ({err})") from None
        found = [m for m in members if _matches(m.name, suffix)]
        if not found:
            names = ", ".join(m.name for m in members[:10])
            raise DataError(f"{archive}: no member {suffix!r} in the archive (it has: {names})")
        stream = tar.extractfile(found[0])
        assert stream is not None  # regular files always have a stream
        with stream:
            yield stream


def read_int_csv(stream: IO[bytes], *, source: str, dtype: type = np.uint8) -> np.ndarray:
    """Parse a comma-separated file of integers (quotes allowed) into a 2-d array."""
    try:
        arr = np.loadtxt(
            io.TextIOWrapper(stream, encoding="ascii"),
            delimiter=",",
            quotechar='"',
            dtype=dtype,
            ndmin=2,
        )
    except (ValueError, UnicodeDecodeError) as err:
        raise DataError(
            f"{source}: not a CSV of integers in {np.dtype(dtype)} range ({err})"
        ) from None
    if arr.size == 0:
        raise DataError(f"{source}: no records")
    return arr


def labels_from_one_based(labels: np.ndarray, num_classes: int, *, source: str) -> np.ndarray:
    """Map labels 1..num_classes to int64 0..num_classes-1, rejecting anything else."""
    labels = np.asarray(labels).astype(np.int64).reshape(-1)
    lo, hi = int(labels.min()), int(labels.max())
    if lo < 1 or hi > num_classes:
        raise DataError(
            f"{source}: labels must be 1..{num_classes}, found values from {lo} to {hi}"
        )
    return labels - 1


def split_label_first(
    arr: np.ndarray, num_classes: int, *, source: str
) -> tuple[np.ndarray, np.ndarray]:
    """Split a label-first integer table into (features uint8, labels int64 0-based)."""
    if arr.shape[1] < 2:
        raise DataError(f"{source}: expected a label column and feature columns")
    features = np.ascontiguousarray(arr[:, 1:], dtype=np.uint8)
    return features, labels_from_one_based(arr[:, 0], num_classes, source=source)


# --- CIFAR-10 python pickles ----------------------------------------------------------------

_RECONSTRUCT = np.zeros(1).__reduce__()[0]  # numpy's ndarray reconstructor, any numpy version
_PICKLE_GLOBALS: dict[tuple[str, str], Any] = {
    ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
}


class _BatchUnpickler(pickle.Unpickler):
    """Unpickler allowing only what a CIFAR batch needs (dicts, lists, bytes, ndarrays)."""

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _PICKLE_GLOBALS[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"refusing to load global {module}.{name}") from None


def read_cifar_batch(stream: IO[bytes], *, source: str) -> tuple[np.ndarray, np.ndarray]:
    """Decode one CIFAR-10 python batch: (images (n, 3, 32, 32) uint8, labels int64).

    Only call this on checksum-verified official files; the unpickler is restricted too.
    """
    try:
        batch = _BatchUnpickler(stream, encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as err:
        raise DataError(f"{source}: not a CIFAR batch ({err})") from None
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        raise DataError(f"{source}: expected a dict with keys b'data' and b'labels'")
    data = np.asarray(batch[b"data"])
    labels = np.asarray(batch[b"labels"], dtype=np.int64).reshape(-1)
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise DataError(f"{source}: expected data uint8 (n, 3072), got {data.dtype} {data.shape}")
    if len(labels) != len(data):
        raise DataError(f"{source}: {len(data)} images but {len(labels)} labels")
    return data.reshape(-1, 3, 32, 32), labels


# --- UCI Adult ------------------------------------------------------------------------------

ADULT_COLUMNS = (
    "age",
    "workclass",
    "fnlwgt",
    "education",
    "education-num",
    "marital-status",
    "occupation",
    "relationship",
    "race",
    "sex",
    "capital-gain",
    "capital-loss",
    "hours-per-week",
    "native-country",
)
ADULT_NUMERIC = frozenset(
    {"age", "fnlwgt", "education-num", "capital-gain", "capital-loss", "hours-per-week"}
)


def read_adult_rows(path: Path) -> tuple[list[list[str]], list[int]]:
    """Rows of an ``adult.data`` / ``adult.test`` file and their labels (1 for >50K).

    Skips blank lines and the ``|1x3 Cross validator`` header of adult.test; strips the
    whitespace around fields and the trailing '.' of the test labels.
    """
    rows: list[list[str]] = []
    labels: list[int] = []
    with Path(path).open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, start=1):
            line = line.strip()
            if not line or line.startswith("|"):
                continue
            fields = [field.strip() for field in line.split(",")]
            if len(fields) != len(ADULT_COLUMNS) + 1:
                raise DataError(
                    f"{path}:{lineno}: expected {len(ADULT_COLUMNS) + 1} comma-separated "
                    f"fields, got {len(fields)}"
                )
            label = fields[-1].rstrip(".")
            if label not in (">50K", "<=50K"):
                raise DataError(f"{path}:{lineno}: label must be '>50K' or '<=50K', got {label!r}")
            rows.append(fields[:-1])
            labels.append(int(label == ">50K"))
    if not rows:
        raise DataError(f"{path}: no records")
    return rows, labels


def encode_adult(rows: Sequence[Sequence[str]]) -> tuple[np.ndarray, list[str]]:
    """Encode Adult rows: numeric columns min-max scaled to [0, 1], categorical ones one-hot.

    Categories are sorted; a missing value '?' in a categorical column is encoded as all
    zeros in that column's block. Returns (x float32, feature names), columns in order.
    """
    table = np.asarray(rows, dtype=object)
    blocks: list[np.ndarray] = []
    names: list[str] = []
    for j, column in enumerate(ADULT_COLUMNS):
        values = table[:, j].astype(str)
        if column in ADULT_NUMERIC:
            try:
                num = values.astype(np.float64)
            except ValueError:
                raise DataError(f"adult: non-numeric value in numeric column {column!r}") from None
            lo, hi = num.min(), num.max()
            scaled = (num - lo) / (hi - lo) if hi > lo else np.zeros_like(num)
            blocks.append(scaled[:, None])
            names.append(column)
        else:
            categories, inverse = np.unique(values, return_inverse=True)
            onehot = inverse[:, None] == np.arange(len(categories))[None, :]
            keep = categories != "?"
            blocks.append(onehot[:, keep].astype(np.float64))
            names.extend(f"{column}={c}" for c in categories[keep])
    return np.hstack(blocks).astype(np.float32), names
