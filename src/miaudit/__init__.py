"""miaudit: audit machine-learning models for membership-inference leakage.

Public API::

    import miaudit
    result = miaudit.audit(model, members=(x_in, y_in), nonmembers=(x_out, y_out),
                           population=(x_pop, y_pop), attacks=["loss", "confidence"])
    print(result.summary())
    miaudit.save_result(result, "runs/my_model")   # results.json, scores.csv, report.html

The names below are imported lazily so that ``import miaudit.metrics`` (NumPy only)
does not pull in torch.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "ATTACKS": "miaudit.attacks",
    "AttackerKnowledge": "miaudit.attacks",
    "make_attack": "miaudit.attacks",
    "AuditConfig": "miaudit.pipeline",
    "AuditResult": "miaudit.results",
    "audit": "miaudit.pipeline",
    "load_config": "miaudit.pipeline",
    "run_config": "miaudit.pipeline",
    "save_result": "miaudit.pipeline",
    "load_result": "miaudit.results",
    "Dataset": "miaudit.data",
    "list_datasets": "miaudit.data",
    "load_dataset": "miaudit.data",
    "make_split": "miaudit.data",
    "evaluate_scores": "miaudit.metrics",
    "ModelOutputs": "miaudit.outputs",
    "as_target": "miaudit.targets",
    "HttpTarget": "miaudit.targets.http",
    "http_target": "miaudit.targets.http",
    "train_model": "miaudit.models",
    "load_target": "miaudit.models",
    # language models (issue 12)
    "lm_audit": "miaudit.pipeline.lm_audit",
    "split_records": "miaudit.pipeline.lm_audit",
    "LMSpec": "miaudit.text",
    "load_corpus": "miaudit.text",
    "read_text_file": "miaudit.text",
    "load_hf_lm": "miaudit.text",
    "make_lm_attack": "miaudit.attacks.lm",
    # owner audits (issue 13)
    "owner_audit": "miaudit.pipeline.owner_audit",
    "owner_test": "miaudit.owner",
    "user_level_audit": "miaudit.pipeline.user_audit",
    "release_means": "miaudit.aggregate",
    "evaluate_aggregate_attack": "miaudit.aggregate",
}

__all__ = ["__version__", *sorted(_EXPORTS)]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'miaudit' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__
