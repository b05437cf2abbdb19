"""What the attacker holds in an audit; each attack gets the parts it declares
(``pipeline.api``'s ``_knowledge``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from miaudit.outputs import ModelOutputs
from miaudit.pipeline.references import ReferenceSettings
from miaudit.targets import Target


@dataclass(frozen=True)
class Holdings:
    """Everything the attacker holds; each attack gets the parts it declares
    (:func:`_knowledge`)."""

    target: Target
    settings: ReferenceSettings
    num_classes: int
    seed: int
    n_members: int
    #: the target's outputs on the audited records; None for a label-only target
    audited: ModelOutputs | None
    membership: np.ndarray
    #: the audited records in one array, for attacks that query the target themselves or
    #: train reference models on them (a copy of every audited record: issue 9 item 15)
    records: tuple[np.ndarray, np.ndarray] | None
    population: tuple[np.ndarray, np.ndarray] | None
    population_outputs: ModelOutputs | None
    random_queries: ModelOutputs | None
    train_model: Any
