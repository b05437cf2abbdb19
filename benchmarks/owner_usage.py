"""How much of the owner's data was used? DUCI (Tong et al. 2025, ICLR) checked on targets
that used known fractions of an owner's records (issue 13 part 1).

Location (Shokri et al. 2017 data): an owner of 400 records (``--owner``), 400 reference
non-members, a filler pool and the attacker's population, all disjoint. Each target is an
MLP of the reference recipe trained on a fraction p of the owner's records plus filler
records, (owner + reference) / 2 in all, the size of the reference models' training sets
(random halves of the audited records), so the target is trained like its references. For
each p in (0, 0.1, 0.25, 0.5, 1) and each seed (a new choice of used records and filler, a
new training seed): the owner audit with LiRA and RMIA (16 reference models, shared by
every target through the cache), its p-value, and DUCI's fraction with its 95% interval: as
miaudit computes it (FPR on the target's own reference non-members) and as the paper does
(both error rates on the pseudo-targets).

Run:  MIAUDIT_DATA=../shared/datasets .venv/bin/python benchmarks/owner_usage.py --work /tmp/duci
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from miaudit.data import load_dataset
from miaudit.models import train_model
from miaudit.owner import estimate_usage
from miaudit.pipeline import ReferenceSettings, audit
from miaudit.pipeline.owner_audit import answer_owner

FRACTIONS = (0.0, 0.1, 0.25, 0.5, 1.0)
RECIPE = {"hidden": [256], "epochs": 60, "batch_size": 64, "optimizer": "adam", "lr": 0.001}
N_REFERENCE, N_FILLER, N_POPULATION = 400, 1200, 1500
N_OWNER = 400  # --owner changes it; the targets train on (owner + reference) / 2 records


def _sets(seed: int = 0) -> dict[str, np.ndarray]:
    data = load_dataset("location")
    x, y = np.asarray(data.x, dtype=np.float32), np.asarray(data.y)
    idx = np.random.default_rng(seed).permutation(len(y))
    cuts = np.cumsum([N_OWNER, N_REFERENCE, N_FILLER, N_POPULATION])
    owner, ref, filler, pop = np.split(idx, cuts)[:4]
    return {"x": x, "y": y, "owner": owner, "reference": ref, "filler": filler, "pop": pop}


def _target(sets: dict[str, np.ndarray], fraction: float, seed: int):
    rng = np.random.default_rng([seed, int(round(100 * fraction))])
    used = rng.choice(sets["owner"], int(round(fraction * N_OWNER)), replace=False)
    size = (N_OWNER + N_REFERENCE) // 2  # the reference models' training-set size
    filler = rng.choice(sets["filler"], size - used.size, replace=False)
    train = np.concatenate([used, filler])
    x, y = sets["x"], sets["y"]
    model = train_model("mlp", RECIPE, x[train], y[train], num_classes=30, seed=1000 + seed)
    return model, np.isin(sets["owner"], used)


def run(work: Path, seeds: int) -> dict:
    sets = _sets()
    x, y = sets["x"], sets["y"]
    o, r, p = sets["owner"], sets["reference"], sets["pop"]
    settings = ReferenceSettings(
        model="mlp", params=RECIPE, num_models=16, cache_dir=str(work / "cache")
    )
    rows = []
    for fraction in FRACTIONS:
        for seed in range(seeds):
            start = time.perf_counter()
            model, used = _target(sets, fraction, seed)
            result = audit(
                model,
                members=(x[o], y[o]),
                nonmembers=(x[r], y[r]),
                population=(x[p], y[p]),
                attacks=["lira", "rmia"],
                reference=settings,
                bootstrap=0,
                progress=False,
                pseudo_targets=True,
            )
            is_owner = np.arange(N_OWNER + N_REFERENCE) < N_OWNER
            for run_ in result.attacks:
                ans = answer_owner(
                    run_.scores,
                    is_owner,
                    run_.pseudo_targets,
                    attack=run_.name,
                    test="mann_whitney",
                    alpha=0.05,
                    seed=seed,
                    power_sizes=(),
                )
                pt = run_.pseudo_targets
                paper = estimate_usage(
                    np.asarray(run_.scores)[is_owner],
                    pt.scores[:, is_owner],
                    pt.membership[:, is_owner],
                    seed=seed,
                )
                u = ans.usage
                rows.append(
                    {
                        "fraction": fraction,
                        "true_fraction": float(used.mean()),
                        "seed": seed,
                        "attack": run_.name,
                        "p_value": ans.test.p_value,
                        "reject": ans.test.reject,
                        "estimate": u.fraction,
                        "raw": u.raw,
                        "ci": list(u.ci),
                        "tpr": u.tpr,
                        "fpr_target": u.fpr,
                        "paper_estimate": paper.fraction,
                        "paper_raw": paper.raw,
                        "paper_ci": list(paper.ci),
                        "paper_fpr": paper.fpr,
                        "threshold_p": ans.threshold_test.p_value,
                        "threshold_reject": ans.threshold_test.reject,
                        "mismatch": ans.resemblance["mismatch"],
                        "ks": ans.resemblance["ks_statistic"],
                        "seconds": time.perf_counter() - start,
                    }
                )
            print(json.dumps(rows[-2:]), flush=True)
    return {"rows": rows, "recipe": RECIPE}


def table(rows: list[dict]) -> str:
    out = [
        "| attack | fraction used | rank test rejects | threshold test rejects | DUCI estimate "
        "(mean, range) | 95% interval covers | mean width | paper's estimator (mean) | covers |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for attack in ("lira", "rmia"):
        for fraction in FRACTIONS:
            cell = [r for r in rows if r["attack"] == attack and r["fraction"] == fraction]
            if not cell:
                continue
            est = np.array([r["raw"] for r in cell])
            cover = sum(r["ci"][0] <= r["true_fraction"] <= r["ci"][1] for r in cell)
            width = np.mean([r["ci"][1] - r["ci"][0] for r in cell])
            paper = np.array([r["paper_raw"] for r in cell])
            pcover = sum(r["paper_ci"][0] <= r["true_fraction"] <= r["paper_ci"][1] for r in cell)
            rejects = sum(r["reject"] for r in cell)
            counted = sum(r.get("threshold_reject", False) for r in cell)
            out.append(
                f"| `{attack}` | {fraction:g} | {rejects}/{len(cell)} | {counted}/{len(cell)} | "
                f"{est.mean():.3f} "
                f"({est.min():.2f} to {est.max():.2f}) | {cover}/{len(cell)} | {width:.2f} | "
                f"{paper.mean():.3f} | {pcover}/{len(cell)} |"
            )
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", required=True)
    ap.add_argument("--seeds", type=int, default=8)
    ap.add_argument("--owner", type=int, default=400, help="the owner's records")
    args = ap.parse_args()
    global N_OWNER
    N_OWNER = args.owner
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    doc = run(work, args.seeds)
    doc["seconds"] = time.perf_counter() - start
    doc["n_owner"] = N_OWNER
    (work / f"owner_usage_{N_OWNER}.json").write_text(json.dumps(doc, indent=1))
    print(table(doc["rows"]))
    print(f"total {doc['seconds']:.0f} s")


if __name__ == "__main__":
    main()
