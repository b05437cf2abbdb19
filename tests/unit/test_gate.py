"""The privacy gate (miaudit.gate): thresholds parsed and refused before work, results judged
by the point estimate or (strict) the CI's upper end, TPR at FPR levels results.json lacks,
and the Markdown and JUnit outputs."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from dataclasses import replace

import numpy as np
import pytest

from miaudit.errors import ConfigError, DataError
from miaudit.gate import (
    Threshold,
    Thresholds,
    check_applicable,
    check_junit,
    check_markdown,
    evaluate_gate,
    parse_check_section,
    parse_cli_thresholds,
)
from miaudit.metrics import evaluate_scores
from miaudit.results import AttackResult, AuditResult, TargetSummary

N = 400  # records: 200 members, 200 non-members
SEED = 5
BOOTSTRAP = 50


def _membership() -> np.ndarray:
    return np.arange(N) < N // 2


def _attack(name: str, shift: float, seed: int) -> AttackResult:
    """An attack whose member scores are shifted by ``shift`` (a larger shift leaks more);
    its metrics computed as the audit computes them."""
    y = _membership()
    s = np.random.default_rng(seed).normal(size=N) + shift * y
    metrics = evaluate_scores(y, s, n_resamples=BOOTSTRAP, seed=SEED)
    return AttackResult(name, {"knowledge": "black-box probabilities"}, {}, s, metrics, attack=name)


def _result(*attacks: AttackResult, defense: dict | None = None, bootstrap: int = BOOTSTRAP):
    target = TargetSummary("mlp", {}, 10, N // 2, N // 2, 0.99, 0.8, dataset="toy", defense=defense)
    return AuditResult(
        target=target,
        attacks=list(attacks),
        membership=_membership(),
        record_ids=np.arange(N),
        config={"evaluation": {"bootstrap": bootstrap}},
        seed=SEED,
        versions={"miaudit": "test"},
        created="2026-01-02T03:04:05+0000",
    )


WEAK, STRONG = _attack("loss", 0.3, 1), _attack("lira", 1.5, 2)
FAILED = AttackResult("shokri", {}, {}, None, None, error="shadow training diverged")


# -- parsing --------------------------------------------------------------------------------


def test_config_section_parses_every_threshold_kind() -> None:
    t = parse_check_section(
        {
            "max_auc": 0.6,
            "max_tpr": {0.001: 0.01, "0.1": 0.3},
            "max_epsilon": 8,
            "strict": True,
            "attacks": {"lira": {"max_auc": 0.7, "max_tpr": {"1e-3": 0.05}}},
        }
    )
    assert t.strict is True
    assert t.items == (
        Threshold("auc", 0.6),
        Threshold("tpr", 0.01, fpr=0.001),
        Threshold("tpr", 0.3, fpr=0.1),
        Threshold("epsilon", 8.0),
        Threshold("auc", 0.7, attack="lira"),
        Threshold("tpr", 0.05, fpr=0.001, attack="lira"),
    )
    assert parse_check_section(t.to_dict()) == t  # results.json's shape reads back


@pytest.mark.parametrize(
    "section,message",
    [
        ({"max_auc": 1.5}, r"check.max_auc must be a number in \[0, 1\]"),
        ({"max_auc": "high"}, "check.max_auc must be a number, got 'high'"),
        ({"max_auc": True}, "must be a number, got True"),
        ({"max_tpr": {0.001: 2}}, r"must be a number in \[0, 1\]"),
        ({"max_tpr": {1.0: 0.5}}, r"the FPR must be a number in \[0, 1\)"),
        ({"max_tpr": {"abc": 0.5}}, "the FPR key of config: check.max_tpr must be a number"),
        ({"max_tpr": {0.001: 0.1, "1e-3": 0.2}}, "gives FPR 0.001 twice"),
        ({"max_tpr": 0.01}, "check.max_tpr must be a mapping of FPR: TPR"),
        ({"max_tpr": {}}, "max_tpr is empty"),
        ({"max_epsilon": 0}, "max_epsilon must be a number > 0"),
        ({"max_epsilon": float("inf")}, "must be a finite number"),
        ({"max_aucc": 0.5}, "unknown key 'max_aucc'; did you mean 'max_auc'"),
        ({"strict": "yes", "max_auc": 0.5}, "check.strict must be true or false"),
        ({"attacks": {"lira": {"max_epsilon": 3}}}, "max_epsilon belongs to the target"),
        ({"attacks": {"lira": {}}}, "check.attacks.lira gives no threshold"),
        ({"strict": True}, "gives no threshold"),
        ([0.6], "check must be a mapping"),
    ],
)
def test_config_section_errors_name_the_key(section, message) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_check_section(section)


def test_cli_thresholds_and_their_errors() -> None:
    t = parse_cli_thresholds(max_auc="0.65", max_tpr=["0.001:0.01", "1e-2:0.1"], max_epsilon="3")
    assert t.items == (
        Threshold("auc", 0.65),
        Threshold("tpr", 0.01, fpr=0.001),
        Threshold("tpr", 0.1, fpr=0.01),
        Threshold("epsilon", 3.0),
    )
    assert set(t.sources) == {"command line"}
    for kwargs, message in [
        ({"max_auc": "65%"}, "--max-auc must be a number, got '65%'"),
        ({"max_tpr": ["0.001"]}, "--max-tpr takes FPR:TPR"),
        ({"max_tpr": ["0.001:1.1"]}, r"--max-tpr 0.001:1.1 must be a number in \[0, 1\]"),
        ({"max_tpr": ["1:0.5"]}, r"the FPR must be a number in \[0, 1\)"),
        ({"max_tpr": ["0.001:0.1", "0.001:0.2"]}, "gives FPR 0.001 twice"),
        ({"max_epsilon": "-1"}, "--max-epsilon must be a number > 0"),
        ({"max_epsilon": "nan"}, "--max-epsilon must be a finite number"),
    ]:
        with pytest.raises(ConfigError, match=message):
            parse_cli_thresholds(**kwargs)


def test_command_line_replaces_the_configs_audit_wide_thresholds_only() -> None:
    config = parse_check_section(
        {
            "max_auc": 0.6,
            "max_tpr": {0.001: 0.01, 0.01: 0.05},
            "attacks": {"lira": {"max_auc": 0.7}},
        }
    )
    cli = parse_cli_thresholds(max_auc="0.55", max_tpr=["0.001:0.02"], strict=True)
    merged = config.merged(cli)
    assert merged.strict is True
    assert set(merged.items) == {
        Threshold("tpr", 0.05, fpr=0.01),  # kept: the command line gives no FPR 0.01
        Threshold("auc", 0.7, attack="lira"),  # kept: per attack
        Threshold("auc", 0.55),
        Threshold("tpr", 0.02, fpr=0.001),
    }
    assert len(merged.items) == 4
    sources = dict(zip(merged.items, merged.sources, strict=True))
    assert sources[Threshold("auc", 0.55)] == "command line"
    assert sources[Threshold("auc", 0.7, attack="lira")] == "config"


def test_check_applicable_refuses_what_the_audit_cannot_answer() -> None:
    kw = {"registered": ["loss", "lira"], "defense": None, "differentially_private": False}
    lira = parse_check_section({"attacks": {"lira": {"max_auc": 0.7}}})
    check_applicable(lira, attack_labels=["loss", "lira"], bootstrap=200, **kw)
    with pytest.raises(ConfigError, match=r"no attack of the audit is labelled 'lira'.*loss"):
        check_applicable(lira, attack_labels=["loss"], bootstrap=200, **kw)
    check_applicable(lira, attack_labels=None, bootstrap=200, **kw)  # attacks: all
    both = parse_check_section({"max_auc": 0.6, "attacks": {"lira": {"max_auc": 0.7}}})
    check_applicable(both, attack_labels=["loss", "lira"], bootstrap=200, **kw)
    with pytest.raises(ConfigError, match="check.max_auc applies to no attack: every attack"):
        check_applicable(both, attack_labels=["lira"], bootstrap=200, **kw)
    other = parse_check_section({"attacks": {"rmia": {"max_auc": 0.7}}})
    with pytest.raises(ConfigError, match="no registered attack is labelled 'rmia'"):
        check_applicable(other, attack_labels=None, bootstrap=200, **kw)
    eps = parse_check_section({"max_epsilon": 8})
    with pytest.raises(ConfigError, match="max_epsilon needs a differentially private defense"):
        check_applicable(eps, attack_labels=["loss"], bootstrap=200, **kw)
    with pytest.raises(ConfigError, match="defense 'memguard', which has no DP accountant"):
        check_applicable(
            eps, attack_labels=["loss"], bootstrap=200, **{**kw, "defense": "memguard"}
        )
    dp = {**kw, "defense": "dp_sgd", "differentially_private": True}
    check_applicable(eps, attack_labels=["loss"], bootstrap=200, **dp)
    strict = parse_check_section({"max_auc": 0.6, "strict": True})
    with pytest.raises(ConfigError, match="evaluation.bootstrap is 0"):
        check_applicable(strict, attack_labels=["loss"], bootstrap=0, **kw)
    # strict on epsilon alone needs no interval: the accountant's value is exact
    check_applicable(replace(eps, strict=True), attack_labels=["loss"], bootstrap=0, **dp)


# -- judging --------------------------------------------------------------------------------


def test_point_estimate_decides_by_default_and_the_ci_upper_end_when_strict() -> None:
    lira = STRONG.metrics
    lo, hi = lira.auc_ci
    assert lo < lira.auc < hi
    result = _result(WEAK, STRONG)
    between = (lira.auc + hi) / 2  # above the estimate, below the CI's upper end
    t = Thresholds((Threshold("auc", between),))
    outcome = evaluate_gate(result, t).outcomes[0]
    assert outcome.status == "pass" and outcome.worst.subject == "lira"
    assert outcome.worst.value == lira.auc and outcome.worst.ci == lira.auc_ci
    strict = evaluate_gate(result, replace(t, strict=True)).outcomes[0]
    assert strict.status == "fail" and strict.worst.compared == hi
    assert "strict" in strict.message and "attack 'lira'" in strict.message
    below = evaluate_gate(result, Thresholds((Threshold("auc", (lo + lira.auc) / 2),)))
    assert below.outcomes[0].status == "fail"
    assert f"{lira.auc:.4g}" in below.outcomes[0].message
    exact = evaluate_gate(result, Thresholds((Threshold("auc", lira.auc),)))
    assert exact.passed  # equal to the limit is not above it


def test_worst_attack_is_named_and_every_attack_is_compared() -> None:
    result = _result(WEAK, STRONG)
    report = evaluate_gate(result, Thresholds((Threshold("auc", 0.5),)))
    (o,) = report.outcomes
    assert o.status == "fail" and report.verdict == "failed"
    assert [v.subject for v in o.values] == ["loss", "lira"]
    assert all(v.exceeded for v in o.values)
    assert o.worst.subject == "lira" and "1 more exceed it" in o.message


def test_per_attack_threshold_replaces_the_audit_wide_one_for_that_attack() -> None:
    result = _result(WEAK, STRONG)
    limit = (WEAK.metrics.auc + STRONG.metrics.auc) / 2
    t = parse_check_section({"max_auc": limit, "attacks": {"lira": {"max_auc": 0.99}}})
    report = evaluate_gate(result, t)
    wide, own = report.outcomes
    assert [v.subject for v in wide.values] == ["loss"] and wide.status == "pass"
    assert [v.subject for v in own.values] == ["lira"] and own.status == "pass"
    assert report.passed
    everyone = parse_check_section({"max_auc": 0.6, "attacks": {"lira": {"max_auc": 0.99}}})
    with pytest.raises(ConfigError, match="applies to no attack: every attack has its own"):
        evaluate_gate(_result(STRONG), everyone)
    missing = parse_check_section({"attacks": {"rmia": {"max_auc": 0.6}}})
    with pytest.raises(ConfigError, match="no attack labelled 'rmia'.*loss, lira"):
        evaluate_gate(result, missing)


def test_a_failed_attack_is_not_checked_and_never_passes_silently() -> None:
    generous = Thresholds((Threshold("auc", 0.999),))
    report = evaluate_gate(_result(WEAK, FAILED), generous)
    (o,) = report.outcomes
    assert o.status == "error" and report.verdict == "error" and not report.passed
    assert "'shokri'" in o.message and "shadow training diverged" in o.message
    # an exceeded threshold outranks the attack that could not be checked
    strict = evaluate_gate(_result(STRONG, FAILED), Thresholds((Threshold("auc", 0.6),)))
    assert strict.outcomes[0].status == "fail"


def test_epsilon_is_the_accountants_and_refused_without_dp() -> None:
    dp = {"name": "dp_sgd", "epsilon": 6.25, "delta": 1e-5}
    t = Thresholds((Threshold("epsilon", 8.0),))
    (o,) = evaluate_gate(_result(WEAK, defense=dp), t).outcomes
    assert o.status == "pass" and o.worst.value == 6.25 and o.worst.ci is None
    assert o.worst.note == "at delta = 1e-05"
    assert evaluate_gate(_result(WEAK, defense=dp), Thresholds((Threshold("epsilon", 6.0),))).failed
    with pytest.raises(ConfigError, match="this audit's target has no defense"):
        evaluate_gate(_result(WEAK), t)
    with pytest.raises(ConfigError, match="defense 'memguard' without one"):
        evaluate_gate(_result(WEAK, defense={"name": "memguard", "budget": 1.0}), t)


def _slow_tpr_at_fpr(y: np.ndarray, s: np.ndarray, level: float) -> float:
    """Obvious reference: every threshold, the largest TPR whose FPR is at most level."""
    best = 0.0
    for t in np.unique(s):
        called = s >= t
        if called[~y].mean() <= level:
            best = max(best, called[y].mean())
    return best


def test_tpr_at_a_level_the_results_lack_is_computed_as_the_audit_would() -> None:
    result = _result(WEAK, STRONG)
    report = evaluate_gate(result, Thresholds((Threshold("tpr", 1.0, fpr=0.05),)))
    y = _membership()
    for v, a in zip(report.outcomes[0].values, (WEAK, STRONG), strict=True):
        assert v.note == "computed from the per-record scores"
        assert v.value == _slow_tpr_at_fpr(y, a.scores, 0.05)
        # the audit's own code with that level added gives the same value and interval
        full = evaluate_scores(y, a.scores, levels=(0.05,), n_resamples=BOOTSTRAP, seed=SEED)
        assert v.value == full.tpr_at_fpr["0.05"]
        assert v.ci == full.tpr_at_fpr_ci["0.05"]
    stored = evaluate_gate(result, Thresholds((Threshold("tpr", 1.0, fpr=0.01),)))
    assert stored.outcomes[0].values[1].value == STRONG.metrics.tpr_at_fpr["0.01"]
    assert stored.outcomes[0].values[1].note is None  # read, not recomputed


def test_tpr_level_refused_when_it_cannot_be_reproduced() -> None:
    no_scores = replace(STRONG, scores=None)
    with pytest.raises(DataError, match=r"not in the results \(they have FPR 0.001, 0.01, 0.1\)"):
        evaluate_gate(_result(no_scores), Thresholds((Threshold("tpr", 0.5, fpr=0.05),)))
    # results whose stored interval came from another bootstrap do not reproduce
    wrong = _result(STRONG, bootstrap=BOOTSTRAP + 1)
    with pytest.raises(DataError, match="recomputing the stored TPR at FPR 0.01"):
        evaluate_gate(wrong, Thresholds((Threshold("tpr", 0.5, fpr=0.05),)))


def test_strict_without_intervals_is_refused() -> None:
    y = _membership()
    s = STRONG.scores
    bare = replace(STRONG, metrics=evaluate_scores(y, s, n_resamples=0, seed=SEED))
    t = Thresholds((Threshold("auc", 0.9),), strict=True)
    with pytest.raises(ConfigError, match="has no interval for AUC"):
        evaluate_gate(_result(bare, bootstrap=0), t)
    assert evaluate_gate(_result(bare, bootstrap=0), replace(t, strict=False)).passed


# -- outputs --------------------------------------------------------------------------------


def _report():
    result = _result(WEAK, STRONG, FAILED, defense={"name": "dp_sgd", "epsilon": 6.25})
    t = parse_check_section(
        {
            "max_auc": 0.6,
            "max_tpr": {0.001: 0.5},
            "max_epsilon": 8,
            "attacks": {"shokri": {"max_auc": 0.7}},
        }
    )
    return result, evaluate_gate(result, t)


def test_junit_has_one_case_per_threshold_with_failures_and_errors() -> None:
    result, report = _report()
    root = ET.fromstring(check_junit(report, result, "runs/x/results.json"))
    assert root.tag == "testsuites"
    (suite,) = root.findall("testsuite")
    cases = suite.findall("testcase")
    assert len(cases) == 4 == int(suite.get("tests")) == int(root.get("tests"))
    failures = [c for c in cases if c.find("failure") is not None]
    errors = [c for c in cases if c.find("error") is not None]
    assert int(suite.get("failures")) == len(failures) == 1
    assert int(suite.get("errors")) == len(errors) == 2  # shokri failed: its own and TPR
    assert suite.get("skipped") == "0" and suite.get("timestamp") == "2026-01-02T03:04:05"
    for c in cases:
        assert c.get("name") and c.get("classname").startswith("miaudit.check.")
        assert float(c.get("time")) == 0.0
    (auc_case,) = failures
    assert auc_case.get("name") == "AUC <= 0.6 (every attack)"
    failure = auc_case.find("failure")
    assert failure.get("type") == "ThresholdExceeded"
    assert "attack 'lira'" in failure.get("message")
    # the exact values compared, one row per attack, as repr floats
    rows = auc_case.find("system-out").text.splitlines()[2:]
    lira = next(r.split("\t") for r in rows if r.startswith("lira\t"))
    assert float(lira[1]) == STRONG.metrics.auc
    assert (float(lira[2]), float(lira[3])) == STRONG.metrics.auc_ci
    assert lira[5] == "exceeded"
    assert errors[0].find("error").get("type") == "NotChecked"
    props = {p.get("name"): p.get("value") for p in suite.find("properties")}
    assert props["results"] == "runs/x/results.json" and props["strict"] == "false"


def test_markdown_states_the_verdict_rule_and_values() -> None:
    result, report = _report()
    md = check_markdown(report, result, "runs/x/results.json")
    assert md.startswith("## miaudit privacy gate: ❌ failed")
    assert "**1 of 4 thresholds hold; 1 exceeded; 2 not checked.**" in md
    assert "the point estimate" in md and "`--strict`" in md
    assert "50 resamples" in md
    rows = [line for line in md.splitlines() if line.startswith("| AUC <= 0.6 ")]
    cells = [c.strip() for c in rows[0].strip("|").split("|")]
    assert cells[1] == "every attack (2)" and cells[2] == "lira"  # shokri has its own
    assert cells[3] == f"{STRONG.metrics.auc:.4f}"
    lo, hi = STRONG.metrics.auc_ci
    assert cells[4] == f"[{lo:.4f}, {hi:.4f}]" and cells[5] == "❌ exceeded"
    eps = next(line for line in md.splitlines() if line.startswith("| DP epsilon"))
    assert "6.2500" in eps and "✅ pass" in eps
    assert "⚠️ not checked" in md and "shadow training diverged" in md
    strict = check_markdown(replace(report, strict=True), result, "r")
    assert "upper end of the value's 95% bootstrap confidence interval" in strict
    assert re.search(r"Results: `runs/x/results.json`", md)


def test_outputs_are_deterministic_and_escape_markup() -> None:
    odd = replace(STRONG, name="a|b<c>&")
    result = _result(odd)
    report = evaluate_gate(result, Thresholds((Threshold("auc", 0.5),)))
    md = check_markdown(report, result, "r")
    assert "a\\|b<c>&" in md  # a pipe would split the table cell
    xml = check_junit(report, result, "r")
    assert ET.fromstring(xml).find(".//failure").get("message").count("a|b<c>&") == 1
    assert xml == check_junit(report, result, "r")
    json.dumps(report.outcomes[0].message)  # plain text


# -- the README's CI jobs -------------------------------------------------------------------


def _readme_blocks(first_line: str) -> list[str]:
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```yaml\n(.*?)```", text, flags=re.S)
    return [b for b in blocks if b.startswith(first_line)]


def test_readme_ci_jobs_parse_and_report_the_gates_files() -> None:
    import yaml

    (github,) = _readme_blocks("# .github/workflows/privacy.yml")
    steps = yaml.safe_load(github)["jobs"]["privacy-gate"]["steps"]
    runs = " ".join(str(s.get("run", "")) for s in steps)
    assert "miaudit check ci/privacy.yaml" in runs
    junit = [s for s in steps if "action-junit-report" in s.get("uses", "")]
    assert junit[0]["with"]["report_paths"] == "runs/privacy/check.junit.xml"
    assert all(s.get("if") and "always()" in s["if"] for s in steps[5:])  # run when it fails
    (gitlab,) = _readme_blocks("# .gitlab-ci.yml")
    job = yaml.safe_load(gitlab)["privacy-gate"]
    assert any("miaudit check ci/privacy.yaml" in line for line in job["script"])
    assert job["artifacts"]["reports"]["junit"] == "runs/privacy/check.junit.xml"
    assert job["artifacts"]["when"] == "always"
    for line in github.splitlines() + job["script"]:  # the options the jobs use parse
        if "miaudit check" in line:
            args = line.split("miaudit check", 1)[1].split()
            tpr = [args[i + 1] for i, a in enumerate(args) if a == "--max-tpr"]
            auc = args[args.index("--max-auc") + 1]
            assert parse_cli_thresholds(max_auc=auc, max_tpr=tpr).items
    (section,) = _readme_blocks("check:")
    assert len(parse_check_section(yaml.safe_load(section)["check"]).items) == 6
