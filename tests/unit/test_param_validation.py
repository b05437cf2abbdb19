"""Parameters and evaluation settings are checked before anything trains (issue 9 items 3,
8, 9, 10): miaudit.validation, the config reader, audit() and the defender-record default."""

from __future__ import annotations

import json
from typing import Any, Literal

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from miaudit.attacks import make_attack
from miaudit.attacks.lira import LiRA
from miaudit.cli import main
from miaudit.defenses import make_defense
from miaudit.errors import ConfigError
from miaudit.metrics import evaluate_scores
from miaudit.pipeline import audit, parse_config, save_result
from miaudit.pipeline.references import ReferenceSettings
from miaudit.pipeline.run import default_reference_size, resolve_reference_size
from miaudit.validation import Interval, Items, Options, check_value, matches

BASE: dict[str, Any] = {
    "dataset": {"name": "digits"},
    "split": {"members": 50, "nonmembers": 50},
    "target": {"model": "logistic_regression"},
    "attacks": ["loss"],
}


def with_attacks(*attacks: Any) -> dict[str, Any]:
    return {**BASE, "attacks": list(attacks)}


# -- miaudit.validation -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "hint", "ok"),
    [
        (True, bool, True),
        (np.bool_(False), bool, True),
        ("false", bool, False),
        (0, bool, False),
        (3, int, True),
        (np.int64(3), int, True),
        (True, int, False),
        (3.0, int, False),
        (3, float, True),
        (2.5, float, True),
        (False, float, False),
        ("1.0", float, False),
        (None, int | None, True),
        ("x", int | None, False),
        ("shadow", Literal["shadow", "partial"], True),
        (1, Literal[1, 2], True),
        (True, Literal[1, 2], False),  # True == 1, but it is not the choice 1
        ([0.2, 0.8], tuple[float, float], True),
        ([0.2], tuple[float, float], False),
        ("ab", tuple[str, ...], False),
        ((1, 2, 3), tuple[int, ...], True),
    ],
)
def test_type_hints_are_strict(value, hint, ok):
    assert matches(value, hint) is ok


def test_constraints_accept_and_describe():
    unit = Interval(float, 0, 1, closed="left")
    assert unit.accepts(0) and unit.accepts(0.5) and not unit.accepts(1.0)
    assert not unit.accepts(float("nan")) and not Interval(float, 0).accepts(float("inf"))
    assert unit.describe() == "a number in [0, 1)"
    assert Interval(int, 1).describe() == "a positive integer"
    assert Interval(int, 2).describe() == "an integer >= 2"
    assert not Interval(int, 1).accepts(2.0)  # an integer parameter takes integers only
    assert Options(("knn", "pairwise")).describe() == "one of 'knn', 'pairwise'"
    three = Items(Interval(float, 0, closed="neither"), length=3)
    assert three.accepts([1, 1, 2]) and not three.accepts([1, 1]) and not three.accepts("abc")


def test_messages_are_one_short_line():
    huge = "x" * 100_000
    problem = check_value("percentile", huge, float, Interval(float, 0, 100))
    assert problem is not None and problem.startswith("percentile must be a number in [0, 100]")
    assert len(problem) < 160 and "\n" not in problem


def test_messages_name_the_class_the_parameter_the_value_and_what_is_allowed():
    with pytest.raises(ConfigError) as info:
        make_attack("lira", online="false")
    assert str(info.value) == (
        "bad parameters for attack 'lira': online must be true or false, got 'false'"
    )
    with pytest.raises(ConfigError, match="did you mean 'online'"):
        make_attack("lira", onlin=True)
    with pytest.raises(ConfigError, match="shadow_dataset is required"):
        make_attack("ml_leaks_2")
    with pytest.raises(ConfigError, match="defense 'memguard': budget must be a number >= 0"):
        make_defense("memguard", budget="1.0")
    with pytest.raises(ConfigError, match="exactly one of noise_multiplier and target_epsilon"):
        make_defense("dp_sgd", noise_multiplier=1.0, target_epsilon=3.0)
    with pytest.raises(ConfigError, match="method 'cw' measures L2 distances"):
        make_attack("boundary_transfer", method="cw", norm="linf")


