"""VAE membership inference on MNIST (issue 14): a conv VAE (miaudit's recipe) trained on
member sets of several sizes; the ELBO attack, Hilprecht et al.'s reconstruction attack
(white-box) and Monte-Carlo attack (black-box samples, pixel Euclidean distance, eps by
the authors' heuristics).

Run:  cd benchmarks && PYTHONPATH=../src MIAUDIT_DATA=/work/shared/datasets \
        /usr/bin/time -v ../.venv/bin/python vae_mnist.py --sizes 500 1000 2000 --epochs 30

Member, evaluation and non-member sets are disjoint, from one seeded permutation of MNIST's
70,000 digits; each size is evaluated on its first ``--eval`` members against the same
``--eval`` non-members. Prints a markdown table and writes --json.
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import torch
from common import machine, matmul_gflops

from miaudit.attacks.vae import MonteCarlo, VAEElbo, VAEReconstruction, run_vae_attack
from miaudit.data import load_dataset
from miaudit.generative import VAERecipe, mc_share, train_vae
from miaudit.metrics import auc, tpr_at_fpr


def _m(y: np.ndarray, s: np.ndarray) -> dict[str, float]:
    return {"auc": auc(y, s), "tpr_at_1pct_fpr": tpr_at_fpr(y, s, 0.01)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[500, 1000, 2000])
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--width", type=int, default=16)
    ap.add_argument("--latent", type=int, default=16)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--eval", type=int, default=500)
    ap.add_argument("--k", type=int, default=10_000)
    ap.add_argument("--posterior", type=int, default=10)
    ap.add_argument("--eps", nargs="+", default=["median_min", "percentile:1", "percentile:0.1"])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", default="/tmp/vae_mnist.json")
    args = ap.parse_args()
    torch.set_num_threads(1)
    print(f"machine: {machine()}; matmul {matmul_gflops():.0f} GFLOP/s fp32", flush=True)
    data = load_dataset("mnist")
    perm = np.random.default_rng(args.seed).permutation(len(data.x))
    biggest = max(args.sizes)
    non = data.x[perm[biggest : biggest + args.eval]]
    rows = []
    for n in args.sizes:
        members = data.x[perm[:n]]
        x = np.concatenate([members[: args.eval], non])
        y = np.r_[np.ones(min(n, args.eval)), np.zeros(args.eval)]
        recipe = VAERecipe(
            latent_dim=args.latent, width=args.width, epochs=args.epochs, lr=args.lr, seed=args.seed
        )
        target, hist = train_vae(recipe, members)
        row = {
            "size": n,
            "epochs": args.epochs,
            "train_s": hist.seconds,
            "loss_last": hist.loss[-1],
        }
        e = run_vae_attack(VAEElbo(samples=args.posterior, seed=args.seed), target, x)
        r = run_vae_attack(VAEReconstruction(samples=args.posterior, seed=args.seed), target, x)
        row["elbo"], row["reconstruction"] = _m(y, e.scores), _m(y, r.scores)
        row["white_box_s"] = e.seconds + r.seconds
        mc = run_vae_attack(MonteCarlo(k=args.k, eps=args.eps[0], seed=args.seed), target, x)
        row["mc_s"] = mc.seconds
        row["mc"] = {args.eps[0]: _m(y, mc.scores)}
        samples = target.black_box().sample(args.k, seed=args.seed)  # the same k samples
        for eps in args.eps[1:]:
            row["mc"][eps] = _m(y, mc_share(x, samples, eps))
        assert np.array_equal(mc_share(x, samples, args.eps[0]), mc.scores)
        rows.append(row)
        print(json.dumps(row), flush=True)
    with open(args.json, "w") as f:
        json.dump(rows, f, indent=1)
    eps_cols = " | ".join(f"MC {e} AUC / TPR" for e in args.eps)
    print(f"\n| members | train s | last loss | ELBO AUC / TPR | rec. AUC / TPR | {eps_cols} |")
    print("|---" * (5 + len(args.eps)) + "|")
    for r in rows:
        cells = [
            f"{r[a]['auc']:.3f} / {r[a]['tpr_at_1pct_fpr']:.3f}" for a in ("elbo", "reconstruction")
        ]
        cells += [
            f"{r['mc'][e]['auc']:.3f} / {r['mc'][e]['tpr_at_1pct_fpr']:.3f}" for e in args.eps
        ]
        print(
            f"| {r['size']} | {r['train_s']:.0f} | {r['loss_last']:.1f} | "
            + " | ".join(cells)
            + " |"
        )


if __name__ == "__main__":
    main()
