"""Issue 13 part 2: per-user p-values of the user-level audit (against a slow loop, valid
under exchangeability, valid on non-member users of a tiny LM), and ``miaudit user-audit``
(one-line config errors with exit 2 before any training, both files written, names
escaped in the report)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import stats

from miaudit.cli import main
from miaudit.errors import ConfigError
from miaudit.pipeline.user_audit import UserLevelAudit, empirical_p_values
from miaudit.report.user_audit import render_user_audit_html
from miaudit.text import CharTokenizer, LMRecipe, LMSpec, TextRecords, train_target_lm

LETTERS = np.array(list("abcdefgh"))


def _slow_p(s, null):
    return (1 + sum(1 for z in null if z >= s)) / (1 + len(null))


def test_empirical_p_values_match_a_slow_loop_with_ties():
    rng = np.random.default_rng(0)
    null = rng.integers(0, 5, size=23).astype(float)
    scores = np.r_[rng.integers(-1, 7, size=40).astype(float), null[:3]]
    got = empirical_p_values(scores, null)
    want = [_slow_p(s, null) for s in scores]
    np.testing.assert_allclose(got, want, rtol=0, atol=0)
    assert got.dtype == np.float64


def test_p_values_are_valid_for_exchangeable_tied_scores():
    """Scores on 4 values (many ties): a p-value counting only strictly larger null scores
    would reject about 4x too often; (1 + #{null >= s}) / (1 + n) rejects at most alpha."""
    rng = np.random.default_rng(1)
    draws, n_null, alpha = 4000, 19, 0.05
    x = rng.integers(0, 4, size=(draws, n_null + 1)).astype(float)
    rejected = sum(bool(empirical_p_values(row[:1], row[1:])[0] <= alpha) for row in x)
    lo, _ = stats.binomtest(rejected, draws).proportion_ci(0.95, method="exact")
    assert lo <= alpha, rejected / draws


def _records(users, texts, length, seed, names=None):
    rng = np.random.default_rng(seed)
    out, who = [], []
    for u in range(users):
        for _ in range(texts):
            out.append("".join(rng.choice(LETTERS, size=length)))
            who.append(names[u] if names else f"user{u}")
    return TextRecords(tuple(out), tuple(who), "random")


SPEC = LMSpec(layers=1, d_model=32, heads=2, context=16, epochs=150, batch_size=32, lr=1e-2)


def test_user_p_values_are_valid_on_non_members_and_powerful_on_memorised_members():
    """Random strings: members' texts memorised (rank-1 share about 0.9 against 1/8), so
    each member scores above all 19 reference users (p = 1/20 <= 0.05); non-member users and
    reference users are exchangeable, so non-members' p-values are uniform on 1/20..1."""
    records = _records(47, 3, 16, seed=0)
    users = [f"user{u}" for u in range(47)]
    members, nonmembers = users[:4], users[4:20]
    refs, shadow = users[20:39], users[39:]
    tok = CharTokenizer.fit(records.texts)
    member_texts = [t for t, u in zip(records.texts, records.users, strict=True) if u in members]
    target, loss = train_target_lm(member_texts, tok, SPEC, seed=0)
    assert loss < 0.5
    audit = UserLevelAudit(
        LMRecipe(SPEC, tok.to_json()), num_shadow=2, shadow_members=4, seed=0
    ).fit(records, shadow)
    truth = np.r_[np.ones(4, bool), np.zeros(16, bool)]
    r = audit.audit(
        target, members + nonmembers, membership=truth, bootstrap=0, reference_users=refs
    )
    assert r.null == "reference_users" and r.null_scores.shape == (19,)
    np.testing.assert_array_equal(r.p_values, [_slow_p(s, r.null_scores) for s in r.scores])
    np.testing.assert_array_equal(r.reject, r.p_values <= 0.05)
    assert r.reject[truth].all()  # power: every memorised member
    rejected = int(r.reject[~truth].sum())
    lo, _ = stats.binomtest(rejected, 16).proportion_ci(0.95, method="exact")
    assert lo <= 0.05, rejected  # validity on the non-member users
    assert np.median(r.p_values[~truth]) > 0.2
    # without reference users: the cross-fitted shadow-out null (2 models x 4 out users)
    out = audit.audit(target, members + nonmembers, bootstrap=0)
    assert out.null == "shadow_out" and out.null_scores.shape == (8,)
    np.testing.assert_array_equal(out.p_values[truth], 1 / 9)  # above every null score
    assert np.median(out.p_values[~truth]) > 0.2
    with pytest.raises(ConfigError, match="both a reference user and audited"):
        audit.audit(target, members, reference_users=[members[0], *refs])
    with pytest.raises(ConfigError, match="both a reference user and a shadow user"):
        audit.audit(target, members, reference_users=[shadow[0]])
    with pytest.raises(ConfigError, match="alpha"):
        audit.audit(target, members, alpha=1.5)


def _write_data(tmp_path, names):
    records = _records(len(names), 3, 16, seed=2, names=names)
    path = tmp_path / "users.jsonl"
    path.write_text(
        "\n".join(
            json.dumps({"text": t, "user": u})
            for t, u in zip(records.texts, records.users, strict=True)
        )
    )
    return path


def _config(tmp_path, data, **user_audit):
    ua = {
        "members": 3,
        "nonmembers": 3,
        "reference_users": 19,
        "shadow_users": 6,
        "num_shadow": 2,
        "shadow_members": 3,
        "texts_per_user": 3,
        "alpha": 0.05,
        **user_audit,
    }
    cfg = {
        "title": "tiny <users> audit",
        "text": {"path": str(data), "unit": "line"},
        "target": {
            "model": "transformer_lm",
            "layers": 1,
            "d_model": 16,
            "heads": 2,
            "context": 16,
            "epochs": 30,
            "batch_size": 32,
            "lr": 0.01,
        },
        "user_audit": ua,
        "evaluation": {"bootstrap": 0},
        "output": str(tmp_path / "out"),
    }
    path = tmp_path / "user.yaml"
    path.write_text(json.dumps(cfg))  # JSON is YAML
    return path


NAMES = ["<b>&amp\"o'neil", *[f"user{u}" for u in range(30)]]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"members": ["nobody"]}, "unknown user 'nobody'"),
        ({"members": ["user1"], "shadow_users": ["user1", "user2", "user3"]}, "in both"),
        ({"shadow_users": 1}, "at least 2 shadow users"),
        ({"shadow_members": 6}, "shadow_members"),
        ({"alpha": 0}, "alpha"),
        ({"alpha": "0.05"}, "alpha"),
        ({"reference_users": 5}, "at least 19 reference users"),
        ({"reference_users": 30}, "only"),
        ({"classifier": "svm"}, "classifier"),
        ({"texts_per_user": 4}, "fewer than texts_per_user"),
        ({"membrs": 3}, "membrs"),
    ],
)
def test_config_errors_are_one_line_exit_2_before_training(tmp_path, capsys, change, message):
    data = _write_data(tmp_path, NAMES)
    if change.get("texts_per_user") == 4:
        change = {**change, "members": ["user1"]}
    cfg = _config(tmp_path, data, **change)
    code = main(["user-audit", str(cfg)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and message in err, err
    assert not (tmp_path / "out" / "user_audit.json").exists()


def test_cli_writes_json_and_escaped_html(tmp_path, capsys):
    data = _write_data(tmp_path, NAMES)
    cfg = _config(tmp_path, data, members=[NAMES[0], "user1", "user2"])
    assert main(["user-audit", str(cfg), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "user_audit.json" in printed
    doc = json.loads((tmp_path / "out" / "user_audit.json").read_text())
    assert doc["kind"] == "user_audit" and doc["null"] == "reference_users"
    assert doc["n_null"] == 19 and len(doc["users"]) == 6
    assert doc["roles"]["members"][0] == NAMES[0]
    for row in doc["users"]:
        assert row["p_value"] == _slow_p(row["score"], doc["null_scores"])
        assert row["reject"] == (row["p_value"] <= 0.05)
    html = (tmp_path / "out" / "user_audit.html").read_text()
    assert "&lt;b&gt;&amp;amp&quot;o&#x27;neil" in html
    assert "<b>&amp" not in html and "tiny &lt;users&gt; audit" in html
    assert html.index("Answer") < html.index("Users") < html.index("what it assumes")


def test_report_escapes_names_in_the_answer():
    doc = {
        "answer": "1 of 1 audited users' texts were used: <script>x</script>",
        "alpha": 0.05,
        "null": "reference_users",
        "n_null": 3,
        "classifier": "logistic",
        "texts_per_user": 2,
        "shadow_accuracy": 0.8,
        "auc": None,
        "users": [
            {"user": "<script>", "member": None, "score": 1.0, "p_value": 0.25, "reject": True}
        ],
    }
    html = render_user_audit_html(doc, np.array([0.0, 0.5, 2.0]))
    assert "<script>" not in html and "&lt;script&gt;" in html