# -- the config reader ------------------------------------------------------------------------
@pytest.mark.parametrize("text", ["false", "no", "False"])
def test_config_refuses_a_string_for_a_bool(text):
    # issue 9 item 3: this ran *online* LiRA and recorded online: "false"
    with pytest.raises(ConfigError, match="online must be true or false"):
        parse_config(with_attacks({"name": "lira", "online": text}))


def test_valid_attack_parameters_are_kept_as_written():
    cfg = parse_config(with_attacks({"name": "lira", "online": False, "num_models": 4}, "rmia"))
    assert cfg.attacks == [{"name": "lira", "online": False, "num_models": 4}, "rmia"]
    lira = make_attack("lira", online=False, num_models=4)
    assert lira.get_params() == {
        "online": False,
        "fixed_variance": False,
        "reference_scoring": False,
        "num_models": 4,
    }


@pytest.mark.parametrize(
    ("attack", "match"),
    [
        ({"name": "confidence", "percentile": "abc"}, "percentile must be a number in"),
        ({"name": "confidence", "percentile": 150}, "percentile must be a number in"),
        ({"name": "gmia", "radius_from": "cosine"}, "radius_from must be one of"),
        ({"name": "rmia", "num_models": True}, "num_models must be a positive integer"),
        ({"name": "shokri", "attack_model": "svm"}, "attack_model must be one of"),
        ({"name": "lira", "label": 3}, "label of attack 'lira' must be a string"),
        ({"name": "gap", "args": 1}, "unknown key 'args'"),
        ("ml_leaks_2", "shadow_dataset is required"),
    ],
)
def test_config_refuses_bad_attack_parameters(attack, match):
    with pytest.raises(ConfigError, match=match):
        parse_config(with_attacks(attack))


def test_cli_exits_2_before_training_on_a_bad_parameter(tmp_path, capsys):
    # issue 9 item 8: every attack failed at run time and the audit exited 0
    import yaml

    path = tmp_path / "c.yaml"
    cfg = with_attacks({"name": "confidence", "percentile": "abc"})
    path.write_text(yaml.safe_dump({**cfg, "output": str(tmp_path / "out")}))
    assert main(["audit", str(path), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "percentile must be a number in [0, 100]" in err
    assert not (tmp_path / "out" / "results.json").exists()


@pytest.mark.parametrize(
    ("evaluation", "ok"),
    [
        ({"bootstrap": 0}, True),
        ({"bootstrap": 10}, True),
        ({"bootstrap": 5}, False),
        ({"bootstrap": -1}, False),
        ({"bootstrap": True}, False),
        ({"bootstrap": 200.0}, False),
        ({"random_queries": -1}, False),
        ({"random_queries": "many"}, False),
    ],
)
def test_config_evaluation_settings(evaluation, ok):
    cfg = {**BASE, "evaluation": evaluation}
    if ok:
        assert parse_config(cfg).evaluation.bootstrap == evaluation["bootstrap"]
    else:
        with pytest.raises(ConfigError, match="evaluation"):
            parse_config(cfg)


# -- audit() ------------------------------------------------------------------------------------
class NeverQueried:
    """A "model" that fails the test if anything asks it for outputs."""

    def predict_proba(self, x):
        raise AssertionError("queried before the settings were checked")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"bootstrap": 0.5}, "bootstrap must be 0"),
        ({"bootstrap": 3}, "bootstrap must be 0"),
        ({"bootstrap": -1}, "bootstrap must be 0"),
        ({"seed": -1}, "seed must be a non-negative integer"),
        ({"seed": "0"}, "seed must be a non-negative integer"),
        ({"random_queries": -5}, "random_queries must be a non-negative integer"),
        ({"random_queries": True}, "random_queries must be a non-negative integer"),
    ],
)
def test_audit_refuses_bad_evaluation_settings_first(kwargs, match):
    x, y = np.zeros((4, 2)), np.array([0, 1, 0, 1])
    with pytest.raises(ConfigError, match=match):
        audit(NeverQueried(), members=(x, y), nonmembers=(x, y), progress=False, **kwargs)


def _problem(seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(160, 5))
    y = (x[:, 0] + 0.5 * rng.normal(size=160) > 0).astype(np.int64)
    model = LogisticRegression(C=100.0).fit(x[:40], y[:40])
    return model, (x[:40], y[:40]), (x[40:80], y[40:80]), (x[80:], y[80:])


