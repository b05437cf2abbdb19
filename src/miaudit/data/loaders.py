"""The dataset registry, the loaders of the public data sets, and ``load_dataset``.

Every loader reads from a data directory (``resolve_data_dir``), converts the raw files
to a `Dataset`, and, when the files are missing and ``download`` is true, fetches them
from the original public source (verifying the published checksum where one is known).
Converted copies of slow-to-parse formats are cached next to the raw files as ``.npz``.
"""

from __future__ import annotations

import functools
import os
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from miaudit.data import download as dl
from miaudit.data import formats, integrity
from miaudit.data.dataset import Dataset
from miaudit.errors import DataError
from miaudit.registry import Registry

Loader = Callable[[Path, bool], Dataset]

DATASETS: Registry[Loader] = Registry("dataset")

ENV_VAR = "MIAUDIT_DATA"
DEFAULT_DATA_DIR = Path("~/.cache/miaudit")


def resolve_data_dir(data_dir: str | Path | None = None) -> Path:
    """The data directory: the argument, else $MIAUDIT_DATA, else ~/.cache/miaudit."""
    if data_dir is None or str(data_dir) == "":
        data_dir = os.environ.get(ENV_VAR) or DEFAULT_DATA_DIR
    return Path(data_dir).expanduser()


@dataclass(frozen=True)
class DatasetInfo:
    """What `list_datasets` reports about one registered data set."""

    name: str
    description: str
    source: str
    local: bool  # available without downloading


@dataclass(frozen=True)
class _Spec:
    description: str
    source: str
    local: Callable[[Path], bool]


_SPECS: dict[str, _Spec] = {}


def _register(
    name: str, *, description: str, source: str, local: Callable[[Path], bool]
) -> Callable[[Loader], Loader]:
    def decorator(loader: Loader) -> Loader:
        DATASETS.add(name, loader)
        _SPECS[name] = _Spec(description, source, local)
        return loader

    return decorator


def list_datasets(*, data_dir: str | Path | None = None) -> list[DatasetInfo]:
    """The registered data sets, sorted by name, with whether each is available locally."""
    root = resolve_data_dir(data_dir)
    infos = []
    for name in DATASETS.names():
        spec = _SPECS.get(name)
        if spec is None:  # registered directly in DATASETS, without metadata
            infos.append(DatasetInfo(name, "", "", False))
            continue
        infos.append(DatasetInfo(name, spec.description, spec.source, bool(spec.local(root))))
    return infos


def load_dataset(
    name: str | None = None,
    *,
    path: str | Path | None = None,
    data_dir: str | Path | None = None,
    download: bool = True,
) -> Dataset:
    """Load a registered data set by ``name``, or the user's own ``.npz`` file at ``path``.

    The user's file must hold arrays ``x`` (records) and ``y`` (integer labels); the labels
    are encoded as 0..C-1 (C distinct labels, in sorted order; ``Dataset.classes`` keeps the
    original values when they are not already 0..C-1). ``data_dir`` and ``download`` apply
    to named sets.
    """
    if (name is None) == (path is None):
        raise DataError(
            "load_dataset needs exactly one of name= (one of: "
            f"{', '.join(DATASETS.names())}) or path= (an .npz file with arrays x and y)"
        )
    if path is not None:
        return load_npz(path)
    loader = DATASETS.get(name)  # type: ignore[arg-type]
    return loader(resolve_data_dir(data_dir), download)


# --- helpers ----------------------------------------------------------------------------------


def _read_npz(path: Path, keys: tuple[str, ...]) -> dict[str, np.ndarray]:
    """The named arrays of an .npz file (no pickles), with a one-line DataError for a file
    that is not an .npz archive (a .npy array, a pickle, a corrupt or truncated archive),
    object arrays, and missing arrays."""
    try:
        # our own handle: np.load leaves its own open when the zip cannot be read
        with open(path, "rb") as handle:
            return _read_npz_arrays(path, handle, keys)
    except OSError as err:
        raise DataError(f"{path}: cannot read as an .npz file ({err})") from None


