"""What the aggregate attacks share: the population reference and the scoring inputs."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from miaudit.aggregate._checks import check_mask, check_means, check_unit_matrix
from miaudit.errors import DataError, NotFittedError


class AggregateAttack:
    """Base of the attacks on released means: ``fit(reference_x)`` estimates the reference
    population's feature frequencies; ``score_samples(records, mixture_means, withheld)``
    scores each record against the released mean vector (one (d,) release for every record,
    or one row of a (k, d) array per record). Scores are float64, higher = member."""

    #: the paper the attack implements
    paper: str = ""

    def fit(self, reference_x: ArrayLike) -> AggregateAttack:
        ref = check_unit_matrix(reference_x, "reference_x")
        self.population_means_ = ref.mean(axis=0)
        self.n_features_ = ref.shape[1]
        return self

    def _inputs(
        self, records: ArrayLike, mixture_means: ArrayLike, withheld: ArrayLike | None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        if not hasattr(self, "population_means_"):
            raise NotFittedError(
                f"{type(self).__name__} is not fitted: call fit(reference_x) first"
            )
        y = check_unit_matrix(records, "records", width=self.n_features_)
        mix = check_means(mixture_means, "mixture_means", width=self.n_features_)
        if mix.ndim == 2 and mix.shape[0] != y.shape[0]:
            raise DataError(
                f"mixture_means has {mix.shape[0]} rows but there are {y.shape[0]} records "
                "(pass one (d,) release for all records, or one row per record)"
            )
        mask = check_mask(withheld, "withheld", mix.shape)
        return y, mix, mask
