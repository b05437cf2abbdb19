"""The next issues' target kinds, as toys, through the same TargetKind interface (issue 10
item 7): a bigram language model over token sequences (issue 12), a memorising generator
scored by reconstruction distance (issue 14), a one-layer graph model over node ids with
0-hop and 2-hop queries (issue 15) and FedAvg rounds (issue 15). Each gives Signals that
one generic threshold rule scores, so the shape those issues need is checked here rather
than guessed. The toys are deliberately tiny and live only in the tests."""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np
import pytest

from miaudit.attacks import AttackerKnowledge, make_attack
from miaudit.attacks.song_mittal import EntropyAttack
from miaudit.attacks.yeom import LossAttack
from miaudit.errors import DataError
from miaudit.kinds import (
    CLASSIFIER,
    LabeledRecords,
    Records,
    Signals,
    SignalThreshold,
    TargetKind,
    measure,
    resolve_names,
)
from miaudit.metrics import auc
from miaudit.outputs import ModelOutputs

# -- a causal language model: records are token sequences of different lengths ----------


class BigramLM:
    """A bigram language model with add-alpha smoothing; counts its token queries."""

    def __init__(self, sequences, vocab: int, alpha: float = 0.01) -> None:
        counts = np.full((vocab, vocab), alpha)
        for s in sequences:
            np.add.at(counts, (s[:-1], s[1:]), 1.0)
        self.log_probs = np.log(counts / counts.sum(axis=1, keepdims=True))
        self.query_count = 0

    def token_log_probs(self, seq: np.ndarray) -> np.ndarray:
        self.query_count += 1
        return self.log_probs[seq[:-1], seq[1:]]


@dataclass(frozen=True)
class LMAnswers:
    token_log_probs: list[np.ndarray]  # per record, log p(t_i | t_<i) for i >= 1
    zlib_bytes: np.ndarray  # per record, zlib length of the sequence (no model query)


class CausalLMKind:
    name = "causal_lm"
    signal_names = ("loss", "token_loss", "zlib_ratio")

    def query(self, target: BigramLM, records: np.ndarray) -> LMAnswers:
        lps = [target.token_log_probs(s) for s in records]
        sizes = [len(zlib.compress(np.asarray(s, np.uint8).tobytes())) for s in records]
        return LMAnswers(lps, np.array(sizes, dtype=np.float64))

    def signals(self, answers: LMAnswers, names=None) -> Signals:
        names = resolve_names(self, names)
        lps = answers.token_log_probs
        width = max(len(lp) for lp in lps)
        token_loss = np.zeros((len(lps), width))
        mask = np.zeros((len(lps), width), bool)
        for i, lp in enumerate(lps):
            token_loss[i, : len(lp)] = -lp
            mask[i, : len(lp)] = True
        mean = np.array([-lp.mean() for lp in lps])
        every = {
            "loss": mean,
            "token_loss": token_loss,
            "zlib_ratio": mean / answers.zlib_bytes,  # Carlini et al. 2021's zlib ratio
        }
        masks = {"token_loss": mask} if "token_loss" in names else {}
        return Signals(len(lps), {k: every[k] for k in names}, masks)


def min_k_loss(signals: Signals, k: float) -> np.ndarray:
    """Min-K% Prob (Shi et al. 2024) as a loss: mean of the k highest token losses (the k%
    least likely tokens) of each record, vectorised over the padded signal and its mask."""
    values, mask = signals["token_loss"], signals.mask("token_loss")
    count = np.maximum(1, np.floor(k * mask.sum(axis=1))).astype(int)
    ordered = -np.sort(np.where(mask, -values, np.inf), axis=1)  # real entries first, largest
    keep = np.arange(values.shape[1])[None, :] < count[:, None]
    return np.where(keep, ordered, 0.0).sum(axis=1) / count


def lm_case():
    rng = np.random.default_rng(0)
    vocab = 30
    truth = rng.dirichlet(np.full(vocab, 0.3), vocab)  # the "language"

    def sample(n):
        out = np.empty(n, dtype=object)
        for i in range(n):
            seq = [rng.integers(vocab)]
            for _ in range(rng.integers(6, 16)):
                seq.append(rng.choice(vocab, p=truth[seq[-1]]))
            out[i] = np.array(seq)
        return out

    members, nonmembers, population = sample(40), sample(40), sample(200)
    records = np.concatenate([members, nonmembers])
    return BigramLM(members, vocab), records, {"reference": BigramLM(population, vocab)}


