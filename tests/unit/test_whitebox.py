"""White-box attacks (gradient_norm, nasr_whitebox) on tiny overfitted torch targets."""

import functools

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from miaudit.attacks.base import AttackerKnowledge
from miaudit.attacks.whitebox import GradientNorm, NasrWhitebox, torch_module
from miaudit.errors import ConfigError, DataError, NotFittedError
from miaudit.models import train_model
from miaudit.models.nasr import NasrAttackModel, nasr_features
from miaudit.signals.gradients import per_sample_gradient_norms

C = 3
MLP_PARAMS = {"hidden": (32,), "epochs": 60, "lr": 0.01, "batch_size": 32}
CNN_PARAMS = {"channels": (4,), "hidden": 16, "epochs": 40, "lr": 0.01, "batch_size": 32}


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny models: one torch thread is fastest, and robust on a loaded 2-core machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _trainer(kind):
    params = MLP_PARAMS if kind == "mlp" else CNN_PARAMS
    return functools.partial(_train, kind, params)


def _train(kind, params, x, y, seed):
    return train_model(kind, params, x, y, num_classes=C, seed=seed)


@functools.cache
def setting(kind):
    """Random labels: the target can only fit its members by memorising them."""
    rng = np.random.default_rng(0)
    n = 320
    shape = (n, 10) if kind == "mlp" else (n, 1, 8, 8)
    x = rng.normal(size=shape).astype(np.float32)
    y = rng.integers(0, C, n)
    members, nonmembers, pop = np.arange(80), np.arange(80, 160), np.arange(160, 320)
    target = _trainer(kind)(x[members], y[members], 0)
    audited = np.r_[members, nonmembers]
    is_member = np.r_[np.ones(80, bool), np.zeros(80, bool)]
    return x, y, target, audited, is_member, pop


def knowledge(kind, target, pop_idx, *, with_recipe=True):
    x, y, *_ = setting(kind)
    return AttackerKnowledge(
        num_classes=C,
        seed=3,
        population_data=(x[pop_idx], y[pop_idx]),
        train_model=_trainer(kind) if with_recipe else None,
        target=target,
    )


@pytest.mark.parametrize("kind", ["mlp", "cnn"])
def test_gradient_norm_separates_members(kind):
    x, y, target, audited, is_member, pop = setting(kind)
    attack = GradientNorm()
    assert attack.fit(knowledge(kind, target, pop)) is attack
    scores = attack.score_records(target, x[audited], y[audited])
    assert scores.dtype == np.float64 and np.all(np.isfinite(scores))
    assert roc_auc_score(is_member, scores) > (0.85 if kind == "mlp" else 0.7)
    total, per = per_sample_gradient_norms(target.module, x[audited], y[audited])
    np.testing.assert_allclose(scores, -total)
    assert set(attack.layer_norms_) == set(per)
    np.testing.assert_allclose(attack.total_norm_, total)


def test_gradient_norm_one_layer():
    x, y, target, audited, is_member, pop = setting("mlp")
    last = list(per_sample_gradient_norms(target.module, x[:2], y[:2])[1])[-1]
    attack = GradientNorm(layer=last).fit(knowledge("mlp", target, pop))
    scores = attack.score_records(target, x[audited], y[audited])
    np.testing.assert_allclose(scores, -attack.layer_norms_[last], rtol=1e-12)
    weight = GradientNorm(layer=f"{last}.weight").fit(knowledge("mlp", target, pop))
    s_w = weight.score_records(target, x[audited], y[audited])
    assert np.all(-s_w <= -scores + 1e-9)  # the weight alone has a smaller norm
    with pytest.raises(ConfigError, match="unknown layer 'nope'; valid layers: net.1"):
        GradientNorm(layer="nope").fit(knowledge("mlp", target, pop))


@pytest.mark.parametrize("kind", ["mlp", "cnn"])
def test_nasr_shadow_setting(kind):
    x, y, target, audited, is_member, pop = setting(kind)
    a1 = NasrWhitebox(epochs=15).fit(knowledge(kind, target, pop))
    s1 = a1.score_records(target, x[audited], y[audited])
    assert np.all(np.isfinite(s1)) and s1.shape == (len(audited),)
    assert a1.n_train_members_ == a1.n_train_nonmembers_ == 80
    assert a1.threshold_ == 0.0
    assert roc_auc_score(is_member, s1) > 0.7
    # deterministic for a seed
    a2 = NasrWhitebox(epochs=15).fit(knowledge(kind, target, pop))
    np.testing.assert_array_equal(s1, a2.score_records(target, x[audited], y[audited]))


def test_nasr_partial_setting():
    x, y, target, audited, is_member, pop = setting("mlp")
    known = audited[:40]  # half of the members are known to the attacker ...
    attack = NasrWhitebox(
        knowledge_setting="partial", known_members=(x[known], y[known]), epochs=15
    ).fit(knowledge("mlp", target, pop, with_recipe=False))
    assert attack.n_train_members_ == 40 and attack.n_train_nonmembers_ == 160
    rest = audited[40:]  # ... and it is evaluated on the others
    scores = attack.score_records(target, x[rest], y[rest])
    assert roc_auc_score(is_member[40:], scores) > 0.7
    assert attack.get_params()["known_members"] == "<40 records>"


def test_features_and_network_shapes():
    x, y, target, audited, _, _ = setting("cnn")
    f = nasr_features(
        target.module, x[:5], y[:5], num_classes=C, activation_layers=None, gradient_layers=None
    )
    # conv, fc hidden, logits: activations flattened; gradients: conv 4-D, two Linear 2-D
    assert [a.shape for a in f.activations] == [(5, 4 * 8 * 8), (5, 16), (5, C)]
    assert [g.shape for g in f.gradients] == [(5, 4, 1, 3, 3), (5, 16, 64), (5, C, 16)]
    acts, grads = f.layout()
    net = NasrAttackModel(activation_dims=acts, gradient_shapes=grads, num_classes=C, width=8)
    out = net(
        [torch.from_numpy(a) for a in f.activations],
        [torch.from_numpy(g) for g in f.gradients],
        torch.from_numpy(f.loss)[:, None],
        torch.nn.functional.one_hot(torch.from_numpy(f.labels), C).float(),
    )
    assert out.shape == (5,)


def test_errors():
    x, y, target, audited, _, pop = setting("mlp")
    with pytest.raises(NotFittedError):
        GradientNorm().score_records(target, x[:3], y[:3])
    with pytest.raises(DataError, match="reference recipe"):
        NasrWhitebox().fit(knowledge("mlp", target, pop, with_recipe=False))
    with pytest.raises(ConfigError, match="known_members"):
        NasrWhitebox(knowledge_setting="partial").fit(knowledge("mlp", target, pop))
    with pytest.raises(ConfigError, match="knowledge_setting"):
        NasrWhitebox(knowledge_setting="oracle").fit(knowledge("mlp", target, pop))
    with pytest.raises(DataError, match="needs a torch model"):
        torch_module(object(), "x")
    assert not any(k.endswith("_") for k in vars(NasrWhitebox()))
