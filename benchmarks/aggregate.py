"""Membership in aggregate statistics (issue 13 part 3): Homer, Sankararaman and Pyrgelis.

Run:  MIAUDIT_DATA=../shared/datasets .venv/bin/python benchmarks/aggregate.py [--quick]

A data holder releases only the mean vector of a cohort's features (miaudit.aggregate). For
each setting, :func:`miaudit.aggregate.evaluate_aggregate_attack` splits the records (seed 0)
into the attacker's reference half and the holder's pool, draws 250 cohorts from the pool,
releases each (exact, Laplace or analytic-Gaussian noise), and scores 2 members and 2
non-members per cohort (500 + 500 scores) with:

- homer: Homer et al. 2008, D(y) = sum_j |y_j - pop_j| - |y_j - mix_j|;
- homer_t: the paper's one-sample t statistic of the D_j;
- sankararaman: the likelihood ratio (clip 1e-3);
- pyrgelis: Pyrgelis et al. 2018, logistic regression (C = 0.1) on phi(y, release), trained
  on 400 cohorts x 4 + 4 targets simulated from the reference half with the same mechanism;
- pyrgelis_mlp: the same with an MLP (64 hidden units), in the cohort-size sweeps only.

Data: Location (5,010 records x 446 binary features), and a synthetic genotype panel:
5,000 individuals x 2,000 SNPs, allele frequencies Beta(0.5, 0.5) with minor-allele
frequency >= 0.05, genotypes Binomial(2, p) under Hardy-Weinberg, coded g / 2 (no real
allele-frequency spectrum is available offline).

Sweeps per data set: cohort size 10, 30, 100, 300, 1000 without noise; at cohort size 100,
Laplace epsilon 0.1, 1, 10, 100, 1000, inf and analytic Gaussian (delta 1e-5) at the same
epsilons. Prints markdown tables (AUC [95% CI], TPR at 1% FPR [95% CI]) and writes every
metric to runs/aggregate_benchmark.json. ``--quick``: 60 cohorts, no MLP (a smoke run).

``--per-target``: instead, the paper's per-target classifier (PyrgelisPerTargetAttack: one
logistic regression per scored record on the release alone, 400 simulated cohorts each)
beside homer, sankararaman and pyrgelis on Location, cohort sizes 10, 30, 100, 300, exact
means, 50 cohorts x (2 + 2) = 200 scores (one fit per score makes it slow); writes
runs/aggregate_per_target.json.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import time
from pathlib import Path

import numpy as np
import scipy
import sklearn

from miaudit.aggregate import (
    HomerAttack,
    PyrgelisAttack,
    PyrgelisPerTargetAttack,
    ReleaseMechanism,
    SankararamanAttack,
    evaluate_aggregate_attack,
    genotype_panel,
)
from miaudit.data import load_dataset

COHORT_SIZES = (10, 30, 100, 300, 1000)
EPSILONS = (0.1, 1.0, 10.0, 100.0, 1000.0, math.inf)
NOISE_COHORT = 100
DELTA = 1e-5


def attacks(n: int, mechanism: ReleaseMechanism, *, mlp: bool, n_train: int) -> dict:
    out = {
        "homer": HomerAttack(),
        "homer_t": HomerAttack(statistic="t"),
        "sankararaman": SankararamanAttack(),
        "pyrgelis": PyrgelisAttack(cohort_size=n, mechanism=mechanism, n_cohorts=n_train),
    }
    if mlp:
        out["pyrgelis_mlp"] = PyrgelisAttack(
            cohort_size=n, mechanism=mechanism, n_cohorts=n_train, classifier="mlp"
        )
    return out


def cell(m) -> str:
    lo, hi = m.auc_ci
    t = m.tpr_at_fpr["0.01"]
    tlo, thi = m.tpr_at_fpr_ci["0.01"]
    return f"{m.auc:.3f} [{lo:.2f}, {hi:.2f}] / {t:.3f} [{tlo:.2f}, {thi:.2f}]"


def run(name: str, x: np.ndarray, args: argparse.Namespace, results: list) -> None:
    n_cohorts = 60 if args.quick else 250
    n_train = 100 if args.quick else 400

    def one(label: str, n: int, mech: ReleaseMechanism, mlp: bool) -> None:
        start = time.perf_counter()
        ev = evaluate_aggregate_attack(
            attacks(n, mech, mlp=mlp, n_train=n_train),
            x,
            cohort_size=n,
            mechanism=mech,
            n_cohorts=n_cohorts,
            seed=0,
        )
        wall = time.perf_counter() - start
        results.append(
            {
                "data": name,
                "setting": label,
                "cohort_size": n,
                "noise": mech.noise,
                "epsilon": None if math.isinf(mech.epsilon) else mech.epsilon,
                "delta": mech.delta,
                "noise_scale": ev.noise_scale,
                "n_members": ev.n_members,
                "n_nonmembers": ev.n_nonmembers,
                "seconds": ev.seconds,
                "wall_s": wall,
                "metrics": {k: m.to_dict() for k, m in ev.metrics.items()},
            }
        )
        cells = " | ".join(cell(ev.metrics[k]) for k in ev.metrics)
        print(f"| {label} | {ev.noise_scale:.3g} | {cells} | {wall:.1f} |", flush=True)

    def header(title: str, mlp: bool) -> None:
        names = attacks(1, ReleaseMechanism(), mlp=mlp, n_train=1)
        print(f"\n### {title}\n")
        print("| setting | noise scale | " + " | ".join(names) + " | s |")
        print("|---|---|" + "---|" * len(names) + "---|")

    header(f"{name} ({x.shape[0]:,} x {x.shape[1]:,}), cohort size, no noise", not args.quick)
    for n in COHORT_SIZES:
        one(f"n = {n}", n, ReleaseMechanism(), mlp=not args.quick)
    for noise in ("laplace", "gaussian"):
        header(f"{name}, {noise} noise at cohort size {NOISE_COHORT}", False)
        for eps in EPSILONS:
            delta = DELTA if noise == "gaussian" and not math.isinf(eps) else 0.0
            mech = ReleaseMechanism(noise, eps, delta)
            one(f"eps = {eps:g}", NOISE_COHORT, mech, mlp=False)


def per_target(results: list) -> None:
    x = load_dataset("location").x.astype(np.float64)
    names = ["homer", "sankararaman", "pyrgelis", "pyrgelis_per_target"]
    print("\n### Location, the per-target classifier, exact means (200 scores)\n")
    print("| setting | " + " | ".join(names) + " | s |")
    print("|---|" + "---|" * len(names) + "---|")
    for n in (10, 30, 100, 300):
        start = time.perf_counter()
        ev = evaluate_aggregate_attack(
            {
                "homer": HomerAttack(),
                "sankararaman": SankararamanAttack(),
                "pyrgelis": PyrgelisAttack(cohort_size=n, n_cohorts=400),
                "pyrgelis_per_target": PyrgelisPerTargetAttack(cohort_size=n, n_cohorts=400),
            },
            x,
            cohort_size=n,
            n_cohorts=50,
            seed=0,
        )
        wall = time.perf_counter() - start
        results.append(
            {
                "data": "Location",
                "setting": f"n = {n}",
                "cohort_size": n,
                "seconds": ev.seconds,
                "wall_s": wall,
                "metrics": {k: m.to_dict() for k, m in ev.metrics.items()},
            }
        )
        cells = " | ".join(cell(ev.metrics[k]) for k in names)
        print(f"| n = {n} | {cells} | {wall:.1f} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--per-target", action="store_true")
    parser.add_argument("--output", default=None)
    args = parser.parse_args()
    if args.output is None:
        name = "aggregate_per_target" if args.per_target else "aggregate_benchmark"
        args.output = f"runs/{name}.json"
    start = time.perf_counter()
    print(
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, numpy "
        f"{np.__version__}, scipy {scipy.__version__}, scikit-learn {sklearn.__version__}"
    )
    results: list = []
    if args.per_target:
        per_target(results)
    else:
        run("Location", load_dataset("location").x.astype(np.float64), args, results)
        genotypes, _ = genotype_panel(5000, 2000, beta_a=0.5, beta_b=0.5, min_maf=0.05, seed=0)
        run("Synthetic genotypes", genotypes, args, results)
    total = time.perf_counter() - start
    print(f"\ntotal {total:.0f} s")
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"total_s": total, "results": results}, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
