"""Reference-model attacks on Location (issue 3): attack strength against the number of
reference models, training time and throughput, and executor timings.

Run:  MIAUDIT_DATA=../shared/datasets .venv/bin/python benchmarks/reference_attacks.py

Target: configs/location.yaml (MLP 446-1024-512-256-128-30, 1,000 members, 1,000
non-members, Adam, 100 epochs). Reference models use the target's recipe, trained with the
"batched" executor into a shared cache (runs/cache), for num_models in {1, 2, 4, 8, 16}.
Prints markdown tables for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from pathlib import Path

import numpy as np
import yaml
from common import machine, matmul_gflops

from miaudit.data import load_dataset, make_split
from miaudit.pipeline import AuditResult, run_config
from miaudit.reference import TrainRecipe, random_plan, train_references

ROOT = Path(__file__).resolve().parents[1]
LOW_FPR = ("0.001", "0.01")


def attack_list(k: int) -> list:
    """The attack suite for k reference models (variants are labelled)."""
    rmia_offline = {"name": "rmia", "label": "rmia_offline"}
    if k == 1:
        rmia_offline["a"] = 0.2  # tuning a needs a second model; 0.2 = the paper's Purchase value
    attacks = [
        "loss",
        {"name": "lira", "label": "lira_online"},
        {"name": "lira", "label": "lira_offline", "online": False},
        {"name": "lira", "label": "lira_online_fixed", "fixed_variance": True},
        {"name": "lira", "label": "lira_offline_fixed", "online": False, "fixed_variance": True},
        rmia_offline,
        {"name": "rmia", "label": "rmia_online", "online": True},
        "shokri",
        "ml_leaks_1",
        "transfer_loss",
        "calibrated_confidence",
        "calibrated_entropy",
        "calibrated_modified_entropy",
        "privacy_risk",
    ]
    if k == 16:
        attacks.append({"name": "ml_leaks_2", "shadow_dataset": "mnist"})
    return attacks


def config(k: int, cache: Path) -> dict:
    cfg = yaml.safe_load((ROOT / "configs" / "location.yaml").read_text())
    cfg["reference"] = {"num_models": k, "executor": "batched", "cache_dir": str(cache)}
    cfg["attacks"] = attack_list(k)
    cfg["output"] = str(ROOT / "runs" / f"location_ref{k}")
    return cfg


def fmt_ci(m: dict, key: str) -> str:
    lo, hi = m[f"{key}_ci"] if key == "auc" else (None, None)
    return f"{m[key]:.3f} [{lo:.3f}, {hi:.3f}]"


def sweep_table(results: dict[int, AuditResult]) -> str:
    ks = sorted(results)
    labels = [a.name for a in results[ks[-1]].attacks]
    out = []
    for metric, title in (
        ("auc", "AUC [95% CI]"),
        ("0.001", "TPR at 0.1% FPR [95% CI]"),
        ("0.01", "TPR at 1% FPR [95% CI]"),
    ):
        out.append(f"\n**{title}** by number of reference models\n")
        out.append("| attack | " + " | ".join(f"k={k}" for k in ks) + " |")
        out.append("|---|" + "---|" * len(ks))
        for label in labels:
            cells = []
            for k in ks:
                try:
                    a = results[k].attack(label)
                except KeyError:
                    cells.append("–")
                    continue
                if a.error:
                    cells.append("failed")
                    continue
                m = a.metrics.to_dict()
                if metric == "auc":
                    v, (lo, hi) = m["auc"], m["auc_ci"]
                else:
                    v, (lo, hi) = m["tpr_at_fpr"][metric], m["tpr_at_fpr_ci"][metric]
                cells.append(f"{v:.3f} [{lo:.3f}, {hi:.3f}]")
            out.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(out)


def time_table(results: dict[int, AuditResult], seconds: dict[int, float]) -> str:
    rows = ["| k | reference training (s) | whole audit (s) |", "|---|---|---|"]
    for k in sorted(results):
        ref = sum(v for key, v in results[k].timings.items() if key.startswith("references:"))
        rows.append(f"| {k} | {ref:.1f} | {seconds[k]:.1f} |")
    return "\n".join(rows)


def executor_table(num_models: int, epochs: int, cache: Path) -> str:
    """Same plan on every executor: wall time, throughput, equality with serial."""
    ds = load_dataset("location")
    split = make_split(len(ds.y), members=1000, nonmembers=1000, seed=0)
    aud = np.concatenate([split.members, split.nonmembers])
    x, y = ds.x[aud], ds.y[aud]
    plan = random_plan(len(y), num_models, seed=1)
    recipe = TrainRecipe(
        model="mlp",
        params={
            "hidden": [1024, 512, 256, 128],
            "epochs": epochs,
            "batch_size": 64,
            "optimizer": "adam",
            "lr": 0.001,
        },
        num_classes=ds.num_classes,
    )
    rows = [
        f"Plan: {num_models} models x {epochs} epochs, 1,000 Location records each (no cache).\n",
        "| executor | wall (s) | relative to serial | training GFLOP/s | matmul GFLOP/s "
        "(same run) | fraction | outputs equal serial |",
        "|---|---|---|---|---|---|---|",
    ]
    serial = None
    for executor in ("serial", "process", "ray", "batched"):
        gflops = matmul_gflops()
        run = train_references(
            plan, x, y, recipe, queries={"q": (x, y)}, executor=executor, workers=2, progress=False
        )
        probs = np.stack([o["q"].probs for o in run.outputs])
        if serial is None:
            serial = (run.seconds, probs)
        same = np.array_equal(probs, serial[1])
        close = np.max(np.abs(probs - serial[1]))
        thr = run.train_flops / run.seconds / 1e9 if run.train_flops else float("nan")
        rows.append(
            f"| {executor} | {run.seconds:.1f} | {run.seconds / serial[0]:.2f} | {thr:.1f} | "
            f"{gflops:.0f} | {thr / gflops:.2f} | "
            f"{'bitwise' if same else f'max abs diff {close:.1e}'} |"
        )
    return "\n".join(rows)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", default="1,2,4,8,16", help='"none": executors only')
    parser.add_argument("--executors", action="store_true", help="also time the executors")
    parser.add_argument("--executor-epochs", type=int, default=20)
    args = parser.parse_args()
    cache = ROOT / "runs" / "cache"
    print(f"Machine: {machine()}; fp32 matmul {matmul_gflops():.0f} GFLOP/s\n")
    results, seconds = {}, {}
    ks = [] if args.models == "none" else [int(v) for v in args.models.split(",")]
    for k in ks:
        start = time.perf_counter()
        results[k] = run_config(copy.deepcopy(config(k, cache)), progress=False)
        seconds[k] = time.perf_counter() - start
        print(f"k={k}: {seconds[k]:.1f} s", file=sys.stderr, flush=True)
    if results:
        t = results[max(results)].target
        print(f"Target: train accuracy {t.train_accuracy:.3f}, test accuracy {t.test_accuracy:.3f}")
        print(sweep_table(results))
        print("\n**Time** (reference training with the batched executor; cache cold)\n")
        print(time_table(results, seconds))
    if args.executors:
        print("\n**Executors**\n")
        print(executor_table(4, args.executor_epochs, cache))
    return 0


if __name__ == "__main__":
    sys.exit(main())
