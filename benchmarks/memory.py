"""Peak memory of a config-like audit on 200,000 records (issue 9, item 15).

Each audit runs in a fresh child process; its peak resident set size is the child's
``ru_maxrss`` as returned by ``os.wait4`` (Linux: kibibytes), so imports, the data set,
the target's training and every attack are included and nothing of the parent is.

The data: Purchase-100's shape (197,324 x 600 binary features, 100 classes) when
``purchase100/purchase100.npz`` is in the data directory, else 200,000 synthetic records of
that shape (binary features drawn around one random prototype per class, seed 0), saved as
an ``.npz`` and read through ``dataset: {path: ...}``. The target is a small MLP trained for
one epoch (what is measured is the pipeline's memory, not the model's); the attacks are the
five threshold attacks (gap, loss, confidence, entropy, modified_entropy) with 1,000 random
queries for the confidence attack's threshold, as in ``configs/location.yaml``.

Usage::

    .venv/bin/python benchmarks/memory.py                      # 20k/20k and 100k/100k
    .venv/bin/python benchmarks/memory.py --sizes 20000        # one setting
    PYTHONPATH=/tmp/before/src .venv/bin/python benchmarks/memory.py   # another checkout

Prints one line per setting: members, non-members, peak RSS (MiB), wall seconds, the AUCs
and a digest of every attack's scores (two checkouts that print the same digest computed
bit-identical scores).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

N_RECORDS, N_FEATURES, N_CLASSES = 200_000, 600, 100
ATTACKS = ["gap", "loss", "confidence", "entropy", "modified_entropy"]


def synthetic_purchase(path: Path, *, seed: int = 0) -> Path:
    """200,000 x 600 binary records in 100 classes: each class a random prototype with
    density 0.1, each record its class's prototype with 10% of the bits flipped (uint8)."""
    rng = np.random.default_rng(seed)
    prototypes = rng.random((N_CLASSES, N_FEATURES)) < 0.1
    y = rng.integers(0, N_CLASSES, N_RECORDS)
    x = np.empty((N_RECORDS, N_FEATURES), dtype=np.uint8)
    for start in range(0, N_RECORDS, 20_000):  # chunked: bounded memory in the parent
        stop = min(start + 20_000, N_RECORDS)
        flips = rng.random((stop - start, N_FEATURES)) < 0.1
        x[start:stop] = prototypes[y[start:stop]] ^ flips
    np.savez(path, x=x, y=y.astype(np.int64))
    return path


def dataset_spec(data_dir: Path, scratch: Path) -> dict[str, str]:
    """Purchase-100 from ``data_dir`` when present, else the synthetic file in ``scratch``."""
    if (data_dir / "purchase100" / "purchase100.npz").is_file():
        return {"name": "purchase100", "data_dir": str(data_dir)}
    return {"path": str(synthetic_purchase(scratch / "purchase_like.npz"))}


def config(dataset: dict[str, str], members: int) -> dict:
    return {
        "seed": 0,
        "dataset": dataset,
        "split": {"members": members, "nonmembers": members},
        "target": {"model": "mlp", "hidden": [64], "epochs": 1, "batch_size": 256},
        "attacks": ATTACKS,
        "evaluation": {"random_queries": 1000, "bootstrap": 20},
    }


def child(cfg_json: str) -> None:
    """Run one audit and print its AUCs as JSON (in the child process)."""
    from miaudit.pipeline import run_config

    result = run_config(json.loads(cfg_json), progress=False)
    aucs = {a.name: None if a.metrics is None else a.metrics.auc for a in result.attacks}
    digest = hashlib.sha256()
    for a in result.attacks:
        if a.scores is not None:
            digest.update(np.ascontiguousarray(a.scores, dtype=np.float64).tobytes())
    report = {
        "aucs": aucs,
        "scores_sha256": digest.hexdigest()[:16],
        "errors": [a.error for a in result.attacks if a.error],
    }
    print(json.dumps(report))


def measure(cfg: dict) -> dict:
    """Peak RSS (MiB) and wall time of ``child(cfg)`` in a fresh interpreter."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, __file__, "--child", json.dumps(cfg)],
        stdout=subprocess.PIPE,
        text=True,
    )
    out = proc.stdout.read() if proc.stdout else ""
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"child failed with status {proc.returncode}")
    report = json.loads(out.strip().splitlines()[-1])
    report["peak_rss_mib"] = usage.ru_maxrss / 1024  # Linux reports KiB
    report["seconds"] = time.perf_counter() - start
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[20_000, 100_000])
    parser.add_argument("--data-dir", default=os.environ.get("MIAUDIT_DATA", "../shared/datasets"))
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return
    import miaudit

    print(f"miaudit from {Path(miaudit.__file__).parent}")
    with tempfile.TemporaryDirectory() as scratch:
        dataset = dataset_spec(Path(args.data_dir), Path(scratch))
        print(f"data: {dataset.get('name', 'synthetic Purchase-100-shaped records')}")
        for members in args.sizes:
            r = measure(config(dataset, members))
            aucs = " ".join(f"{k}={v:.6f}" for k, v in r["aucs"].items())
            print(
                f"members={members} nonmembers={members} peak_rss={r['peak_rss_mib']:.0f} MiB "
                f"seconds={r['seconds']:.1f} {aucs} scores_sha256={r['scores_sha256']}"
                + (f" errors={r['errors']}" if r["errors"] else "")
            )


if __name__ == "__main__":
    main()