# -- a generator: records are images, scored by distance to generated samples -------------


class MemorisingGenerator:
    """Generates noisy copies of its training images; counts generated samples."""

    def __init__(self, images: np.ndarray, noise: float, seed: int) -> None:
        self.images, self.noise, self.seed = images, noise, seed
        self.query_count = 0

    def sample(self, k: int) -> np.ndarray:
        rng = np.random.default_rng(self.seed)  # seeded: the same k samples every time
        self.query_count += k
        picks = self.images[rng.integers(len(self.images), size=k)]
        return picks + self.noise * rng.normal(size=picks.shape)


class GeneratorKind:
    """GAN-Leaks full black-box (Chen et al. 2020): distance to the nearest of k samples."""

    name = "generator"
    signal_names = ("reconstruction_distance",)

    def __init__(self, k: int) -> None:
        self.k = k

    def query(self, target: MemorisingGenerator, records: np.ndarray) -> np.ndarray:
        samples = target.sample(self.k).reshape(self.k, -1)
        flat = records.reshape(len(records), -1)
        d2 = (flat**2).sum(1)[:, None] - 2 * flat @ samples.T + (samples**2).sum(1)[None, :]
        return np.sqrt(np.maximum(d2.min(axis=1), 0.0))

    def signals(self, answers: np.ndarray, names=None) -> Signals:
        resolve_names(self, names)
        return Signals(len(answers), {"reconstruction_distance": answers})


def generator_case():
    rng = np.random.default_rng(1)
    images = rng.uniform(size=(80, 1, 6, 6))  # 40 members, then 40 non-members
    return MemorisingGenerator(images[:40], noise=0.05, seed=7), images, {}


# -- a graph node classifier: records are node ids, answers use the neighbours ------------


class OneLayerGCN:
    """logits = mean over (node + neighbours) of features, times W; W interpolates the
    members' labels (a node classifier trained to zero loss, transductively)."""

    def __init__(self, features, edges, labels, members, classes: int) -> None:
        n = len(features)
        adj = np.eye(n)
        adj[edges[:, 0], edges[:, 1]] = adj[edges[:, 1], edges[:, 0]] = 1.0
        self.adj, self.features, self.labels = adj, features, labels
        targets = 6.0 * np.eye(classes)[labels[members]]
        self.w = np.linalg.lstsq(self.aggregate(members, hops=2), targets, rcond=None)[0]
        self.query_count = 0

    def aggregate(self, nodes: np.ndarray, hops: int) -> np.ndarray:
        if hops == 0:  # the node queried alone, without its edges
            return self.features[nodes]
        a = self.adj[nodes]
        return (a @ self.features) / a.sum(axis=1, keepdims=True)

    def node_logits(self, nodes: np.ndarray, hops: int) -> np.ndarray:
        self.query_count += len(nodes)
        return self.aggregate(nodes, hops) @ self.w


class GraphNodeKind:
    """He et al. 2021's 0-hop / 2-hop node queries; the signals are the classifier kind's."""

    name = "graph_node"
    signal_names = CLASSIFIER.signal_names

    def __init__(self, hops: int) -> None:
        self.hops = hops

    def query(self, target: OneLayerGCN, records: np.ndarray) -> ModelOutputs:
        return ModelOutputs.from_logits(
            target.node_logits(records, self.hops), target.labels[records]
        )

    def signals(self, answers: ModelOutputs, names=None) -> Signals:
        return CLASSIFIER.signals(answers, names)


def graph_case():
    rng = np.random.default_rng(2)
    n, d, classes = 120, 200, 3
    features = rng.normal(size=(n, d))
    labels = rng.integers(0, classes, n)
    edges = rng.integers(0, n, size=(240, 2))
    members = np.arange(40)
    target = OneLayerGCN(features, edges, labels, members, classes)
    return target, np.arange(80), {}  # node ids: 40 members, then 40 non-members


# -- federated learning: the global model after each FedAvg round -------------------------


