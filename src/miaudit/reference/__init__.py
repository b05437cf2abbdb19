"""Reference and shadow models: plan -> train -> cache, with pluggable executors.

::

    plan = random_plan(len(y_pool), 16, seed=0)                  # LiRA/RMIA (Carlini et al. 2022)
    recipe = TrainRecipe(model="mlp", params={"hidden": (256,)}, num_classes=10)
    run = train_references(plan, x_pool, y_pool, recipe, queries={"audited": (x, y)},
                           executor="process", cache_dir="~/.cache/miaudit")
    run.outputs[j]["audited"]                                    # ModelOutputs of model j

Executors ("serial", "process", "ray", "batched") give the same results: every model is
determined by its training records, recipe and per-model seed.
"""

from miaudit.reference._cache import CacheWarning
from miaudit.reference._engine import EXECUTORS, ReferenceRun, train_references
from miaudit.reference._plan import ReferencePlan, random_plan, shadow_plan
from miaudit.reference._recipe import TrainRecipe

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