def _read_npz_arrays(path: Path, handle: Any, keys: tuple[str, ...]) -> dict[str, np.ndarray]:
    try:
        loaded = np.load(handle, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
        raise DataError(f"{path}: cannot read as an .npz file ({err})") from None
    if not isinstance(loaded, np.lib.npyio.NpzFile):  # np.load of a .npy file: one array
        raise DataError(
            f"{path}: holds a single .npy array ({loaded.dtype} {loaded.shape}), not an .npz "
            "archive of named arrays; save one with np.savez(path, x=..., y=...)"
        )
    with loaded as npz:
        present = list(npz.files)
        missing = [k for k in keys if k not in present]
        if missing:
            raise DataError(
                f"{path}: missing array(s) {', '.join(map(repr, missing))}; the file has "
                f"{', '.join(map(repr, present)) or 'no arrays'}; save it with "
                "np.savez(path, x=..., y=...)"
            )
        arrays = {}
        for k in keys:
            try:
                arrays[k] = npz[k]
            except ValueError as err:
                if "allow_pickle" in str(err):
                    raise DataError(
                        f"{path}: array {k!r} holds Python objects, which only pickle can "
                        "load (refused: unpickling runs code); save numeric arrays"
                    ) from None
                raise DataError(f"{path}: array {k!r} is corrupt ({err})") from None
            except (OSError, EOFError, zipfile.BadZipFile, zlib.error) as err:
                raise DataError(f"{path}: corrupt or truncated .npz ({err})") from None
    return arrays


def _write_cache(path: Path, **arrays: np.ndarray) -> None:
    """Save a converted copy atomically; skip silently where the folder is read-only."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp.npz")
    try:
        np.savez_compressed(tmp, **arrays)
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)


def load_npz(path: str | Path) -> Dataset:
    """A `Dataset` from the user's .npz file with arrays ``x`` (records) and ``y`` (labels).

    The labels may be any integers: they are encoded as 0..C-1 in sorted order (labels
    {3, 7, 100} become 3 classes, not the 101 that ``max(y) + 1`` would make), and
    ``Dataset.classes`` keeps the original label of each class when they differ.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise DataError(f"dataset file {path} not found")
    arrays = _read_npz(path, ("x", "y"))
    codes, classes = integrity.encode_labels(arrays["y"], source=str(path))
    identity = bool(classes[0] == 0 and classes[-1] == classes.size - 1)
    return Dataset(
        name=path.stem,
        x=arrays["x"],
        y=codes,
        num_classes=int(classes.size),
        description=f"user data from {path}",
        classes=None if identity else tuple(int(c) for c in classes),
    )


def _tabular(
    name: str, features: np.ndarray, labels: np.ndarray, classes: int, desc: str
) -> Dataset:
    return Dataset(
        name=name, x=features.astype(np.float32), y=labels, num_classes=classes, description=desc
    )


def _images(name: str, images: np.ndarray, labels: np.ndarray, classes: int, desc: str) -> Dataset:
    x = images.astype(np.float32)
    x /= np.float32(255.0)
    return Dataset(name=name, x=x, y=labels, num_classes=classes, description=desc)


def _exists(*parts: str) -> Callable[[Path], bool]:
    return lambda root: any((root / p).is_file() for p in parts)


# --- digits -----------------------------------------------------------------------------------


@_register(
    "digits",
    description="8x8 handwritten digits, 1,797 records x 64 features, 10 classes",
    source="scikit-learn (sklearn.datasets.load_digits; UCI Optical Recognition of Digits)",
    local=lambda root: True,
)
def load_digits(data_dir: Path, download: bool) -> Dataset:
    """scikit-learn's bundled digits (Alpaydin & Kaynak 1998, UCI), pixels / 16, flat (n, 64).

    Small and always available (bundled with scikit-learn): a fast stand-in for the image
    benchmarks in tests and demos.
    """
    from sklearn.datasets import load_digits as sk_load_digits

    bunch = sk_load_digits()
    x = (bunch.data / 16.0).astype(np.float32)
    return Dataset(
        name="digits",
        x=x,
        y=bunch.target.astype(np.int64),
        num_classes=10,
        description="scikit-learn digits, 8x8 pixels scaled to [0, 1]",
    )


# --- location / purchase100 / texas100: archives converted and cached as npz ----------------

_Table = tuple[np.ndarray, np.ndarray]  # (features, labels 0..C-1)


def _cached_table(
    folder: Path,
    archive_file: str,
    remote: dl.RemoteFile,
    download: bool,
    read: Callable[[Path], _Table],
) -> _Table:
    """(features, labels) from ``folder/<folder name>.npz`` (arrays ``features``, ``labels``);
    else ``read`` of the archive ``folder/archive_file`` (fetched from ``remote`` when missing
    and ``download``, checked against its checksum where one is known), cached as that npz."""
    cache = folder / f"{folder.name}.npz"
    if cache.is_file():
        arrays = _read_npz(cache, ("features", "labels"))
        return arrays["features"], arrays["labels"]
    features, labels = read(dl.obtain(remote, folder / archive_file, download=download))
    _write_cache(cache, features=features, labels=labels)
    return features, labels


def _read_label_first(archive: Path, member: str, classes: int) -> _Table:
    """The tar ``archive``'s CSV ``member``: one record a row, label 1..classes first."""
    source = f"{archive}:{member}"
    with formats.open_tar_member(archive, member) as stream:
        table = formats.read_int_csv(stream, source=source)
    return formats.split_label_first(table, classes, source=source)


# privacytrustlab's copies of the Shokri et al. 2017 data sets. No checksum is published for
# these archives; none could be established offline.
PRIVACYTRUSTLAB_URL = "https://github.com/privacytrustlab/datasets/raw/master/"
LOCATION_ARCHIVE = dl.RemoteFile(url=f"{PRIVACYTRUSTLAB_URL}dataset_location.tgz")
PURCHASE_ARCHIVE = dl.RemoteFile(url=f"{PRIVACYTRUSTLAB_URL}dataset_purchase.tgz")
TEXAS_ARCHIVE = dl.RemoteFile(url=f"{PRIVACYTRUSTLAB_URL}dataset_texas.tgz")


@_register(
    "location",
    description="Foursquare Bangkok check-ins, 5,010 x 446 binary features, 30 classes",
    source=LOCATION_ARCHIVE.url,
    local=_exists("location/location.npz", "location/dataset_location.tgz"),
)
def load_location(data_dir: Path, download: bool) -> Dataset:
    """Location (Foursquare check-ins in Bangkok), the data set of Shokri et al. 2017
    ("Membership Inference Attacks against Machine Learning Models", S&P), also used by
    MemGuard (Jia et al. 2019) and Song & Mittal 2021.

    Reads ``location/location.npz`` (``features`` uint8, ``labels`` 0..29); else converts
    the ``bangkok`` CSV (label 1..30, then 446 binary features) of privacytrustlab's
    ``dataset_location.tgz`` and caches it as that npz.
    """
    read = functools.partial(_read_label_first, member="bangkok", classes=30)
    features, labels = _cached_table(
        data_dir / "location", "dataset_location.tgz", LOCATION_ARCHIVE, download, read
    )
    return _tabular("location", features, labels, 30, "Location (Bangkok check-ins), Shokri 2017")


@_register(
    "purchase100",
    description="Kaggle shopping histories, 197,324 x 600 binary features, 100 classes",
    source=PURCHASE_ARCHIVE.url,
    local=_exists("purchase100/purchase100.npz", "purchase100/dataset_purchase.tgz"),
)
def load_purchase100(data_dir: Path, download: bool) -> Dataset:
    """Purchase-100 (Kaggle "Acquire Valued Shoppers" purchase histories clustered into 100
    classes) of Shokri et al. 2017; also Nasr et al. 2018 and Song & Mittal 2021.

    Converts the ``dataset_purchase`` CSV (label 1..100, then 600 binary features) of
    privacytrustlab's ``dataset_purchase.tgz``; caches ``purchase100/purchase100.npz``.
    """
    read = functools.partial(_read_label_first, member="dataset_purchase", classes=100)
    features, labels = _cached_table(
        data_dir / "purchase100", "dataset_purchase.tgz", PURCHASE_ARCHIVE, download, read
    )
    return _tabular("purchase100", features, labels, 100, "Purchase-100, Shokri 2017")


def _read_texas(archive: Path) -> _Table:
    """``texas/100/feats`` (comma-separated binary features) and ``texas/100/labels``."""
    with formats.open_tar_member(archive, "texas/100/feats") as stream:
        features = formats.read_int_csv(stream, source=f"{archive}:texas/100/feats")
    with formats.open_tar_member(archive, "texas/100/labels") as stream:
        raw = formats.read_int_csv(stream, source=f"{archive}:texas/100/labels", dtype=np.int64)
    if raw.shape[1] != 1 or len(raw) != len(features):
        raise DataError(
            f"{archive}: mismatched lengths: {len(features)} feature rows but labels of "
            f"shape {raw.shape}"
        )
    return features, formats.labels_from_one_based(raw, 100, source=f"{archive}:texas/100/labels")


@_register(
    "texas100",
    description="Texas hospital discharges, 67,330 x 6,169 binary features, 100 classes",
    source=TEXAS_ARCHIVE.url,
    local=_exists("texas100/texas100.npz", "texas100/dataset_texas.tgz"),
)
def load_texas100(data_dir: Path, download: bool) -> Dataset:
    """Texas-100 (Texas Department of State Health Services hospital discharge data, 100
    most frequent procedures) of Shokri et al. 2017; also Nasr et al. 2018, Jia et al. 2019.

    Converts ``texas/100/feats`` (comma-separated binary features) and ``texas/100/labels``
    (1..100) of privacytrustlab's ``dataset_texas.tgz``; caches ``texas100/texas100.npz``.
    """
    features, labels = _cached_table(
        data_dir / "texas100", "dataset_texas.tgz", TEXAS_ARCHIVE, download, _read_texas
    )
    return _tabular("texas100", features, labels, 100, "Texas-100, Shokri 2017")


# --- MNIST / Fashion-MNIST ------------------------------------------------------------------

IDX_STEMS = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
MNIST_BASE_URL = "https://ossci-datasets.s3.amazonaws.com/mnist/"
# Published MD5s of the official gzipped IDX files (as checked by torchvision).
MNIST_MD5 = {
    "train-images-idx3-ubyte": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte": "ec29112dd5afa0611ce80d1b7f02629c",
}
FASHION_MNIST_BASE_URL = (
    "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/"
)
# Published MD5s of the Zalando gzipped IDX files (as checked by torchvision).
FASHION_MNIST_MD5 = {
    "train-images-idx3-ubyte": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
    "train-labels-idx1-ubyte": "25c81989df183df01b3e8a0aad5dffbe",
    "t10k-images-idx3-ubyte": "bef4ecab320f06d8554ea6380940ec79",
    "t10k-labels-idx1-ubyte": "bb300cfdad3c16e7a12a480ee83cd310",
}
# Debian package dataset-fashion-mnist installs the IDX files here.
FASHION_MNIST_SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")


def _idx_pool(
    folders: list[Path], target: Path, base_url: str, md5s: dict[str, str], download: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x_train, y_train, x_test, y_test) from IDX files found in ``folders`` (raw or .gz),
    downloading the missing .gz files into ``target``."""
    arrays = []
    for stem in IDX_STEMS:
        path = formats.find_idx(folders, stem)
        if path is None:
            remote = dl.RemoteFile(url=f"{base_url}{stem}.gz", md5=md5s[stem])
            path = dl.obtain(remote, target / f"{stem}.gz", download=download)
        arrays.append(formats.read_idx(path))
    x_train, y_train, x_test, y_test = arrays
    formats.idx_images_labels(x_train, y_train, source=f"{target} (train)")
    formats.idx_images_labels(x_test, y_test, source=f"{target} (t10k)")
    return x_train, y_train, x_test, y_test


def _pool_images(x_train: np.ndarray, x_test: np.ndarray) -> np.ndarray:
    return np.concatenate([x_train, x_test])[:, None, :, :]


def _pool_labels(y_train: np.ndarray, y_test: np.ndarray) -> np.ndarray:
    return np.concatenate([y_train, y_test]).astype(np.int64)


def _mnist_local(root: Path) -> bool:
    folder = root / "mnist"
    return (folder / "mnist.npz").is_file() or all(
        formats.find_idx([folder], stem) for stem in IDX_STEMS
    )


@_register(
    "mnist",
    description="MNIST handwritten digits, 70,000 28x28 grey images (train+test), 10 classes",
    source=MNIST_BASE_URL,
    local=_mnist_local,
)
def load_mnist(data_dir: Path, download: bool) -> Dataset:
    """MNIST (LeCun et al. 1998), train and test pooled: x (70000, 1, 28, 28) in [0, 1].

    Used by Shokri et al. 2017 and Salem et al. 2019 (ML-Leaks). Reads ``mnist/mnist.npz``
    (x_train, y_train, x_test, y_test); else the four IDX files in ``mnist/`` (downloaded
    from the ossci mirror, MD5-checked, when missing), cached as that npz.
    """
    folder = data_dir / "mnist"
    cache = folder / "mnist.npz"
    if cache.is_file():
        a = _read_npz(cache, ("x_train", "y_train", "x_test", "y_test"))
        x_train, y_train, x_test, y_test = a["x_train"], a["y_train"], a["x_test"], a["y_test"]
    else:
        x_train, y_train, x_test, y_test = _idx_pool(
            [folder], folder, MNIST_BASE_URL, MNIST_MD5, download
        )
        _write_cache(cache, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    images, labels = _pool_images(x_train, x_test), _pool_labels(y_train, y_test)
    return _images("mnist", images, labels, 10, "MNIST, train+test pooled")


def _fashion_local(root: Path) -> bool:
    folders = [root / "fashion_mnist", FASHION_MNIST_SYSTEM_DIR]
    return all(formats.find_idx(folders, stem) for stem in IDX_STEMS)


@_register(
    "fashion_mnist",
    description="Fashion-MNIST, 70,000 28x28 grey images of clothing (train+test), 10 classes",
    source=FASHION_MNIST_BASE_URL,
    local=_fashion_local,
)
def load_fashion_mnist(data_dir: Path, download: bool) -> Dataset:
    """Fashion-MNIST (Xiao et al. 2017), train and test pooled: x (70000, 1, 28, 28).

    Used in membership-inference evaluations such as Liu et al. 2022 (ML-Doctor). IDX files
    (raw or .gz) are looked up in ``fashion_mnist/``, then in the Debian package folder
    ``/usr/share/datasets/fashion-mnist/``, then downloaded from Zalando's GitHub (MD5).
    """
    folder = data_dir / "fashion_mnist"
    x_train, y_train, x_test, y_test = _idx_pool(
        [folder, FASHION_MNIST_SYSTEM_DIR],
        folder,
        FASHION_MNIST_BASE_URL,
        FASHION_MNIST_MD5,
        download,
    )
    images, labels = _pool_images(x_train, x_test), _pool_labels(y_train, y_test)
    return _images("fashion_mnist", images, labels, 10, "Fashion-MNIST, train+test pooled")


# --- CIFAR-10 ---------------------------------------------------------------------------------

CIFAR10_ARCHIVE = dl.RemoteFile(
    url="https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
    md5="c58f30108f718f92721af3b95e74349a",  # published on the CIFAR page
)
CIFAR10_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6)) + ("test_batch",)


@_register(
    "cifar10",
    description="CIFAR-10, 60,000 32x32 colour images (train+test), 10 classes",
    source=CIFAR10_ARCHIVE.url,
    local=_exists("cifar10/cifar10.npz", "cifar10/cifar-10-python.tar.gz"),
)
def load_cifar10(data_dir: Path, download: bool) -> Dataset:
    """CIFAR-10 (Krizhevsky 2009), train and test pooled: x (60000, 3, 32, 32) in [0, 1].

    The main image benchmark of Shokri et al. 2017, Carlini et al. 2022 (LiRA) and Zarifzadeh
    et al. 2024 (RMIA). Reads the python-pickle archive ``cifar10/cifar-10-python.tar.gz``
    (downloaded when missing); its MD5 is checked before any batch is unpickled, and the
    result is cached as ``cifar10/cifar10.npz`` (x uint8, y).
    """
    folder = data_dir / "cifar10"
    cache = folder / "cifar10.npz"
    if cache.is_file():
        arrays = _read_npz(cache, ("x", "y"))
        images, labels = arrays["x"], arrays["y"]
    else:
        archive = dl.obtain(CIFAR10_ARCHIVE, folder / "cifar-10-python.tar.gz", download=download)
        dl.check_file(archive, sha256=CIFAR10_ARCHIVE.sha256, md5=CIFAR10_ARCHIVE.md5)
        parts = []
        for batch in CIFAR10_BATCHES:
            with formats.open_tar_member(archive, f"cifar-10-batches-py/{batch}") as stream:
                parts.append(formats.read_cifar_batch(stream, source=f"{archive}:{batch}"))
        images = np.concatenate([p[0] for p in parts])
        labels = np.concatenate([p[1] for p in parts])
        _write_cache(cache, x=images, y=labels)
    if images.dtype != np.uint8 or images.shape[1:] != (3, 32, 32):
        raise DataError(
            f"{cache}: expected x uint8 (n, 3, 32, 32), got {images.dtype} {images.shape}"
        )
    return _images("cifar10", images, labels.astype(np.int64), 10, "CIFAR-10, train+test pooled")


# --- Adult ------------------------------------------------------------------------------------

ADULT_BASE_URL = "https://archive.ics.uci.edu/ml/machine-learning-databases/adult/"
# SHA-256 of the UCI files (the shared copies are byte-identical to UCI's, see SHA256SUMS).
ADULT_FILES = {
    "adult.data": dl.RemoteFile(
        url=f"{ADULT_BASE_URL}adult.data",
        sha256="5b00264637dbfec36bdeaab5676b0b309ff9eb788d63554ca0a249491c86603d",
    ),
    "adult.test": dl.RemoteFile(
        url=f"{ADULT_BASE_URL}adult.test",
        sha256="a2a9044bc167a35b2361efbabec64e89d69ce82d9790d2980119aac5fd7e9c05",
    ),
}


@_register(
    "adult",
    description="UCI Adult census income, 48,842 records (train+test), one-hot, 2 classes",
    source=ADULT_BASE_URL,
    local=lambda root: all((root / "adult" / f).is_file() for f in ADULT_FILES),
)
def load_adult(data_dir: Path, download: bool) -> Dataset:
    """UCI Adult (Kohavi 1996), adult.data + adult.test pooled; label 1 for income >50K.

    Used by Shokri et al. 2017 and Yeom et al. 2018. Numeric columns are min-max scaled to
    [0, 1] over the pooled records, categorical ones one-hot encoded ('?' -> all zeros).
    """
    folder = data_dir / "adult"
    rows: list[list[str]] = []
    labels: list[int] = []
    for filename, remote in ADULT_FILES.items():
        path = dl.obtain(remote, folder / filename, download=download)
        file_rows, file_labels = formats.read_adult_rows(path)
        rows.extend(file_rows)
        labels.extend(file_labels)
    x, _ = formats.encode_adult(rows)
    return Dataset(
        name="adult",
        x=x,
        y=np.asarray(labels, dtype=np.int64),
        num_classes=2,
        description="UCI Adult: numeric min-max scaled, categorical one-hot",
    )
