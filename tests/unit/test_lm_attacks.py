"""Issue 12: the language-model attacks (contract over LM_ATTACKS, each against a slow loop
or the classifier attack it feeds), the split, and the config's one-line refusals."""

from __future__ import annotations

import numpy as np
import pytest

from miaudit.attacks.lira import LiRA
from miaudit.attacks.lm import (
    LM_ATTACKS,
    LMKnowledge,
    LMReference,
    make_lm_attack,
    smallest_fraction_mean,
)
from miaudit.attacks.rmia import RMIA
from miaudit.errors import ConfigError, DataError, NotFittedError
from miaudit.kinds import Signals
from miaudit.metrics import auc
from miaudit.pipeline.lm_audit import split_records
from miaudit.pipeline.lm_config import parse_lm_config
from miaudit.text import TextRecords

N, L, K = 40, 12, 4


def _signals(rng, member, shift):
    """Synthetic LM signals where members are likelier by ``shift`` nats per token."""
    logp = rng.normal(-2.0, 0.5, (member.size, L)) + shift * member[:, None]
    logp = np.minimum(logp, -1e-3)
    mask = np.ones((member.size, L), bool)
    mask[::3, L // 2 :] = False  # ragged records
    logp = np.where(mask, logp, 0.0)
    loss = -logp.sum(1) / mask.sum(1)
    calibrated = np.where(mask, logp + 2.0, 0.0)
    return Signals(
        member.size,
        {
            "loss": loss,
            "log_likelihood": -loss * mask.sum(1),
            "token_logp": logp,
            "token_calibrated": calibrated,
            "zlib_ratio": loss / 400.0,
            "lowercase_ratio": loss / 2.5,
        },
        {"token_logp": mask, "token_calibrated": mask},
    )


def _knowledge(rng, member, shift=1.0):
    """Reference LMs: random halves (IN records likelier by ``shift``), population ones."""
    is_in = np.zeros((member.size, K), bool)
    for i in range(member.size):
        is_in[i, rng.permutation(K)[: K // 2]] = True
    ref = tuple(_signals(rng, is_in[:, j], shift) for j in range(K))
    pop = tuple(_signals(rng, np.zeros(30, bool), 0.0) for _ in range(K))
    return {
        "random": LMReference(ref, is_in, pop),
        "population": LMReference(
            tuple(_signals(rng, np.zeros(member.size, bool), 0.0) for _ in range(2)),
            np.zeros((member.size, 2), bool),
        ),
        "pop_target": _signals(rng, np.zeros(30, bool), 0.0),
    }


def _fit(name, rng, member, shift=1.0):
    attack = make_lm_attack(name)
    k = _knowledge(rng, member, shift)
    kind = attack.needs().reference
    return attack.fit(
        LMKnowledge(reference=k.get(kind) if kind else None, population=k["pop_target"], seed=0)
    )


@pytest.mark.parametrize("name", LM_ATTACKS.names())
def test_lm_attack_contract(name):
    rng = np.random.default_rng(0)
    member = np.arange(N) % 2 == 0
    target = _signals(rng, member, 1.0)
    attack = make_lm_attack(name)
    with pytest.raises(NotFittedError):
        attack.score_samples(target)
    fitted = _fit(name, np.random.default_rng(1), member)
    before = {k: v.copy() for k, v in target.values.items()}
    scores = fitted.score_samples(target)
    assert scores.dtype == np.float64 and scores.shape == (N,) and np.isfinite(scores).all()
    assert all(np.array_equal(before[k], target[k]) for k in before)  # inputs unchanged
    again = _fit(name, np.random.default_rng(1), member).score_samples(target)
    np.testing.assert_array_equal(scores, again)  # deterministic
    assert auc(member, scores) > 0.9  # separable data, scored the right way round
    assert fitted.threat_model.paper


def test_min_k_against_a_slow_loop():
    rng = np.random.default_rng(2)
    values = rng.normal(size=(6, 9))
    mask = np.ones((6, 9), bool)
    mask[2, 4:] = False
    mask[5, 1:] = False
    for k in (5.0, 20.0, 50.0, 100.0):
        got = smallest_fraction_mean(values, mask, k)
        for i in range(6):
            real = sorted(values[i][mask[i]])
            count = max(1, int(len(real) * k / 100))
            assert got[i] == pytest.approx(np.mean(real[:count]), abs=1e-12)


def test_lm_lira_and_lm_rmia_are_the_classifier_attacks_on_lm_signals():
    rng = np.random.default_rng(3)
    member = np.arange(N) % 2 == 0
    target = _signals(rng, member, 1.0)
    k = _knowledge(np.random.default_rng(4), member)
    ref = k["random"]
    lira = make_lm_attack("lm_lira").fit(LMKnowledge(reference=ref))
    direct = LiRA().fit_signal(-ref.stack("loss")[:, :, None], ref.audited_in)
    np.testing.assert_array_equal(
        lira.score_samples(target), direct.score_signal(-target["loss"][:, None])
    )
    rmia = make_lm_attack("lm_rmia", a=0.3).fit(
        LMKnowledge(reference=ref, population=k["pop_target"])
    )
    z = -ref.stack_population("loss")
    direct = RMIA(a=0.3).fit_log_probs(
        -ref.stack("loss"), ref.audited_in, z, np.zeros(z.shape, bool), -k["pop_target"]["loss"]
    )
    np.testing.assert_array_equal(
        rmia.score_samples(target), direct.score_log_probs(-target["loss"])
    )


def test_reference_ratio_refuses_references_that_saw_audited_records():
    rng = np.random.default_rng(5)
    member = np.arange(N) % 2 == 0
    k = _knowledge(rng, member)
    with pytest.raises(DataError, match="population only"):
        make_lm_attack("reference_ratio").fit(LMKnowledge(reference=k["random"]))


def test_lm_attack_parameters_are_checked():
    with pytest.raises(ConfigError):
        make_lm_attack("min_k", k=0)
    with pytest.raises(ConfigError):
        make_lm_attack("reference_ratio", form="log")


# -- the split -----------------------------------------------------------------------------


def _records(users=True):
    texts = tuple(f"record {i}" for i in range(60))
    return TextRecords(texts, tuple(f"u{i // 5}" for i in range(60)) if users else None)


def test_record_split_is_disjoint_and_seeded():
    s = split_records(_records(), members=10, nonmembers=10, population=20, seed=1)
    parts = [set(s.members), set(s.nonmembers), set(s.population)]
    assert [len(p) for p in parts] == [10, 10, 20]
    assert not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])
    t = split_records(_records(), members=10, nonmembers=10, population=20, seed=1)
    assert np.array_equal(s.members, t.members)


def test_user_split_keeps_each_users_records_together():
    records = _records()
    s = split_records(records, members=10, nonmembers=10, population=None, by="user", seed=0)
    users = [{records.users[i] for i in part} for part in (s.members, s.nonmembers, s.population)]
    assert not (users[0] & users[1] or users[0] & users[2] or users[1] & users[2])
    assert s.members.size >= 10 and s.nonmembers.size >= 10


def test_split_errors():
    with pytest.raises(ConfigError, match="asks for 70 records"):
        split_records(_records(), members=30, nonmembers=30, population=10)
    with pytest.raises(ConfigError, match="needs records with users"):
        split_records(_records(users=False), members=5, nonmembers=5, population=5, by="user")


# -- the config ----------------------------------------------------------------------------

BASE = {
    "text": {"corpus": "tiny_shakespeare", "unit": "chunk", "chunk_chars": 64},
    "split": {"members": 10, "nonmembers": 10, "population": 20},
    "target": {"model": "transformer_lm", "epochs": 1},
    "attacks": "all",
}


def _with(path, value):
    raw = {k: dict(v) if isinstance(v, dict) else v for k, v in BASE.items()}
    keys = path.split(".")
    node = raw
    for key in keys[:-1]:
        node = node.setdefault(key, {})
    node[keys[-1]] = value
    return raw


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("target.epoch", 3, "unknown language-model parameter 'epoch'.*did you mean 'epochs'"),
        ("target.layers", "two", r"target layers must be an integer in \[1, 256\]"),
        ("target.layers", 10**9, "target layers must be"),
        ("target.d_model", 10**6, r"target d_model must be an integer in \[1, 16384\]"),
        ("target.model", "gpt", "unknown language model 'gpt'"),
        ("target.heads", 3, "must be a multiple of heads"),
        ("target.long_records", "wrap", "long_records must be one of window, truncate"),
        ("text.unit", "page", "text.unit must be one of"),
        ("text.corpus", "shakespeare", "unknown text corpus"),
        ("split.by", "speaker", "split.by must be 'record' or 'user'"),
        ("split.members", 0, "split.members"),
        ("tokenizer.kind", "word", "tokenizer.kind must be 'char' or 'bpe'"),
        ("tokenizer", {"kind": "bpe", "vocab_size": 10}, "tokenizer.vocab_size"),
        ("tokenizer.vocab_size", 300, "vocab_size applies to kind: bpe"),
        ("reference.executor", "batched", "serial, process or ray"),
        ("attacks", ["min_k", "mink"], "unknown language-model attack 'mink'"),
        ("attacks", [{"name": "min_k", "k": 200}], "attack min_k"),
        ("seed", -1, "seed"),
        ("colour", "red", "unknown key 'colour'"),
    ],
)
def test_bad_lm_configs_are_refused_in_one_line(path, value, message):
    with pytest.raises(ConfigError, match=message) as info:
        parse_lm_config(_with(path, value), source="c.yaml")
    assert "\n" not in str(info.value)


