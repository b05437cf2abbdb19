"""Canary exposure (Carlini et al. 2019, "The Secret Sharer"): formats, drawing and
insertion, the exposure formula against an obvious sorting loop, the prefix-tree scorer
against full scoring, the skew-normal estimate against exact enumeration, and a real tiny
training where canaries inserted 64 times are more exposed than controls."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from miaudit.errors import ConfigError
from miaudit.text import LMSpec, build_tokenizer, train_target_lm
from miaudit.text._candidates import candidate_nll, enumerate_nll
from miaudit.text.canaries import (
    SkewNormalFit,
    draw_canaries,
    exact_rank,
    insert_canaries,
    parse_format,
    random_exposure,
)
from miaudit.text.exposure import measure_exposure

WORDS = "the a of and to in is was he she it that with for as his her on by at".split()
FORMAT = "pin {digits:4}"


def _corpus(n: int = 120, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(WORDS, size=8)) for _ in range(n)]


@pytest.fixture(scope="module")
def trained():
    """A tiny char transformer trained on 120 short records plus 2 canaries inserted 64
    times each; 6 controls drawn from the same format are never inserted."""
    fmt = parse_format(FORMAT)
    canaries = draw_canaries(fmt, [64], 2, 6, seed=0)
    train = insert_canaries(_corpus(), canaries, seed=0)
    tok = build_tokenizer("char", train + ["0123456789!"])
    spec = LMSpec(layers=1, d_model=48, heads=2, context=48, epochs=10, batch_size=16, lr=5e-3)
    lm, _ = train_target_lm(train, tok, spec, seed=0)
    return lm, fmt, canaries


def test_format_slots_size_and_order():
    fmt = parse_format("id {digits:2}-{letters:1} {{x}}", alphabet="xyz")
    assert fmt.size == 300 and math.isclose(fmt.log2_size, math.log2(300))
    assert fmt.render([4, 2, 1]) == "id 42-y {x}"
    assert fmt.index([4, 2, 1]) == 4 * 30 + 2 * 3 + 1
    assert all(fmt.index(fmt.choice(i)) == i for i in range(fmt.size))


@pytest.mark.parametrize(
    "text, alphabet, problem",
    [
        ("no slot here", "ab", "no slot"),
        ("x {digits:0}", "ab", "1 to 64"),
        ("x {hex:4}", "ab", "unknown slot"),
        ("x {digits}", "ab", "bad slot"),
        ("x } {digits:2}", "ab", "unmatched"),
        ("x {letters:3}", "a", "at least 2 distinct"),
        ("x {letters:3}", "aba", "at least 2 distinct"),
        ("x" * 1000 + "{digits:2}", "ab", "at most 1000"),
        ("", "ab", "non-empty"),
    ],
)
def test_bad_formats_are_refused(text, alphabet, problem):
    with pytest.raises(ConfigError, match=problem):
        parse_format(text, alphabet=alphabet)


def test_draw_and_insert_are_seeded_and_complete():
    fmt = parse_format("c {digits:3}")
    a = draw_canaries(fmt, [1, 4], 3, 5, seed=7)
    assert a == draw_canaries(fmt, [1, 4], 3, 5, seed=7)
    assert a != draw_canaries(fmt, [1, 4], 3, 5, seed=8)
    assert len({c.text for c in a}) == 11
    assert [c.repetitions for c in a] == [1] * 3 + [4] * 3 + [0] * 5
    texts = _corpus(20)
    train = insert_canaries(texts, a, seed=1)
    assert train == insert_canaries(texts, a, seed=1)
    assert len(train) == 20 + 15
    assert [t for t in train if not t.startswith("c ")] == texts  # order kept
    for c in a:
        assert train.count(c.text) == c.repetitions
    with pytest.raises(ConfigError, match="distinct canaries"):
        draw_canaries(parse_format("{digits:1}"), [1], 8, 3, seed=0)


def test_random_exposure_is_the_mean_over_uniform_ranks():
    n = 1000
    by_hand = np.mean([math.log2(n) - math.log2(k) for k in range(1, n + 1)])
    assert math.isclose(random_exposure(n), by_hand, rel_tol=1e-12)
    assert abs(random_exposure(10**6) - 1 / math.log(2)) < 1e-4
    assert random_exposure(10**30) == 1 / math.log(2)


@pytest.mark.parametrize("fmt_text", ["pin {digits:3}", "{digits:1}pin{digits:2}!"])
def test_prefix_tree_scores_equal_full_scoring(trained, fmt_text):
    lm = trained[0]
    fmt = parse_format(fmt_text)
    texts = [fmt.render(fmt.choice(i)) for i in range(fmt.size)]
    np.testing.assert_allclose(
        enumerate_nll(lm, fmt, batch=64), candidate_nll(lm, texts), atol=1e-4
    )


def test_exposure_equals_a_slow_sorting_loop(trained):
    """Rank every candidate by sorting their log-perplexities (TorchLM.answers one text at
    a time); exposure = log2 |R| - log2 rank, the best rank among ties, the other inserted
    canaries left out of each canary's ranking (one canary per model, as the paper)."""
    lm = trained[0]
    fmt = parse_format("pin {digits:3}!")
    canaries = draw_canaries(fmt, [1], 3, 3, seed=3)
    slow = []
    for i in range(fmt.size):
        text = fmt.render(fmt.choice(i))
        slow.append((float(-lm.answers([text]).log_likelihood()[0]), text))
    slow.sort()
    result = measure_exposure(lm, fmt, canaries, exact_limit=fmt.size)
    assert result.method == "exact" and result.scored == 1000
    for c, row in zip(canaries, result.canaries, strict=True):
        mine = next(v for v, t in slow if t == c.text)
        others = {o.text for o in canaries if o.repetitions > 0 and o.text != c.text}
        rank = 1 + sum(v < mine for v, t in slow if t not in others)
        # one-at-a-time and prefix-tree scores differ by float32 rounding (< 1e-4 nats):
        # only candidates that close to the canary may change sides on another CPU
        near = sum(abs(v - mine) < 1e-4 and t != c.text for v, t in slow if t not in others)
        assert abs(row.rank - rank) <= near
        assert math.isclose(row.exposure, math.log2(1000) - math.log2(row.rank), abs_tol=1e-12)
        assert math.isclose(row.log_perplexity, mine / math.log(2), rel_tol=1e-5)


