"""Data checks of issue 9: overlapping sets (item 5), labels and dtypes (item 6), data files
that are not what they claim (item 11)."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

import miaudit
from miaudit.data import Dataset, load_dataset
from miaudit.data import integrity as integ
from miaudit.errors import DataError
from miaudit.models import train_model

# --- record identity: the vectorised hash against an obviously correct loop ----------------


def reference_ids(arrays):
    """Slow oracle: a record's id is the global index of the first row with the same values
    (compared as Python floats, so dtypes and -0.0 do not matter)."""
    first: dict[tuple, int] = {}
    out, offset = [], 0
    for arr in arrays:
        ids = []
        for i, row in enumerate(np.asarray(arr).reshape(len(arr), -1)):
            key = tuple(float(v) for v in row)
            ids.append(first.setdefault(key, offset + i))
        out.append(np.array(ids, dtype=np.int64))
        offset += len(arr)
    return out


def data_with_duplicates(seed=0, n=300, d=7):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 3, size=(n, d)).astype(np.float32)  # small alphabet: natural repeats
    x[10] = x[200]
    return x


@pytest.mark.parametrize("d", [1, 2, 3, 7, 8])  # row widths of every hash word size
def test_record_ids_match_the_reference_loop(d):
    x = data_with_duplicates(d=d)
    parts = [x[:100], x[100:250].astype(np.float64), x[250:].astype(np.uint8)]
    got = integ.record_ids(parts)
    for g, want in zip(got, reference_ids(parts), strict=True):
        np.testing.assert_array_equal(g, want)


def test_record_ids_exact_even_when_every_hash_collides(monkeypatch):
    # all keys equal: the byte-for-byte confirmation alone must regroup the records
    monkeypatch.setattr(integ, "_row_keys", lambda x, dtype: np.zeros((len(x), 2), dtype=np.uint64))
    x = data_with_duplicates(d=3)
    np.testing.assert_array_equal(integ.record_ids([x])[0], reference_ids([x])[0])


def test_negative_zero_and_dtype_do_not_change_identity():
    a = np.array([[0.0, 1.0]], dtype=np.float32)
    b = np.array([[-0.0, 1.0]], dtype=np.float64)
    c = np.array([[0, 1]], dtype=np.uint8)
    assert len(integ.find_overlaps({"a": a, "b": b, "c": c})) == 3


def test_first_occurrences_keeps_the_first_copy_in_order():
    x = data_with_duplicates(d=2)
    ids = reference_ids([x])[0]
    np.testing.assert_array_equal(
        integ.first_occurrences(x), np.flatnonzero(ids == np.arange(len(x)))
    )


def test_overlap_rows_are_reported_in_each_set():
    rng = np.random.default_rng(1)
    x = (rng.random((20_000, 600)) < 0.1).astype(np.float32)
    x[19_999] = x[3]
    overlaps = integ.find_overlaps({"members": x[:10_000], "population": x[10_000:]})
    assert len(overlaps) == 1
    np.testing.assert_array_equal(overlaps[0].rows_first, [3])
    np.testing.assert_array_equal(overlaps[0].rows_second, [9_999])


# --- overlapping sets refused by audit() (item 5) -----------------------------------------


@pytest.fixture(scope="module")
def toy():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(160, 5))
    y = (x[:, 0] > 0).astype(np.int64)
    model = LogisticRegression().fit(x[:60], y[:60])
    return model, x, y


def audit(model, **kw):
    return miaudit.audit(model, attacks=["loss"], bootstrap=0, progress=False, **kw)


def test_identical_members_and_nonmembers_are_refused(toy):
    # before issue 9 this ran without a word and reported AUC 0.5
    model, x, y = toy
    with pytest.raises(DataError, match=r"members and nonmembers share 60 identical record"):
        audit(model, members=(x[:60], y[:60]), nonmembers=(x[:60], y[:60]))


def test_population_containing_members_is_refused_with_rows(toy):
    model, x, y = toy
    population = (np.concatenate([x[100:], x[[5, 7]]]), np.concatenate([y[100:], y[[5, 7]]]))
    with pytest.raises(DataError) as err:
        audit(
            model,
            members=(x[:60], y[:60]),
            nonmembers=(x[60:100], y[60:100]),
            population=population,
        )
    message = str(err.value)
    assert "members and population share 2 identical record(s)" in message
    assert "members rows 5, 7" in message and "population rows 60, 61" in message
    assert "\n" not in message


def test_same_features_with_another_label_is_the_same_record(toy):
    model, x, y = toy
    with pytest.raises(DataError, match="share 1 identical"):
        audit(model, members=(x[:60], y[:60]), nonmembers=(x[[0]], 1 - y[[0]]))


def test_duplicates_within_one_set_are_allowed(toy):
    model, x, y = toy
    members = (np.concatenate([x[:60], x[:5]]), np.concatenate([y[:60], y[:5]]))
    result = audit(model, members=members, nonmembers=(x[60:100], y[60:100]))
    assert result.attacks[0].error is None


# --- labels and dtypes (item 6) ----------------------------------------------------------------


def save(tmp_path, name="d.npz", **arrays):
    path = tmp_path / name
    np.savez(path, **arrays)
    return path


def test_user_file_labels_are_encoded_as_contiguous_classes(tmp_path):
    x = np.arange(12.0).reshape(6, 2)
    ds = load_dataset(path=save(tmp_path, x=x, y=np.array([100, 3, 7, 3, 100, 7])))
    # before issue 9: num_classes 101 (max + 1), 98 of them empty
    assert ds.num_classes == 3 and ds.classes == (3, 7, 100)
    np.testing.assert_array_equal(ds.y, [2, 0, 1, 0, 2, 1])


def test_huge_label_values_do_not_allocate_huge_models(tmp_path):
    x = np.arange(12.0).reshape(6, 2)
    ds = load_dataset(path=save(tmp_path, x=x, y=np.array([0, 1, 2**31, 0, 1, 2**31])))
    assert ds.num_classes == 3 and ds.classes == (0, 1, 2**31)
    target = train_model("logistic_regression", {}, ds.x, ds.y, num_classes=3, seed=0)
    assert target.num_classes == 3


def test_contiguous_labels_are_left_as_they_are(tmp_path):
    ds = load_dataset(path=save(tmp_path, x=np.ones((3, 2)), y=np.array([2, 0, 1])))
    assert ds.classes is None and ds.num_classes == 3


def test_absurd_class_counts_are_refused_in_one_line(toy):
    _, x, _ = toy
    y = np.where(np.arange(len(x)) % 3 == 2, 2**31, np.arange(len(x)) % 3)
    model = LogisticRegression().fit(x, y)
    # before issue 9: MemoryError allocating (n, 2**31 + 1) float64 outputs
    with pytest.raises(DataError, match=r"2,147,483,649 classes, more than the 100,000"):
        audit(model, members=(x[:60], y[:60]), nonmembers=(x[60:], y[60:]))
    with pytest.raises(DataError, match="more than the 100,000"):
        Dataset("big", x=np.ones((2, 2)), y=np.array([0, 1]), num_classes=2**31 + 1)
    with pytest.raises(DataError, match="more than the 100,000"):
        train_model("mlp", {}, x, y % 2, num_classes=10**6, seed=0)


def test_labels_must_index_the_models_classes(toy):
    model, x, y = toy
    with pytest.raises(DataError, match="nonmembers labels outside the classes"):
        audit(model, members=(x[:60], y[:60]), nonmembers=(x[60:], y[60:] + 5))
    with pytest.raises(DataError, match="nonmembers labels must be integer class indices"):
        audit(model, members=(x[:60], y[:60]), nonmembers=(x[60:], y[60:] + 0.5))


@pytest.mark.parametrize(
    ("x", "message"),
    [
        (np.ones((4, 2)) + 1j, "complex numbers"),
        (np.array([[1, "a"], [2, "b"]] * 2, dtype=object), "numeric array, got dtype object"),
        (np.array([["a", "b"]] * 4), "numeric array"),
    ],
)
def test_complex_and_non_numeric_records_are_refused(toy, x, message):
    # before issue 9, Dataset dropped the imaginary part with only a ComplexWarning
    with pytest.raises(DataError, match=message):
        Dataset("bad", x=x, y=np.array([0, 1, 0, 1]), num_classes=2)
    model, _, y = toy
    with pytest.raises(DataError, match=message):
        audit(model, members=(x, y[:4]), nonmembers=(x.real if x.dtype.kind == "c" else x, y[4:8]))


def test_non_integer_labels_in_a_file_are_refused(tmp_path):
    with pytest.raises(DataError, match="labels y must be integers"):
        load_dataset(path=save(tmp_path, x=np.ones((3, 2)), y=np.array([0.0, 1.0, 2.5])))


# --- data files that are not what they claim (item 11) -------------------------------------


def good_npz_bytes(tmp_path):
    rng = np.random.default_rng(0)
    return save(tmp_path, "good.npz", x=rng.random((50, 4)), y=np.arange(50) % 2).read_bytes()


def corrupt_member_data(raw: bytes) -> bytes:
    """A valid zip whose first member's stored data has flipped bytes (CRC mismatch)."""
    data = bytearray(raw)
    data[120:130] = bytes(b ^ 0xFF for b in data[120:130])
    return bytes(data)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (
            lambda tmp: np.save(tmp / "a.npy", np.ones(3)) or (tmp / "a.npy").read_bytes(),
            "single .npy array",
        ),
        (lambda tmp: good_npz_bytes(tmp)[:200], "cannot read as an .npz"),
        (lambda tmp: corrupt_member_data(good_npz_bytes(tmp)), "corrupt"),
        (lambda tmp: b"\x80\x04K\x01.", "cannot read as an .npz"),  # a pickle
        (lambda tmp: b"", "cannot read as an .npz"),
    ],
    ids=["npy", "truncated", "corrupt-member", "pickle", "empty"],
)
def test_unreadable_files_give_one_line_errors(tmp_path, make, message):
    path = tmp_path / "data.npz"
    path.write_bytes(make(tmp_path))
    with pytest.raises(DataError, match=message) as err:
        load_dataset(path=path)
    assert "\n" not in str(err.value)


