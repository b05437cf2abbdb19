"""Loaders and raw-format parsers on tiny synthetic files of the exact formats; downloads.

No test touches the network: archives are placed where a loader would have downloaded
them, or the download URL is pointed at a local ``file://`` copy.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import pickle
import struct
import tarfile
from pathlib import Path

import numpy as np
import pytest

from miaudit.data import download as dl
from miaudit.data import formats, load_dataset, loaders
from miaudit.errors import DataError

# --- fixture generators -----------------------------------------------------------------------


def write_tgz(path: Path, members: dict[str, bytes]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def label_first_csv(labels: np.ndarray, features: np.ndarray, *, quote: bool = False) -> bytes:
    lines = []
    for label, row in zip(labels, features, strict=True):
        first = f'"{label}"' if quote else str(label)
        lines.append(",".join([first, *map(str, row)]))
    return ("\n".join(lines) + "\n").encode()


def idx_bytes(arr: np.ndarray) -> bytes:
    code = {np.dtype(np.uint8): 0x08, np.dtype(">i4"): 0x0C}[arr.dtype]
    header = bytes([0, 0, code, arr.ndim]) + np.asarray(arr.shape, dtype=">u4").tobytes()
    return header + arr.tobytes()


def write_idx_set(folder: Path, rng: np.random.Generator, *, gz: bool, n=(5, 3)) -> dict:
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n[0], 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": rng.integers(0, 10, n[0], dtype=np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n[1], 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, n[1], dtype=np.uint8),
    }
    for stem, arr in arrays.items():
        data = idx_bytes(arr)
        if gz:
            (folder / f"{stem}.gz").write_bytes(gzip.compress(data))
        else:
            (folder / stem).write_bytes(data)
    return arrays


class Py2Pickler(pickle._Pickler):
    """Writes pickles like Python 2's cPickle did for the official CIFAR batches: protocol 2,
    every str/bytes as a byte string, numpy's reconstructor under ``numpy.core.multiarray``."""

    dispatch = pickle._Pickler.dispatch.copy()

    def save_str8(self, obj: str | bytes) -> None:
        data = obj.encode("ascii") if isinstance(obj, str) else obj
        if len(data) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(data)]) + data)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(data)) + data)

    dispatch[bytes] = save_str8
    dispatch[str] = save_str8


def py2_pickle(obj: object) -> bytes:
    buf = io.BytesIO()
    Py2Pickler(buf, protocol=2).dump(obj)
    return buf.getvalue().replace(
        b"numpy._core.multiarray\n_reconstruct", b"numpy.core.multiarray\n_reconstruct"
    )


def cifar_batch(rng: np.random.Generator, n: int) -> tuple[bytes, np.ndarray, np.ndarray]:
    data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
    labels = [int(v) for v in rng.integers(0, 10, n)]
    batch = {b"batch_label": b"synthetic", b"labels": labels, b"data": data, b"filenames": []}
    return py2_pickle(batch), data, np.array(labels)


def write_cifar(path: Path, rng: np.random.Generator, n: int = 2) -> tuple[np.ndarray, np.ndarray]:
    members, xs, ys = {}, [], []
    for batch in loaders.CIFAR10_BATCHES:
        raw, data, labels = cifar_batch(rng, n)
        members[f"cifar-10-batches-py/{batch}"] = raw
        xs.append(data)
        ys.append(labels)
    members["cifar-10-batches-py/batches.meta"] = py2_pickle({b"label_names": []})
    write_tgz(path, members)
    return np.concatenate(xs), np.concatenate(ys)