def test_exact_rank_counts_ties_for_the_canary():
    assert exact_rank(np.array([1.0, 2.0, 2.0, 3.0]), 2.0) == 2
    assert exact_rank(np.array([1.0, 2.0]), 0.5) == 1


def test_estimate_agrees_with_exact_on_skew_normal_scores():
    """When log-perplexities are skew-normal (the paper's fig. 4 observation), a fit on
    2,000 sampled candidates gives the exact exposure of 10^5 candidates within 0.25 bits
    for every rank >= 100: the sampling error of a tail probability p estimated from n
    points is about sqrt((1 - p) / (n p)) / ln 2 bits, 0.15 bits at p = 10^-3 for the
    fitted (3-parameter) model, far less than the raw sample quantile."""
    rng = np.random.default_rng(0)
    every = stats.skewnorm.rvs(4.0, loc=30, scale=5, size=100_000, random_state=rng)
    fit = SkewNormalFit.fit(rng.choice(every, 2000, replace=False))
    log2_size = math.log2(every.size)
    for q in (100, 1000, 10_000, 50_000):
        value = np.sort(every)[q - 1]
        exact = log2_size - math.log2(exact_rank(every, value))
        assert abs(fit.exposure(value, log2_size) - exact) < 0.25, q


def test_estimate_agrees_with_exact_on_a_trained_lm(trained):
    """10^4 candidates of a tiny trained LM, exact against a skew-normal fit to 2,000 of
    them: within 0.5 bits (rank within a factor 1.41) for every canary and control with exact
    exposure up to 8 bits (rank >= 40, where a 2,000-point fit still sees the tail), and
    the memorised canaries (exact exposure at the maximum) estimated above 8 bits."""
    lm, fmt, canaries = trained
    exact = measure_exposure(lm, fmt, canaries, exact_limit=fmt.size)
    estimate = measure_exposure(lm, fmt, canaries, exact_limit=0, sample_size=2000, seed=1)
    assert exact.method == "exact" and estimate.method == "estimate"
    for e, s in zip(exact.canaries, estimate.canaries, strict=True):
        if e.exposure <= 8:
            assert abs(e.exposure - s.exposure) <= 0.5, (e, s)
        else:
            assert s.exposure > 8, (e, s)


def test_inserted_canaries_are_more_exposed_than_controls(trained):
    lm, fmt, canaries = trained
    result = measure_exposure(lm, fmt, canaries, exact_limit=fmt.size)
    inserted = [r.exposure for r in result.canaries if r.repetitions == 64]
    controls = [r.exposure for r in result.canaries if r.repetitions == 0]
    assert min(inserted) > max(controls)
    assert min(inserted) > 10  # of log2 10^4 = 13.3 bits
    assert np.mean(controls) < 4  # the no-memorisation expectation is 1.44
