"""boundary_transfer on Location: PGD vs C&W-L2 (tanh and clip boxes), one shared shadow.

Run:  MIAUDIT_DATA=../shared/datasets .venv/bin/python benchmarks/boundary_transfer_cw.py

Target recipe and split as benchmarks/label_only_white_box.py (configs/location.yaml target,
make_split(members=1000, nonmembers=1000, seed=0), population = the rest); the shadow uses
the same recipe (as the benchmark's reference recipe). Audits a subset of 250 + 250 records.
"""

import copy
import time
from pathlib import Path

import numpy as np
import torch
import yaml
from common import machine, matmul_gflops

from miaudit.attacks import AttackerKnowledge
from miaudit.attacks.li_zhang import BoundaryTransfer
from miaudit.data import load_dataset, make_split
from miaudit.metrics import auc, tpr_at_fpr
from miaudit.models import train_model
from miaudit.targets import LabelOnlyTarget

torch.set_num_threads(2)
ROOT = Path(__file__).resolve().parents[1]
ds = load_dataset("location")
split = make_split(len(ds.y), members=1000, nonmembers=1000, seed=0)
cfg = yaml.safe_load((ROOT / "configs" / "location.yaml").read_text())["target"]
params = {k: v for k, v in cfg.items() if k != "model"}


def train(x, y, seed):
    return train_model("mlp", params, x, y, num_classes=ds.num_classes, seed=seed)


t0 = time.perf_counter()
target = train(ds.x[split.members], ds.y[split.members], 0)
print(f"target trained {time.perf_counter() - t0:.0f} s")
rng = np.random.default_rng(0)
n = 250
idx = np.concatenate(
    [rng.choice(split.members, n, replace=False), rng.choice(split.nonmembers, n, replace=False)]
)
x, y = ds.x[idx], ds.y[idx]
member = np.arange(len(y)) < n
know = AttackerKnowledge(
    num_classes=ds.num_classes,
    seed=0,
    population_data=(ds.x[split.population], ds.y[split.population]),
    train_model=train,
    target=LabelOnlyTarget(target),
)
t0 = time.perf_counter()
base = BoundaryTransfer(method="pgd").fit(know)
print(f"shadow trained {time.perf_counter() - t0:.0f} s")
print(f"loss attack AUC on these records: {auc(member, -target.loss(x, y)):.3f}")
print(f"Machine: {machine()}; fp32 matmul {matmul_gflops():.0f} GFLOP/s\n")
print("| method | AUC | TPR@1% | median distance | C&W shorter / longer than PGD | seconds |")
print("|---|---|---|---|---|---|")
dists = {}
for label, kw in (
    ("pgd (defaults: steps 20, n_search 8)", {"method": "pgd"}),
    ("fgsm", {"method": "fgsm"}),
    ("cw tanh (defaults: steps 100, n_search 8, lr 0.1)", {"method": "cw"}),
    ("cw tanh, paper lr 0.01", {"method": "cw", "lr": 0.01}),
    ("cw clip, lr 1e-3", {"method": "cw", "cw_box": "clip", "lr": 1e-3}),
):
    att = copy.copy(base)  # same fitted shadow and clip box
    for k, v in kw.items():
        setattr(att, k, v)
    t0 = time.perf_counter()
    s = att.score_records(LabelOnlyTarget(target), x, y)
    dists[label] = s
    p = next(iter(dists.values()))
    pos = s > 0
    shorter = np.mean(s[pos] < p[pos] * (1 - 1e-6))
    longer = np.mean(s[pos] > p[pos] * (1 + 1e-6))
    better = f"{shorter:.2f} / {longer:.2f}"
    print(
        f"| {label} | {auc(member, s):.3f} | {tpr_at_fpr(member, s, 0.01):.3f} | "
        f"{np.median(s):.4f} | {better if kw['method'] == 'cw' else '-'} | "
        f"{time.perf_counter() - t0:.1f} |",
        flush=True,
    )