def test_missing_arrays_objects_and_mismatched_lengths(tmp_path):
    with pytest.raises(DataError, match="missing array"):
        load_dataset(path=save(tmp_path, "a.npz", x=np.ones((3, 2))))
    obj = np.array([[1, None]], dtype=object)
    with pytest.raises(DataError, match="Python objects"):
        load_dataset(path=save(tmp_path, "b.npz", x=obj, y=np.array([0])))
    with pytest.raises(DataError, match="mismatched lengths"):
        load_dataset(path=save(tmp_path, "c.npz", x=np.ones((3, 2)), y=np.array([0, 1])))


def test_the_corrupt_member_file_really_is_a_bad_zip(tmp_path):
    # guards the corrupt-member case above: the archive opens, the member does not
    path = tmp_path / "bad.npz"
    path.write_bytes(corrupt_member_data(good_npz_bytes(tmp_path)))
    with zipfile.ZipFile(path) as z:
        assert z.testzip() is not None


# --- config runs: duplicates dropped before the split, labels remapped and recorded ----------


def test_config_run_drops_duplicates_and_records_the_label_mapping(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 4))
    y = np.where(x[:, 0] > 0, 7, 3)
    y[:10] = 100  # labels {3, 7, 100}: three classes, not 101
    x[100:110] = x[:10]  # ten exact copies (same label): a split could separate them
    path = save(tmp_path, x=x, y=y)
    config = {
        "seed": 0,
        "dataset": {"path": str(path)},
        "split": {"members": 40, "nonmembers": 40},
        "target": {"model": "logistic_regression"},
        "attacks": ["loss"],
        "evaluation": {"bootstrap": 0, "random_queries": 0},
    }
    result = miaudit.run_config(config, output=tmp_path / "out", progress=False)
    assert result.target.num_classes == 3
    assert result.target.duplicates_dropped == 10
    assert result.target.label_values == [3, 7, 100]
    # record ids index the file as loaded: none of the dropped copies is audited
    assert not np.isin(result.record_ids, np.arange(100, 110)).any()
    data = json.loads((tmp_path / "out" / "results.json").read_text())
    assert data["target"]["duplicates_dropped"] == 10
    assert data["target"]["label_values"] == [3, 7, 100]


