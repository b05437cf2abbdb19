"""What every owner config shares (classifier and language-model owner audits, issue 13):
the output files, the test and its level, and the check that the groups can reach alpha."""

from __future__ import annotations

from typing import Any

from miaudit.errors import ConfigError
from miaudit.owner import TESTS, min_p_value
from miaudit.validation import check_number

FILES = ("owner.json", "owner.html")


def _test_settings(raw: dict[str, Any], source: str) -> tuple[str, float]:
    test = raw.get("test", "mann_whitney")
    if test not in TESTS:
        raise ConfigError(f"{source}: 'test' must be one of {', '.join(TESTS)}, got {test!r}")
    alpha = check_number(
        raw.get("alpha", 0.05), f"{source}: 'alpha'", low=0, high=1, closed="neither"
    )
    return str(test), float(alpha)


def check_reachable(n_owner: int, n_reference: int, test: str, alpha: float, source: str) -> None:
    """Refuse, before anything trains, groups too small for the test to reject at ``alpha``
    (the rank test's smallest p-value is 1 / C(m + r, m), :func:`miaudit.owner.min_p_value`)."""
    if test == "welch" and (n_owner < 2 or n_reference < 2):
        raise ConfigError(
            f"{source}: the Welch t-test needs at least 2 owner and 2 reference records (got "
            f"{n_owner} and {n_reference}); use the rank test (mann_whitney)"
        )
    if test == "mann_whitney" and min_p_value(n_owner, n_reference) > alpha:
        need = next(k for k in range(1, 10**7) if min_p_value(n_owner, k) <= alpha)
        raise ConfigError(
            f"{source}: with {n_owner} owner record(s) the rank test needs at least {need} "
            f"reference non-members to reach alpha = {alpha:g} (there are {n_reference}: its "
            f"smallest p-value is {min_p_value(n_owner, n_reference):.3g})"
        )
