"""Issue 12: text records, tokenizers, the windowed LM scoring (against a slow obvious loop),
the LM kind's signals and the reference engine training LMs (cache, resume, executors)."""

from __future__ import annotations

import json
import math
import zlib

import numpy as np
import pytest
import torch

from miaudit.errors import ConfigError, DataError
from miaudit.kinds import CausalLMKind, LMAnswers
from miaudit.kinds._causal_lm import calibrated_tokens
from miaudit.reference import random_plan, train_references
from miaudit.text import (
    CharTokenizer,
    LMRecipe,
    LMSpec,
    TextRecords,
    TokenAnswers,
    build_lm,
    build_tokenizer,
    pack,
    read_text_file,
    token_answers,
    train_target_lm,
    unpack,
)
from miaudit.text.tokenize import tokenizer_from_json

TEXTS = [
    "First Citizen:\nBefore we proceed any further, hear me speak.",
    "All:\nSpeak, speak.",
    "You are all resolved rather to die than to famish?",
    "Resolved. resolved.",
    "Let us kill him, and we'll have corn at our own price.",
    "No more talking on't; let it be done: away, away!",
]
TINY = LMSpec(layers=1, d_model=16, heads=2, context=8, epochs=2, batch_size=4)


# -- records -------------------------------------------------------------------------------


def test_txt_records_by_line_block_and_chunk(tmp_path):
    path = tmp_path / "r.txt"
    path.write_text("a b\nc d\n\n\ne f\n", encoding="utf-8")
    assert read_text_file(path, unit="line").texts == ("a b", "c d", "e f")
    assert read_text_file(path, unit="block").texts == ("a b\nc d", "e f")
    # chunks: consecutive pieces of the whole text, a shorter last piece dropped
    assert read_text_file(path, unit="chunk", chunk_chars=4).texts == ("a b\n", "c d\n", "\n\ne ")


def test_jsonl_records_with_users(tmp_path):
    path = tmp_path / "r.jsonl"
    rows = [{"text": "hello", "user": "ann"}, {"text": "bye", "user": "bob"}]
    path.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    records = read_text_file(path)
    assert records.texts == ("hello", "bye") and records.users == ("ann", "bob")
    assert records[np.array([1])].users == ("bob",)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'{"text": "ok"}\n{"text": ""}\n', "line 2: the record is empty"),
        (b'{"text": "ok"}\nnot json\n', "line 2 is not JSON"),
        (b'{"text": "ok", "user": "a"}\n{"text": "b"}\n', "some records have a 'user'"),
        (b'{"body": "x"}\n', "string 'text' field"),
    ],
)
def test_bad_jsonl_is_refused_naming_the_line(tmp_path, content, message):
    path = tmp_path / "r.jsonl"
    path.write_bytes(content)
    with pytest.raises(DataError, match=message):
        read_text_file(path)


def test_a_file_that_is_not_utf8_is_refused_in_one_line(tmp_path):
    path = tmp_path / "latin1.txt"
    path.write_bytes("caf\u00e9\n".encode("latin-1"))
    with pytest.raises(DataError, match=r"not UTF-8 text \(invalid byte at offset 3, line 1\)"):
        read_text_file(path)


def test_empty_records_are_refused():
    with pytest.raises(DataError, match="record 1 is empty"):
        TextRecords(("a", "  "))


# -- tokenizers ----------------------------------------------------------------------------


def test_char_tokenizer_round_trip_and_unknown_characters():
    tok = CharTokenizer.fit(TEXTS)
    assert tok.decode(tok.encode(TEXTS[0])) == TEXTS[0]
    assert tok.encode("\u00e9").tolist() == [tok.unk_id]
    again = tokenizer_from_json(tok.to_json())
    assert again.encode(TEXTS[2]).tolist() == tok.encode(TEXTS[2]).tolist()


def test_bpe_tokenizer_round_trip_and_determinism():
    a = build_tokenizer("bpe", TEXTS * 5, vocab_size=300)
    b = build_tokenizer("bpe", TEXTS * 5, vocab_size=300)
    assert a.to_json() == b.to_json()  # same corpus, same vocabulary
    assert a.decode(a.encode(TEXTS[4])) == TEXTS[4]
    assert a.bos_id == 0 and a.vocab_size <= 300
    with pytest.raises(ConfigError, match="vocab_size must be an integer >= 258"):
        build_tokenizer("bpe", TEXTS, vocab_size=100)


