"""Diffusion membership inference on MNIST (issue 14): miaudit's DDPM (compact U-Net,
T steps, Ho et al.'s linear schedule rescaled to T) trained on an MNIST member set, then
the timestep-loss attack at several t, SecMI and PIA, each on ``--eval`` members against
as many non-members.

Run:  cd benchmarks && PYTHONPATH=../src MIAUDIT_DATA=/work/shared/datasets \
          /usr/bin/time -v python ddpm_mnist.py --sizes 500 --epochs 150

Member, evaluation and non-member sets are disjoint, from one seeded permutation of MNIST's
70,000 digits. Prints markdown tables for BENCHMARKS.md and writes --json.
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import torch
from common import machine, matmul_gflops

from miaudit.attacks.diffusion import DiffusionLoss, PIAAttack, SecMI, run_diffusion_attack
from miaudit.data import load_dataset
from miaudit.generative import DDPMRecipe, train_ddpm
from miaudit.metrics import auc, tpr_at_fpr


def _metrics(y: np.ndarray, s: np.ndarray) -> dict[str, float]:
    return {"auc": auc(y, s), "tpr_at_1pct_fpr": tpr_at_fpr(y, s, 0.01)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[500])
    ap.add_argument("--timesteps", type=int, default=100, help="T")
    ap.add_argument("--epochs", type=int, default=150)
    ap.add_argument("--width", type=int, default=16)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--eval", type=int, default=500)
    ap.add_argument("--loss-t", type=int, nargs="+", default=[5, 10, 20, 50])
    ap.add_argument("--draws", type=int, default=4)
    ap.add_argument("--secmi", type=int, nargs=2, default=None, help="t k (default 0.09T 0.01T)")
    ap.add_argument("--pia", type=float, nargs=2, default=None, help="t p (default 0.2T 4)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", default="/tmp/ddpm_mnist.json")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    T = args.timesteps
    k = max(1, T // 100)
    secmi_t, secmi_k = args.secmi or (9 * k, k)
    pia_t, pia_p = (int(args.pia[0]), args.pia[1]) if args.pia else (T // 5, 4.0)
    print(f"machine: {machine()}; matmul {matmul_gflops():.0f} GFLOP/s fp32", flush=True)

    data = load_dataset("mnist")
    perm = np.random.default_rng(args.seed).permutation(len(data.x))
    biggest = max(args.sizes)
    non_members = data.x[perm[biggest : biggest + args.eval]]
    rows = []
    for n in args.sizes:
        members = data.x[perm[:n]]
        records = np.concatenate([members[: args.eval], non_members])
        y = np.r_[np.ones(min(n, args.eval)), np.zeros(args.eval)]
        recipe = DDPMRecipe(
            timesteps=T,
            width=args.width,
            epochs=args.epochs,
            batch_size=args.batch_size,
            lr=args.lr,
            seed=args.seed,
        )
        target, history = train_ddpm(recipe, members)
        row = {
            "size": n,
            "T": T,
            "width": args.width,
            "epochs": args.epochs,
            "lr": args.lr,
            "steps": args.epochs * -(-n // args.batch_size),
            "train_s": history.seconds,
            "loss_first": history.loss[0],
            "loss_last": history.loss[-1],
            "attacks": {},
        }
        print(json.dumps(row), flush=True)
        runs = [
            DiffusionLoss(timesteps=(t,), draws=args.draws, seed=args.seed) for t in args.loss_t
        ]
        runs += [SecMI(t=secmi_t, k=secmi_k), PIAAttack(t=pia_t, p=pia_p)]
        for attack in runs:
            run = run_diffusion_attack(attack, target, records)
            label = f"{attack.name} {run.params}"
            row["attacks"][label] = {
                **_metrics(y, run.scores),
                "queries": run.queries,
                "seconds": run.seconds,
            }
            print(label, row["attacks"][label], flush=True)
        rows.append(row)

    with open(args.json, "w") as f:
        json.dump(rows, f, indent=1, default=str)
    print("\n| members | T | epochs (steps) | train s | loss first / last epoch |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['size']} | {r['T']} | {r['epochs']} ({r['steps']}) | {r['train_s']:.0f} | "
            f"{r['loss_first']:.4f} / {r['loss_last']:.4f} |"
        )
    print("\n| members | attack | AUC | TPR at 1% FPR | queries | seconds |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        for label, m in r["attacks"].items():
            print(
                f"| {r['size']} | {label} | {m['auc']:.3f} | {m['tpr_at_1pct_fpr']:.3f} | "
                f"{m['queries']} | {m['seconds']:.1f} |"
            )


if __name__ == "__main__":
    main()
