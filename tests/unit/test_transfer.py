"""transfer_loss: Yeom's loss threshold with tau = the shadows' mean training loss."""

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from miaudit.attacks.transfer import TransferLoss
from miaudit.errors import DataError
from miaudit.signals import loss
from tests.unit.test_shokri import knowledge, make_reference, make_target


def test_threshold_is_minus_mean_shadow_train_loss():
    ref = make_reference(train_loss=[0.1, 0.3, 0.5])
    attack = TransferLoss(num_models=3)
    assert attack.fit(knowledge(ref)) is attack
    assert attack.threshold_ == pytest.approx(-0.3)
    assert attack.reference_request().num_models == 3


def test_score_is_minus_loss_and_decision_is_loss_below_tau():
    out, member = make_target()
    attack = TransferLoss().fit(knowledge(make_reference(train_loss=[0.2, 0.2, 0.2])))
    scores = attack.score_samples(out)
    np.testing.assert_allclose(scores, -loss(out))
    np.testing.assert_array_equal(scores >= attack.threshold_, loss(out) <= 0.2)
    assert roc_auc_score(member, scores) > 0.95


def test_errors():
    with pytest.raises(DataError, match="needs reference/shadow models"):
        TransferLoss().fit(knowledge(None))
    with pytest.raises(DataError, match="not finite"):
        TransferLoss().fit(knowledge(make_reference(train_loss=[0.1, np.nan, 0.2])))