# -- scoring against a slow obvious loop ---------------------------------------------------


def _slow_answers(module, seqs, context, bos, truncate=False):
    """One record at a time, one window at a time, every token's full log-softmax."""
    rows = []
    for s in seqs:
        full = [bos, *map(int, s)]
        n = len(full) - 1
        stop = min(n, context) if truncate else n
        logp, mu, var, top1 = [], [], [], []
        for start in range(0, stop, context):
            end = min(start + context, stop)
            ids = torch.tensor([full[start:end]])
            with torch.no_grad():
                lp = torch.log_softmax(module(ids)[0].double(), dim=-1)
            for j in range(end - start):
                dist = lp[j]
                t = full[start + j + 1]
                logp.append(float(dist[t]))
                m = float((dist.exp() * dist).sum())
                mu.append(m)
                var.append(float((dist.exp() * dist * dist).sum()) - m * m)
                top1.append(int(dist.argmax()) == t)
        rows.append((logp, mu, var, top1))
    return rows


@pytest.mark.parametrize("model", ["transformer_lm", "lstm_lm"])
@pytest.mark.parametrize("long_records", ["window", "truncate"])
def test_token_answers_equal_a_slow_loop(model, long_records):
    tok = CharTokenizer.fit(TEXTS)
    spec = LMSpec(model=model, layers=1, d_model=16, heads=2, context=8)
    torch.manual_seed(0)
    module = build_lm(tok.vocab_size, spec).eval()
    seqs = [tok.encode(t) for t in TEXTS]  # every record is longer than the context (8)
    got = token_answers(module, seqs, context=8, bos_id=0, long_records=long_records)
    slow = _slow_answers(module, seqs, 8, 0, truncate=long_records == "truncate")
    for i, (logp, mu, var, top1) in enumerate(slow):
        n = len(logp)
        assert got.mask[i].sum() == n and got.mask[i, :n].all()
        # float32 forward passes of different batch shapes differ in the last bits
        # (~1e-7 relative); 1e-5 is far below any difference an attack could read
        np.testing.assert_allclose(got.logp[i, :n], logp, rtol=0, atol=1e-5)
        np.testing.assert_allclose(got.mu[i, :n], mu, rtol=0, atol=1e-5)
        np.testing.assert_allclose(got.var[i, :n], var, rtol=0, atol=1e-5)
        assert got.top1[i, :n].tolist() == top1
    if long_records == "truncate":
        assert got.lengths.max() == 8


def test_token_answers_validate_their_values():
    mask = np.ones((1, 2), bool)
    with pytest.raises(DataError, match="above 0"):
        TokenAnswers(np.array([[0.5, -1.0]]), -np.ones((1, 2)), np.ones((1, 2)), mask)
    with pytest.raises(DataError, match="NaN or inf"):
        TokenAnswers(np.array([[np.nan, -1.0]]), -np.ones((1, 2)), np.ones((1, 2)), mask)
    with pytest.raises(DataError, match="record 0 has no scored token"):
        TokenAnswers(np.zeros((1, 2)), np.zeros((1, 2)), np.zeros((1, 2)), ~mask)


# -- the kind's signals --------------------------------------------------------------------


def test_kind_signals_against_direct_computation():
    tok = CharTokenizer.fit(TEXTS)
    lm, _ = train_target_lm(TEXTS, tok, TINY, seed=0)
    kind = CausalLMKind(lowercase=True)
    answers = kind.query(lm, TEXTS)
    s = kind.signals(answers)
    # each text scored alone against all in one batch: float32 logits of different batch
    # shapes differ by a few ulps (~1e-7 nats per token); rtol 1e-5 / atol 1e-5 leave room
    # for other CPUs and thread counts and still catch any wrong formula (errors >= 1e-2)
    for i, text in enumerate(TEXTS):
        a = lm.answers([text])
        n = int(a.mask.sum())
        loss = -a.logp[0, :n].mean()
        np.testing.assert_allclose(s["loss"][i], loss, rtol=1e-5)
        np.testing.assert_allclose(s["log_likelihood"][i], -loss * n, rtol=1e-5)
        bits = 8 * len(zlib.compress(text.encode()))
        np.testing.assert_allclose(s["zlib_ratio"][i], loss / bits, rtol=1e-5)
        lower = -lm.answers([text.lower()]).logp.sum() / len(text)
        np.testing.assert_allclose(s["lowercase_ratio"][i], loss / lower, rtol=1e-5)
        z = [
            (a.logp[0, j] - a.mu[0, j]) / math.sqrt(a.var[0, j]) if a.var[0, j] > 1e-12 else 0.0
            for j in range(n)
        ]
        np.testing.assert_allclose(s["token_calibrated"][i, :n], z, rtol=1e-5, atol=1e-5)
    assert s.mask("token_logp").sum() == sum(len(t) for t in TEXTS)


