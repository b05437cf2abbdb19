"""The HTTP target end to end against a real local server (issue 11 part 2): a scikit-learn
model served on 127.0.0.1 by the standard library's http.server (tests/integration/
http_server.py), audited through miaudit.http_target.

Equalities are exact where the answers travel as JSON floats: Python's json writes a float64
with ``repr``, the shortest text that reads back to the same double, so the server's
probabilities reach the client bit for bit; the records are float64 and travel the same
way, so the served model computes on exactly the client's records. One more condition: the
server must compute on the same batches as the local audit, because a model's outputs can
depend on its batch in the last bit (scikit-learn's BLAS products: 1.1e-16 apart between
10,000 records at once and in batches of 100); here every call asks at most 80 records, and
batch_size (100 by default) sends each call in one request, as the local audit computes it.
"""

from __future__ import annotations

import json
import socket
import time

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

import miaudit
from miaudit.attacks import Offer
from miaudit.errors import ConfigError
from miaudit.pipeline._attack_list import resolve_attacks
from miaudit.targets import (
    CapabilityError,
    LabelOnlyTarget,
    QueryBudgetExceeded,
    SklearnTarget,
    as_target,
)
from miaudit.targets.http import (
    EndpointError,
    EndpointUnavailable,
    HttpBudgetExceeded,
    http_target,
)
from tests.integration.http_server import ModelServer

FAST = {"timeout_s": 2.0, "retries": 1, "backoff_s": 0.01}


