"""The owner's test (issue 13 part 1): its validity on owners whose records were never used
and its power on owners whose records were, against the number of the owner's records.

Per-record scores come from one audit per data set (the owner's test only ranks scores, and
every attack scores a record from the target's answers and what it fitted on other
records); simulated owners are then drawn from the non-members (H0) or the members (H1),
each with 300 reference non-members drawn disjointly from the non-members.

* Location: configs/location.yaml's overfit MLP (1,000 members), loss, LiRA and RMIA (8
  reference models of the target's recipe).
* MNIST: a scikit-learn MLP (256 hidden, 30 iterations) on 2,000 members, the loss attack.
* Tiny Shakespeare: the character transformer of configs/lm_shakespeare.yaml (its saved
  results under runs/lm_shakespeare, or run it first), lm_loss, reference_ratio, lm_rmia.

Run:  MIAUDIT_DATA=../shared/datasets .venv/bin/python benchmarks/owner_power.py --work /tmp/owner
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


def location(work: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
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
    return _split_scores(result)


def mnist() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    from sklearn.neural_network import MLPClassifier

    from miaudit.data import load_dataset
    from miaudit.pipeline import audit

    data = load_dataset("mnist")
    x = np.asarray(data.x, dtype=np.float32).reshape(len(data.y), -1) / 255.0
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
    return _split_scores(result)


def shakespeare() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    result = load_result("runs/lm_shakespeare")
    return _split_scores(result, keep=("lm_loss", "reference_ratio", "lm_rmia"))


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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, required=True)
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    out = {}
    for name, get in (
        ("location", lambda: location(args.work)),
        ("mnist", mnist),
        ("tiny_shakespeare", shakespeare),
    ):
        start = time.perf_counter()
        scores = get()
        scored = time.perf_counter() - start
        rows = curves(scores)
        out[name] = {
            "rows": rows,
            "score_seconds": scored,
            "test_seconds": time.perf_counter() - start - scored,
        }
        print(f"## {name} (scores {scored:.0f} s)")
        for row in rows:
            n, p = row["null"], row["power"]
            print(
                f"{row['attack']:<16} {row['test']:<13} k={row['k']:<3} null {n['rate']:.3f} "
                f"[{n['ci'][0]:.3f}, {n['ci'][1]:.3f}]  power {p['rate']:.3f}",
                flush=True,
            )
    (args.work / "owner_power.json").write_text(json.dumps(out, indent=1))
    _plot(out, args.work / "owner_power.png")
    return 0


def _plot(out: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(out), figsize=(5 * len(out), 3.6), sharey=True)
    for ax, (name, data) in zip(np.atleast_1d(axes), out.items(), strict=True):
        for attack in sorted({r["attack"] for r in data["rows"]}):
            rows = [
                r for r in data["rows"] if r["attack"] == attack and r["test"] == "mann_whitney"
            ]
            ax.plot(
                [r["k"] for r in rows], [r["power"]["rate"] for r in rows], marker="o", label=attack
            )
        ax.axhline(0.05, color="grey", linestyle=":", label="alpha = 0.05")
        ax.set_xscale("log")
        ax.set_title(name)
        ax.set_xlabel("owner's records")
        ax.legend(fontsize=7)
    np.atleast_1d(axes)[0].set_ylabel("power (rank test, alpha 0.05)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    raise SystemExit(main())
