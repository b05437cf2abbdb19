"""One model audited where it lives (issue 11): as a live object, as an ONNX file, and
behind an HTTP endpoint. The same audit (same records, attacks and reference models)
must give the same numbers; what differs is the wall time and the queries.

Run:  MIAUDIT_DATA=../shared/datasets .venv/bin/python benchmarks/where_models_live.py

Target: configs/location.yaml's MLP (446-1024-512-256-128-30, 1,000 members, 1,000
non-members, Adam) trained exactly as the recipe config trains it. The three audits:

- live: the recipe config itself (miaudit trains the target in process and queries it);
- ONNX: ``target: {path: model.onnx}`` (the same module exported by torch.onnx's dynamo
  exporter, run by onnxruntime's CPU provider), the members listed in ``split``;
- HTTP: ``target: {url: ...}``, the same torch module served by the standard library's
  ``http.server`` on 127.0.0.1 (default mapping: ``{"inputs"}`` -> ``{"outputs"}``),
  with a query budget, its answers cached under the output folder.

Attacks: the five threshold attacks, LiRA (8 reference models of the target's recipe,
trained once into a shared cache before the timed runs, so every timed run reads the same
models) and the label-only augmentation attack (Choquette-Choo et al. 2021), whose queries
show what a label-only audit costs over HTTP. Prints a markdown table for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import copy
import json
import tempfile
import threading
import time
import warnings
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import torch
import yaml
from common import machine, matmul_gflops

from miaudit.data import load_dataset, make_split
from miaudit.data.integrity import first_occurrences
from miaudit.models import train_model
from miaudit.pipeline import run_config

ROOT = Path(__file__).resolve().parents[1]
ATTACKS = ["gap", "loss", "confidence", "entropy", "modified_entropy", "lira", "augmentation"]


def serve(module: torch.nn.Module) -> tuple[ThreadingHTTPServer, str]:
    """The module behind ``POST /predict`` on 127.0.0.1 (float32 records, softmax rows)."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            x = torch.tensor(np.asarray(body["inputs"], dtype=np.float32))
            with torch.no_grad():
                probs = torch.softmax(module(x), dim=1).double().numpy()
            payload = json.dumps({"outputs": probs.tolist()}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/predict"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=None, help="override the recipe's epochs")
    parser.add_argument("--work", default=None, help="folder for the files (default: a temp)")
    args = parser.parse_args()
    base = yaml.safe_load((ROOT / "configs" / "location.yaml").read_text())
    base.pop("output", None)
    if args.epochs is not None:
        base["target"]["epochs"] = args.epochs
    work = Path(args.work or tempfile.mkdtemp(prefix="where-models-live-"))
    work.mkdir(parents=True, exist_ok=True)
    recipe = base["target"]
    base["attacks"] = ATTACKS
    base["reference"] = {"num_models": 8, "cache_dir": str(work / "cache"), "model": recipe}
    base["evaluation"] = {"bootstrap": 200, "random_queries": 0}

    data = load_dataset("location")
    kept = first_occurrences(data.x)
    split = make_split(len(kept), members=1000, nonmembers=1000, seed=base["seed"])
    params = {k: v for k, v in recipe.items() if k != "model"}
    members = (data.x[kept][split.members], data.y[kept][split.members])
    start = time.perf_counter()
    module = train_model("mlp", params, *members, num_classes=data.num_classes, seed=0).module
    train_s = time.perf_counter() - start
    module.eval()
    np.save(work / "members.npy", kept[split.members])
    np.save(work / "nonmembers.npy", kept[split.nonmembers])
    listed = {"members": str(work / "members.npy"), "nonmembers": str(work / "nonmembers.npy")}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            (torch.from_numpy(members[0][:4]),),
            str(work / "model.onnx"),
            dynamo=True,
            dynamic_shapes=({0: torch.export.Dim("batch")},),
            verbose=False,
        )
    server, url = serve(module)
    runs = {
        "live object (recipe config)": base,
        "ONNX file": {**base, "split": listed, "target": {"path": str(work / "model.onnx")}},
        "HTTP endpoint": {
            **base,
            "split": listed,
            "target": {"url": url, "query_budget": 200_000},
        },
    }
    run_config(copy.deepcopy(base), progress=False)  # trains the reference models once
    gflops = matmul_gflops()
    results = {}
    for name, cfg in runs.items():
        out = work / name.split()[0].lower()
        start = time.perf_counter()
        result = run_config(copy.deepcopy(cfg), output=out, progress=False, overwrite=True)
        results[name] = (result, time.perf_counter() - start, out)
    server.shutdown()

    live = results["live object (recipe config)"][0]
    print(f"machine: {machine()}; fp32 matmul {gflops:.0f} GFLOP/s (same run)")
    print(f"target trained in {train_s:.1f} s; files in {work}\n")
    header = "| audit | " + " | ".join(f"{a} AUC" for a in ATTACKS)
    print(header + " | max abs AUC diff vs live | wall s | of it, target s | queries sent |")
    print("|" + "---|" * (len(ATTACKS) + 5))
    for name, (result, seconds, out) in results.items():
        aucs = [result.attack(a).metrics.auc for a in ATTACKS]
        diff = max(abs(x - live.attack(a).metrics.auc) for x, a in zip(aucs, ATTACKS, strict=True))
        saved = json.loads((out / "results.json").read_text())
        sent = saved.get("queries", {}).get("this_run", {}).get("sent", "-")
        row = " | ".join(f"{x:.4f}" for x in aucs)
        target_s = result.timings.get("train_target", 0.0)  # trained, or loaded/connected
        print(f"| {name} | {row} | {diff:.1e} | {seconds:.1f} | {target_s:.1f} | {sent} |")
    http = json.loads((results["HTTP endpoint"][2] / "results.json").read_text())["queries"]
    print("\nHTTP queries per step:")
    for label, tally in http["by_attack"].items():
        print(f"- {label}: {tally}")


if __name__ == "__main__":
    main()