@pytest.fixture(scope="module")
def problem():
    """A 3-class task: a logistic regression fitted on the members (float64 records)."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(240, 5))
    y = np.digitize(x[:, 0] + 0.5 * x[:, 1] + 0.4 * rng.normal(size=240), [-0.5, 0.5])
    model = LogisticRegression(C=10.0).fit(x[:80], y[:80])
    return model, x, y


def _sets(x, y):
    return {
        "members": (x[:80], y[:80]),
        "nonmembers": (x[80:160], y[80:160]),
        "population": (x[160:], y[160:]),
    }


@pytest.fixture
def server(problem):
    with ModelServer(problem[0]) as srv:
        yield srv


# -- the audit end to end -------------------------------------------------------------------
def test_audit_of_the_endpoint_equals_the_audit_of_the_model(problem, server, tmp_path):
    """The acceptance check: every attack's AUC (and scores) through the API equals the
    audit of the live model (exact: see the module docstring), and results.json records
    the queries: each audited, population and random record sent once."""
    model, x, y = problem
    attacks = ["gap", "loss", "confidence", "entropy", "modified_entropy"]
    kw = {**_sets(x, y), "attacks": attacks, "random_queries": 30, "bootstrap": 0}
    target = http_target(server.url, num_classes=3, cache_dir=tmp_path, **FAST)
    remote = miaudit.audit(target, progress=False, **kw)
    local = miaudit.audit(model, progress=False, **kw)
    for a, b in zip(remote.attacks, local.attacks, strict=True):
        assert a.error is None, a.error
        assert a.metrics.auc == b.metrics.auc
        np.testing.assert_array_equal(a.scores, b.scores)
    q = remote.to_dict()["queries"]
    assert q["this_run"]["sent"] == server.records == 160 + 30  # no attack reads the population
    assert q["by_attack"]["shared"]["declared"] == 190
    assert all(q["by_attack"][name]["sent"] == 0 for name in attacks)
    assert "HTTP endpoint" in remote.target.model
    again = miaudit.results.AuditResult.from_dict(json.loads(json.dumps(remote.to_dict())))
    assert again.queries == remote.queries
    # a second audit of the same endpoint and cache sends nothing
    rerun = miaudit.audit(
        http_target(server.url, num_classes=3, cache_dir=tmp_path), progress=False, **kw
    )
    assert server.records == 190
    assert rerun.queries["this_run"] == {"asked": 190, "reused": 190, "sent": 0, "requests": 0}
    assert [a.metrics.auc for a in rerun.attacks] == [a.metrics.auc for a in local.attacks]


@pytest.mark.parametrize("output", ["labels", "top_k"])
def test_a_label_only_endpoint_is_audited_with_the_label_only_attacks(problem, output, tmp_path):
    """A labels or top-k API goes through audit(): its accuracies come from its labels, the
    label-only attacks score exactly as on the live model wrapped label-only, and their
    queries are counted; an attack that reads probabilities is refused before any query."""
    model, x, y = problem
    kw = {**_sets(x, y), "bootstrap": 0}
    attacks = [{"name": "augmentation", "n_augmentations": 4}]
    with ModelServer(model, output=output, k=2) as srv:
        extra = {"top_k": 2} if output == "top_k" else {}
        target = http_target(
            srv.url, num_classes=3, output=output, cache_dir=tmp_path, **extra, **FAST
        )
        with pytest.raises(ConfigError, match="'loss' needs the target's probability outputs"):
            miaudit.audit(target, attacks=["loss"], progress=False, **kw)
        assert srv.requests == 0
        remote = miaudit.audit(target, attacks=attacks, progress=False, **kw)
        sent = srv.records
    local = miaudit.audit(LabelOnlyTarget(as_target(model)), attacks=attacks, progress=False, **kw)
    (a,), (b,) = remote.attacks, local.attacks
    assert a.error is None, a.error
    np.testing.assert_array_equal(a.scores, b.scores)
    assert remote.target.train_accuracy == local.target.train_accuracy
    assert remote.target.test_accuracy == local.target.test_accuracy
    q = remote.queries
    assert q["by_attack"]["shared"]["declared"] == 160  # the labels of the audited records
    # the plain view of each record is cached from the shared step; 4 noisy views are new
    assert q["this_run"]["sent"] == sent == 160 * 5
    # "attacks: all" on a label-only target: the label-only attacks that need no recipe,
    # and the gap attack (it reads the predicted label only)
    offer = Offer(recipe=False, parameters=False, probabilities=False)
    assert [name for name, _ in resolve_attacks("all", offer=offer)] == [
        "augmentation",
        "boundary_distance",
        "gap",
    ]


# -- mapping templates and outputs ------------------------------------------------------------
@pytest.mark.parametrize(
    ("layout", "request_", "response"),
    [
        ("default", None, None),
        ("kserve", "kserve", None),
        ("kserve_v2", "kserve_v2", None),
        ("torchserve", "torchserve", None),
        ("custom", {"payload": {"rows": "$inputs"}, "v": 1}, "result.items.*.probs"),
    ],
)
def test_templates_carry_the_model_outputs_exactly(problem, layout, request_, response):
    model, x, _ = problem
    with ModelServer(model, layout=layout) as srv:
        target = http_target(
            srv.url, num_classes=3, request=request_, response=response, batch_size=7
        )
        got = target.predict_proba(x[:20])
        assert srv.requests == 3  # 20 records in batches of 7
    np.testing.assert_array_equal(got, model.predict_proba(x[:20]))


def test_kserve_v2_sends_float32_records_with_their_datatype(problem):
    model, x, _ = problem
    x32 = x[:5].astype(np.float32)
    with ModelServer(model, layout="kserve_v2") as srv:
        got = http_target(srv.url, num_classes=3, request="kserve_v2").predict_proba(x32)
        assert srv.headers_seen and srv.seen == x32.astype(np.float64).tolist()
    np.testing.assert_array_equal(got, model.predict_proba(x32.astype(np.float64)))


def test_logits_output(problem):
    """output: logits -> the logits capability; probabilities are their softmax (the server
    sends log p, so softmax gives p back up to float rounding: 1e-12)."""
    model, x, y = problem
    with ModelServer(model, output="logits") as srv:
        target = http_target(srv.url, num_classes=3, output="logits")
        assert "logits" in target.capabilities
        out = target.outputs(x[:10], y[:10])
    np.testing.assert_allclose(out.probs, model.predict_proba(x[:10]), rtol=0, atol=1e-12)


def test_top_k_output_is_a_label_target_with_the_top_k_answers(problem):
    model, x, _ = problem
    p = model.predict_proba(x[:12])
    with ModelServer(model, output="top_k", k=2) as srv:
        target = http_target(srv.url, num_classes=3, output="top_k", top_k=2)
        assert target.capabilities == {"labels"}
        labels, scores = target.predict_top_k(x[:12])
        np.testing.assert_array_equal(target.predict_labels(x[:12]), np.argmax(p, axis=1))
        with pytest.raises(CapabilityError):
            target.predict_proba(x[:12])
        assert srv.records == 12  # the labels came from the cached top-k answers
    order = np.argsort(-p, axis=1, kind="stable")[:, :2]
    np.testing.assert_array_equal(labels, order)
    np.testing.assert_array_equal(scores, np.take_along_axis(p, order, axis=1))
    with ModelServer(model, output="top_k", k=3) as srv:  # the API gives 3, we were told 2
        with pytest.raises(EndpointError, match="3 classes per record, top_k is 2"):
            http_target(srv.url, num_classes=3, output="top_k", top_k=2).predict_labels(x[:3])


def test_labels_output_runs_label_only_attacks_as_the_local_label_only_model(problem):
    """A label API behaves as LabelOnlyTarget(model): the augmentation attack's scores are
    the same through the endpoint as on the local label-only view."""
    model, x, y = problem
    attack_kw = {"n_augmentations": 4}
    with ModelServer(model, output="labels") as srv:
        target = http_target(srv.url, num_classes=3, output="labels")
        assert target.capabilities == {"labels"}
        with pytest.raises(CapabilityError):
            target.outputs(x[:3], y[:3])
        np.testing.assert_array_equal(target.predict_labels(x[:30]), model.predict(x[:30]))
        scores = []
        for view in (LabelOnlyTarget(target), LabelOnlyTarget(SklearnTarget(model))):
            attack = miaudit.make_attack("augmentation", **attack_kw)
            attack.fit(miaudit.AttackerKnowledge(num_classes=3, target=view, seed=3))
            scores.append(attack.score_records(view, x[:40], y[:40]))
    np.testing.assert_array_equal(scores[0], scores[1])


# -- failures ---------------------------------------------------------------------------------
def test_http_500_is_retried_then_a_clear_error(problem, server):
    model, x, _ = problem
    server.fail_first = 1
    target = http_target(server.url, num_classes=3, **FAST)
    np.testing.assert_array_equal(target.predict_proba(x[:4]), model.predict_proba(x[:4]))
    assert server.requests == 2
    # the failed attempt reached the server: it counts against the budget
    assert target.query_ledger.sent_total() == 8
    server.fault = "500"
    with pytest.raises(EndpointUnavailable, match=r"127\.0\.0\.1.*2 attempt\(s\).*HTTP 500"):
        target.predict_proba(x[4:8])
    assert server.requests == 4


def test_client_errors_and_redirects_are_not_retried(problem, server):
    _, x, _ = problem
    target = http_target(server.url, num_classes=3, **FAST)
    server.fault = "401"
    with pytest.raises(EndpointError, match="HTTP 401: .*bad token.*check the headers"):
        target.predict_proba(x[:2])
    server.fault = "redirect"
    with pytest.raises(EndpointError, match="redirected \\(HTTP 307\\) to http://elsewhere"):
        target.predict_proba(x[:2])
    assert server.requests == 2


def test_timeouts_are_retried_then_a_clear_error(problem, server):
    _, x, _ = problem
    server.fault, server.slow_s = "slow", 0.6
    target = http_target(server.url, num_classes=3, timeout_s=0.1, retries=1, backoff_s=0.01)
    start = time.perf_counter()
    with pytest.raises(EndpointUnavailable, match=r"timed out after 0\.1 s"):
        target.predict_proba(x[:3])
    assert time.perf_counter() - start < 1.0
    assert target.query_ledger.sent_total() == 6  # two attempts of 3 records


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        ("malformed", "the answer is not JSON"),
        ("wrong_classes", "rows have 2 probabilities, but the model has num_classes=3"),
        ("nan", "NaN or inf probabilities in 1 of 4 rows"),
        ("not_distribution", "probability rows must sum to 1.*use output: logits"),
    ],
)
def test_bad_answers_are_clear_errors_naming_url_and_batch(problem, server, fault, message):
    _, x, _ = problem
    server.fault = fault
    target = http_target(server.url, num_classes=3, **FAST)
    with pytest.raises(EndpointError, match=message) as info:
        target.predict_proba(x[:4])
    assert server.url in str(info.value) and "batch 1 of 1 (4 records)" in str(info.value)
    assert server.requests == 1  # a bad answer is not retried
    assert target.store.answers_count() == 0  # and not cached


def test_an_answer_with_too_few_rows(problem):
    model, x, _ = problem
    with ModelServer(model) as srv:
        target = http_target(srv.url, num_classes=3, response="outputs.0", **FAST)
        with pytest.raises(EndpointError, match="4 records sent, the answer has 3 rows"):
            target.predict_proba(x[:4])


def test_server_down_is_a_clear_error_that_costs_no_budget(problem):
    _, x, _ = problem
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    target = http_target(f"http://127.0.0.1:{port}/p", num_classes=3, query_budget=10, **FAST)
    with pytest.raises(EndpointUnavailable, match="cannot connect.*rerun the audit to resume"):
        target.predict_proba(x[:4])
    assert target.query_ledger.sent_total() == 0  # refused connections reached nobody


@pytest.mark.parametrize("die_after", [3, 8], ids=["in-the-shared-queries", "in-an-attack"])
def test_server_dying_mid_audit_then_the_rerun_finishes_with_the_remaining_queries(
    problem, tmp_path, die_after
):
    """The server stops after ``die_after`` answers (batches of 40; the shared queries take
    5 requests, so 8 dies in boundary_distance): the audit stops with a clear error, the
    answers received are cached; the rerun against the restarted server sends only the
    remaining records (each record answered once over the two runs) and gives the audit of
    the live model; the budget is never exceeded."""
    model, x, y = problem
    sets = _sets(x, y)
    kw = {
        **sets,
        "attacks": [
            "loss",
            {"name": "boundary_distance", "max_queries_per_record": 8, "n_calibration": 5},
        ],
        "random_queries": 20,
        "bootstrap": 0,
        "progress": False,
    }
    settings = {
        "num_classes": 3,
        "cache_dir": tmp_path,
        "batch_size": 40,
        "query_budget": 2500,
        **FAST,
    }
    first = ModelServer(model)
    first.die_after = die_after
    with pytest.raises(EndpointUnavailable, match="rerun the audit to resume"):
        miaudit.audit(http_target(first.url, **settings), **kw)
    assert first.answered == die_after
    if die_after == 3:
        assert first.records == 120
    with ModelServer(model, port=first.port) as second:
        target = http_target(second.url, **settings)
        assert target.store.answers_count() == first.records
        result = miaudit.audit(target, **kw)
    local = miaudit.audit(model, **kw)
    assert [a.error for a in result.attacks] == [None, None]
    assert [a.metrics.auc for a in result.attacks] == [a.metrics.auc for a in local.attacks]
    distinct = {tuple(r) for r in first.seen} | {tuple(r) for r in second.seen}
    assert first.records + second.records == len(distinct)  # nothing answered twice
    assert not {tuple(r) for r in first.seen} & {tuple(r) for r in second.seen}
    q = result.queries
    assert q["this_run"]["sent"] == second.records
    assert q["sent_all_runs"] <= 2500


def test_budget_reached_the_attacks_that_fit_still_run(problem, tmp_path):
    """Budget 700: the shared 180 queries, augmentation (5 per record: 800) does not fit and
    is skipped with the reason; boundary_distance with 2 per record + its fit (80 labels +
    5 x 2 calibration = 410) fits and runs, and so do the output attacks."""
    model, x, y = problem
    attacks = [
        "loss",
        {"name": "augmentation", "n_augmentations": 4},
        {"name": "boundary_distance", "max_queries_per_record": 2, "n_calibration": 5},
        "confidence",
    ]
    with ModelServer(model) as srv:
        target = http_target(srv.url, num_classes=3, query_budget=700, cache_dir=tmp_path, **FAST)
        result = miaudit.audit(
            target, **_sets(x, y), attacks=attacks, random_queries=20, bootstrap=0, progress=False
        )
        assert srv.records <= 700
    errors = {a.name: a.error for a in result.attacks}
    assert errors["loss"] is None and errors["confidence"] is None
    assert errors["boundary_distance"] is None
    assert errors["augmentation"].startswith("not run: the query budget is reached")
    assert "needs up to 800 target queries" in errors["augmentation"]
    q = result.queries
    assert q["budget"] == 700 and q["sent_all_runs"] <= 700
    assert q["by_attack"]["augmentation"] == {
        "asked": 0,
        "reused": 0,
        "sent": 0,
        "requests": 0,
        "declared": 800,
    }
    assert q["by_attack"]["boundary_distance"]["declared"] == 410
    assert q["by_attack"]["boundary_distance"]["asked"] <= 410


def test_budget_too_small_for_the_shared_queries_sends_nothing(problem, server):
    _, x, y = problem
    target = http_target(server.url, num_classes=3, query_budget=100, **FAST)
    # confidence reads the random queries: 160 audited records + 20 random inputs
    with pytest.raises(QueryBudgetExceeded, match="shared queries: 180.*100 of 100 left"):
        miaudit.audit(
            target, **_sets(x, y), attacks=["confidence"], random_queries=20, progress=False
        )
    assert server.requests == 0


def test_shared_queries_follow_the_scoring_plan(problem, server):
    """Random inputs are counted (and sent) only when an attack reads them (issue 18)."""
    _, x, y = problem
    target = http_target(server.url, num_classes=3, query_budget=100, **FAST)
    with pytest.raises(QueryBudgetExceeded, match="shared queries: 160.*100 of 100 left"):
        miaudit.audit(target, **_sets(x, y), attacks=["loss"], random_queries=20, progress=False)
    assert server.requests == 0


def test_the_budget_holds_across_runs_and_processes(problem, server, tmp_path):
    """The ledger is on disk: a new target object on the same cache sees what was sent, and
    a request the budget cannot take is refused before it is sent."""
    model, x, _ = problem
    http_target(server.url, num_classes=3, query_budget=10, cache_dir=tmp_path).predict_proba(x[:8])
    again = http_target(server.url, num_classes=3, query_budget=10, cache_dir=tmp_path)
    np.testing.assert_array_equal(again.predict_proba(x[:8]), model.predict_proba(x[:8]))
    with pytest.raises(HttpBudgetExceeded, match="needs 3 more queries, 2 of the budget of 10"):
        again.predict_proba(x[5:11])
    assert server.records == 8
    assert again.query_ledger.sent_total() == 8


def test_rate_limit_spaces_the_requests(problem, server):
    _, x, _ = problem
    target = http_target(server.url, num_classes=3, rate_limit=10.0, batch_size=2)
    start = time.perf_counter()
    target.predict_proba(x[:6])  # 3 requests, at least 0.1 s apart
    assert time.perf_counter() - start >= 0.2
    assert server.requests == 3


def test_secret_headers_come_from_the_environment_and_are_never_written(
    problem, server, tmp_path, monkeypatch
):
    _, x, y = problem
    secret = "s3cr3t-token-value"
    monkeypatch.setenv("MIAUDIT_TEST_TOKEN", secret)
    target = http_target(
        server.url,
        num_classes=3,
        cache_dir=tmp_path,
        headers={"Authorization": "env:MIAUDIT_TEST_TOKEN", "X-Client": "miaudit"},
    )
    result = miaudit.audit(
        target, **_sets(x, y), attacks=["loss"], random_queries=5, progress=False
    )
    assert all(h.get("Authorization") == secret for h in server.headers_seen)
    assert secret not in json.dumps(result.to_dict()) and secret not in repr(target)
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes()


def test_the_result_records_the_endpoint_without_its_query_string(problem, server):
    _, x, _ = problem
    target = http_target(server.url + "?version=abc", num_classes=3)
    target.predict_proba(x[:2])
    assert "abc" not in target.description and target.description.endswith("?... (probabilities)")
    with pytest.raises(ConfigError, match="credential in its query"):  # would be published
        http_target(server.url + "?api_key=abc", num_classes=3)
    with pytest.raises(ConfigError, match="must start with http:// or https://"):
        http_target("ftp://127.0.0.1/x", num_classes=3)