class FedAvgLogistic:
    """Multinomial logistic regression trained by FedAvg; keeps every round's global W."""

    def __init__(self, client_data, classes: int, rounds: int, steps: int, lr: float) -> None:
        d = client_data[0][0].shape[1]
        w = np.zeros((d, classes))
        self.rounds = []
        for _ in range(rounds):
            local = []
            for x, y in client_data:
                wc = w.copy()
                for _ in range(steps):
                    z = x @ wc
                    p = np.exp(z - z.max(1, keepdims=True))
                    p /= p.sum(1, keepdims=True)
                    wc -= lr * x.T @ (p - np.eye(classes)[y]) / len(y)
                local.append(wc)
            w = np.mean(local, axis=0)
            self.rounds.append(w)
        self.query_count = 0

    def logits(self, x: np.ndarray, round_: int) -> np.ndarray:
        self.query_count += len(x)
        return x @ self.rounds[round_]


class FederatedKind:
    """Passive participant (Nasr et al. 2019): the global model's outputs over rounds."""

    name = "federated"
    signal_names = ("loss", "round_loss", "loss_drop")

    def query(self, target: FedAvgLogistic, records: LabeledRecords) -> tuple[ModelOutputs, ...]:
        return tuple(
            ModelOutputs.from_logits(target.logits(records.x, r), records.y)
            for r in range(len(target.rounds))
        )

    def signals(self, answers: tuple[ModelOutputs, ...], names=None) -> Signals:
        names = resolve_names(self, names)
        per_round = np.stack([CLASSIFIER.signals(a, ["loss"])["loss"] for a in answers], axis=1)
        every = {
            "loss": per_round[:, -1],
            "round_loss": per_round,
            "loss_drop": per_round[:, 0] - per_round[:, -1],
        }
        return Signals(answers[0].n, {k: every[k] for k in names})


def federated_case():
    rng = np.random.default_rng(3)
    d, classes = 40, 3
    x = rng.normal(size=(90, d))
    y = rng.integers(0, classes, 90)
    clients = [(x[i : i + 10], y[i : i + 10]) for i in range(0, 30, 10)]  # 3 clients
    target = FedAvgLogistic(clients, classes, rounds=5, steps=20, lr=0.5)
    return target, LabeledRecords(x[:60], y[:60]), {}  # 30 members, then 30 non-members


# -- the four kinds through one interface -------------------------------------------------

CASES = {
    "causal_lm": (CausalLMKind(), lm_case, SignalThreshold("loss", member_if="low")),
    "generator": (
        GeneratorKind(k=200),
        generator_case,
        SignalThreshold("reconstruction_distance", member_if="low"),
    ),
    "graph_node": (GraphNodeKind(hops=2), graph_case, SignalThreshold("loss", member_if="low")),
    "federated": (FederatedKind(), federated_case, SignalThreshold("loss", member_if="low")),
}


def membership(n: int) -> np.ndarray:
    return np.arange(n) < n // 2  # every case lists its members first


@pytest.mark.parametrize("name", sorted(CASES))
def test_each_kind_gives_signals_one_threshold_rule_scores(name):
    kind, case, rule = CASES[name]
    target, records, _ = case()
    assert isinstance(kind, TargetKind) and isinstance(records, Records)
    signals = measure(kind, target, records)
    assert signals.n == len(records) and signals.names == kind.signal_names
    assert target.query_count >= 1  # the query step is the one that costs queries
    scores = rule.score_samples(signals)
    assert scores.shape == (len(records),) and scores.dtype == np.float64
    assert auc(membership(len(records)), scores) > 0.9  # the toy models memorise