def test_audit_refuses_an_attack_object_with_bad_parameters():
    model, members, nonmembers, _ = _problem()
    with pytest.raises(ConfigError, match="attack 'lira': online must be true or false"):
        audit(
            model,
            members=members,
            nonmembers=nonmembers,
            attacks=[LiRA(online="false")],  # type: ignore[arg-type]
            progress=False,
        )
    with pytest.raises(ConfigError, match="percentile must be a number"):
        audit(
            model,
            members=members,
            nonmembers=nonmembers,
            attacks=[{"name": "confidence", "percentile": "abc"}],
            progress=False,
        )


def test_bootstrap_zero_means_no_intervals(tmp_path):
    # issue 9 item 9: every attack failed ("n_resamples must be a positive integer, got 0")
    # after all reference models had trained
    model, members, nonmembers, population = _problem()
    result = audit(
        model,
        members=members,
        nonmembers=nonmembers,
        population=population,
        attacks=["loss", {"name": "lira", "online": False}],
        reference=ReferenceSettings(model="logistic_regression", num_models=2),
        bootstrap=0,
        random_queries=0,
        progress=False,
    )
    assert [a.error for a in result.attacks] == [None, None]
    for a in result.attacks:
        assert a.metrics.auc_ci is None
        assert set(a.metrics.tpr_at_fpr_ci.values()) == {None}
    assert "-" in result.summary().splitlines()[3].split()
    save_result(result, tmp_path)
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["attacks"][0]["auc_ci"] is None  # written as null
    assert "[–]" in (tmp_path / "report.html").read_text(encoding="utf-8")


def test_evaluate_scores_without_resamples_keeps_the_point_estimates():
    rng = np.random.default_rng(1)
    member = np.arange(100) < 50
    scores = rng.normal(size=100) + member
    none = evaluate_scores(member, scores, n_resamples=0)
    some = evaluate_scores(member, scores, n_resamples=20)
    assert none.auc_ci is None and none.to_dict()["auc_ci"] is None
    assert none.to_dict()["tpr_at_fpr_ci"] == {"0.001": None, "0.01": None, "0.1": None}
    # the same arithmetic on the same scores: only the intervals differ
    assert {**none.to_dict(), "auc_ci": 0, "tpr_at_fpr_ci": 0} == {
        **some.to_dict(),
        "auc_ci": 0,
        "tpr_at_fpr_ci": 0,
    }


# -- defender records (item 10) ------------------------------------------------------------------
def test_default_reference_size():
    assert default_reference_size(300, 1197) == 300
    assert default_reference_size(1000, 500) == 250  # the attacker keeps half
    memguard = {"name": "memguard", "budget": 1.0}
    assert resolve_reference_size(memguard, n_members=300, n_population=1197) == 300
    assert resolve_reference_size({**memguard, "reference_size": 7}, n_members=3, n_population=9)
    assert resolve_reference_size({"name": "top_k"}, n_members=300, n_population=1197) == 0
    with pytest.raises(ConfigError, match="set target.defense.reference_size"):
        resolve_reference_size(memguard, n_members=300, n_population=1)
    with pytest.raises(ConfigError, match="reference_size 10 exceeds the 9 records"):
        resolve_reference_size({**memguard, "reference_size": 10}, n_members=3, n_population=9)


def test_missing_defender_records_name_the_config_key():
    from miaudit.defenses.memguard import MemGuard
    from miaudit.targets import as_target

    model, members, _, _ = _problem()
    with pytest.raises(ConfigError, match="in a config set target.defense.reference_size"):
        MemGuard().wrap(as_target(model), train=members, seed=0)


def test_a_users_attack_with_unresolvable_hints_still_validates():
    from miaudit.attacks import Attack
    from miaudit.validation import init_type_hints, validate_instance

    class Mine(Attack):
        name = "mine"
        param_constraints = {"k": Interval(int, 1)}

        def __init__(self, *, k: OnlyForTypeCheckers = 1) -> None:  # type: ignore[name-defined] # noqa: F821
            self.k = k

    assert init_type_hints(Mine) == {}
    validate_instance(Mine(), kind="attack")
    with pytest.raises(ConfigError, match="attack 'mine': k must be a positive integer"):
        validate_instance(Mine(k=0), kind="attack")
