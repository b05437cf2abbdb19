"""The demo audit: a random forest and an MLP on scikit-learn's bundled digits data.

The random forest generalises well (high test accuracy) yet leaks through its
confidence; the MLP is the usual overfit network. Runs in well under two minutes on two
cores and needs no downloads.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from miaudit.pipeline import parse_config, run_config
from miaudit.results import AuditResult

DEMO_ATTACKS = ["gap", "loss", "confidence", "entropy", "modified_entropy"]

DEMO_TARGETS: dict[str, dict[str, Any]] = {
    "random_forest": {"model": "random_forest", "n_estimators": 100},
    "mlp": {
        "model": "mlp",
        "hidden": [256, 128],
        "epochs": 60,
        "batch_size": 32,
        "optimizer": "adam",
        "lr": 0.001,
    },
}


def demo_config(name: str, output: str | Path) -> dict[str, Any]:
    """The configuration the demo runs for target ``name``."""
    return {
        "seed": 0,
        "title": f"miaudit demo: {name} on digits",
        "dataset": {"name": "digits"},
        "split": {"members": 600, "nonmembers": 600},
        "target": DEMO_TARGETS[name],
        "attacks": DEMO_ATTACKS,
        "output": str(Path(output) / name),
    }


def run_demo(
    output: str | Path = "runs/demo", *, progress: bool = True, overwrite: bool = False
) -> dict[str, AuditResult]:
    """Audit both demo targets, writing each report under ``output/<target>/``.

    Both output directories are checked before the first model trains.
    """
    from miaudit.pipeline.output import OUTPUT_FILES, prepare_output_dir, run_identity

    configs = {name: parse_config(demo_config(name, output)) for name in DEMO_TARGETS}
    for config in configs.values():
        prepare_output_dir(
            str(config.output),
            identity=run_identity({"config": config.to_dict()}),
            files=OUTPUT_FILES,
            overwrite=overwrite,
        )
    return {
        name: run_config(config, progress=progress, overwrite=overwrite)
        for name, config in configs.items()
    }
