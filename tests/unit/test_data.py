"""Dataset, user .npz files, the registry, make_split, and the real shared data files."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from miaudit.data import (
    DATASETS,
    Dataset,
    DatasetInfo,
    MembershipSplit,
    list_datasets,
    load_dataset,
    make_split,
    resolve_data_dir,
)
from miaudit.errors import DataError, UnknownNameError

# --- Dataset ----------------------------------------------------------------------------------


def test_dataset_converts_dtypes_and_reports_shape():
    ds = Dataset(
        "toy", x=np.ones((4, 3), dtype=np.float64), y=np.array([0, 1, 2, 1]), num_classes=3
    )
    assert ds.x.dtype == np.float32 and ds.y.dtype == np.int64
    assert ds.input_shape == (3,) and not ds.is_image and len(ds) == 4
    assert "n=4" in repr(ds)
    img = Dataset("img", x=np.zeros((2, 1, 5, 5)), y=np.array([0, 1]), num_classes=2)
    assert img.is_image and img.input_shape == (1, 5, 5)


@pytest.mark.parametrize(
    ("x", "y", "num_classes", "message"),
    [
        (np.ones((3, 2)), np.array([0, 1]), 2, "mismatched lengths"),
        (np.ones((0, 2)), np.array([], dtype=np.int64), 2, "empty"),
        (np.ones((2, 2)), np.array([0, 2]), 2, "labels outside 0..1"),
        (np.ones((2, 2)), np.array([-1, 0]), 2, "labels outside"),
        (np.array([[0.0, np.nan], [1.0, 2.0]]), np.array([0, 1]), 2, "NaN"),
        (np.array([[0.0, np.inf], [1.0, 2.0]]), np.array([0, 1]), 2, "NaN or infinite"),
        (np.ones((2, 2)), np.array([0.0, 1.0]), 2, "must be integers"),
        (np.ones(2), np.array([0, 1]), 2, "shape (n, ...)"),
        (np.ones((2, 2)), np.array([[0], [1]]), 2, "shape (n,)"),
        (np.ones((2, 2)), np.array([0, 1]), 0, "num_classes"),
    ],
)
def test_dataset_rejects_bad_input(x, y, num_classes, message):
    with pytest.raises(DataError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Dataset("bad", x=x, y=y, num_classes=num_classes)


def test_subset_takes_indices_and_masks():
    ds = Dataset("toy", x=np.arange(10.0).reshape(5, 2), y=np.array([0, 1, 0, 1, 0]), num_classes=2)
    sub = ds.subset(np.array([4, 1]))
    np.testing.assert_array_equal(sub.x, [[8, 9], [2, 3]])
    np.testing.assert_array_equal(sub.y, [0, 1])
    assert sub.num_classes == 2 and sub.name == "toy"
    masked = ds.subset(ds.y == 1)
    assert len(masked) == 2
    with pytest.raises(DataError, match="out of range"):
        ds.subset(np.array([5]))
    with pytest.raises(DataError, match="integers or a boolean mask"):
        ds.subset(np.array([0.5]))


# --- load_dataset: user files, names ------------------------------------------------------------


def test_user_npz_roundtrip(tmp_path):
    path = tmp_path / "mine.npz"
    np.savez(path, x=np.random.default_rng(0).random((6, 3)), y=np.array([0, 1, 2, 0, 1, 2]))
    ds = load_dataset(path=path)
    assert ds.name == "mine" and ds.num_classes == 3 and ds.x.shape == (6, 3)
    assert ds.x.dtype == np.float32 and ds.y.dtype == np.int64


def test_user_npz_missing_array_is_named(tmp_path):
    path = tmp_path / "nolabels.npz"
    np.savez(path, x=np.ones((3, 2)), labels=np.array([0, 1, 0]))
    with pytest.raises(DataError, match="missing array") as info:
        load_dataset(path=path)
    message = str(info.value)
    assert "'y'" in message and "'x'" in message and "'labels'" in message


def test_user_npz_mismatched_lengths(tmp_path):
    path = tmp_path / "bad.npz"
    np.savez(path, x=np.ones((3, 2)), y=np.array([0, 1]))
    with pytest.raises(DataError, match="mismatched lengths"):
        load_dataset(path=path)


@pytest.mark.parametrize(
    ("y", "message"),
    # negative labels are no longer refused: labels are encoded as 0..C-1 (issue 9 item 6)
    [(np.array([0.0, 1.0, 1.0]), "integers"), (np.array([[0], [1], [1]]), "1-d")],
)
def test_user_npz_bad_labels(tmp_path, y, message):
    path = tmp_path / "bad.npz"
    np.savez(path, x=np.ones((3, 2)), y=y)
    with pytest.raises(DataError, match=message):
        load_dataset(path=path)


def test_user_npz_missing_or_unreadable_file(tmp_path):
    with pytest.raises(DataError, match="not found"):
        load_dataset(path=tmp_path / "nope.npz")
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a zip file")
    with pytest.raises(DataError, match="cannot read"):
        load_dataset(path=junk)


def test_exactly_one_of_name_and_path(tmp_path):
    with pytest.raises(DataError, match="exactly one"):
        load_dataset()
    with pytest.raises(DataError, match="exactly one"):
        load_dataset("digits", path=tmp_path / "x.npz")


def test_unknown_name_lists_valid_names():
    with pytest.raises(UnknownNameError, match="valid names") as info:
        load_dataset("no-such-data")
    for name in ("digits", "location", "mnist", "adult", "cifar10", "texas100"):
        assert name in str(info.value)


def test_registry_and_listing(tmp_path):
    expected = {
        "adult",
        "cifar10",
        "digits",
        "fashion_mnist",
        "location",
        "mnist",
        "purchase100",
        "texas100",
    }
    assert expected <= set(DATASETS.names())
    infos = {i.name: i for i in list_datasets(data_dir=tmp_path)}
    assert all(isinstance(i, DatasetInfo) and i.source for i in infos.values())
    assert infos["digits"].local and not infos["location"].local
    (tmp_path / "location").mkdir()
    (tmp_path / "location" / "location.npz").write_bytes(b"")
    assert {i.name: i for i in list_datasets(data_dir=tmp_path)}["location"].local


def test_resolve_data_dir_precedence(monkeypatch, tmp_path):
    monkeypatch.setenv("MIAUDIT_DATA", str(tmp_path / "env"))
    assert resolve_data_dir(tmp_path / "arg") == tmp_path / "arg"
    assert resolve_data_dir() == tmp_path / "env"
    monkeypatch.delenv("MIAUDIT_DATA")
    assert resolve_data_dir() == Path("~/.cache/miaudit").expanduser()


def test_digits_always_available(tmp_path):
    ds = load_dataset("digits", data_dir=tmp_path, download=False)
    assert ds.x.shape == (1797, 64) and ds.num_classes == 10
    assert ds.x.dtype == np.float32 and 0.0 <= ds.x.min() and ds.x.max() == 1.0


# --- make_split -------------------------------------------------------------------------------


def _check_split(split: MembershipSplit, n: int) -> None:
    parts = [split.members, split.nonmembers, split.population]
    joined = np.concatenate(parts)
    assert all(p.dtype == np.int64 for p in parts)
    assert np.unique(joined).size == joined.size  # pairwise disjoint, no repeats
    assert joined.size == 0 or (joined.min() >= 0 and joined.max() < n)


def test_make_split_sizes_and_disjointness():
    split = make_split(100, members=30, nonmembers=20, population=10, seed=1)
    assert (len(split.members), len(split.nonmembers), len(split.population)) == (30, 20, 10)
    assert split.seed == 1
    _check_split(split, 100)
    rest = make_split(100, members=30, nonmembers=20, seed=1)
    assert len(rest.population) == 50
    np.testing.assert_array_equal(
        np.sort(np.concatenate([rest.members, rest.nonmembers, rest.population])), np.arange(100)
    )
    assert len(make_split(10, members=5, nonmembers=5, seed=0).population) == 0


def test_make_split_deterministic_in_seed():
    a = make_split(1000, members=100, nonmembers=100, seed=7)
    b = make_split(1000, members=100, nonmembers=100, seed=7)
    c = make_split(1000, members=100, nonmembers=100, seed=8)
    assert a == b
    assert a != c and not np.array_equal(a.members, c.members)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"members": 0, "nonmembers": 5}, "empty member set"),
        ({"members": 5, "nonmembers": 0}, "empty non-member set"),
        ({"members": 60, "nonmembers": 50}, "exceeds the 100 records"),
        ({"members": 50, "nonmembers": 40, "population": 11}, "at most 10 records"),
        ({"members": 5, "nonmembers": 5, "population": -1}, "population must be >= 0"),
        ({"members": 2.5, "nonmembers": 5}, "must be an int"),
    ],
)
def test_make_split_errors(kwargs, message):
    with pytest.raises(DataError, match=message):
        make_split(100, seed=0, **kwargs)


def test_membership_split_validates_overlap():
    with pytest.raises(DataError, match="overlap"):
        MembershipSplit(np.array([0, 1]), np.array([1, 2]), np.array([], dtype=np.int64), seed=0)


@settings(max_examples=50, deadline=None)
@given(
    n=st.integers(2, 200),
    frac=st.tuples(st.floats(0, 1), st.floats(0, 1), st.floats(0, 1)),
    seed=st.integers(0, 2**32 - 1),
)
def test_make_split_properties(n, frac, seed):
    members = 1 + int(frac[0] * (n - 2))
    nonmembers = 1 + int(frac[1] * (n - members - 1))
    population = int(frac[2] * (n - members - nonmembers))
    split = make_split(n, members=members, nonmembers=nonmembers, population=population, seed=seed)
    _check_split(split, n)
    assert (len(split.members), len(split.nonmembers), len(split.population)) == (
        members,
        nonmembers,
        population,
    )
    assert split == make_split(
        n, members=members, nonmembers=nonmembers, population=population, seed=seed
    )


# --- the real shared data files ---------------------------------------------------------------


def _shared_data_dir() -> Path | None:
    env = os.environ.get("MIAUDIT_DATA")
    candidates = [Path(env)] if env else []
    candidates.append(Path(__file__).resolve().parents[3] / "shared" / "datasets")
    candidates.append(Path("/work/shared/datasets"))
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    return None


SHARED = _shared_data_dir()


def _need(relative: str) -> Path:
    if SHARED is None or not (SHARED / relative).is_file():
        pytest.skip(
            f"real data file {relative} not available (set MIAUDIT_DATA to the data folder)"
        )
    return SHARED


def test_real_location():
    ds = load_dataset("location", data_dir=_need("location/location.npz"), download=False)
    assert ds.x.shape == (5010, 446) and ds.num_classes == 30
    assert set(np.unique(ds.x)) <= {0.0, 1.0} and ds.y.max() == 29


def test_real_mnist():
    ds = load_dataset("mnist", data_dir=_need("mnist/mnist.npz"), download=False)
    assert ds.x.shape == (70000, 1, 28, 28) and ds.is_image and ds.num_classes == 10
    assert ds.x.min() == 0.0 and ds.x.max() == 1.0
    assert np.bincount(ds.y).min() > 6000


def test_real_adult():
    data_dir = _need("adult/adult.data")
    _need("adult/adult.test")
    ds = load_dataset("adult", data_dir=data_dir, download=False)
    assert ds.x.shape[0] == 48842 and ds.num_classes == 2
    assert ds.x.min() == 0.0 and ds.x.max() == 1.0
    assert 0.2 < ds.y.mean() < 0.3  # about 24% earn >50K


def test_fashion_mnist_from_the_debian_package(tmp_path):
    """Reads the real IDX files of Debian's dataset-fashion-mnist when it is installed."""

    if not Path("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz").is_file():
        pytest.skip("Debian package dataset-fashion-mnist is not installed")
    ds = load_dataset("fashion_mnist", data_dir=tmp_path, download=False)
    assert ds.x.shape == (70000, 1, 28, 28) and ds.num_classes == 10
    assert np.bincount(ds.y).tolist() == [7000] * 10
    assert 0.0 <= ds.x.min() and ds.x.max() == 1.0
