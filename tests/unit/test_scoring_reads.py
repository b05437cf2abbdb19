"""Issue 18: attacks declare what they read of their reference models; the engine scores the
union only; the target is queried on what some attack reads; augmented views are
parameters with a label-preserving flip default per data set; progress says what it does."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from miaudit.attacks import (
    ATTACKS,
    Attack,
    Needs,
    Param,
    Reads,
    ReferenceRequest,
    ThreatModel,
    population_rows,
)
from miaudit.attacks.base import READS_EVERYTHING
from miaudit.attacks.rmia import NUM_POPULATION, RMIA
from miaudit.data.augment import Augmentation, check_augment_setting, resolve_augmentation
from miaudit.errors import ConfigError
from miaudit.pipeline import ReferenceSettings, audit
from miaudit.pipeline.config import parse_config
from miaudit.reference import _progress
from miaudit.results import AuditResult
from miaudit.targets import SklearnTarget, _base


def test_every_attack_with_reference_models_declares_its_reads():
    undeclared = [
        name
        for name in ATTACKS.names()
        if ATTACKS.get(name).requires.reference is not None
        and ATTACKS.get(name).requires.reads is None
    ]
    assert undeclared == []


def test_an_attack_that_declares_nothing_reads_everything():
    class Undeclared(Attack):
        name = "undeclared_test_attack"
        requires = Needs(reference="random")
        threat_model = ThreatModel("black-box probabilities", True, True, True, "test")

        def reference_request(self) -> ReferenceRequest:
            return ReferenceRequest(kind="random")

    assert Undeclared.requires.reference_reads == READS_EVERYTHING
    assert Needs().reference_reads == Reads()  # no reference models: reads none


def test_rmia_reads_its_num_population_and_lira_no_population():
    assert RMIA.requires.reads.population == Param("num_population")
    assert RMIA().needs().reference_reads.population_count(RMIA().get_params()) == NUM_POPULATION
    assert Reads(population="all").population_count({}) is None
    lira = ATTACKS.get("lira").requires.reference_reads
    assert lira.population == 0 and lira.augmented


def test_population_rows_are_nested_seeded_and_sorted():
    small, large = population_rows(1000, 10, 3), population_rows(1000, 200, 3)
    assert set(small) <= set(large) and len(small) == 10
    assert np.all(np.diff(large) > 0)
    np.testing.assert_array_equal(small, population_rows(1000, 10, 3))
    assert not np.array_equal(small, population_rows(1000, 10, 4))
    np.testing.assert_array_equal(population_rows(50, None, 0), np.arange(50))
    np.testing.assert_array_equal(population_rows(50, 80, 0), np.arange(50))


# -- what the engine and the target score (counted on every outputs call) -------------------

MLP = {"hidden": [16], "epochs": 3, "batch_size": 32}


def _data(n_pop=300):
    rng = np.random.default_rng(0)
    n = 120 + 120 + n_pop
    y = rng.integers(0, 3, n)
    x = (rng.normal(0, 1, (n, 6)) + y[:, None]).astype(np.float32)
    return (x[:120], y[:120]), (x[120:240], y[120:240]), (x[240:], y[240:])


@pytest.fixture
def scored(monkeypatch):
    """Rows every Target.outputs call scores, by the target's class (SklearnTarget = the
    audited target here, TorchTarget = the reference models)."""
    calls: list[tuple[str, int]] = []
    original = _base.Target.outputs

    def counting(self, x, y):
        calls.append((type(self).__name__, len(y)))
        return original(self, x, y)

    monkeypatch.setattr(_base.Target, "outputs", counting)
    return calls


def _audit(attacks, population, tmp_path=None, num_models=2):
    members, nonmembers, _ = _data()
    target = LogisticRegression(max_iter=300).fit(*members)
    return audit(
        target,
        members=members,
        nonmembers=nonmembers,
        population=population,
        attacks=attacks,
        reference=ReferenceSettings(
            model="mlp",
            params=MLP,
            num_models=num_models,
            cache_dir=None if tmp_path is None else str(tmp_path),
        ),
        bootstrap=0,
        progress=False,
    )


def _rows(calls, kind):
    return sum(n for k, n in calls if k == kind)


def test_lira_scores_no_population_with_the_target_or_the_references(scored):
    population = _data()[2]
    res = _audit([{"name": "lira", "online": False}], population)
    assert res.attacks[0].error is None
    # each of 2 models: its training loss (120 of the 240 audited) + the 240 audited records
    assert _rows(scored, "TorchTarget") == 2 * (120 + 240)
    assert _rows(scored, "SklearnTarget") == 240  # members and non-members, nothing else
    assert res.scoring["target_population"] == 0
    assert res.scoring["reference_population"] == {"random 2 models": 0}


def test_rmia_scores_its_num_population_records_with_both(scored):
    population = _data()[2]
    res = _audit([{"name": "rmia", "num_population": 100}], population)
    assert res.attacks[0].error is None
    assert _rows(scored, "TorchTarget") == 2 * (120 + 240 + 100)
    assert _rows(scored, "SklearnTarget") == 240 + 100
    assert res.scoring["population"] == 300 and res.scoring["target_population"] == 100


def test_attacks_reading_different_counts_share_one_scoring(scored):
    population = _data()[2]
    res = _audit(
        [{"name": "rmia", "num_population": 100}, "gmia", {"name": "lira", "online": False}],
        population,
    )
    assert [a.error for a in res.attacks] == [None, None, None]
    # GMIA reads all 300 (RMIA's 100 are among them): one scoring of 300 per model
    assert _rows(scored, "TorchTarget") == 2 * (120 + 240 + 300)
    assert _rows(scored, "SklearnTarget") == 240 + 100  # the target: RMIA's 100 only


def test_rmia_alone_equals_rmia_beside_gmia():
    """What an attack sees does not depend on the attacks beside it."""
    population = _data()[2]
    alone = _audit([{"name": "rmia", "num_population": 100}], population)
    beside = _audit([{"name": "rmia", "num_population": 100}, "gmia"], population)
    np.testing.assert_array_equal(alone.attacks[0].scores, beside.attacks[0].scores)


def test_cache_a_lira_run_then_an_rmia_run_scores_only_the_population(scored, tmp_path):
    population = _data()[2]
    _audit([{"name": "lira", "online": False}], population, tmp_path)
    scored.clear()
    res = _audit([{"name": "rmia", "num_population": 100}], population, tmp_path)
    assert res.attacks[0].error is None
    # no model retrained (no training-loss call), the audited outputs read from the cache:
    # only the 100 population records are scored by each of the 2 models
    assert [n for k, n in scored if k == "TorchTarget"] == [100, 100]
    scored.clear()
    again = _audit([{"name": "lira", "online": False}], population, tmp_path)
    assert _rows(scored, "TorchTarget") == 0  # needing less: all from the cache
    assert again.attacks[0].error is None


def test_shadow_models_are_scored_on_their_own_records_only(scored):
    population = _data(n_pop=1000)[2]
    res = _audit([{"name": "shokri", "num_models": 1}], population)
    assert res.attacks[0].error is None
    # one shadow: its training loss (120) + its 120 in and 120 out records, not all 1,000
    assert _rows(scored, "TorchTarget") == 120 + 240
    label = "shadow 1 models population"
    assert res.scoring["reference_population"] == {label: "each shadow's own in and out records"}
    scored.clear()
    res = _audit([{"name": "transfer_loss", "num_models": 1}], population)
    assert _rows(scored, "TorchTarget") == 120  # the training loss only


# -- augmented views -------------------------------------------------------------------


@pytest.mark.parametrize(
    "dataset,flip", [("mnist", False), ("digits", False), ("cifar10", True), (None, False)]
)
def test_flip_default_per_data_set(dataset, flip):
    aug, why = resolve_augmentation(None, (1, 28, 28), dataset)
    assert aug == Augmentation(flip=flip, shift=1)
    assert aug.num_views == (10 if flip else 5)
    assert why.startswith("default")


def test_augment_overrides_and_tabular():
    assert resolve_augmentation(None, (20,), "location") == (None, "off (records are not images)")
    assert resolve_augmentation(False, (1, 28, 28), "cifar10")[0] is None
    aug, _ = resolve_augmentation({"flip": True}, (1, 28, 28), "mnist")
    assert aug == Augmentation(flip=True, shift=1)
    assert resolve_augmentation({"shift": 2}, (3, 32, 32), "cifar10")[0].shift == 2
    with pytest.raises(ConfigError, match="image data"):
        resolve_augmentation(True, (20,), "location")
    with pytest.raises(ConfigError, match="not smaller than the images"):
        resolve_augmentation({"shift": 8}, (1, 8, 8), "digits")
    with pytest.raises(ConfigError, match="augment: false"):
        resolve_augmentation({"flip": False, "shift": 0}, (1, 8, 8), None)


@pytest.mark.parametrize(
    "value,match",
    [
        ({"flip": 1}, "flip must be true or false"),
        ({"shift": -1}, "shift"),
        ({"shift": 1.5}, "shift"),
        ({"flips": True}, "unknown key"),
        ("yes", "must be true, false or"),
    ],
)
def test_augment_config_is_validated(value, match):
    with pytest.raises(ConfigError, match=match):
        check_augment_setting(value)
    config = {
        "dataset": {"name": "digits"},
        "split": {"members": 10, "nonmembers": 10},
        "target": {"model": "logistic_regression"},
        "attacks": ["loss"],
        "reference": {"augment": value},
    }
    with pytest.raises(ConfigError, match=match):
        parse_config(config)


def test_augment_recorded_in_results_and_views_scored_only_when_read(scored):
    rng = np.random.default_rng(1)
    x = rng.random((360, 1, 6, 6)).astype(np.float32)
    y = rng.integers(0, 2, 360)
    x[y == 1, :, :3] += 0.5
    members, nonmembers, population = (
        (x[:120], y[:120]),
        (x[120:240], y[120:240]),
        (x[240:], y[240:]),
    )
    target = LogisticRegression(max_iter=300).fit(members[0].reshape(120, -1), members[1])

    class Flat(LogisticRegression):
        pass

    class FlatTarget(SklearnTarget):
        def predict_proba(self, x):
            return super().predict_proba(np.asarray(x).reshape(len(x), -1))

    wrapped = FlatTarget(target, num_classes=2)
    res = audit(
        wrapped,
        members=members,
        nonmembers=nonmembers,
        population=population,
        attacks=["loss"],
        reference=ReferenceSettings(augment={"flip": True, "shift": 1}),
        dataset="mnist",
        bootstrap=0,
        progress=False,
    )
    assert res.scoring["augment"] == {"flip": True, "shift": 1, "views": 10}
    assert not res.scoring["target_augmented"]  # no attack reads the views: not queried
    assert _rows(scored, "FlatTarget") == 240
    assert res.to_dict()["scoring"]["augment_source"].startswith("reference.augment")
    assert AuditResult.from_dict(res.to_dict()).scoring == res.scoring  # results.json round trip


# -- progress --------------------------------------------------------------------------


class _Bar:
    def __init__(self):
        self.descriptions: list[str] = []
        self.lines: list[str] = []

    def set_description_str(self, text, refresh=True):
        self.descriptions.append(text)

    def write(self, text):
        self.lines.append(text)


def test_progress_says_what_is_scored(monkeypatch):
    bar = _Bar()
    clock = iter([0.0, 40.0])  # the first view takes 40 s: 9 more take about 360 s
    monkeypatch.setattr(_progress.time, "perf_counter", lambda: next(clock))
    with _progress.reporting(_progress.Status(bar, num_models=4, started=0.0)):
        report = _progress.Scoring("population records", 69000, 10, 1)
        report.view_done(1)
    assert bar.descriptions[0] == (
        "scoring 69,000 population records x 10 views with reference model 2/4"
    )
    assert bar.descriptions[1].endswith("(about 360 s)")
    assert bar.lines == [bar.descriptions[0] + ": about 360 s"]


def test_no_status_without_progress(capsys):
    population = _data()[2]
    _audit([{"name": "lira", "online": False}], population)
    assert capsys.readouterr().err == ""
    _progress.training(0, 10)  # no status set: nothing to say, no error
