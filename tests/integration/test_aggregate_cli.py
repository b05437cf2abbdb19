"""Issue 13 part 3: ``miaudit aggregate CONFIG``, a p-value per tested record against a
released mean vector (aggregate.json, aggregate.html leading with the answer), simulated and
with a published vector, and its one-line refusals (exit 2)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml

from miaudit.aggregate import genotype_panel, release_means
from miaudit.cli import main

GENOTYPES = {"n_individuals": 1500, "n_snps": 300, "seed": 2}


def _write(tmp, name, cfg):
    path = tmp / name
    path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    return str(path)


def _base(tmp, **over):
    cfg = {
        "synthetic_genotypes": GENOTYPES,
        "cohort": 20,
        "reference": 600,
        "records": 20,
        "alpha": 0.05,
        "output": str(tmp / "out"),
    }
    cfg.update(over)
    return cfg


def test_simulated_audit_writes_both_files_and_finds_the_members(tmp_path, capsys):
    cfg = _write(tmp_path, "a.yaml", _base(tmp_path, release={"noise": "laplace", "epsilon": 1e4}))
    assert main(["aggregate", cfg]) == 0
    out = tmp_path / "out"
    doc = json.loads((out / "aggregate.json").read_text())
    assert doc["attack"] == "sankararaman" and doc["method"] == "empirical"
    assert doc["n_tested"] == 20 and doc["n_null"] == 300 and doc["n_fit"] == 300
    members = [r for r in doc["records"] if r["member"]]
    others = [r for r in doc["records"] if not r["member"]]
    assert len(members) == 10 and len(others) == 10
    # a cohort of 20 over 300 SNPs: members are found (9 of 10 with this seed), most above
    # all 300 null records
    assert sum(r["found"] for r in members) >= 8
    assert np.median([r["p_value"] for r in members]) <= 1 / 301 + 1e-12
    assert sum(r["found"] for r in others) <= 2
    assert doc["metrics"]["auc"] > 0.9
    assert doc["release"]["epsilon"] == 1e4 and doc["release"]["noise"] == "laplace"
    html = (out / "aggregate.html").read_text()
    assert html.index("Answer:") < html.index("Each record") < html.index("What the test assumes")
    assert "epsilon = 10000" in html and "data:image/png;base64," in html
    printed = capsys.readouterr().out
    assert "tested records are found in the cohort" in printed


def test_published_release_with_listed_records(tmp_path):
    x, _ = genotype_panel(GENOTYPES["n_individuals"], GENOTYPES["n_snps"], seed=GENOTYPES["seed"])
    cohort = np.arange(100, 108)  # Homer's t-test is weaker: a cohort of 8
    np.save(tmp_path / "published.npy", release_means(x[cohort]).means)
    cfg = _base(
        tmp_path,
        release=str(tmp_path / "published.npy"),
        reference=list(range(500, 1100)),
        records=[100, 101, 102, 1200, 1201],
        attack="homer",
        method="homer_t",
    )
    cfg.pop("cohort")
    assert main(["aggregate", _write(tmp_path, "p.yaml", cfg)]) == 0
    doc = json.loads((tmp_path / "out" / "aggregate.json").read_text())
    assert doc["release"]["source"] == "file" and doc["metrics"] is None
    found = [r["found"] for r in doc["records"]]
    assert found[:3] == [True, True, True] and all(r["member"] is None for r in doc["records"])
    assert "t-test" in doc["assumptions"]


def test_an_npz_dataset_and_pyrgelis(tmp_path):
    x, _ = genotype_panel(800, 120, seed=4, binary=True)
    np.savez(tmp_path / "d.npz", features=x)
    cfg = _base(
        tmp_path,
        dataset={"path": str(tmp_path / "d.npz"), "key": "features"},
        reference=400,
        records=10,
        attack="pyrgelis",
    )
    cfg.pop("synthetic_genotypes")
    assert main(["aggregate", _write(tmp_path, "n.yaml", cfg)]) == 0
    doc = json.loads((tmp_path / "out" / "aggregate.json").read_text())
    assert doc["attack"] == "pyrgelis" and len(doc["records"]) == 10


def test_the_html_escapes_a_malicious_title(tmp_path):
    evil = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    cfg = _write(tmp_path, "e.yaml", _base(tmp_path, title=evil, records=4))
    assert main(["aggregate", cfg]) == 0
    html = (tmp_path / "out" / "aggregate.html").read_text()
    assert "<script>" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html


@pytest.mark.parametrize(
    ("over", "needle"),
    [
        ({"cohort": [1, 2, 3], "reference": [3, 4, 5] + list(range(10, 60))}, "share record 3"),
        ({"attack": "homr"}, "did you mean 'homer'"),
        ({"alpha": 1.5}, "'alpha' must be"),
        ({"alpha": "0.05"}, "'alpha' must be"),
        ({"release": "no_such.npy"}, "no file"),
        ({"dataset": {"path": "missing.npz"}, "synthetic_genotypes": None}, "no file"),
        ({"method": "homer_t"}, "set attack: homer"),
        ({"reference": 20}, "cannot give a p-value <= alpha"),
        ({"records": [1, 2, 5000]}, "out of range"),
        ({"cohort": 1400}, "only"),
        ({"release": {"noise": "laplace"}}, "needs release.epsilon"),
        ({"release": {"noise": "gauss", "epsilon": 1}}, "noise must be one of"),
        ({"colour": 1}, "unknown key 'colour'"),
    ],
)
def test_bad_configs_are_refused_in_one_line(tmp_path, capsys, over, needle):
    cfg = _base(tmp_path, **over)
    cfg = {k: v for k, v in cfg.items() if v is not None}
    assert main(["aggregate", _write(tmp_path, "bad.yaml", cfg)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("miaudit: error:"), err
    assert needle in err, err
    assert not (tmp_path / "out" / "aggregate.json").exists()


def test_a_published_vector_of_the_wrong_length_is_refused(tmp_path, capsys):
    np.save(tmp_path / "short.npy", np.full(GENOTYPES["n_snps"] - 1, 0.5))
    cfg = _base(tmp_path, release=str(tmp_path / "short.npy"), reference=list(range(500, 700)))
    cfg.pop("cohort")
    cfg["records"] = [1, 2]
    assert main(["aggregate", _write(tmp_path, "s.yaml", cfg)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "shape (300,)" in err, err


def test_a_missing_config_file_is_one_line(tmp_path, capsys):
    assert main(["aggregate", str(tmp_path / "nope.yaml")]) == 2
    assert "config file not found" in capsys.readouterr().err
