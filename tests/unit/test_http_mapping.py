"""The HTTP target's request/response mapping and config section, without a server:
request bodies of each template, answer paths, every answer check, the config keys."""

from __future__ import annotations

import json

import numpy as np
import pytest

from miaudit.errors import ConfigError
from miaudit.targets.http import (
    URL_KEYS,
    EndpointError,
    check_url_section,
    make_mapping,
    target_from_url_section,
)
from miaudit.targets.http._mapping import parse_answer, parse_path, record_json, request_body


def _body(mapping, x):
    return json.loads(request_body(mapping, [record_json(r) for r in x], x.shape[1:], x.dtype))


X = np.array([[0.1, -2.0, 3.5], [1e-300, 4.0, -0.0]])


@pytest.mark.parametrize(
    ("request_", "expected"),
    [
        (None, {"inputs": X.tolist()}),
        ("kserve", {"instances": X.tolist()}),
        ("torchserve", X.tolist()),
        (
            {"batch": {"rows": "$inputs", "n": "$n"}, "model": "v3"},
            {"batch": {"rows": X.tolist(), "n": 2}, "model": "v3"},
        ),
    ],
)
def test_request_bodies(request_, expected):
    assert _body(make_mapping(request_), X) == expected


def test_kserve_v2_body_is_one_flat_tensor_with_shape_and_datatype():
    x32 = X.astype(np.float32)
    body = _body(make_mapping("kserve_v2"), x32)
    tensor = body["inputs"][0]
    assert tensor["shape"] == [2, 3] and tensor["datatype"] == "FP32"
    assert tensor["data"] == x32.ravel().tolist()
    images = np.arange(2 * 2 * 3, dtype=np.float64).reshape(2, 1, 2, 3)
    tensor = _body(make_mapping("kserve_v2"), images)["inputs"][0]
    assert tensor["shape"] == [2, 1, 2, 3] and tensor["datatype"] == "FP64"
    assert tensor["data"] == images.ravel().tolist()


