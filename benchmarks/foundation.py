"""Foundation benchmark: the first attacks on Location (overfit MLP) and the digits demo.

Run:  MIAUDIT_DATA=../shared/datasets .venv/bin/python benchmarks/foundation.py

Prints markdown tables for BENCHMARKS.md: every attack's AUC (95% bootstrap CI) and TPR at
0.1% / 1% / 10% FPR, the targets' accuracies, and wall times next to the machine's measured
matmul throughput.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from common import machine, matmul_gflops

from miaudit.demo import run_demo
from miaudit.pipeline import AuditResult, run_config

ROOT = Path(__file__).resolve().parents[1]


def table(result: AuditResult) -> str:
    t = result.target
    rows = [
        f"Target `{t.model}` on `{t.dataset}`: train accuracy {t.train_accuracy:.3f}, "
        f"test accuracy {t.test_accuracy:.3f} ({t.n_members} members, {t.n_nonmembers} "
        f"non-members); training {result.timings.get('train_target', float('nan')):.1f} s.",
        "",
        "| attack | AUC | 95% CI | TPR@0.1% | TPR@1% | TPR@10% | advantage | eps lower bound |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for a in result.attacks:
        m = a.metrics.to_dict()
        tpr = m["tpr_at_fpr"]
        rows.append(
            f"| {a.name} | {m['auc']:.3f} | [{m['auc_ci'][0]:.3f}, {m['auc_ci'][1]:.3f}] | "
            f"{tpr['0.001']:.3f} | {tpr['0.01']:.3f} | {tpr['0.1']:.3f} | "
            f"{m['advantage']:.3f} | {m['epsilon_lower_bound']:.2f} |"
        )
    return "\n".join(rows)


def main() -> int:
    gflops = matmul_gflops()
    print(f"Machine: {machine()}; fp32 matmul {gflops:.0f} GFLOP/s (2048x2048, best of 10)\n")

    start = time.perf_counter()
    location = run_config(
        ROOT / "configs" / "location.yaml", output=ROOT / "runs" / "location", progress=False
    )
    print(f"## Location (configs/location.yaml), {time.perf_counter() - start:.1f} s total\n")
    print(table(location), "\n")

    start = time.perf_counter()
    demo = run_demo(ROOT / "runs" / "demo", progress=False)
    print(f"## Demo (miaudit demo), {time.perf_counter() - start:.1f} s total\n")
    for result in demo.values():
        print(table(result), "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
