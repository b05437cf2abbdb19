"""Reference and shadow models: plan -> train -> cache, with pluggable executors.

::

    plan = random_plan(len(y_pool), 16, seed=0)                  # LiRA/RMIA (Carlini et al. 2022)
    recipe = TrainRecipe(model="mlp", params={"hidden": (256,)}, num_classes=10)
    run = train_references(plan, x_pool, y_pool, recipe, queries={"audited": (x, y)},
                           executor="process", cache_dir="~/.cache/miaudit")
    run.outputs[j]["audited"]                                    # ModelOutputs of model j

Executors ("serial", "process", "ray", "batched"; :mod:`miaudit.reference._executors`) give
the same results: every model is determined by its training records, recipe and per-model
seed. The names below are imported lazily, so that the NumPy-only modules of this package
(:mod:`~miaudit.reference.synthesis`, :mod:`~miaudit.reference.sources`) can be imported
without torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from miaudit.reference._cache import CacheWarning
    from miaudit.reference._engine import ReferenceRun, train_references
    from miaudit.reference._executors import EXECUTORS
    from miaudit.reference._plan import ReferencePlan, random_plan, shadow_plan
    from miaudit.reference._recipe import TrainRecipe

_EXPORTS = {
    "EXECUTORS": "miaudit.reference._executors",
    "CacheWarning": "miaudit.reference._cache",
    "ReferencePlan": "miaudit.reference._plan",
    "ReferenceRun": "miaudit.reference._engine",
    "TrainRecipe": "miaudit.reference._recipe",
    "random_plan": "miaudit.reference._plan",
    "shadow_plan": "miaudit.reference._plan",
    "train_references": "miaudit.reference._engine",
}

__all__ = [
    "EXECUTORS",
    "CacheWarning",
    "ReferencePlan",
    "ReferenceRun",
    "TrainRecipe",
    "random_plan",
    "shadow_plan",
    "train_references",
]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value  # looked up once
        return value
    raise AttributeError(f"module 'miaudit.reference' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
