"""A saved audit renders again: results.json -> typed result -> the same results.json, and
``miaudit report`` writes the same report.html byte for byte (issue 10 item 3)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

import miaudit
from miaudit.cli import main
from miaudit.pipeline import run_config
from miaudit.pipeline.tradeoff import failed_point, point_from, write_tradeoff
from miaudit.results import AuditResult, load_result

BASE: dict[str, Any] = {
    "seed": 2,
    "dataset": {"name": "digits"},
    "split": {"members": 150, "nonmembers": 150},
    "target": {"model": "random_forest", "n_estimators": 10},
    "evaluation": {"random_queries": 50},
}
CASES: dict[str, dict[str, Any]] = {
    "bootstrap": {"attacks": ["loss", "gap", "entropy"], "evaluation": {"bootstrap": 20}},
    "no_bootstrap": {"attacks": ["loss", "modified_entropy"], "evaluation": {"bootstrap": 0}},
    # shadow models from 3 population records fail at run time; the others still run
    "failed": {
        "attacks": ["loss", {"name": "gap", "label": "gap 2"}, "shokri"],
        "split": {**BASE["split"], "population": 3},
    },
    "defense": {
        "attacks": ["loss", "gap"],
        "target": {**BASE["target"], "defense": {"name": "rounding", "decimals": 1}},
    },
}


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("audits")
    out = {}
    for name, extra in CASES.items():
        evaluation = {**BASE["evaluation"], **extra.get("evaluation", {"bootstrap": 20})}
        cfg = {**BASE, **extra, "evaluation": evaluation, "output": str(root / name)}
        run_config(cfg, progress=False)
        out[name] = root / name
    return out


@pytest.mark.parametrize("case", sorted(CASES))
def test_results_json_round_trips(saved: dict[str, Path], case: str) -> None:
    text = (saved[case] / "results.json").read_text()
    data = json.loads(text)
    back = AuditResult.from_dict(data)
    assert back.to_dict() == data
    assert json.dumps(back.to_dict(), indent=2) + "\n" == text  # same keys in the same order
    if case == "failed":
        failed = back.attack("shokri")
        assert failed.error is not None and failed.metrics is None
    if case == "no_bootstrap":
        assert back.attack("loss").metrics.auc_ci is None  # type: ignore[union-attr]


@pytest.mark.parametrize("case", sorted(CASES))
def test_report_command_renders_the_same_page(saved: dict[str, Path], case: str, tmp_path, capsys):
    out = tmp_path / "again.html"
    assert main(["report", str(saved[case] / "results.json"), "--output", str(out)]) == 0
    assert out.read_bytes() == (saved[case] / "report.html").read_bytes()
    assert capsys.readouterr().out.strip() == f"report: {out}"
    loaded = load_result(saved[case])
    assert loaded.to_dict() == json.loads((saved[case] / "results.json").read_text())


def test_save_result_is_the_api(saved: dict[str, Path], tmp_path: Path) -> None:
    result = load_result(saved["defense"])
    miaudit.save_result(result, tmp_path / "copy")
    for name in ("results.json", "scores.csv", "report.html"):
        assert (tmp_path / "copy" / name).read_bytes() == (saved["defense"] / name).read_bytes()


def _report_error(capsys, *argv: str) -> str:
    code = main(["report", *argv])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "Traceback" not in err[0]
    return err[0]


def test_report_command_bad_input_exits_2(saved: dict[str, Path], tmp_path: Path, capsys) -> None:
    html = str(tmp_path / "r.html")
    assert "does not exist" in _report_error(capsys, str(tmp_path / "none.json"), "--output", html)
    (tmp_path / "x.json").write_text("not json")
    assert "is not JSON" in _report_error(capsys, str(tmp_path / "x.json"), "--output", html)
    (tmp_path / "y.json").write_text('{"model": "mlp"}')
    assert "not a miaudit results file" in _report_error(
        capsys, str(tmp_path / "y.json"), "--output", html
    )
    copy = tmp_path / "copy"
    copy.mkdir()
    (copy / "results.json").write_bytes((saved["bootstrap"] / "results.json").read_bytes())
    assert "scores.csv" in _report_error(capsys, str(copy), "--output", html)
    rows = (saved["bootstrap"] / "scores.csv").read_text().splitlines(keepends=True)
    (copy / "scores.csv").write_text("".join(rows[:-3]))
    assert "297 records, expected 300" in _report_error(capsys, str(copy), "--output", html)
    assert "cannot write" in _report_error(capsys, str(saved["bootstrap"]), "--output", str(copy))
    assert not Path(html).exists()


def test_report_command_renders_a_tradeoff_sweep(saved, tmp_path, capsys) -> None:
    points = [
        point_from(load_result(saved["bootstrap"]), "none", None, None),
        point_from(load_result(saved["defense"]), "rounding", "decimals", 1),
        failed_point("l2", "weight_decay", 0.1, {"hidden": []}, "ConfigError: boom"),
    ]
    points[1].epsilon = math.inf
    write_tradeoff(points, {"seed": 2, "tradeoff": {}}, tmp_path / "sweep")
    out = tmp_path / "again.html"
    assert main(["report", str(tmp_path / "sweep"), "--output", str(out)]) == 0
    assert out.read_bytes() == (tmp_path / "sweep" / "report.html").read_bytes()
