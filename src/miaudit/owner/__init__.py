"""The data owner's question, "were my records used to train this model?", answered with a
hypothesis test and its p-value (issue 13; Maini et al. 2021, "Dataset Inference", ICLR).

:func:`owner_test` compares attack scores of the owner's records with those of known
non-members; :func:`rejection_rate` measures the test's validity (owners never used) and
power. Scoring the records with an attack first is :func:`miaudit.owner_audit`
(:mod:`miaudit.pipeline.owner_audit`, which runs an audit)."""

from miaudit.owner._test import (
    ASSUMPTIONS,
    TESTS,
    OwnerTest,
    min_p_value,
    owner_test,
    rejection_rate,
)

__all__ = [
    "ASSUMPTIONS",
    "TESTS",
    "OwnerTest",
    "min_p_value",
    "owner_test",
    "rejection_rate",
]