def test_records_travel_exactly():
    """float32 and float64 values read back bit for bit from the body (repr is the shortest
    text that round-trips a double; a float32 is exactly a double)."""
    rng = np.random.default_rng(1)
    for dtype in (np.float32, np.float64):
        x = rng.normal(size=(50, 4)).astype(dtype)
        back = np.asarray(_body(make_mapping(), x)["inputs"], dtype=np.float64)
        np.testing.assert_array_equal(back, x.astype(np.float64))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"request": "kserv"}, "unknown request template 'kserv' .*kserve"),
        ({"request": {"data": [1, 2]}}, 'exactly one "\\$inputs"'),
        ({"request": {"a": "$inputs", "b": "$inputs_flat"}}, "found 2"),
        ({"response": {"outputs": "p", "extra": 1}}, "unknown response key"),
        ({"response": "a..b"}, "empty segment"),
        ({"response": 3}, "response must be a template name"),
        ({"output": "top_k", "response": {"labels": "l"}}, "both 'labels' and 'scores'"),
        ({"output": "labels", "response": {"outputs": "p", "flat": True}}, "not labels"),
        ({"output": "proba"}, "output must be one of"),
    ],
)
def test_bad_mappings_are_config_errors(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        make_mapping(**kwargs)


def test_paths():
    assert parse_path("outputs.0.data") == ["outputs", 0, "data"]
    assert parse_path("$") == [] and parse_path("") == [] and parse_path("$.a") == ["a"]
    m = make_mapping(response="result.*.probs")
    doc = {"result": [{"probs": [0.25, 0.75]}, {"probs": [1.0, 0.0]}]}
    assert parse_answer(doc, m, n=2, num_classes=2, top_k=None, what="w") == [
        [0.25, 0.75],
        [1.0, 0.0],
    ]
    with pytest.raises(EndpointError, match="no 'probs' at path 'result.\\*.probs'.*keys: p"):
        parse_answer({"result": [{"p": 1}]}, m, n=1, num_classes=2, top_k=None, what="w")


def _check(doc, *, output="probabilities", n=2, c=3, top_k=None, response=None):
    m = make_mapping(response=response, output=output)
    return parse_answer(doc, m, n=n, num_classes=c, top_k=top_k, what="URL: batch 1")


@pytest.mark.parametrize(
    ("doc", "kwargs", "message"),
    [
        ({"outputs": [[0.2, 0.8, 0.0]]}, {}, "2 records sent, the answer has 1 rows"),
        (
            {"outputs": [[0.2, 0.8], [0.5, 0.5]]},
            {},
            "rows have 2 probabilities, but the model has num_classes=3",
        ),
        ({"outputs": [[0.2, 0.8, 0.0], [0.5, 0.5]]}, {}, "rows of different lengths"),
        ({"outputs": [[0.2, 0.8, "x"], [0.5, 0.5, 0]]}, {}, "expected numbers, found 'x'"),
        ({"outputs": [[0.2, 0.8, True], [0.5, 0.5, 0]]}, {}, "expected numbers, found True"),
        ({"outputs": [[0.2, 0.8, None], [0.5, 0.5, 0]]}, {}, "expected numbers, found None"),
        (
            json.loads('{"outputs": [[NaN, 0.5, 0.5], [0.5, 0.5, 0]]}'),
            {},
            "NaN or inf probabilities in 1 of 2",
        ),
        ({"outputs": [[0.2, 0.7, 0.0], [0.5, 0.5, 0]]}, {}, "row 0 sums to 0.9.*output: logits"),
        ({"outputs": [[1.2, -0.2, 0.0], [0.5, 0.5, 0]]}, {}, "outside \\[0, 1\\]"),
        ({"predictions": []}, {}, "no 'outputs' at path 'outputs'.*keys: predictions"),
        ({"outputs": {"a": 1}}, {}, "expected a list, got an object"),
        ({"outputs": [0, 3]}, {"output": "labels"}, "labels \\[3\\] outside the classes 0..2"),
        ({"outputs": [0, 1.5]}, {"output": "labels"}, "class indices must be integers"),
        ({"outputs": [[0], [1]]}, {"output": "labels"}, "one label per record"),
        (
            {"outputs": [0.1, 0.9, 0.3, 0.7]},
            {"response": {"outputs": "outputs", "flat": True}},
            "flat answer of 4 values cannot be 2 records x 3",
        ),
    ],
)
def test_bad_answers(doc, kwargs, message):
    with pytest.raises(EndpointError, match=message) as info:
        _check(doc, **kwargs)
    assert str(info.value).startswith("URL: batch 1: ")


def test_good_answers():
    assert _check({"outputs": [[0.2, 0.8, 0.0], [0, 1, 0]]}) == [[0.2, 0.8, 0.0], [0.0, 1.0, 0.0]]
    assert _check({"outputs": [2.0, 0]}, output="labels") == [2, 0]  # integral floats are labels
    logits = {"outputs": [[-3.0, 40.0, 7.5], [0, 0, 0]]}
    assert _check(logits, output="logits") == [[-3.0, 40.0, 7.5], [0.0, 0.0, 0.0]]
    flat = {"outputs": [0.1, 0.9, 0.0, 0.3, 0.3, 0.4]}
    assert _check(flat, response={"outputs": "outputs", "flat": True}) == [
        [0.1, 0.9, 0.0],
        [0.3, 0.3, 0.4],
    ]


def test_top_k_answers():
    ok = {
        "outputs": [
            {"labels": [2, 0], "scores": [0.7, 0.2]},
            {"labels": [1, 2], "scores": [0.5, 0.5]},
        ]
    }
    assert _check(ok, output="top_k", top_k=2)[0] == {"labels": [2, 0], "scores": [0.7, 0.2]}
    bad = [
        ({"labels": [2, 2], "scores": [0.7, 0.2]}, "repeat a class"),
        ({"labels": [2, 0], "scores": [0.7, 0.6]}, "sum to 1.3 > 1"),
        ({"labels": [2, 5], "scores": [0.7, 0.2]}, "outside the classes"),
        ({"labels": [2, 0], "scores": [0.7]}, "top-k scores\\): rows of different lengths"),
    ]
    for first, message in bad:
        doc = {"outputs": [first, ok["outputs"][1]]}
        with pytest.raises(EndpointError, match=message):
            _check(doc, output="top_k", top_k=2)
    short = {"outputs": [{"labels": [2, 0], "scores": [0.7]}, {"labels": [1, 2], "scores": [0.5]}]}
    with pytest.raises(EndpointError, match="must both be \\(n, k\\)"):
        _check(short, output="top_k", top_k=2)
    with pytest.raises(EndpointError, match="2 classes per record, top_k is 1"):
        _check(ok, output="top_k", top_k=1)
    # a template's top-k paths: <root>.*.labels / .scores; or paths of one's own
    m = make_mapping("kserve", output="top_k")
    assert (m.labels, m.scores) == ("predictions.*.labels", "predictions.*.scores")
    columns = {"top": {"classes": [[1, 0]], "probs": [[0.6, 0.4]]}}
    own = make_mapping(response={"labels": "top.classes", "scores": "top.probs"}, output="top_k")
    got = parse_answer(columns, own, n=1, num_classes=2, top_k=None, what="w")
    assert got == [{"labels": [1, 0], "scores": [0.6, 0.4]}]


# -- the config section ---------------------------------------------------------------------
def test_config_section_defaults_and_keys():
    s = check_url_section({"url": "https://api.example.com/v1/models/m:predict"}, source="a.yaml")
    assert set(s) == set(URL_KEYS)
    assert s["output"] == "probabilities" and s["retries"] == 2 and s["timeout_s"] == 10.0
    assert s["query_budget"] is None and s["headers"] == {}
    assert check_url_section(s, source="a.yaml") == s  # a checked section checks again as is


@pytest.mark.parametrize(
    ("section", "message"),
    [
        (
            {"url": "http://h/p", "query_bugdet": 5},
            "a.yaml: unknown key 'query_bugdet' in target; did you mean 'query_budget'",
        ),
        ({"url": "ftp://h/p"}, "a.yaml: target: url must start with http:// or https://"),
        ({"url": "file:///etc/passwd"}, "must start with http:// or https://"),
        ({"url": "http://user:pw@h/p"}, "must not carry credentials"),
        ({"url": "http://h/p?version=2&api_key=abc"}, r"credential in its query \(api_key\)"),
        ({"url": "http://h/p?X-Amz-Signature=abc"}, "credential in its query"),
        ({"url": "http:///p"}, "has no host"),
        ({}, "'url' is missing"),
        ({"url": "http://h/p", "output": "scores"}, "'output' must be one of"),
        ({"url": "http://h/p", "top_k": 3}, "'top_k' is for output: top_k"),
        ({"url": "http://h/p", "query_budget": -1}, "'query_budget'"),
        ({"url": "http://h/p", "retries": 1.5}, "'retries'"),
        ({"url": "http://h/p", "timeout_s": 0}, "'timeout_s' must be > 0"),
        ({"url": "http://h/p", "rate_limit": "5/s"}, "'rate_limit'"),
        ({"url": "http://h/p", "request": "kserv"}, "unknown request template"),
        (
            {"url": "http://h/p", "headers": {"Authorization": "Bearer abc"}},
            "looks like a credential: give it as env:VARIABLE",
        ),
        ({"url": "http://h/p", "headers": {"X-Api-Key": "abc"}}, "looks like a credential"),
        (
            {"url": "http://h/p", "headers": {"Authorization": "env:MIAUDIT_UNSET_VAR_X"}},
            "'MIAUDIT_UNSET_VAR_X', which is not set",
        ),
        ({"url": "http://h/p", "headers": ["a"]}, "headers must be a mapping"),
        ({"url": "http://h/p", "cache_dir": 3}, "'cache_dir' must be a path string"),
    ],
)
def test_config_section_errors(section, message):
    with pytest.raises(ConfigError, match=message):
        check_url_section(section, source="a.yaml")


def test_config_headers_from_the_environment_stay_references(monkeypatch, tmp_path):
    monkeypatch.setenv("MIAUDIT_T", "tok")
    section = {
        "url": "http://127.0.0.1:9/p",
        "headers": {"Authorization": "env:MIAUDIT_T", "X-Model": "v2"},
        "num_classes": 3,
    }
    s = check_url_section(section, source="c")
    assert s["headers"] == {"Authorization": "env:MIAUDIT_T", "X-Model": "v2"}
    target = target_from_url_section(s, num_classes=3, cache_dir=tmp_path)
    assert target.client.headers["Authorization"] == "tok"
    assert target.store.path is not None and tmp_path in target.store.path.parents
    with pytest.raises(ConfigError, match="num_classes is 3 but the data have 4"):
        target_from_url_section(s, num_classes=4, cache_dir=None)


def test_backoff_doubles_and_honours_retry_after():
    from miaudit.targets.http import http_target

    client = http_target("http://127.0.0.1:9/p", num_classes=2, backoff_s=0.5).client
    assert [client._wait(i) for i in (1, 2, 3)] == [0.5, 1.0, 2.0]
    client._retry_after = 3.0
    assert client._wait(1) == 3.0 and client._wait(4) == 4.0
    client._retry_after = 1e6
    assert client._wait(1) == 300.0  # capped
