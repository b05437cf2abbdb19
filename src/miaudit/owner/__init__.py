"""The data owner's question, "were my records used to train this model?", answered with a
hypothesis test and its p-value (issue 13; Maini et al. 2021, "Dataset Inference", ICLR).

:func:`owner_test` compares attack scores of the owner's records with those of known
non-members; :func:`rejection_rate` measures the test's validity (owners never used) and
power. Scoring the records with an attack first is :func:`miaudit.owner_audit`
(:mod:`miaudit.pipeline.owner_audit`, which runs an audit). :func:`power_curve` estimates
the test's power on reference models; :func:`estimate_usage` the fraction of the owner's
records used (Tong et al. 2025, DUCI)."""

from miaudit.owner._power import POWER_SIZES, power_at, power_curve
from miaudit.owner._test import (
    ASSUMPTIONS,
    TESTS,
    OwnerTest,
    min_p_value,
    owner_test,
    rejection_rate,
)
from miaudit.owner.duci import UsageEstimate, estimate_usage

__all__ = [
    "ASSUMPTIONS",
    "POWER_SIZES",
    "TESTS",
    "OwnerTest",
    "UsageEstimate",
    "estimate_usage",
    "min_p_value",
    "owner_test",
    "power_at",
    "power_curve",
    "rejection_rate",
]