def test_config_run_of_distinct_records_keeps_its_split(tmp_path):
    # nothing dropped: the split (and so every result) is the one before issue 9
    x = np.random.default_rng(1).normal(size=(90, 3))
    path = save(tmp_path, x=x, y=(x[:, 0] > 0).astype(np.int64))
    config = {
        "seed": 4,
        "dataset": {"path": str(path)},
        "split": {"members": 30, "nonmembers": 30},
        "target": {"model": "logistic_regression"},
        "attacks": ["loss"],
        "evaluation": {"bootstrap": 0, "random_queries": 0},
    }
    result = miaudit.run_config(config, progress=False)
    split = miaudit.make_split(90, members=30, nonmembers=30, seed=4)
    np.testing.assert_array_equal(
        result.record_ids, np.concatenate([split.members, split.nonmembers])
    )
    assert result.target.duplicates_dropped == 0 and result.target.label_values is None


def test_random_inputs_refuse_an_impossible_size_before_allocating():
    """Issue 9 item 11: random_queries of 1e11 tried a 14.6 TiB allocation in the API too."""
    from miaudit.errors import ResourceError
    from miaudit.pipeline._queries import random_inputs

    x = np.zeros((10, 446), dtype=np.float32)
    with pytest.raises(ResourceError, match="random queries"):
        random_inputs(x, 100_000_000_000, np.random.default_rng(0))
