"""The Python API end to end on user-trained models, and its input errors."""

import json

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression

import miaudit
from miaudit.errors import ConfigError, DataError, UnknownNameError
from miaudit.pipeline.references import ReferenceSettings


@pytest.fixture(scope="module")
def digits_split():
    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype(np.float32)
    rng = np.random.default_rng(0)
    idx = rng.permutation(len(y))
    a, b, c = idx[:500], idx[500:1000], idx[1000:]
    return (x[a], y[a]), (x[b], y[b]), (x[c], y[c])


@pytest.fixture(scope="module")
def sklearn_result(digits_split):
    members, nonmembers, population = digits_split
    model = LogisticRegression(C=100.0, max_iter=2000).fit(*members)
    return miaudit.audit(
        model,
        members=members,
        nonmembers=nonmembers,
        population=population,
        attacks="all",
        bootstrap=50,
        progress=False,
    )


def test_audit_of_a_users_sklearn_model(sklearn_result, tmp_path):
    res = sklearn_result
    # without a recipe for reference models, "all" means the attacks that need none, and
    # a scikit-learn model exposes no parameters: no white-box attacks either
    assert [a.name for a in res.attacks] == [
        "augmentation",
        "boundary_distance",
        "confidence",
        "entropy",
        "gap",
        "loss",
        "modified_entropy",
    ]
    assert 0 < res.attack("boundary_distance").queries_per_record <= 200
    assert all(a.error is None for a in res.attacks)
    assert res.target.train_accuracy == 1.0 and 0.85 < res.target.test_accuracy < 1.0
    loss = res.attack("loss").metrics
    assert loss.auc > 0.5 and loss.auc_ci[0] <= loss.auc <= loss.auc_ci[1]
    miaudit.save_result(res, tmp_path)
    data = json.loads((tmp_path / "results.json").read_text())
    assert set(data["attacks"][0]["tpr_at_fpr"]) == {"0.001", "0.01", "0.1"}
    for key in ("auc", "balanced_accuracy", "advantage", "epsilon_lower_bound", "threat_model"):
        assert key in data["attacks"][0]
    lines = (tmp_path / "scores.csv").read_text().splitlines()
    assert lines[0].startswith("record_id,member,")
    assert len(lines) == 1 + 1000
    assert "<html" in (tmp_path / "report.html").read_text()
    assert "loss" in res.summary()


def test_audit_of_a_users_torch_model(digits_split):
    members, nonmembers, _ = digits_split
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 10))
    opt = torch.optim.Adam(net.parameters(), lr=0.01)
    xt, yt = torch.tensor(members[0]), torch.tensor(members[1])
    for _ in range(200):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(net(xt), yt).backward()
        opt.step()
    res = miaudit.audit(
        net, members=members, nonmembers=nonmembers, attacks=["loss", "gap"], progress=False
    )
    assert res.target.num_classes == 10
    assert res.attack("loss").metrics.auc > 0.5


def test_a_failing_attack_does_not_lose_the_others(digits_split, monkeypatch):
    members, nonmembers, _ = digits_split
    model = LogisticRegression(max_iter=500).fit(*members)
    from miaudit.attacks.song_mittal import EntropyAttack

    def boom(self, outputs):
        raise RuntimeError("simulated bug")

    monkeypatch.setattr(EntropyAttack, "_score", boom)
    res = miaudit.audit(
        model,
        members=members,
        nonmembers=nonmembers,
        attacks=["loss", "entropy"],
        bootstrap=10,
        progress=False,
    )
    assert res.attack("entropy").error == "RuntimeError: simulated bug"
    assert res.attack("loss").error is None
    assert "FAILED" in res.summary()


class Unqueryable(LogisticRegression):
    """A fitted model that fails the test if the audit queries it."""

    def predict_proba(self, x):
        raise AssertionError("queried before the attacks' needs were checked")


def test_attacks_with_unmet_needs_are_refused_before_any_query(digits_split):
    # issue 10 item 5: each attack declares its needs (Attack.requires); these used to be
    # recorded as failed attacks after the target had been queried (and, for RMIA, after
    # its reference models had trained)
    members, nonmembers, population = digits_split
    model = Unqueryable(max_iter=200).fit(*members)
    recipe = ReferenceSettings(model="logistic_regression", num_models=2)
    cases = [
        (["loss", "lira"], population, None, "attack 'lira' needs a recipe"),
        (["loss", "gradient_norm"], population, None, "attack 'gradient_norm' needs the target"),
        (["rmia"], None, recipe, "attack 'rmia' needs the attacker's population records"),
        (["boundary_distance"], None, None, "attack 'boundary_distance' needs the attacker's pop"),
    ]
    for attacks, pop, reference, message in cases:
        with pytest.raises(ConfigError, match=message):
            miaudit.audit(
                model,
                members=members,
                nonmembers=nonmembers,
                population=pop,
                attacks=attacks,
                reference=reference,
                progress=False,
            )


class NaNNet(torch.nn.Module):
    def forward(self, x):
        return torch.full((x.shape[0], 10), float("nan"))


def test_bad_input_errors(digits_split):
    members, nonmembers, _ = digits_split
    model = LogisticRegression(max_iter=500).fit(*members)
    x, y = members
    with pytest.raises(DataError, match="mismatched lengths"):
        miaudit.audit(model, members=(x, y[:-1]), nonmembers=nonmembers, progress=False)
    with pytest.raises(DataError, match="empty member set"):
        miaudit.audit(model, members=(x[:0], y[:0]), nonmembers=nonmembers, progress=False)
    with pytest.raises(DataError, match="empty non-member set"):
        miaudit.audit(model, members=members, nonmembers=(x[:0], y[:0]), progress=False)
    bad_y = y.copy()
    bad_y[0] = 12
    with pytest.raises(DataError, match="outside the classes"):
        miaudit.audit(model, members=(x, bad_y), nonmembers=nonmembers, progress=False)
    with pytest.raises(DataError, match="NaN or inf"):
        miaudit.audit(NaNNet(), members=members, nonmembers=nonmembers, progress=False)
    with pytest.raises(UnknownNameError, match="valid names"):
        miaudit.audit(model, members=members, nonmembers=nonmembers, attacks=["lira2"])
    with pytest.raises(ConfigError, match="listed twice"):
        miaudit.audit(model, members=members, nonmembers=nonmembers, attacks=["loss", "loss"])


def user_train_fn(x, y, seed):
    return LogisticRegression(C=100.0, max_iter=2000, random_state=seed).fit(x, y)


def test_reference_attacks_on_a_users_model_with_a_train_fn(digits_split):
    from miaudit.pipeline import ReferenceSettings

    members, nonmembers, population = digits_split
    model = user_train_fn(*members, seed=0)
    res = miaudit.audit(
        model,
        members=members,
        nonmembers=nonmembers,
        population=population,
        attacks=["loss", {"name": "lira", "online": False}, "rmia", "calibrated_confidence"],
        reference=ReferenceSettings(train_fn=user_train_fn, num_models=4),
        bootstrap=20,
        progress=False,
    )
    assert [a.error for a in res.attacks] == [None] * 4
    assert res.attack("rmia").metrics.auc > 0.5
    assert any(k.startswith("references:random") for k in res.timings)
