"""Label-only, white-box and GMIA attacks (issue 4) on Location and MNIST, next to `loss`
and `lira`; label-only AUC against queries per record, and ART's HopSkipJump on the same
target.

Run:  MIAUDIT_DATA=../shared/datasets .venv/bin/python benchmarks/label_only_white_box.py \
          --part location --art /tmp/artpkg
      (ART is never a dependency of miaudit: install it for the benchmark only, e.g.
       pip install --no-deps --target /tmp/artpkg adversarial-robustness-toolbox six)

Prints markdown tables for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from pathlib import Path

import numpy as np
import torch
import yaml
from common import machine, matmul_gflops

from miaudit.data import load_dataset, make_split
from miaudit.metrics import auc, tpr_at_fpr
from miaudit.models import train_model
from miaudit.pipeline import AuditResult, run_config
from miaudit.signals.boundary import hop_skip_jump_distance

ROOT = Path(__file__).resolve().parents[1]
BUDGETS = (25, 50, 100, 200, 500)


def location_config() -> dict:
    cfg = yaml.safe_load((ROOT / "configs" / "location.yaml").read_text())
    cfg["reference"] = {
        "num_models": 16,
        "executor": "batched",
        "cache_dir": str(ROOT / "runs" / "cache"),
    }
    cfg["attacks"] = [
        "loss",
        {"name": "lira", "label": "lira_online"},
        {"name": "lira", "label": "lira_offline", "online": False},
        *[
            {
                "name": "boundary_distance",
                "label": f"boundary_distance@{q}",
                "max_queries_per_record": q,
            }
            for q in BUDGETS
        ],
        {"name": "boundary_transfer", "method": "pgd"},
        {"name": "boundary_transfer", "label": "boundary_transfer_fgsm", "method": "fgsm"},
        "augmentation",
        {"name": "augmentation", "label": "augmentation_logistic", "classifier": "logistic"},
        "label_transfer",
        "gradient_norm",
        "nasr_whitebox",
        "gmia",
    ]
    cfg["output"] = str(ROOT / "runs" / "location_issue4")
    return cfg


def mnist_config() -> dict:
    return {
        "seed": 0,
        "dataset": {"name": "mnist"},
        "split": {"members": 2000, "nonmembers": 2000, "population": 4000},
        "target": {
            "model": "cnn",
            "epochs": 30,
            "batch_size": 64,
            "optimizer": "adam",
            "lr": 0.001,
        },
        "reference": {
            "num_models": 8,
            "executor": "serial",
            "cache_dir": str(ROOT / "runs" / "cache"),
        },
        "attacks": [
            "loss",
            {"name": "lira", "label": "lira_online"},
            {"name": "lira", "label": "lira_offline", "online": False},
            *[
                {
                    "name": "boundary_distance",
                    "label": f"boundary_distance@{q}",
                    "max_queries_per_record": q,
                }
                for q in (50, 200)
            ],
            "augmentation",
            "label_transfer",
            "gradient_norm",
            "nasr_whitebox",
            "gmia",
        ],
        "output": str(ROOT / "runs" / "mnist_issue4"),
    }


def table(result: AuditResult) -> str:
    t = result.target
    rows = [
        f"Target `{t.model}` on `{t.dataset}`: train accuracy {t.train_accuracy:.3f}, test "
        f"accuracy {t.test_accuracy:.3f} ({t.n_members} members / {t.n_nonmembers} "
        "non-members).\n",
        "| attack | knowledge | AUC [95% CI] | TPR@0.1% | TPR@1% | queries/record | time (s) |",
        "|---|---|---|---|---|---|---|",
    ]
    for a in result.attacks:
        if a.error:
            rows.append(f"| {a.name} | {a.threat_model['knowledge']} | failed: {a.error} | | | | |")
            continue
        m = a.metrics.to_dict()
        q = "–" if a.queries_per_record is None else f"{a.queries_per_record:.1f}"
        rows.append(
            f"| {a.name} | {a.threat_model['knowledge']} | {m['auc']:.3f} "
            f"[{m['auc_ci'][0]:.3f}, {m['auc_ci'][1]:.3f}] | {m['tpr_at_fpr']['0.001']:.3f} | "
            f"{m['tpr_at_fpr']['0.01']:.3f} | {q} | {a.seconds:.1f} |"
        )
    return "\n".join(rows)


def gmia_table(result: AuditResult) -> str:
    """GMIA's selected records vs all records, for the same one-sided test statistic."""
    member = np.asarray(result.membership, bool)
    gmia = result.attack("gmia")
    if gmia.error:
        return f"GMIA failed: {gmia.error}"
    selected = gmia.scores >= 0
    lira_off = result.attack("lira_offline").scores
    rows = [
        f"GMIA selected {int(selected.sum())} of {len(member)} records "
        f"({int(member[selected].sum())} members).\n",
        "| records | n | members | AUC | TPR@1% | TPR@10% |",
        "|---|---|---|---|---|---|",
    ]
    for name, mask in (("selected by GMIA", selected), ("all", np.ones_like(selected))):
        y, s = member[mask], lira_off[mask]
        if y.all() or not y.any():
            rows.append(f"| {name} | {int(mask.sum())} | {int(y.sum())} | – | – | – |")
            continue
        rows.append(
            f"| {name} | {int(mask.sum())} | {int(y.sum())} | {auc(y, s):.3f} | "
            f"{tpr_at_fpr(y, s, 0.01):.3f} | {tpr_at_fpr(y, s, 0.1):.3f} |"
        )
    return "\n".join(rows) + (
        "\n\n(The statistic is the offline one-sided test of the target's logit-scaled "
        "confidence against the OUT reference models (GMIA's step 2).)"
    )


