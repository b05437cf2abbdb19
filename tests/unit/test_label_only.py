"""The label-only attacks (attacks.choquette_choo, attacks.li_zhang) end to end on a small MLP."""

import numpy as np
import pytest
import torch

import miaudit.attacks.choquette_choo as cc
import miaudit.attacks.li_zhang as lz
from miaudit.attacks import AttackerKnowledge
from miaudit.errors import ConfigError, DataError
from miaudit.models import train_model
from miaudit.targets import LabelOnlyTarget, Target

C, D = 4, 12
PARAMS = {"hidden": (64,), "epochs": 80, "batch_size": 32, "lr": 3e-3}


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny models: one torch thread avoids thread contention on a busy machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _train(x, y, seed):
    return train_model("mlp", PARAMS, x, y, num_classes=C, seed=seed)


@pytest.fixture(scope="module")
def setup():
    rng = np.random.default_rng(0)
    centers = rng.normal(size=(C, D)) * 0.4

    def sample(n):
        y = rng.integers(0, C, n)
        return (centers[y] + rng.normal(size=(n, D))).astype(np.float32), y

    (xm, ym), (xn, yn), (xp, yp) = sample(120), sample(120), sample(240)
    target = _train(xm, ym, 0)
    x, y = np.concatenate([xm, xn]), np.concatenate([ym, yn])
    member = np.r_[np.ones(len(ym), bool), np.zeros(len(yn), bool)]
    return target, (xp, yp), x, y, member


def _knowledge(setup, **kw):
    target, pop, *_ = setup
    base = {"population_data": pop, "train_model": _train, "target": LabelOnlyTarget(target)}
    return AttackerKnowledge(num_classes=C, seed=0, **{**base, **kw})


ATTACKS = [
    cc.BoundaryDistance(max_queries_per_record=60),
    cc.BoundaryDistance(max_queries_per_record=60, calibration="shadow", n_calibration=40),
    lz.BoundaryTransfer(method="fgsm"),
    lz.BoundaryTransfer(method="pgd", steps=10, n_search=6),
    lz.BoundaryTransfer(method="cw", steps=50, n_search=6),
    lz.BoundaryTransfer(method="cw", steps=50, n_search=6, cw_box="clip"),
    cc.Augmentation(noise_scale=0.5),
    cc.Augmentation(noise_scale=0.5, classifier="logistic"),
    lz.LabelTransfer(),
    lz.LabelTransfer(signal="confidence"),
]


@pytest.mark.parametrize("attack", ATTACKS, ids=lambda a: f"{a.name}-{a.get_params()}")
def test_members_score_higher_within_the_budget(setup, attack):
    target, _, x, y, member = setup
    assert attack.access == "labels"
    assert attack.threat_model.knowledge == "black-box labels"
    assert attack.fit(_knowledge(setup)) is attack
    view = LabelOnlyTarget(target, max_queries=attack.max_queries_per_record * len(y))
    scores = attack.score_records(view, x, y)
    assert scores.dtype == np.float64 and scores.shape == (len(y),)
    assert np.all(np.isfinite(scores))
    assert scores[member].mean() > scores[~member].mean()
    assert view.query_count <= attack.max_queries_per_record * len(y)
    # deterministic: a second fit and score give the same scores
    again = type(attack)(**attack.get_params()).fit(_knowledge(setup))
    view2 = LabelOnlyTarget(target, max_queries=attack.max_queries_per_record * len(y))
    np.testing.assert_array_equal(again.score_records(view2, x, y), scores)


def test_query_counts_per_attack(setup):
    target, _, x, y, _ = setup
    expected = {"boundary_transfer": 1, "augmentation": 11, "label_transfer": 0}
    for attack in (lz.BoundaryTransfer(method="fgsm"), cc.Augmentation(), lz.LabelTransfer()):
        attack.fit(_knowledge(setup))
        view = LabelOnlyTarget(target)
        attack.score_records(view, x, y)
        assert view.query_count == expected[attack.name] * len(y)


def test_boundary_distance_percentile_threshold(setup):
    attack = cc.BoundaryDistance(max_queries_per_record=40, percentile=80.0, n_calibration=50)
    attack.fit(_knowledge(setup))
    assert attack.threshold_ == pytest.approx(np.percentile(attack.calibration_distances_, 80))


class _Toy(Target):
    """Label 1 iff the centre pixel of a 3x3 image (or the first feature) is > 0.5."""

    def __init__(self):
        super().__init__(frozenset({"labels"}))

    @property
    def num_classes(self):
        return 2

    @property
    def description(self):
        return "toy"

    def _labels(self, x):
        v = x[:, 0, 1, 1] if x.ndim == 4 else x[:, 0]
        return (v > 0.5).astype(np.int64)