@pytest.mark.parametrize("name", sorted(CASES))
def test_signal_rows_follow_the_records(name):
    """Row i is record i: querying a permuted subset gives the permuted subset's rows (the
    pipeline splits, concatenates and aligns records with membership on this alone)."""
    kind, case, _ = CASES[name]
    target, records, _ = case()
    every = measure(kind, target, records)
    index = np.random.default_rng(5).permutation(len(records))[: len(records) // 3]
    some = measure(kind, target, records[index])
    for signal in every.names:
        values = every[signal][index]
        if signal in every.masks:  # padding is per record set: compare the real entries
            width = some[signal].shape[1]
            assert np.array_equal(every.mask(signal)[index][:, :width], some.mask(signal))
            values = values[:, :width]
        np.testing.assert_allclose(some[signal], values, rtol=1e-12, atol=0)


def test_existing_threshold_attacks_apply_unchanged_to_new_kinds():
    # Yeom's loss attack, as it is: its rule scores an LM's sequence loss ...
    lm, records, _ = lm_case()
    lm_signals = measure(CausalLMKind(), lm, records, LossAttack.signal_rule.names)
    assert auc(membership(len(records)), LossAttack.signal_rule.score_samples(lm_signals)) > 0.9
    # ... and the attack objects themselves score node outputs (answers are ModelOutputs).
    gcn, nodes, _ = graph_case()
    node_outputs = GraphNodeKind(hops=2).query(gcn, nodes)
    for name in ("loss", "entropy", "modified_entropy", "confidence"):
        attack = make_attack(name).fit(AttackerKnowledge(num_classes=3))
        scores = attack.score_samples(node_outputs)
        assert auc(membership(len(nodes)), scores) > 0.8, name
    rule = EntropyAttack.signal_rule
    assert np.array_equal(
        rule.score_samples(measure(GraphNodeKind(hops=2), gcn, nodes, rule.names)),
        make_attack("entropy").fit(AttackerKnowledge(num_classes=3)).score_samples(node_outputs),
    )


def test_lm_per_token_signal_with_mask_serves_min_k_and_reference_calibration():
    lm, records, extra = lm_case()
    signals = measure(CausalLMKind(), lm, records)
    mask = signals.mask("token_loss")
    assert np.array_equal(mask.sum(axis=1), [len(r) - 1 for r in records])  # ragged
    assert np.all(signals["token_loss"][~mask] == 0.0)  # padding is finite
    # Min-K% from the padded signal and its mask equals a slow loop over each sequence
    lps = CausalLMKind().query(lm, records).token_log_probs
    for k in (0.2, 0.5, 1.0):
        slow = [np.mean(np.sort(-lp)[::-1][: max(1, int(np.floor(k * len(lp))))]) for lp in lps]
        np.testing.assert_allclose(min_k_loss(signals, k), slow, rtol=1e-12)
    assert np.allclose(min_k_loss(signals, 1.0), signals["loss"], rtol=1e-12)
    min_k = Signals(signals.n, {"min_k": min_k_loss(signals, 0.2)})
    assert auc(membership(len(records)), SignalThreshold("min_k", "low").score_samples(min_k)) > 0.9
    # the reference-model ratio (Carlini et al. 2021): the same kind on a reference model,
    # the same records, rows aligned; one more signal for the same rule
    ref = measure(CausalLMKind(), extra["reference"], records, ["loss"])
    ratio = Signals(signals.n, {"loss_ratio": signals["loss"] - ref["loss"]})
    score = SignalThreshold("loss_ratio", member_if="low").score_samples(ratio)
    assert auc(membership(len(records)), score) > 0.9


def test_graph_queries_differ_by_hops_and_generator_counts_samples():
    gcn, nodes, _ = graph_case()
    zero = measure(GraphNodeKind(hops=0), gcn, nodes, ["loss"])
    two = measure(GraphNodeKind(hops=2), gcn, nodes, ["loss"])
    assert not np.allclose(zero["loss"], two["loss"])  # the 2-hop query reads neighbours
    members = membership(len(nodes))  # a model trained on aggregates leaks more through them
    assert auc(members, -two["loss"]) > auc(members, -zero["loss"])
    generator, images, _ = generator_case()
    measure(GeneratorKind(k=50), generator, images)
    assert generator.query_count == 50  # generated samples are the generator's queries


def test_federated_signals_over_rounds():
    target, records, _ = federated_case()
    signals = measure(FederatedKind(), target, records)
    assert signals["round_loss"].shape == (len(records), 5)
    assert np.array_equal(signals["loss"], signals["round_loss"][:, -1])
    with pytest.raises(DataError, match="reduce it first"):
        SignalThreshold("round_loss", member_if="low").score_samples(signals)
    # an over-rounds reduction is one more (n,) signal for the same rule: members' loss
    # falls further over the rounds than non-members'
    drop = SignalThreshold("loss_drop", member_if="high").score_samples(signals)
    assert auc(membership(len(records)), drop) > 0.75
