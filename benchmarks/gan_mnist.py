"""GAN membership inference on MNIST (issue 14): LOGAN white-box on a DCGAN trained on
member sets of several sizes, GAN-Leaks full black-box against the number of generated
samples k (uncalibrated and calibrated with a reference generator trained on population
digits), and LOGAN black-box on the smallest set.

Run:  MIAUDIT_DATA=../shared/datasets PYTHONPATH=src /usr/bin/time -v \
          .venv/bin/python benchmarks/gan_mnist.py --sizes 500 1000 2000 --epochs 100

Every member set, evaluation set and population set is disjoint and drawn from MNIST's
70,000 digits with one seeded permutation. Each size is evaluated on ``--eval`` members
(the first of the member set) against as many non-members, so AUCs of different sizes
have the same noise. Prints markdown tables for BENCHMARKS.md and writes --json.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch
from common import machine, matmul_gflops

from miaudit.attacks.gan import (
    GANLeaksCalibrated,
    GANLeaksFullBlackBox,
    LoganBlackBox,
    LoganWhiteBox,
    run_gan_attack,
)
from miaudit.data import load_dataset
from miaudit.generative import DCGANRecipe, nearest_distances, train_dcgan
from miaudit.metrics import auc, tpr_at_fpr


def _metrics(y: np.ndarray, s: np.ndarray) -> dict[str, float]:
    return {"auc": auc(y, s), "tpr_at_1pct_fpr": tpr_at_fpr(y, s, 0.01)}


def _prefix_distances(records: np.ndarray, samples: np.ndarray, ks: list[int]) -> dict:
    """Nearest distance over the first k samples, for every k in ``ks`` (one pass: the
    running minimum over consecutive chunks)."""
    out = {}
    best = np.full(len(records), np.inf)
    done = 0
    for k in sorted(ks):
        best = np.minimum(best, nearest_distances(records, samples[done:k]))
        done = k
        out[k] = best.copy()
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[500, 1000, 2000])
    ap.add_argument("--epochs", type=int, default=100)
    ap.add_argument("--width", type=int, default=32)
    ap.add_argument("--lr", type=float, default=2e-4)
    ap.add_argument("--eval", type=int, default=500)
    ap.add_argument("--ks", type=int, nargs="+", default=[100, 1000, 10_000, 50_000])
    ap.add_argument("--calibrate-sizes", type=int, nargs="*", default=None)
    ap.add_argument("--blackbox-epochs", type=int, default=5)
    ap.add_argument("--blackbox-k", type=int, default=10_000)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", default="/tmp/gan_mnist.json")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    calibrate = args.sizes if args.calibrate_sizes is None else args.calibrate_sizes
    print(f"machine: {machine()}; matmul {matmul_gflops():.0f} GFLOP/s fp32")

    data = load_dataset("mnist")
    perm = np.random.default_rng(args.seed).permutation(len(data.x))
    biggest = max(args.sizes)
    non_members = data.x[perm[biggest : biggest + args.eval]]
    pop_start = biggest + args.eval
    rows = []
    for n in args.sizes:
        members = data.x[perm[:n]]
        records = np.concatenate([members[: args.eval], non_members])
        y = np.r_[np.ones(min(n, args.eval)), np.zeros(args.eval)]
        recipe = DCGANRecipe(width=args.width, epochs=args.epochs, lr=args.lr, seed=args.seed)
        target, history = train_dcgan(recipe, members)
        row = {
            "size": n,
            "epochs": args.epochs,
            "lr": args.lr,
            "width": args.width,
            "steps": args.epochs * (n // recipe.batch_size + (n % recipe.batch_size >= 2)),
            "train_s": history.seconds,
            "d_loss_last": history.d_loss[-1],
            "g_loss_last": history.g_loss[-1],
        }
        wb = run_gan_attack(LoganWhiteBox(), target, records)
        row["logan_white_box"] = _metrics(y, wb.scores)
        # GAN-Leaks over k: one set of max(ks) samples, prefixes for the smaller k (the
        # attack with k samples and the same seed draws exactly its own k; here the
        # prefixes are the first k of one draw, the same estimate for each k)
        start = time.perf_counter()
        samples = target.black_box().sample(max(args.ks), seed=args.seed)
        dist = _prefix_distances(records, samples, args.ks)
        row["fbb_s"] = time.perf_counter() - start
        row["fbb"] = {k: _metrics(y, -d) for k, d in dist.items()}
        check = run_gan_attack(
            GANLeaksFullBlackBox(k=min(args.ks), seed=args.seed), target, records
        )
        assert np.allclose(-check.scores, dist[min(args.ks)], atol=1e-4)
        if n in calibrate:
            population = data.x[perm[pop_start : pop_start + n]]
            reference, ref_hist = train_dcgan(
                DCGANRecipe(width=args.width, epochs=args.epochs, lr=args.lr, seed=args.seed + 1),
                population,
            )
            ref_samples = reference.black_box().sample(max(args.ks), seed=args.seed)
            ref_dist = _prefix_distances(records, ref_samples, args.ks)
            row["reference_train_s"] = ref_hist.seconds
            row["calibrated"] = {k: _metrics(y, -(dist[k] - ref_dist[k])) for k in args.ks}
            cal = run_gan_attack(
                GANLeaksCalibrated(k=min(args.ks), seed=args.seed),
                target,
                records,
                recipe=DCGANRecipe(width=args.width, epochs=1, seed=args.seed + 1),
                population=population[:64],
            )  # the API path runs (a 1-epoch reference, not reported)
            assert cal.scores.shape == (len(records),)
        if n == min(args.sizes) and args.blackbox_epochs > 0:
            bb = run_gan_attack(
                LoganBlackBox(k=args.blackbox_k, epochs=args.blackbox_epochs, width=args.width),
                target,
                records,
            )
            row["logan_black_box"] = _metrics(y, bb.scores)
            row["logan_black_box_s"] = bb.seconds
        rows.append(row)
        print(json.dumps(row, default=str), flush=True)

    with open(args.json, "w") as f:
        json.dump(rows, f, indent=1, default=str)
    print("\n| members | epochs (steps) | train s | LOGAN white-box AUC | TPR@1%FPR |")
    print("|---|---|---|---|---|")
    for r in rows:
        m = r["logan_white_box"]
        print(
            f"| {r['size']} | {r['epochs']} ({r['steps']}) | {r['train_s']:.0f} | "
            f"{m['auc']:.3f} | {m['tpr_at_1pct_fpr']:.3f} |"
        )
    print("\n| members | k | GAN-Leaks fbb AUC | TPR@1%FPR | calibrated AUC | TPR@1%FPR |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        for k in sorted(r["fbb"]):
            u = r["fbb"][k]
            c = r.get("calibrated", {}).get(k)
            cal = f"{c['auc']:.3f} | {c['tpr_at_1pct_fpr']:.3f}" if c else "- | -"
            print(f"| {r['size']} | {k} | {u['auc']:.3f} | {u['tpr_at_1pct_fpr']:.3f} | {cal} |")
    for r in rows:
        if "logan_black_box" in r:
            m = r["logan_black_box"]
            print(
                f"\nLOGAN black-box ({r['size']} members, attacker DCGAN on {args.blackbox_k} "
                f"samples, {args.blackbox_epochs} epochs): AUC {m['auc']:.3f}, TPR@1%FPR "
                f"{m['tpr_at_1pct_fpr']:.3f}, {r['logan_black_box_s']:.0f} s"
            )


if __name__ == "__main__":
    main()
