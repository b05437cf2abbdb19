"""Saturation (issue 9 item 4): ties at the top score with the naive signal formulas.

Run:  .venv/bin/python benchmarks/saturation.py

A model trained to zero training loss gives many records a logit margin above ~37, where
``logsumexp(z) - z_y`` is exactly 0 in float64 (above ~17 in float32) and the max posterior
exactly 1.0: members and non-members tie at the top score, and TPR at low FPR collapses
when the tie holds more than the FPR budget of non-members. This script trains such a model
and compares, for the loss, entropy, modified-entropy and confidence attacks, the scores of
the naive formulas (the code before commits b31e471 and 0e82ba6, in float64 as it ran and
in float32 as a float32 framework would compute them) with the current package's scores.

Setup: 8,000 synthetic records (40 Gaussian features, 10 classes, labels drawn from the
softmax of a random tanh teacher network, so about half of them disagree with the teacher's
top class: label noise the target can only memorise), 4,000 members and 4,000 held-out
non-members; target an MLP 40-256-256-10 (ReLU) trained with Adam (lr 0.01, batch 128, no
weight decay) for 300 epochs, to zero training error and a training loss of ~1e-6. Seeds are
fixed. Training runs in one torch thread: batches of 128 gain nothing from two, and two
spinning threads slowed it 20-fold on a machine shared with other jobs (22 s -> 436 s);
the matmul throughput is measured with two.

Prints the machine, its fp32 matmul throughput and the training time, then a markdown table
for BENCHMARKS.md: per attack and computation, the records tied at the top score (members +
non-members), TPR at 0.1% and 1% FPR (read off the exact ROC curve, ties never split) and AUC.
"""

from __future__ import annotations

import time

import numpy as np
import torch
from common import machine, matmul_gflops
from scipy.special import logsumexp

from miaudit.attacks import AttackerKnowledge, make_attack
from miaudit.metrics import auc, tpr_at_fpr
from miaudit.outputs import ModelOutputs

N_FEATURES, N_CLASSES, N_MEMBERS = 40, 10, 4000
ATTACKS = ["loss", "entropy", "modified_entropy", "confidence"]
EPS = 1e-30  # the old code's floor inside logarithms


def teacher_data(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """2 * N_MEMBERS records; labels sampled from a random teacher's softmax (noisy)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(2 * N_MEMBERS, N_FEATURES)).astype(np.float32)
    w1 = rng.normal(size=(N_FEATURES, 64)) / np.sqrt(N_FEATURES)
    w2 = rng.normal(size=(64, N_CLASSES)) * 3.0 / np.sqrt(64)
    t = np.tanh(x @ w1) @ w2
    p = np.exp(t - logsumexp(t, axis=1, keepdims=True))
    u = rng.random(len(x))[:, None]
    y = np.minimum((np.cumsum(p, axis=1) < u).sum(axis=1), N_CLASSES - 1)
    return x, y.astype(np.int64)


def train(x: np.ndarray, y: np.ndarray, *, epochs: int = 300, seed: int = 0) -> torch.nn.Module:
    """MLP 40-256-256-10 trained with Adam to zero training loss (no regularisation)."""
    torch.manual_seed(seed)
    model = torch.nn.Sequential(
        torch.nn.Linear(N_FEATURES, 256),
        torch.nn.ReLU(),
        torch.nn.Linear(256, 256),
        torch.nn.ReLU(),
        torch.nn.Linear(256, N_CLASSES),
    )
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        perm = torch.randperm(len(x), generator=gen)
        for i in range(0, len(x), 128):
            idx = perm[i : i + 128]
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(xt[idx]), yt[idx]).backward()
            opt.step()
    return model


def naive_scores(z: np.ndarray, y: np.ndarray, dtype: type) -> dict[str, np.ndarray]:
    """The attack scores as computed before b31e471 (``git show b31e471``), in ``dtype``:
    loss = logsumexp(z) - z_y; entropy and modified entropy from the softmax with
    log(max(p, 1e-30)) and log(max(1 - p, 1e-30)); confidence = max posterior."""
    z = z.astype(dtype)
    idx = np.arange(len(y))
    loss = logsumexp(z, axis=1) - z[idx, y]
    e = np.exp(z - z.max(axis=1, keepdims=True))
    p = e / e.sum(axis=1, keepdims=True)
    entropy = -np.sum(p * np.log(np.maximum(p, dtype(EPS))), axis=1)
    other = p * np.log(np.maximum(1 - p, dtype(EPS)))
    other[idx, y] = 0
    mentr = -(1 - p[idx, y]) * -loss - other.sum(axis=1)
    return {
        "loss": -loss,
        "entropy": -entropy,
        "modified_entropy": -mentr,
        "confidence": p.max(axis=1),
    }


def package_scores(z: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
    """The current package's attack scores (float64 logits, as a torch target hands over)."""
    out = ModelOutputs.from_logits(z, y)
    knowledge = AttackerKnowledge(num_classes=N_CLASSES)
    return {a: make_attack(a).fit(knowledge).score_samples(out) for a in ATTACKS}


def row(attack: str, how: str, member: np.ndarray, s: np.ndarray) -> str:
    s = np.asarray(s, dtype=np.float64)
    top = s == s.max()
    tied = f"{top.sum()} ({top[member].sum()} + {top[~member].sum()})"
    return (
        f"| {attack} | {how} | {tied} | {tpr_at_fpr(member, s, 0.001):.4f} | "
        f"{tpr_at_fpr(member, s, 0.01):.4f} | {auc(member, s):.4f} |"
    )


def main() -> None:
    torch.set_num_threads(2)
    gflops = matmul_gflops()
    print(f"Machine: {machine()}; fp32 matmul {gflops:.0f} GFLOP/s (2048x2048, best of 10)")
    torch.set_num_threads(1)
    x, y = teacher_data()
    xm, ym = x[:N_MEMBERS], y[:N_MEMBERS]
    start = time.perf_counter()
    model = train(xm, ym)
    seconds = time.perf_counter() - start
    with torch.no_grad():
        z32 = model(torch.from_numpy(x))
        train_loss = torch.nn.functional.cross_entropy(z32[:N_MEMBERS], torch.from_numpy(ym))
    z = z32.numpy().astype(np.float64)
    member = np.arange(len(x)) < N_MEMBERS
    pred = z.argmax(axis=1)
    top2 = np.sort(z, axis=1)[:, -2:]
    margin = top2[:, 1] - top2[:, 0]
    print(
        f"Target trained in {seconds:.1f} s (1 thread); "
        f"train accuracy {np.mean(pred[member] == ym):.3f}, "
        f"test accuracy {np.mean(pred[~member] == y[~member]):.3f}, float32 training loss "
        f"{train_loss.item():.2e}; records with a top-2 logit margin > 37: "
        f"{np.sum(margin[member] > 37)} members, {np.sum(margin[~member] > 37)} non-members "
        f"(largest {margin.max():.0f})\n"
    )
    naive64, naive32, current = (
        naive_scores(z, y, np.float64),
        naive_scores(z, y, np.float32),
        package_scores(z, y),
    )
    print(
        "| attack | computation | tied at the top (members + non-members) "
        "| TPR@0.1% | TPR@1% | AUC |"
    )
    print("|---|---|---|---|---|---|")
    for a in ATTACKS:
        print(row(a, "naive, float32", member, naive32[a]))
        print(row(a, "naive, float64 (the old code)", member, naive64[a]))
        print(row(a, "current package", member, current[a]))


if __name__ == "__main__":
    main()
