"""Config splits that list their records: the same records as a seeded split give the same
audit, to the bit; lists are checked before any training."""

from __future__ import annotations

import numpy as np
import pytest

from miaudit.data import load_dataset, make_split
from miaudit.data.integrity import first_occurrences
from miaudit.errors import ConfigError
from miaudit.pipeline import parse_config, run_config

SMALL = {
    "seed": 5,
    "dataset": {"name": "digits"},
    "split": {"members": 200, "nonmembers": 200},
    "target": {"model": "mlp", "hidden": [32], "epochs": 8, "batch_size": 32, "lr": 0.003},
    "attacks": ["loss", "confidence", "entropy"],
    "evaluation": {"bootstrap": 0, "random_queries": 0},
}


def test_listing_the_seeded_split_gives_the_identical_audit(tmp_path):
    x = load_dataset("digits").x
    kept = first_occurrences(x)
    drawn = make_split(len(kept), members=200, nonmembers=200, seed=5)
    np.save(tmp_path / "members.npy", kept[drawn.members])
    (tmp_path / "nonmembers.txt").write_text("\n".join(str(i) for i in kept[drawn.nonmembers]))
    listed = {
        **SMALL,
        "split": {
            "members": str(tmp_path / "members.npy"),
            "nonmembers": str(tmp_path / "nonmembers.txt"),
        },
    }
    a = run_config(SMALL, progress=False)
    b = run_config(listed, progress=False)
    assert b.record_ids.tolist() == a.record_ids.tolist()
    for name in ("loss", "confidence", "entropy"):
        assert b.attack(name).metrics == a.attack(name).metrics
        assert np.array_equal(b.attack(name).scores, a.attack(name).scores)
    assert b.target.train_accuracy == a.target.train_accuracy


@pytest.mark.parametrize(
    ("split", "message"),
    [
        ({"members": "no/such/file.npy", "nonmembers": 10}, "there is no file 'no/such"),
        ({"members": [1, 2, True], "nonmembers": 10}, "must list integer record indices"),
        ({"members": 10, "nonmembers": [1, 2]}, "split.nonmembers lists records but"),
    ],
)
def test_bad_listed_splits_fail_when_read(split, message):
    with pytest.raises(ConfigError, match=message):
        parse_config({**SMALL, "split": split})


def test_listed_indices_out_of_range_fail_before_training():
    cfg = {**SMALL, "split": {"members": [0, 1, 5000], "nonmembers": [2, 3]}}
    with pytest.raises(Exception, match="lists index 5000, but the data set has"):
        run_config(cfg, progress=False)
