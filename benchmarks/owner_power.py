"""The owner's test (issue 13 part 1): its validity on owners whose records were never used
and its power on owners whose records were, against the number of the owner's records.

Per-record scores come from one audit per data set (the owner's test only ranks scores, and
every attack scores a record from the target's answers and what it fitted on other
records); simulated owners are then drawn from the non-members (H0) or the members (H1),
each with 300 reference non-members drawn disjointly from the non-members.

* Location: configs/location.yaml's overfit MLP (1,000 members), loss, LiRA and RMIA (8
  reference models of the target's recipe).
* MNIST: a scikit-learn MLP (256 hidden, 30 iterations) on 2,000 members, the loss attack.
* MNIST CNN: the ``cnn`` recipe (conv 32-64, fc 128, 30 epochs of Adam, no regularisation)
  on 1,000 members (1,000 non-members, 5,000 population records), loss, LiRA and RMIA with
  8 reference models of the target's recipe (cached under --work/cache).
* Tiny Shakespeare: the character transformer of configs/lm_shakespeare.yaml (its saved
  results under runs/lm_shakespeare, or run it first), lm_loss, reference_ratio, lm_rmia.

Run:  MIAUDIT_DATA=../shared/datasets .venv/bin/python benchmarks/owner_power.py --work /tmp/owner
(``--only mnist_cnn`` runs one data set and merges its rows into --work's owner_power.json.)
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from miaudit.owner import rejection_rate
from miaudit.results import load_result

SIZES = (1, 2, 5, 10, 20, 50)
OWNERS, REFERENCE = 200, 300
#: the leaking MNIST target (and its reference models' recipe): trains to 100% accuracy
CNN = {
    "channels": [32, 64],
    "hidden": 128,
    "epochs": 30,
    "batch_size": 64,
    "optimizer": "adam",
    "lr": 0.001,
}


def location(work: Path):
    from miaudit.pipeline import run_config
    from miaudit.pipeline._yaml import read_yaml
    from miaudit.pipeline.config import parse_config

    raw = read_yaml("configs/location.yaml")
    raw["attacks"] = ["loss", "lira", "rmia"]
    raw["reference"] = {"num_models": 8, "cache_dir": str(work / "cache")}
    raw["evaluation"] = {"bootstrap": 0}
    result = run_config(
        parse_config(raw), output=str(work / "location"), progress=False, overwrite=True
    )
    return result, None


def mnist(work: Path):
    from sklearn.neural_network import MLPClassifier

    from miaudit.data import load_dataset
    from miaudit.pipeline import audit

    data = load_dataset("mnist")
    # the loader's pixels are already in [0, 1] (an extra / 255 left the MLP underfit)
    x = np.asarray(data.x, dtype=np.float32).reshape(len(data.y), -1)
    y = np.asarray(data.y)
    idx = np.random.default_rng(0).permutation(len(y))
    mem, non = idx[:2000], idx[2000:4000]
    model = MLPClassifier((256,), max_iter=30, random_state=0).fit(x[mem], y[mem])
    result = audit(
        model,
        members=(x[mem], y[mem]),
        nonmembers=(x[non], y[non]),
        attacks=["loss"],
        bootstrap=0,
        progress=False,
    )
    return result, None


def mnist_cnn(work: Path):
    """A CNN that overfits MNIST, with reference-model attacks trained like it."""
    from miaudit.pipeline import run_config
    from miaudit.pipeline.config import parse_config

    raw = {
        "seed": 0,
        "dataset": {"name": "mnist"},
        "split": {"members": 1000, "nonmembers": 1000, "population": 5000},
        "target": {"model": "cnn", **CNN},
        "attacks": ["loss", "lira", "rmia"],
        "reference": {"num_models": 8, "cache_dir": str(work / "cache")},
        "evaluation": {"bootstrap": 0},
    }
    result = run_config(
        parse_config(raw), output=str(work / "mnist_cnn"), progress=False, overwrite=True
    )
    return result, None


def shakespeare(work: Path):
    return load_result("runs/lm_shakespeare"), ("lm_loss", "reference_ratio", "lm_rmia")


SOURCES = {
    "location": location,
    "mnist": mnist,
    "mnist_cnn": mnist_cnn,
    "tiny_shakespeare": shakespeare,
}


def _split_scores(result, keep=None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    m = np.asarray(result.membership, dtype=bool)
    return {
        a.name: (np.asarray(a.scores)[m], np.asarray(a.scores)[~m])
        for a in result.attacks
        if a.scores is not None and (keep is None or a.name in keep)
    }


def curves(scores: dict[str, tuple[np.ndarray, np.ndarray]]) -> list[dict]:
    rows = []
    for attack, (members, non) in scores.items():
        for test in ("mann_whitney", "welch"):
            for k in SIZES:
                if test == "welch" and k < 2:
                    continue
                null = rejection_rate(
                    non, None, n_owner=k, n_reference=REFERENCE, n_owners=OWNERS, test=test, seed=k
                )
                power = rejection_rate(
                    members,
                    non,
                    n_owner=k,
                    n_reference=REFERENCE,
                    n_owners=OWNERS,
                    test=test,
                    seed=100 + k,
                )
                rows.append({"attack": attack, "test": test, "k": k, "null": null, "power": power})
    return rows


def _target_info(result) -> dict:
    """The target's accuracies and each kept attack's AUC, for the benchmark's text."""
    t = result.target
    return {
        "model": t.model,
        "train_accuracy": t.train_accuracy,
        "test_accuracy": t.test_accuracy,
        "auc": {a.name: a.metrics.auc for a in result.attacks if a.metrics is not None},
        "timings": dict(result.timings or {}),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument(
        "--only",
        default=",".join(SOURCES),
        help=f"comma-separated data sets to run (of {', '.join(SOURCES)}); the others' rows "
        "are kept from --work's owner_power.json",
    )
    args = parser.parse_args()
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = sorted(set(names) - set(SOURCES))
    if unknown or not names:
        parser.error(f"unknown --only {unknown}; valid: {', '.join(SOURCES)}")
    args.work.mkdir(parents=True, exist_ok=True)
    saved = args.work / "owner_power.json"
    out = json.loads(saved.read_text()) if saved.exists() else {}
    for name in names:
        start = time.perf_counter()
        result, keep = SOURCES[name](args.work)
        scores = _split_scores(result, keep=keep)
        scored = time.perf_counter() - start
        rows = curves(scores)
        out[name] = {
            "target": _target_info(result),
            "rows": rows,
            "score_seconds": scored,
            "test_seconds": time.perf_counter() - start - scored,
        }
        info = out[name]["target"]
        aucs = ", ".join(f"{a} {v:.3f}" for a, v in info["auc"].items() if v is not None)
        print(
            f"## {name} (scores {scored:.0f} s; train acc {info['train_accuracy']:.3f}, "
            f"test acc {info['test_accuracy']:.3f}; AUC {aucs})"
        )
        for row in rows:
            n, p = row["null"], row["power"]
            print(
                f"{row['attack']:<16} {row['test']:<13} k={row['k']:<3} null {n['rate']:.3f} "
                f"[{n['ci'][0]:.3f}, {n['ci'][1]:.3f}]  power {p['rate']:.3f}",
                flush=True,
            )
    out = {n: out[n] for n in SOURCES if n in out}  # the table's order
    saved.write_text(json.dumps(out, indent=1))
    _plot(out, args.work / "owner_power.png")
    return 0


def _plot(out: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = 2 if len(out) == 4 else min(len(out), 3)
    grid = -(-len(out) // cols)
    fig, axes = plt.subplots(grid, cols, figsize=(5 * cols, 3.4 * grid), sharey=True, squeeze=False)
    for ax in axes.flat[len(out) :]:
        ax.set_visible(False)
    attacks = sorted({r["attack"] for data in out.values() for r in data["rows"]})
    colour = {a: f"C{i}" for i, a in enumerate(attacks)}  # one colour per attack everywhere
    for ax, (name, data) in zip(axes.flat, out.items(), strict=False):
        for attack in sorted({r["attack"] for r in data["rows"]}):
            rows = [
                r for r in data["rows"] if r["attack"] == attack and r["test"] == "mann_whitney"
            ]
            ax.plot(
                [r["k"] for r in rows],
                [r["power"]["rate"] for r in rows],
                marker="o",
                color=colour[attack],
                label=attack,
            )
        ax.axhline(0.05, color="grey", linestyle=":", label="alpha = 0.05")
        ax.set_xscale("log")
        ax.set_xticks(SIZES, [str(k) for k in SIZES])
        ax.set_ylim(-0.03, 1.03)
        target = data.get("target", {})
        acc = (
            f" (train {target['train_accuracy']:.2f}, test {target['test_accuracy']:.2f})"
            if "train_accuracy" in target
            else ""
        )
        ax.set_title(f"{name}{acc}", fontsize=10)
        ax.set_xlabel("owner's records k")
        ax.legend(fontsize=7)
    for ax in axes[:, 0]:
        ax.set_ylabel("power (rank test, alpha 0.05)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    raise SystemExit(main())
