"""Issue 13 part 1: ``miaudit owner CONFIG`` on a saved model, its answer with a p-value
(owner.json, owner.html leading with the answer), and its one-line refusals."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml

from miaudit.cli import main
from miaudit.data import load_dataset
from miaudit.models import train_model
from tests.unit import saved_model_helpers as h


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    data = load_dataset("digits")
    x, y = np.asarray(data.x, dtype=np.float32), np.asarray(data.y)
    idx = np.random.default_rng(0).permutation(len(y))
    members, non = idx[:100], idx[300:900]
    tmp = tmp_path_factory.mktemp("owner")
    # 100 training records, 200 epochs: train loss 5e-4 against 0.43 on non-members (loss
    # AUC 0.71 measured), an overfit model whose members an owner can find
    params = {"hidden": [128], "epochs": 200, "batch_size": 32, "lr": 0.01, "optimizer": "adam"}
    model = train_model("mlp", params, x[members], y[members], num_classes=10, seed=0)
    script = h.save_torchscript(model.module.eval(), tmp / "m.pt")
    return tmp, script, members, non


def _write(tmp, name, **cfg):
    path = tmp / name
    path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    return str(path)


def test_an_owner_whose_records_were_used_gets_a_yes_with_its_p_value(saved, capsys):
    tmp, script, members, non = saved
    out = tmp / "used"
    cfg = _write(
        tmp,
        "used.yaml",
        dataset={"name": "digits"},
        target={"path": str(script)},
        owner=[int(i) for i in members[:30]],
        reference_nonmembers=[int(i) for i in non[:300]],
        attack="loss",
        output=str(out),
    )
    assert main(["owner", cfg, "--no-progress"]) == 0
    doc = json.loads((out / "owner.json").read_text())
    # 30 training records of the overfit MLP against 300 non-members: with a loss AUC near
    # 0.7 the rank test's z is about 3.6 (p ~ 2e-4), far from alpha on any CPU's rounding
    assert doc["reject"] is True and doc["p_value"] < 0.01 and doc["n_owner"] == 30
    html = (out / "owner.html").read_text()
    assert html.index("Answer: Yes") < html.index("The test") < html.index("What the test assumes")
    assert "Yes:" in capsys.readouterr().out


def test_owner_config_refusals_are_one_line(saved, capsys):
    tmp, script, members, non = saved
    base = {
        "dataset": {"name": "digits"},
        "target": {"path": str(script)},
        "owner": [int(i) for i in members[:5]],
        "reference_nonmembers": [int(i) for i in non[:100]],
    }
    cases = [
        ({"reference_nonmembers": [int(members[0]), *map(int, non[:50])]}, "share record"),
        ({"target": {"model": "mlp"}}, "an owner audit is of a trained model"),
        ({"test": "z"}, "'test' must be one of"),
        ({"alpha": 2}, "'alpha'"),
        ({"owner": 5}, "not counts"),
        ({"colour": 1}, "unknown key 'colour'"),
    ]
    for i, (over, message) in enumerate(cases):
        cfg = _write(tmp, f"bad{i}.yaml", **{**base, **over, "output": str(tmp / f"o{i}")})
        assert main(["owner", cfg, "--no-progress"]) == 2, over
        err = capsys.readouterr().err.strip()
        assert message in err and "\n" not in err, (over, err)


def test_with_reference_models_the_report_has_the_fraction_used_and_the_power(saved):
    tmp, script, members, non = saved
    out = tmp / "lira"
    params = {"hidden": [128], "epochs": 200, "batch_size": 32, "lr": 0.01, "optimizer": "adam"}
    cfg = _write(
        tmp,
        "lira.yaml",
        dataset={"name": "digits"},
        target={"path": str(script)},
        owner=[int(i) for i in members[:30]],
        reference_nonmembers=[int(i) for i in non[:300]],
        attack="lira",
        reference={"model": {"model": "mlp", **params}, "num_models": 4},
        output=str(out),
    )
    assert main(["owner", cfg, "--no-progress"]) == 0
    doc = json.loads((out / "owner.json").read_text())
    usage = doc["usage"]
    # all 30 owner records trained the target: the interval is not stuck at 0 and the
    # estimate is a fraction; the exact value depends on 4 MLPs' training on this CPU
    assert usage is not None and 0 <= usage["ci"][0] <= usage["fraction"] <= usage["ci"][1] <= 1
    assert usage["ci"][1] > 0.3 and usage["n_pseudo_targets"] == 4
    assert usage["fpr_source"] == "target"
    th = doc["threshold_test"]
    assert th["n_owner"] == 30 and th["threshold"] == usage["threshold"]
    assert 0 < th["p_value"] <= 1
    sizes = [row["n_owner"] for row in doc["power"]]
    assert sizes == [1, 2, 5, 10, 20, 50]
    measured = [row for row in doc["power"] if row["power"] is not None]
    assert measured and all(0 <= row["null_rate"] <= 1 for row in measured)
    html = (out / "owner.html").read_text()
    assert (
        html.index("Answer:")
        < html.index("How much of your data was used?")
        < html.index("Could the test have found your records?")
        < html.index("What the test assumes")
    )
    assert html.count("data:image/png;base64") >= 2  # the power plot and the scores
    # the target trained on 100 records, the references on ~165 (random halves of the 330
    # audited): the reference records score differently on it (D = 0.21 measured, the flag
    # needs 0.1), which the report says instead of vouching for the power curve
    assert doc["resemblance"]["mismatch"] is True
    assert "Is the target like its reference models?" in html
