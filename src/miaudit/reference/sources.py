"""Where shadow models' training data come from, registered by name: Shokri et al. 2017,
"Membership Inference Attacks against Machine Learning Models" (IEEE S&P), sec. V-C.

A data source turns what the attacker has (:class:`AttackerData`: its population records,
query access to the target, a seeded generator) into shadow training records ``(x, y)``; a
new source is one function decorated with :func:`data_source`. :data:`DATA_SOURCES` lists
the names (a ``ReferenceRequest.data_source`` is one of them). Like
:mod:`~miaudit.reference.synthesis`, this module is pure NumPy: it imports without torch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from miaudit.errors import ConfigError
from miaudit.reference import synthesis
from miaudit.registry import Registry


@dataclass(frozen=True)
class AttackerData:
    """What a data source may draw on.

    Attributes:
        x, y: the attacker's population records and labels.
        num_classes: the target's number of classes.
        rng: the request's generator (every random draw of the source comes from it).
        predict_proba: the target's probabilities on records shaped like ``x``.
        noise_fraction: fraction of features re-sampled by the "noisy" source.
    """

    x: np.ndarray
    y: np.ndarray
    num_classes: int
    rng: np.random.Generator
    predict_proba: Callable[[np.ndarray], np.ndarray]
    noise_fraction: float = 0.1


DataSource = Callable[[AttackerData], tuple[np.ndarray, np.ndarray]]

SOURCES: Registry[DataSource] = Registry("shadow data source", ordered=True)


def data_source(name: str) -> Callable[[DataSource], DataSource]:
    """Decorator registering a data source under ``name`` (names are unique)."""
    return SOURCES.register(name)


def shadow_data(name: str, data: AttackerData) -> tuple[np.ndarray, np.ndarray]:
    """Shadow training records from the source called ``name``; ConfigError when unknown."""
    if name not in SOURCES:
        raise ConfigError(f"unknown shadow data source {name!r}; valid: {', '.join(SOURCES)}")
    return SOURCES.get(name)(data)


@data_source("population")
def population(data: AttackerData) -> tuple[np.ndarray, np.ndarray]:
    """The attacker's own real records from the target's distribution, as they are."""
    return data.x, data.y


@data_source("noisy")
def noisy(data: AttackerData) -> tuple[np.ndarray, np.ndarray]:
    """ "Noisy real data": the real records with a fraction of their features re-sampled
    (:func:`~miaudit.reference.synthesis.noisy_records`); labels kept."""
    return synthesis.noisy_records(data.x, fraction=data.noise_fraction, rng=data.rng), data.y


@data_source("model_synthesis")
def model_synthesis(data: AttackerData) -> tuple[np.ndarray, np.ndarray]:
    """ "Model-based synthesis": records found by hill climbing on the target's confidence,
    their Algorithm 1 (:func:`~miaudit.reference.synthesis.model_synthesis`), about as many
    per class as the population has records per class; binary features stay binary."""
    shape = data.x.shape[1:]
    flat = data.x.reshape(len(data.x), -1)
    result = synthesis.model_synthesis(
        lambda x: data.predict_proba(x.reshape((len(x), *shape))),
        max(1, len(data.y) // data.num_classes),
        data.num_classes,
        flat.shape[1],
        rng=data.rng,
        binary=bool(np.all((flat == 0) | (flat == 1))),
        allow_fewer=True,
    )
    x_syn, y_syn = result.x, result.y
    return x_syn.reshape((len(x_syn), *shape)).astype(data.x.dtype), y_syn


@data_source("statistics_synthesis")
def statistics_synthesis(data: AttackerData) -> tuple[np.ndarray, np.ndarray]:
    """ "Statistics-based synthesis": per class, as many records as the population has,
    each feature drawn from the class's marginal distribution
    (:func:`~miaudit.reference.synthesis.statistics_synthesis`)."""
    xs, ys = [], []
    for c in range(data.num_classes):
        xc = data.x[data.y == c]
        if len(xc) == 0:
            continue
        xs.append(synthesis.statistics_synthesis(xc, len(xc), rng=data.rng))
        ys.append(np.full(len(xc), c, dtype=np.int64))
    return np.concatenate(xs).astype(data.x.dtype), np.concatenate(ys)


#: the registered data sources' names, in registration order (the order of
#: :data:`miaudit.attacks.base.DATA_SOURCES`, which reads it from here)
DATA_SOURCES = tuple(SOURCES)