def test_augmentation_counts_on_a_toy_model():
    img = np.zeros((2, 1, 3, 3))
    img[:, 0, 1, 1] = 1.0  # only the centre lit: the flip keeps it, every shift moves it
    y = np.array([1, 0])
    # 17 copies = every non-identity (flip, dy, dx) with |dy|, |dx| <= 1, once each
    attack = cc.Augmentation(n_augmentations=17).fit(AttackerKnowledge(num_classes=2))
    scores = attack.score_records(_Toy(), img, y)
    np.testing.assert_allclose(scores, [2 / 18, 16 / 18])
    # tabular, no noise: every copy equals the record
    attack = cc.Augmentation(n_augmentations=5, noise_scale=0.0, flip_fraction=0.0)
    attack.fit(AttackerKnowledge(num_classes=2))
    x = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    np.testing.assert_array_equal(attack.score_records(_Toy(), x, np.array([1, 1, 0])), [1, 0, 0])
    # binary features always flipped: the first feature's label flips on every copy
    attack = cc.Augmentation(n_augmentations=4, flip_fraction=1.0)
    attack.fit(AttackerKnowledge(num_classes=2))
    np.testing.assert_allclose(attack.score_records(_Toy(), x, np.array([1, 0, 1])), 0.2)


@pytest.mark.parametrize(
    "attack",
    [cc.BoundaryDistance(), lz.BoundaryTransfer(), lz.LabelTransfer()],
    ids=lambda a: a.name,
)
def test_clear_errors_without_population_or_target(setup, attack):
    with pytest.raises(DataError, match="population"):
        attack.fit(_knowledge(setup, population_data=None))
    with pytest.raises(DataError, match="target"):
        attack.fit(_knowledge(setup, target=None))


@pytest.mark.parametrize(
    "attack",
    [
        cc.BoundaryDistance(calibration="shadow"),
        lz.BoundaryTransfer(),
        cc.Augmentation(classifier="logistic"),
        lz.LabelTransfer(),
    ],
    ids=lambda a: a.name,
)
def test_clear_error_without_a_reference_recipe(setup, attack):
    with pytest.raises(DataError, match="recipe"):
        attack.fit(_knowledge(setup, train_model=None))


def test_boundary_transfer_needs_a_torch_shadow(setup):
    def sklearn_recipe(x, y, seed):
        return train_model("logistic_regression", {}, x, y, num_classes=C, seed=seed)

    with pytest.raises(DataError, match="needs a torch reference recipe"):
        lz.BoundaryTransfer().fit(_knowledge(setup, train_model=sklearn_recipe))


def test_bad_parameters_and_not_fitted(setup):
    from miaudit.errors import NotFittedError

    with pytest.raises(ConfigError, match="calibration"):
        cc.BoundaryDistance(calibration="nope").fit(_knowledge(setup))
    with pytest.raises(ConfigError, match="method"):
        lz.BoundaryTransfer(method="nope").fit(_knowledge(setup))
    with pytest.raises(ConfigError, match="L2"):
        lz.BoundaryTransfer(method="cw", norm="linf").fit(_knowledge(setup))
    with pytest.raises(ConfigError, match="cw_box"):
        lz.BoundaryTransfer(method="cw", cw_box="nope").fit(_knowledge(setup))
    with pytest.raises(ConfigError, match="lr"):
        lz.BoundaryTransfer(method="cw", lr=0.0).fit(_knowledge(setup))
    with pytest.raises(ConfigError, match="n_search"):
        lz.BoundaryTransfer(method="cw", n_search=0).fit(_knowledge(setup))
    with pytest.raises(ConfigError, match="n_augmentations"):
        cc.Augmentation(n_augmentations=0).fit(_knowledge(setup))
    target, _, x, y, _ = setup
    with pytest.raises(NotFittedError):
        cc.BoundaryDistance().score_records(LabelOnlyTarget(target), x, y)


def test_registered_with_keyword_only_constructors():
    from miaudit.attacks import ATTACKS

    for name in ("boundary_distance", "boundary_transfer", "augmentation", "label_transfer"):
        cls = ATTACKS.get(name)
        attack = cls()
        assert not any(k.endswith("_") for k in vars(attack))
        with pytest.raises(TypeError):
            cls(1)


def test_score_samples_points_to_score_records(setup):
    from miaudit.outputs import ModelOutputs

    attack = lz.LabelTransfer().fit(_knowledge(setup))
    out = ModelOutputs.from_logits(np.zeros((2, C)), np.zeros(2, int))
    with pytest.raises(DataError, match="score_records"):
        attack.score_samples(out)


@pytest.mark.parametrize(
    "attack",
    [
        cc.BoundaryDistance(max_queries_per_record=30, n_calibration=20),
        cc.BoundaryDistance(max_queries_per_record=30, calibration="shadow", n_calibration=20),
        cc.Augmentation(n_augmentations=3),
        cc.Augmentation(n_augmentations=3, classifier="logistic"),
        lz.BoundaryTransfer(method="fgsm"),
        lz.LabelTransfer(),
    ],
    ids=lambda a: f"{a.name}-{a.get_params()}",
)
def test_declared_target_queries_bound_the_queries_made(setup, attack):
    """``target_queries`` (what a query-budgeted audit checks before the attack runs) is an
    upper bound of the label queries of ``fit`` and scoring, counted on the target."""
    target, pop, x, y, _ = setup
    fit_view, score_view = LabelOnlyTarget(target), LabelOnlyTarget(target)
    attack.fit(_knowledge(setup, target=fit_view))
    attack.score_records(score_view, x, y)
    made = fit_view.query_count + score_view.query_count
    declared = attack.target_queries(len(y), len(pop[1]))
    assert made <= declared
    assert fit_view.query_count <= attack.fit_queries(len(pop[1]))
    # the bound is the declared budget, not a loose guess: scoring spends most of it
    assert score_view.query_count >= 0.5 * attack.max_queries_per_record * len(y)
