"""Bit-identity check of every shipped audit (issue 10's constraint: a refactor changes no number).

Runs the demo (both targets), every audit config in ``configs/`` and the trade-off sweep,
and writes, per run, the SHA-256 of its ``results.json`` with the fields that legitimately
differ between two runs removed (``created``, ``timings``, ``train_seconds``, ``versions``,
the config's output path) and of its ``scores.csv``. Two code versions give the same
numbers exactly when their digest files are equal::

    MIAUDIT_DATA=../shared/datasets python benchmarks/identity.py --out runs/identity-before
    # ... change the code ...
    MIAUDIT_DATA=../shared/datasets python benchmarks/identity.py --out runs/identity-after \\
        --compare runs/identity-before/digests.json

``--compare`` exits 1 and names the runs whose digests differ. The canonical JSON of each
run is kept next to the digests (``<run>.json``), so a difference can be read with ``diff``.
``--only NAME`` runs a subset (repeatable); ``--skip-tradeoff`` leaves out the slow sweep;
``--ignore KEY`` (repeatable) also drops a field at any depth before digesting, to compare
with digests of a version that did not write it (issue 18 added ``scoring``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
#: fields that differ between two runs of the same config and seed (wall-clock and where)
VOLATILE = {"created", "timings", "train_seconds", "versions", "output"}


def canonical(obj: Any, drop: frozenset[str] = frozenset()) -> Any:
    """``obj`` without the volatile fields (and those in ``drop``), at any depth."""
    if isinstance(obj, dict):
        return {
            k: canonical(v, drop) for k, v in obj.items() if k not in VOLATILE and k not in drop
        }
    if isinstance(obj, list):
        return [canonical(v, drop) for v in obj]
    return obj


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def runs(skip_tradeoff: bool) -> dict[str, list[str]]:
    """name -> miaudit command line (without the output directory)."""
    out = {"demo": ["demo"]}
    for cfg in sorted((ROOT / "configs").glob("*.yaml")):
        if "tradeoff" in cfg.stem:
            if not skip_tradeoff:
                out[cfg.stem] = ["tradeoff", str(cfg)]
        else:
            out[cfg.stem] = ["audit", str(cfg)]
    return out


def result_dirs(directory: Path) -> list[Path]:
    """Every folder under ``directory`` that holds a results.json (the demo writes two)."""
    return sorted(p.parent for p in directory.rglob("results.json"))


def digest_run(
    name: str, directory: Path, out: Path, drop: frozenset[str] = frozenset()
) -> dict[str, str]:
    digests = {}
    for d in result_dirs(directory):
        key = name if d == directory else f"{name}/{d.relative_to(directory)}"
        data = canonical(json.loads((d / "results.json").read_text()), drop)
        text = json.dumps(data, indent=1, sort_keys=True)
        (out / f"{key.replace('/', '__')}.json").write_text(text + "\n")
        digests[f"{key}:results.json"] = sha256(text.encode())
        if (d / "scores.csv").exists():
            digests[f"{key}:scores.csv"] = sha256((d / "scores.csv").read_bytes())
    return digests


def redigest(directory: Path, digests: dict[str, str], drop: frozenset[str]) -> dict[str, str]:
    """The results.json digests of an earlier run, from its kept canonical JSONs
    (``<run>.json`` next to its digests.json) with the fields in ``drop`` removed."""
    out = {}
    for key in digests:
        name, _, file = key.rpartition(":")
        kept = directory / f"{name.replace('/', '__')}.json"
        if file == "results.json" and kept.exists():
            text = json.dumps(
                canonical(json.loads(kept.read_text()), drop), indent=1, sort_keys=True
            )
            out[key] = sha256(text.encode())
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--compare", type=Path, help="digests.json of an earlier run")
    parser.add_argument("--only", action="append", help="run only these names")
    parser.add_argument("--skip-tradeoff", action="store_true")
    parser.add_argument("--ignore", action="append", default=[], help="also drop this field")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    miaudit = [sys.executable, "-m", "miaudit.cli"]
    digests: dict[str, str] = {}
    for name, cmd in runs(args.skip_tradeoff).items():
        if args.only and name not in args.only:
            continue
        target = (args.out / "runs" / name).resolve()
        full = [*miaudit, *cmd, "--output", str(target), "--no-progress", "--overwrite"]
        print("running:", " ".join(full[2:]), flush=True)
        # a fresh working directory per run: relative paths in configs (the sweep's
        # runs/cache) start empty, so no model comes from an earlier code version's cache
        cwd = args.out / "cwd" / name
        cwd.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(full, cwd=cwd, capture_output=True, text=True)
        if done.returncode not in (0, 3):
            print(done.stderr, file=sys.stderr)
            return done.returncode
        digests.update(digest_run(name, target, args.out, frozenset(args.ignore)))
        # written after every run, so a long sweep still leaves the finished runs' digests
        (args.out / "digests.json").write_text(json.dumps(digests, indent=1, sort_keys=True) + "\n")
    print(json.dumps(digests, indent=1, sort_keys=True))
    if args.compare is None:
        return 0
    before = json.loads(args.compare.read_text())
    if args.ignore:  # digest the earlier canonical JSONs again without the ignored fields
        before.update(redigest(args.compare.parent, before, frozenset(args.ignore)))
    shared = sorted(set(before) & set(digests))
    differ = [k for k in shared if before[k] != digests[k]]
    missing = sorted(set(before) ^ set(digests))
    print(f"compared {len(shared)} digests: {len(differ)} differ")
    for k in differ:
        print("DIFFERS:", k)
    for k in missing:
        print("only in one run:", k)
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
