"""The result types' JSON form: to_dict at the edge, from_dict / load_result back, exactly."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from miaudit.errors import DataError
from miaudit.report import render_html
from miaudit.results import (
    AttackResult,
    AuditResult,
    TradeoffPoint,
    load_result,
    load_tradeoff,
    pick_strongest,
    results_kind,
)
from tests.unit import report_fixtures as fx


def _saved(tmp_path: Path, result: AuditResult) -> Path:
    result.to_json(tmp_path / "results.json")
    result.write_scores_csv(tmp_path / "scores.csv")
    return tmp_path / "results.json"


def test_from_dict_inverts_to_dict() -> None:
    result = fx.result(fx.DEFENSES["dp_sgd"], aware=True)
    data = json.loads(json.dumps(result.to_dict()))
    back = AuditResult.from_dict(data)
    assert back.to_dict() == data
    lira = back.attack("lira <online>")
    assert lira.metrics is not None
    assert lira.metrics.epsilon_lower_bound == math.inf  # "inf" in the file
    assert lira.metrics.auc_ci == pytest.approx((0.69, 0.73))
    assert isinstance(lira.metrics.tpr_at_fpr_ci["0.01"], tuple)
    gap = back.attack("gap")
    assert gap.metrics is not None and gap.metrics.auc_ci is None  # bootstrap 0
    assert set(gap.metrics.tpr_at_fpr_ci.values()) == {None}
    failed = back.attack("grad")
    assert failed.metrics is None and failed.error == "grad is a white-box attack"
    assert back.attack("loss").seconds == 1.25  # from timings["attack:loss"]
    assert back.target.defense == fx.DEFENSES["dp_sgd"]


def test_load_result_rebuilds_scores_and_the_report(tmp_path: Path) -> None:
    result = fx.result(fx.DEFENSES["memguard"], aware=False)
    result.timings = {f"attack:{a.name}": a.seconds for a in result.attacks}
    back = load_result(_saved(tmp_path, result))
    np.testing.assert_array_equal(back.membership, result.membership)
    np.testing.assert_array_equal(back.record_ids, result.record_ids)
    for a, b in zip(result.attacks, back.attacks, strict=True):
        if a.scores is None:
            assert b.scores is None
        else:
            assert b.scores is not None and b.scores.tobytes() == a.scores.tobytes()  # exact
    assert render_html(back) == render_html(result)
    assert load_result(tmp_path).to_dict() == result.to_dict()  # the folder works too


def test_loader_refuses_what_is_not_a_miaudit_result(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        load_result(tmp_path / "nothing.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(DataError, match="is not JSON"):
        load_result(tmp_path / "bad.json")
    (tmp_path / "list.json").write_text("[1, 2]")
    with pytest.raises(DataError, match="not a miaudit results file"):
        load_result(tmp_path / "list.json")
    (tmp_path / "other.json").write_text('{"title": 1}')
    with pytest.raises(DataError, match="not a miaudit results file"):
        load_result(tmp_path / "other.json")
    data = fx.result().to_dict()
    del data["attacks"][0]["threat_model"]
    (tmp_path / "broken.json").write_text(json.dumps(data))
    with pytest.raises(DataError, match="missing field 'threat_model'"):
        load_result(tmp_path / "broken.json")


def test_loader_checks_scores_csv(tmp_path: Path) -> None:
    path = _saved(tmp_path, fx.result())
    csv = tmp_path / "scores.csv"
    lines = csv.read_text().splitlines(keepends=True)
    csv.write_text("".join(lines[:-1]))
    with pytest.raises(DataError, match="199 records, expected 200"):
        load_result(path)
    csv.write_text(lines[0].replace("loss", "lost") + "".join(lines[1:]))
    with pytest.raises(DataError, match="expected columns"):
        load_result(path)
    csv.write_text(lines[0] + lines[1].replace(",1,", ",2,", 1) + "".join(lines[2:]))
    with pytest.raises(DataError, match="other than 0 and 1"):
        load_result(path)
    csv.write_text(lines[0] + lines[1].rsplit(",", 1)[0] + ",x\n" + "".join(lines[2:]))
    with pytest.raises(DataError, match="malformed"):
        load_result(path)
    flipped = lines[1].replace(",1,", ",0,", 1) if ",1," in lines[1] else lines[1]
    csv.write_text(lines[0] + flipped + "".join(lines[2:]))
    with pytest.raises(DataError, match="members, expected 100"):
        load_result(path)
    csv.unlink()
    with pytest.raises(DataError, match="scores.csv.*does not exist"):
        load_result(path)
    assert AuditResult.from_json(path).to_dict() == fx.result().to_dict()  # JSON alone


def test_tradeoff_points_round_trip(tmp_path: Path) -> None:
    nan = math.nan
    points = [
        TradeoffPoint(
            "none",
            None,
            None,
            1.0,
            0.8,
            2.5,
            0.7,
            0.01,
            0.05,
            "loss",
            tpr_at_0_01_ci=(0.03, 0.07),
            auc_ci=(0.68, 0.72),
        ),
        TradeoffPoint(
            "dp_sgd",
            "noise_multiplier",
            1.0,
            0.8,
            0.75,
            9.0,
            0.55,
            0.0,
            0.02,
            "gap",
            epsilon=math.inf,
            recipe={"hidden": []},
            failed_attacks=["lira"],
        ),
        TradeoffPoint(
            "l2", "weight_decay", 0.1, nan, nan, nan, nan, nan, nan, "–", error="ConfigError: boom"
        ),
    ]
    from miaudit.results import json_safe

    data = json_safe({"config": {"seed": 0}, "points": [p.to_dict() for p in points]})
    (tmp_path / "results.json").write_text(json.dumps(data))
    assert results_kind(data) == "tradeoff"
    back = load_tradeoff(tmp_path)
    assert json_safe([p.to_dict() for p in back]) == data["points"]
    assert back[1].epsilon == math.inf and back[0].auc_ci == (0.68, 0.72)
    with pytest.raises(DataError, match="trade-off sweep, not an audit"):
        load_result(tmp_path)


def test_pick_strongest_tie_breaks() -> None:
    a, b, c = "a", "b", "c"
    assert pick_strongest([(a, 0.05, 0.6), (b, 0.05, 0.7), (c, 0.05, 0.7)], "tpr") == (b, 0.05, 0.7)
    assert pick_strongest([(a, 0.01, 0.8), (b, 0.04, 0.8)], "auc") == (b, 0.04, 0.8)
    assert pick_strongest([(a, None, 0.9), (b, 0.0, None)], "tpr") == (b, 0.0, None)
    assert pick_strongest([], "auc") is None


def test_attack_result_without_metrics_serialises_no_metric_keys() -> None:
    failed = AttackResult("x", {"knowledge": "white-box"}, {}, None, error="boom", attack="x")
    assert failed.to_dict() == {
        "name": "x",
        "attack": "x",
        "threat_model": {"knowledge": "white-box"},
        "params": {},
        "error": "boom",
    }
    assert AttackResult.from_dict(failed.to_dict()).to_dict() == failed.to_dict()