def test_config_file_paths_and_population_needs_are_checked(tmp_path):
    raw = _with("text", {"path": str(tmp_path / "missing.txt")})
    with pytest.raises(ConfigError, match="does not exist"):
        parse_lm_config(raw)
    with pytest.raises(ConfigError, match="set split.population above 0"):
        parse_lm_config(_with("split.population", 0))
    hf = _with("target", {"hf": str(tmp_path)})
    with pytest.raises(ConfigError, match="cannot draw them"):
        parse_lm_config(hf)
    hf["split"] = {"members": [0, 1], "nonmembers": [2, 3], "population": 5}
    with pytest.raises(ConfigError, match="set target.base"):
        parse_lm_config(hf)
    with pytest.raises(ConfigError, match="split.nonmembers lists records"):
        parse_lm_config(_with("split", {"members": 3, "nonmembers": [1, 2]}))


def test_labels_tell_variants_of_one_attack_apart():
    raw = _with(
        "attacks",
        [{"name": "lm_lira"}, {"name": "lm_lira", "fixed_variance": True, "label": "lira_fv"}],
    )
    config = parse_lm_config(raw)
    assert config.labels == ("lm_lira", "lira_fv")
    assert config.attacks[1].fixed_variance is True
    with pytest.raises(ConfigError, match="share a label"):
        parse_lm_config(_with("attacks", ["min_k", {"name": "min_k", "k": 5}]))
