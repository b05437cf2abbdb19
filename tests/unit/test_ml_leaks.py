"""ML-Leaks adversaries 1 and 2 (Salem et al. 2019)."""

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from miaudit.attacks.ml_leaks import MLLeaks1, MLLeaks2, top_k_posteriors
from miaudit.errors import ConfigError, DataError
from tests.unit.test_shokri import C, knowledge, make_reference, make_target


def test_top_k_sorted_descending_and_padded():
    p = np.array([[0.1, 0.6, 0.3], [0.5, 0.2, 0.3]])
    np.testing.assert_array_equal(top_k_posteriors(p, 2), [[0.6, 0.3], [0.5, 0.3]])
    np.testing.assert_array_equal(
        top_k_posteriors(p, 5), [[0.6, 0.3, 0.1, 0, 0], [0.5, 0.3, 0.2, 0, 0]]
    )


def test_ml_leaks_1_scores_members_higher():
    out, member = make_target()
    attack = MLLeaks1()
    assert attack.fit(knowledge(make_reference(k=1))) is attack
    scores = attack.score_samples(out)
    assert scores.shape == (out.n,) and scores.dtype == np.float64
    assert roc_auc_score(member, scores) > 0.95
    assert attack.k_ == 3 and attack.threshold_ == 0.5


def test_ml_leaks_1_caps_k_at_class_count():
    out, member = make_target(c=2)
    attack = MLLeaks1(top_k=3).fit(knowledge(make_reference(k=1, c=2), c=2))
    assert attack.k_ == 2
    assert roc_auc_score(member, attack.score_samples(out)) > 0.9


def test_ml_leaks_1_requests_one_shadow():
    req = MLLeaks1().reference_request()
    assert (req.kind, req.num_models, req.dataset) == ("shadow", 1, None)


@pytest.mark.parametrize("shadow_classes", [2, 10])
def test_ml_leaks_2_transfers_from_a_data_set_with_another_class_count(shadow_classes):
    ref = make_reference(k=1, c=shadow_classes, foreign="other")
    out, member = make_target(c=C)
    attack = MLLeaks2(shadow_dataset="other").fit(knowledge(ref, c=C))
    scores = attack.score_samples(out)
    assert scores.shape == (out.n,) and np.all(np.isfinite(scores))
    assert attack.k_ == 3
    assert roc_auc_score(member, scores) > 0.9


def test_ml_leaks_2_request_and_errors():
    req = MLLeaks2(shadow_dataset="cifar10").reference_request()
    assert (req.kind, req.num_models, req.dataset) == ("shadow", 1, "cifar10")
    with pytest.raises(ConfigError, match="shadow_dataset is required"):
        MLLeaks2().reference_request()
    with pytest.raises(ConfigError, match="shadow_dataset is required"):
        MLLeaks2().fit(knowledge(make_reference(k=1, foreign="x")))
    with pytest.raises(DataError, match="trained on 'x' but shadow_dataset is 'y'"):
        MLLeaks2(shadow_dataset="y").fit(knowledge(make_reference(k=1, foreign="x")))
    with pytest.raises(DataError, match="needs reference/shadow models"):
        MLLeaks2(shadow_dataset="y").fit(knowledge(None))


def test_errors():
    with pytest.raises(DataError, match="needs reference/shadow models"):
        MLLeaks1().fit(knowledge(None))
    with pytest.raises(ConfigError, match="top_k must be a positive integer"):
        MLLeaks1(top_k=0).fit(knowledge(make_reference(k=1)))


def test_deterministic():
    out, _ = make_target()
    s1 = MLLeaks1().fit(knowledge(make_reference(k=1), seed=3)).score_samples(out)
    s2 = MLLeaks1().fit(knowledge(make_reference(k=1), seed=3)).score_samples(out)
    np.testing.assert_array_equal(s1, s2)