class CountingModule(torch.nn.Module):
    """Counts every record passed through the wrapped module (ART's queries)."""

    def __init__(self, module: torch.nn.Module) -> None:
        super().__init__()
        self.module = module
        self.count = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.count += int(x.shape[0])
        return self.module(x.float())  # ART hands over float64 arrays


def art_comparison(art_path: str | None, n_per_side: int = 100) -> str:
    """AUC of boundary distances vs label queries per record: miaudit's batched HSJ and
    ART's HopSkipJump (what ART's LabelOnlyDecisionBoundary runs), same target, same records."""
    ds = load_dataset("location")
    split = make_split(len(ds.y), members=1000, nonmembers=1000, seed=0)
    cfg = yaml.safe_load((ROOT / "configs" / "location.yaml").read_text())["target"]
    params = {k: v for k, v in cfg.items() if k != "model"}
    target = train_model(
        "mlp", params, ds.x[split.members], ds.y[split.members], num_classes=ds.num_classes, seed=0
    )
    rng = np.random.default_rng(0)
    idx = np.concatenate(
        [
            rng.choice(split.members, n_per_side, replace=False),
            rng.choice(split.nonmembers, n_per_side, replace=False),
        ]
    )
    x, y = ds.x[idx], ds.y[idx]
    member = np.arange(len(y)) < n_per_side
    loss_auc = auc(member, -target.loss(x, y))
    rows = [
        f"{n_per_side} members + {n_per_side} non-members of the Location target; "
        f"`loss` attack AUC on these records: {loss_auc:.3f}.\n",
        "| implementation | setting | label queries / record | AUC | seconds |",
        "|---|---|---|---|---|",
    ]
    pop = split.population[:1000]
    pop_labels = target.predict_labels(ds.x[pop])
    for q in BUDGETS:
        start = time.perf_counter()
        d, used = hop_skip_jump_distance(
            target.predict_labels,
            x,
            y,
            max_queries_per_record=q,
            seed=0,
            clip_min=0.0,
            clip_max=1.0,
            starts=(ds.x[pop], pop_labels),
        )
        rows.append(
            f"| miaudit | budget {q} | {used.mean():.1f} | {auc(member, d):.3f} | "
            f"{time.perf_counter() - start:.1f} |"
        )
    if art_path is None:
        return "\n".join(rows)
    sys.path.insert(0, art_path)
    from art.attacks.evasion import HopSkipJump
    from art.estimators.classification import PyTorchClassifier

    counting = CountingModule(target.module).eval()
    clf = PyTorchClassifier(
        counting,
        loss=torch.nn.CrossEntropyLoss(),
        input_shape=(446,),
        nb_classes=ds.num_classes,
        clip_values=(0.0, 1.0),
    )
    for max_iter, max_eval, init_eval in (
        (1, 100, 10),
        (2, 100, 20),
        (5, 200, 50),
        (10, 1000, 100),
        (50, 10000, 100),
    ):
        counting.count = 0
        start = time.perf_counter()
        hsj = HopSkipJump(
            clf,
            targeted=False,
            norm=2,
            max_iter=max_iter,
            max_eval=max_eval,
            init_eval=init_eval,
            verbose=False,
        )
        pred = clf.predict(x).argmax(1)
        x_adv = hsj.generate(x=x, y=None)
        d = np.linalg.norm((x_adv - x).reshape(len(x), -1), axis=1)
        d[pred != y] = 0.0
        rows.append(
            f"| ART 1.20 HopSkipJump | max_iter={max_iter}, max_eval={max_eval}, "
            f"init_eval={init_eval} | {counting.count / len(y):.1f} | {auc(member, d):.3f} | "
            f"{time.perf_counter() - start:.1f} |"
        )
    return "\n".join(rows)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--part", choices=("location", "mnist", "art", "all"), default="all")
    parser.add_argument("--art", help="folder where ART is installed (for the comparison)")
    parser.add_argument(
        "--attacks",
        help="comma-separated attack labels to keep (e.g. lira_offline,gmia); default: all",
    )
    args = parser.parse_args()

    def configured(cfg: dict) -> dict:
        if args.attacks:
            keep = set(args.attacks.split(","))
            cfg["attacks"] = [
                a
                for a in cfg["attacks"]
                if (a if isinstance(a, str) else a.get("label", a["name"])) in keep
            ]
        return copy.deepcopy(cfg)

    print(f"Machine: {machine()}; fp32 matmul {matmul_gflops():.0f} GFLOP/s\n")
    if args.part in ("location", "all"):
        start = time.perf_counter()
        res = run_config(configured(location_config()), progress=False)
        print(f"## Location ({time.perf_counter() - start:.0f} s)\n")
        print(table(res), "\n")
        print(gmia_table(res), "\n")
    if args.part in ("art", "all"):
        print("## Label-only queries vs AUC, miaudit and ART (Location)\n")
        print(art_comparison(args.art), "\n")
    if args.part in ("mnist", "all"):
        start = time.perf_counter()
        res = run_config(configured(mnist_config()), progress=False)
        print(f"## MNIST ({time.perf_counter() - start:.0f} s)\n")
        print(table(res), "\n")
        print(gmia_table(res), "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