def test_calibrated_tokens_are_zero_for_one_hot_distributions():
    a = TokenAnswers(np.zeros((1, 2)), np.zeros((1, 2)), np.zeros((1, 2)), np.ones((1, 2), bool))
    assert calibrated_tokens(a).tolist() == [[0.0, 0.0]]


def test_lowercase_ratio_needs_the_lowercase_query():
    a = TokenAnswers(-np.ones((1, 2)), -np.ones((1, 2)), np.ones((1, 2)), np.ones((1, 2), bool))
    with pytest.raises(DataError, match="lower-cased records"):
        CausalLMKind().signals(LMAnswers(a, np.ones(1)), ["lowercase_ratio"])


# -- training and the reference engine -----------------------------------------------------


def test_training_is_deterministic_and_learns():
    tok = CharTokenizer.fit(TEXTS)
    spec = LMSpec(layers=1, d_model=32, heads=2, context=64, epochs=40, batch_size=8, lr=3e-3)
    a, loss_a = train_target_lm(TEXTS, tok, spec, seed=3)
    b, loss_b = train_target_lm(TEXTS, tok, spec, seed=3)
    assert loss_a == loss_b
    np.testing.assert_array_equal(a.answers(TEXTS).logp, b.answers(TEXTS).logp)
    assert loss_a < 0.5 * math.log(tok.vocab_size)  # far below a uniform guess: it memorised


def test_pack_and_unpack_are_inverse():
    seqs = [np.array([3, 4, 5]), np.array([7])]
    x = pack(seqs, 5)
    assert x.shape == (2, 5) and x[1, 1:].tolist() == [-1] * 4
    assert [s.tolist() for s in unpack(x)] == [[3, 4, 5], [7]]


def _engine_inputs():
    tok = CharTokenizer.fit(TEXTS)
    x = pack([tok.encode(t) for t in TEXTS])
    return LMRecipe(TINY, tok.to_json()), x, np.zeros(len(x), dtype=np.int64)


def test_reference_lms_resume_from_the_cache_and_agree_across_executors(tmp_path):
    recipe, x, y = _engine_inputs()
    plan = random_plan(len(x), 2, seed=0)
    run = train_references(
        plan, x, y, recipe, queries={"audited": (x, y)}, cache_dir=tmp_path, progress=False
    )
    assert isinstance(run.outputs[0]["audited"], TokenAnswers) and not run.cached.any()
    again = train_references(
        plan,
        x,
        y,
        recipe,
        queries={"audited": (x, y), "first": (x[:2], y[:2])},
        cache_dir=tmp_path,
        progress=False,
    )
    assert again.cached.all()  # "first" was scored from the cached weights, not retrained
    for j in range(2):
        np.testing.assert_array_equal(
            again.outputs[j]["audited"].logp, run.outputs[j]["audited"].logp
        )
        # the same model scoring a subset: equal up to float32 batch-shape rounding
        np.testing.assert_allclose(
            again.outputs[j]["first"].logp,
            run.outputs[j]["audited"].logp[:2, : again.outputs[j]["first"].logp.shape[1]],
            atol=1e-5,
        )
    pooled = train_references(
        plan,
        x,
        y,
        recipe,
        queries={"audited": (x, y)},
        executor="process",
        workers=2,
        progress=False,
    )
    for j in range(2):
        np.testing.assert_array_equal(
            pooled.outputs[j]["audited"].logp, run.outputs[j]["audited"].logp
        )


def test_the_batched_executor_refuses_language_models():
    recipe, x, y = _engine_inputs()
    with pytest.raises(ConfigError, match="language models"):
        train_references(
            random_plan(len(x), 2, seed=0),
            x,
            y,
            recipe,
            queries={},
            executor="batched",
            progress=False,
        )
