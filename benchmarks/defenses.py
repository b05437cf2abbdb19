"""Defenses (issue 5): the MemGuard reference setup on Location.

Run:  MIAUDIT_DATA=../shared/datasets .venv/bin/python benchmarks/defenses.py --part memguard

MemGuard (Jia et al. 2019) reference setup: Location, MLP 446-1024-512-256-128-30, 1,000
training records, 200 epochs. The defender's reference set (its own non-members, which
train MemGuard's defender classifier) is 1,000 records carved out of the attacker's
population. Attacks: the neural-network attack of ML-Leaks adversary 1 (a shadow model
with the target's recipe, undefended, and an MLP on the sorted top-3 posteriors: the
attacker does not know the defense), Shokri's per-class attack, the gap attack and the
label-only boundary distance. Published (authors' release): NN-attack accuracy 0.73
without defense, then 0.69, 0.62, 0.55, 0.52, 0.50 at budgets 0.1, 0.3, 0.5, 0.7, 1.0.
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from pathlib import Path

import yaml
from common import machine, matmul_gflops

from miaudit.pipeline import run_config

ROOT = Path(__file__).resolve().parents[1]
BUDGETS = (0.0, 0.1, 0.3, 0.5, 0.7, 1.0)


def memguard_config(budget: float) -> dict:
    cfg = yaml.safe_load((ROOT / "configs" / "location.yaml").read_text())
    cfg["target"]["epochs"] = 200
    if budget > 0:
        cfg["target"]["defense"] = {"name": "memguard", "budget": budget, "reference_size": 1000}
    else:  # same data for the undefended model: the defender's records stay unused
        cfg["split"]["population"] = 2010
    cfg["reference"] = {"num_models": 1, "cache_dir": str(ROOT / "runs" / "cache")}
    cfg["attacks"] = [
        "ml_leaks_1",
        {"name": "shokri", "num_models": 2},
        "gap",
        {"name": "boundary_distance", "max_queries_per_record": 100},
    ]
    cfg["output"] = str(ROOT / "runs" / f"memguard_{budget}")
    return cfg


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--part", choices=("memguard",), default="memguard")
    parser.add_argument("--budgets", default=",".join(str(b) for b in BUDGETS))
    args = parser.parse_args()
    print(f"Machine: {machine()}; fp32 matmul {matmul_gflops():.0f} GFLOP/s\n")
    if args.part == "memguard":
        print(
            "| budget | test acc | NN attack (ML-Leaks 1) best balanced acc | its AUC | "
            "Shokri AUC | gap attack AUC | boundary distance AUC (100 q) | MemGuard: "
            "defended defender acc, noised fraction | s |"
        )
        print("|---|---|---|---|---|---|---|---|---|")
        for budget in (float(b) for b in args.budgets.split(",")):
            start = time.perf_counter()
            res = run_config(copy.deepcopy(memguard_config(budget)), progress=False)
            m = {a.name: a.metrics for a in res.attacks if a.error is None}
            d = res.target.defense or {}
            mg = (
                (
                    f"{d.get('defended_defender_accuracy', float('nan')):.3f}, "
                    f"{d.get('noised_fraction', float('nan')):.2f}"
                )
                if d
                else "–"
            )
            print(
                f"| {budget} | {res.target.test_accuracy:.3f} | "
                f"{m['ml_leaks_1']['balanced_accuracy']:.3f} | {m['ml_leaks_1']['auc']:.3f} | "
                f"{m['shokri']['auc']:.3f} | {m['gap']['auc']:.3f} | "
                f"{m['boundary_distance']['auc']:.3f} | {mg} | "
                f"{time.perf_counter() - start:.0f} |",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