ADULT_DATA = "\n".join(
    [
        "39, State-gov, 77516, Bachelors, 13, Never-married, Adm-clerical, Not-in-family, "
        "White, Male, 2174, 0, 40, United-States, <=50K",
        "50, Self-emp-not-inc, 83311, Bachelors, 13, Married-civ-spouse, Exec-managerial, "
        "Husband, White, Male, 0, 0, 13, United-States, >50K",
        "38, ?, 215646, HS-grad, 9, Divorced, ?, Not-in-family, Black, Female, 0, 0, 40, ?, <=50K",
        "",
        "",
    ]
)
ADULT_TEST = "\n".join(
    [
        "|1x3 Cross validator",
        "25,Private,226802,11th,7,Never-married,Machine-op-inspct,Own-child,Black,Male,0,0,40,"
        "United-States,<=50K.",
        "  44 , Private , 160323 , Some-college , 10 , Married-civ-spouse , Machine-op-inspct , "
        "Husband , Black , Male , 7688 , 0 , 40 , United-States , >50K.",
        "",
    ]
)


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def md5_of(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


# --- download.fetch / obtain ------------------------------------------------------------------


def test_fetch_verifies_and_renames(tmp_path):
    src = tmp_path / "src.bin"
    src.write_bytes(b"hello data")
    dest = tmp_path / "out" / "file.bin"
    got = dl.fetch(src.as_uri(), dest, sha256=sha256_of(src), md5=md5_of(src))
    assert got == dest and dest.read_bytes() == b"hello data"
    assert [p.name for p in dest.parent.iterdir()] == ["file.bin"]  # no temporary left


@pytest.mark.parametrize("algorithm", ["sha256", "md5"])
def test_fetch_rejects_corrupted_file(tmp_path, algorithm):
    src = tmp_path / "src.bin"
    src.write_bytes(b"corrupted bytes")
    dest = tmp_path / "out" / "file.bin"
    with pytest.raises(DataError, match=f"checksum mismatch.*{algorithm}"):
        dl.fetch(src.as_uri(), dest, **{algorithm: "0" * 64})
    assert list(dest.parent.iterdir()) == []  # the bad download was deleted


def test_fetch_failure_says_where_to_put_the_file(tmp_path):
    dest = tmp_path / "out" / "file.bin"
    with pytest.raises(DataError, match="could not download") as info:
        dl.fetch((tmp_path / "missing.bin").as_uri(), dest)
    assert str(dest) in str(info.value) and "MIAUDIT_DATA" in str(info.value)
    assert not dest.exists()


def test_obtain_without_download_names_the_path(tmp_path):
    dest = tmp_path / "location" / "dataset_location.tgz"
    with pytest.raises(DataError, match="download=False") as info:
        dl.obtain(dl.RemoteFile("https://example.invalid/x"), dest, download=False)
    assert str(dest) in str(info.value)


def test_check_file(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"abc")
    dl.check_file(path, sha256=sha256_of(path), md5=md5_of(path))
    with pytest.raises(DataError, match="checksum mismatch"):
        dl.check_file(path, md5="0" * 32)


# --- IDX --------------------------------------------------------------------------------------


def test_parse_idx_roundtrip_and_errors(tmp_path):
    arr = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    np.testing.assert_array_equal(formats.parse_idx(idx_bytes(arr)), arr)
    ints = np.array([1, -2, 70000], dtype=">i4")
    parsed = formats.parse_idx(idx_bytes(ints))
    np.testing.assert_array_equal(parsed, [1, -2, 70000])
    assert parsed.dtype.isnative
    raw, gz = tmp_path / "a-ubyte", tmp_path / "b-ubyte.gz"
    raw.write_bytes(idx_bytes(arr))
    gz.write_bytes(gzip.compress(idx_bytes(arr)))
    np.testing.assert_array_equal(formats.read_idx(raw), formats.read_idx(gz))
    with pytest.raises(DataError, match="magic"):
        formats.parse_idx(b"\x01\x02\x08\x01")
    with pytest.raises(DataError, match="payload"):
        formats.parse_idx(idx_bytes(arr)[:-1])
    with pytest.raises(DataError, match="type code"):
        formats.parse_idx(b"\x00\x00\x07\x01\x00\x00\x00\x00")


@pytest.mark.parametrize("gz", [True, False])
def test_mnist_from_idx_files_and_cache(tmp_path, rng, gz):
    arrays = write_idx_set(tmp_path / "mnist", rng, gz=gz)
    ds = load_dataset("mnist", data_dir=tmp_path, download=False)
    assert ds.x.shape == (8, 1, 28, 28) and ds.num_classes == 10 and ds.is_image
    expected = np.concatenate([arrays["train-images-idx3-ubyte"], arrays["t10k-images-idx3-ubyte"]])
    np.testing.assert_allclose(ds.x[:, 0], expected / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(
        ds.y, np.concatenate([arrays["train-labels-idx1-ubyte"], arrays["t10k-labels-idx1-ubyte"]])
    )
    assert (tmp_path / "mnist" / "mnist.npz").is_file()  # cached in the shared format
    for path in (tmp_path / "mnist").iterdir():
        if "ubyte" in path.name:
            path.unlink()
    again = load_dataset("mnist", data_dir=tmp_path, download=False)
    np.testing.assert_array_equal(again.x, ds.x)


def test_mnist_download_path(tmp_path, rng, monkeypatch):
    mirror = tmp_path / "mirror"
    write_idx_set(mirror, rng, gz=True)
    md5s = {stem: md5_of(mirror / f"{stem}.gz") for stem in loaders.IDX_STEMS}
    monkeypatch.setattr(loaders, "MNIST_BASE_URL", mirror.as_uri() + "/")
    monkeypatch.setattr(loaders, "MNIST_MD5", md5s)
    data_dir = tmp_path / "data"
    with pytest.raises(DataError, match="download=False"):
        load_dataset("mnist", data_dir=data_dir, download=False)
    ds = load_dataset("mnist", data_dir=data_dir, download=True)
    assert len(ds) == 8 and (data_dir / "mnist" / "mnist.npz").is_file()


def test_mnist_download_rejects_corrupted_file(tmp_path, rng, monkeypatch):
    mirror = tmp_path / "mirror"
    write_idx_set(mirror, rng, gz=True)
    monkeypatch.setattr(loaders, "MNIST_BASE_URL", mirror.as_uri() + "/")
    monkeypatch.setattr(loaders, "MNIST_MD5", dict.fromkeys(loaders.IDX_STEMS, "0" * 32))
    data_dir = tmp_path / "data"
    with pytest.raises(DataError, match="checksum mismatch"):
        load_dataset("mnist", data_dir=data_dir, download=True)
    assert not any(p.is_file() for p in (data_dir / "mnist").iterdir())


def test_fashion_mnist_lookup_order(tmp_path, rng, monkeypatch):
    system = tmp_path / "system"
    monkeypatch.setattr(loaders, "FASHION_MNIST_SYSTEM_DIR", system)
    data_dir = tmp_path / "data"
    with pytest.raises(DataError, match="fashion_mnist"):
        load_dataset("fashion_mnist", data_dir=data_dir, download=False)
    write_idx_set(system, rng, gz=False, n=(4, 2))  # the Debian package folder, unzipped
    assert len(load_dataset("fashion_mnist", data_dir=data_dir, download=False)) == 6
    write_idx_set(data_dir / "fashion_mnist", rng, gz=True, n=(3, 1))  # data_dir wins
    ds = load_dataset("fashion_mnist", data_dir=data_dir, download=False)
    assert ds.x.shape == (4, 1, 28, 28) and ds.x.dtype == np.float32


def test_idx_mismatched_images_and_labels(tmp_path, rng):
    arrays = write_idx_set(tmp_path / "mnist", rng, gz=False)
    labels = arrays["train-labels-idx1-ubyte"][:-1]
    (tmp_path / "mnist" / "train-labels-idx1-ubyte").write_bytes(idx_bytes(labels))
    with pytest.raises(DataError, match="images but labels"):
        load_dataset("mnist", data_dir=tmp_path, download=False)


# --- label-first CSV archives: location, purchase100; texas100 --------------------------------


@pytest.mark.parametrize("quote", [False, True])
def test_location_from_archive(tmp_path, rng, quote):
    labels = np.array([1, 30, 7, 15])
    features = rng.integers(0, 2, (4, 446))
    write_tgz(
        tmp_path / "location" / "dataset_location.tgz",
        {"bangkok": label_first_csv(labels, features, quote=quote)},
    )
    ds = load_dataset("location", data_dir=tmp_path, download=False)
    assert ds.x.shape == (4, 446) and ds.num_classes == 30
    np.testing.assert_array_equal(ds.y, labels - 1)
    np.testing.assert_array_equal(ds.x, features)
    cache = np.load(tmp_path / "location" / "location.npz")
    assert cache["features"].dtype == np.uint8 and cache["labels"].dtype == np.int64


def test_location_download_and_checksum(tmp_path, rng, monkeypatch):
    archive = write_tgz(
        tmp_path / "mirror" / "dataset_location.tgz",
        {"bangkok": label_first_csv(np.array([2, 3]), rng.integers(0, 2, (2, 5)))},
    )
    bad = dl.RemoteFile(archive.as_uri(), sha256="0" * 64)
    monkeypatch.setattr(loaders, "LOCATION_ARCHIVE", bad)
    with pytest.raises(DataError, match="checksum mismatch"):
        load_dataset("location", data_dir=tmp_path / "data")
    assert not (tmp_path / "data" / "location" / "dataset_location.tgz").exists()
    good = dl.RemoteFile(archive.as_uri(), sha256=sha256_of(archive))
    monkeypatch.setattr(loaders, "LOCATION_ARCHIVE", good)
    ds = load_dataset("location", data_dir=tmp_path / "data")
    np.testing.assert_array_equal(ds.y, [1, 2])


def test_location_bad_labels(tmp_path, rng):
    write_tgz(
        tmp_path / "location" / "dataset_location.tgz",
        {"bangkok": label_first_csv(np.array([0, 31]), rng.integers(0, 2, (2, 3)))},
    )
    with pytest.raises(DataError, match=r"labels must be 1\.\.30"):
        load_dataset("location", data_dir=tmp_path, download=False)


def test_archive_without_expected_member(tmp_path):
    write_tgz(tmp_path / "location" / "dataset_location.tgz", {"other": b"1,0\n"})
    with pytest.raises(DataError, match="no member 'bangkok'.*other"):
        load_dataset("location", data_dir=tmp_path, download=False)


def test_purchase100_from_archive(tmp_path, rng):
    labels = np.array([1, 100, 50])
    features = rng.integers(0, 2, (3, 600))
    write_tgz(
        tmp_path / "purchase100" / "dataset_purchase.tgz",
        {"dataset_purchase": label_first_csv(labels, features)},
    )
    ds = load_dataset("purchase100", data_dir=tmp_path, download=False)
    assert ds.x.shape == (3, 600) and ds.num_classes == 100
    np.testing.assert_array_equal(ds.y, labels - 1)
    np.testing.assert_array_equal(ds.x, features)


@pytest.mark.parametrize("name", ["location", "purchase100"])
def test_archived_table_reads_its_cache(tmp_path, rng, name):
    archive = {"location": "dataset_location.tgz", "purchase100": "dataset_purchase.tgz"}[name]
    member = {"location": "bangkok", "purchase100": "dataset_purchase"}[name]
    features = rng.integers(0, 2, (3, 4))
    write_tgz(tmp_path / name / archive, {member: label_first_csv(np.array([1, 2, 3]), features)})
    first = load_dataset(name, data_dir=tmp_path, download=False)
    (tmp_path / name / archive).unlink()  # from now on only the cache can answer
    again = load_dataset(name, data_dir=tmp_path, download=False)
    np.testing.assert_array_equal(again.x, first.x)
    np.testing.assert_array_equal(again.y, [0, 1, 2])
    assert again.x.dtype == first.x.dtype and again.y.dtype == first.y.dtype
    np.savez(tmp_path / name / f"{name}.npz", x=features)  # a cache without its arrays
    with pytest.raises(DataError, match="missing array.*'features'"):
        load_dataset(name, data_dir=tmp_path, download=False)


def test_texas100_from_archive(tmp_path, rng):
    labels = np.array([3, 1, 100])
    features = rng.integers(0, 2, (3, 6169))
    feats = "\n".join(",".join(map(str, row)) for row in features) + "\n"
    write_tgz(
        tmp_path / "texas100" / "dataset_texas.tgz",
        {
            "texas/100/feats": feats.encode(),
            "texas/100/labels": ("\n".join(map(str, labels)) + "\n").encode(),
            "texas/20/labels": b"1\n1\n1\n",  # another split in the archive: ignored
        },
    )
    ds = load_dataset("texas100", data_dir=tmp_path, download=False)
    assert ds.x.shape == (3, 6169) and ds.num_classes == 100
    np.testing.assert_array_equal(ds.y, labels - 1)
    np.testing.assert_array_equal(ds.x, features)
    assert (tmp_path / "texas100" / "texas100.npz").is_file()


def test_texas100_mismatched_lengths(tmp_path):
    write_tgz(
        tmp_path / "texas100" / "dataset_texas.tgz",
        {"texas/100/feats": b"0,1\n1,0\n", "texas/100/labels": b"1\n"},
    )
    with pytest.raises(DataError, match="mismatched lengths"):
        load_dataset("texas100", data_dir=tmp_path, download=False)


def test_read_int_csv_rejects_non_integers():
    with pytest.raises(DataError, match="CSV of integers"):
        formats.read_int_csv(io.BytesIO(b"1,0,abc\n"), source="x")
    with pytest.raises(DataError, match="CSV of integers"):
        formats.read_int_csv(io.BytesIO(b"1,0\n1\n"), source="x")


# --- CIFAR-10 ---------------------------------------------------------------------------------


def test_cifar10_from_verified_archive(tmp_path, rng, monkeypatch):
    archive = tmp_path / "cifar10" / "cifar-10-python.tar.gz"
    data, labels = write_cifar(archive, rng)
    monkeypatch.setattr(loaders, "CIFAR10_ARCHIVE", dl.RemoteFile("file:///x", md5=md5_of(archive)))
    ds = load_dataset("cifar10", data_dir=tmp_path, download=False)
    assert ds.x.shape == (12, 3, 32, 32) and ds.num_classes == 10 and ds.is_image
    np.testing.assert_allclose(ds.x.reshape(12, -1), data / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(ds.y, labels)
    archive.unlink()  # the npz cache is used from now on
    np.testing.assert_array_equal(
        load_dataset("cifar10", data_dir=tmp_path, download=False).y, labels
    )


def test_cifar10_checks_md5_before_unpickling(tmp_path, rng, monkeypatch):
    write_cifar(tmp_path / "cifar10" / "cifar-10-python.tar.gz", rng)
    monkeypatch.setattr(loaders, "CIFAR10_ARCHIVE", dl.RemoteFile("file:///x", md5="0" * 32))
    with pytest.raises(DataError, match="checksum mismatch"):
        load_dataset("cifar10", data_dir=tmp_path, download=False)


def test_cifar10_download_path(tmp_path, rng, monkeypatch):
    mirror = tmp_path / "mirror" / "cifar-10-python.tar.gz"
    write_cifar(mirror, rng, n=1)
    monkeypatch.setattr(
        loaders, "CIFAR10_ARCHIVE", dl.RemoteFile(mirror.as_uri(), md5=md5_of(mirror))
    )
    assert len(load_dataset("cifar10", data_dir=tmp_path / "data")) == 6


class _Evil:
    def __reduce__(self):
        return (print, ("pwned",))


def test_cifar_unpickler_refuses_other_globals():
    with pytest.raises(DataError, match="refusing to load global"):
        formats.read_cifar_batch(io.BytesIO(pickle.dumps({b"data": _Evil()})), source="evil")
    with pytest.raises(DataError, match="b'data'"):
        formats.read_cifar_batch(io.BytesIO(pickle.dumps({b"x": 1})), source="odd")


def test_cifar_batch_reads_python2_style_pickle(rng):
    # The official batches were written by Python 2 (protocol 2, str keys -> bytes).
    raw, data, labels = cifar_batch(rng, 3)
    assert b"numpy.core.multiarray\n_reconstruct" in raw and b"_codecs" not in raw
    images, got = formats.read_cifar_batch(io.BytesIO(raw), source="batch")
    assert images.shape == (3, 3, 32, 32)
    np.testing.assert_array_equal(images.reshape(3, -1), data)
    np.testing.assert_array_equal(got, labels)
    modern = pickle.dumps({b"data": data, b"labels": labels.tolist()}, protocol=4)
    np.testing.assert_array_equal(
        formats.read_cifar_batch(io.BytesIO(modern), source="m")[1], labels
    )


# --- Adult ------------------------------------------------------------------------------------


def write_adult(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "adult.data").write_text(ADULT_DATA)
    (folder / "adult.test").write_text(ADULT_TEST)


def test_adult_parsing_and_encoding(tmp_path):
    write_adult(tmp_path / "adult")
    ds = load_dataset("adult", data_dir=tmp_path, download=False)
    assert len(ds) == 5 and ds.num_classes == 2
    np.testing.assert_array_equal(ds.y, [0, 1, 0, 0, 1])
    assert ds.x.min() == 0.0 and ds.x.max() == 1.0
    rows, _ = formats.read_adult_rows(tmp_path / "adult" / "adult.test")
    assert rows[1][0] == "44" and rows[1][3] == "Some-college"  # whitespace stripped
    all_rows = formats.read_adult_rows(tmp_path / "adult" / "adult.data")[0] + rows
    x, names = formats.encode_adult(all_rows)
    assert x.shape == (5, len(names)) and "age" in names and "sex=Female" in names
    assert not any(name.endswith("=?") for name in names)
    age = x[:, names.index("age")]
    np.testing.assert_allclose(age, (np.array([39, 50, 38, 25, 44]) - 25) / 25)
    workclass = [i for i, name in enumerate(names) if name.startswith("workclass=")]
    np.testing.assert_array_equal(x[:, workclass].sum(axis=1), [1, 1, 0, 1, 1])  # '?' -> zeros


def test_adult_bad_rows(tmp_path):
    path = tmp_path / "adult.data"
    path.write_text("39, State-gov, 77516\n")
    with pytest.raises(DataError, match=":1: expected 15"):
        formats.read_adult_rows(path)
    path.write_text(ADULT_DATA.replace("<=50K\n50", "maybe\n50", 1))
    with pytest.raises(DataError, match="label must be"):
        formats.read_adult_rows(path)


def test_adult_download_uses_published_checksums(tmp_path, monkeypatch):
    mirror = tmp_path / "mirror"
    write_adult(mirror)
    files = {
        name: dl.RemoteFile((mirror / name).as_uri(), sha256=sha256_of(mirror / name))
        for name in ("adult.data", "adult.test")
    }
    monkeypatch.setattr(loaders, "ADULT_FILES", files)
    assert len(load_dataset("adult", data_dir=tmp_path / "data")) == 5
