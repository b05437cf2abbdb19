"""Membership inference in aggregate statistics (issue 13 part 3).

A data holder releases only the mean vector of a cohort's features in [0, 1]
(:func:`release_means`, optionally with Laplace or analytic-Gaussian DP noise and suppression
of rare features). The attacks score a record against that release and a reference
population: Homer et al. 2008 (:class:`HomerAttack`), Sankararaman et al. 2009
(:class:`SankararamanAttack`) and the classifier of Pyrgelis et al. 2018
(:class:`PyrgelisAttack`). :func:`evaluate_aggregate_attack` measures them on many seeded
cohorts with miaudit's metrics; :func:`aggregate_test` gives each record a p-value. NumPy,
SciPy and scikit-learn only (no torch).
"""

from miaudit.aggregate._base import AggregateAttack
from miaudit.aggregate.evaluation import AggregateEvaluation, evaluate_aggregate_attack
from miaudit.aggregate.homer import HomerAttack, homer_statistic
from miaudit.aggregate.pvalues import AggregateTest, aggregate_test, empirical_p_values
from miaudit.aggregate.pyrgelis import PyrgelisAttack, PyrgelisPerTargetAttack, pyrgelis_features
from miaudit.aggregate.release import (
    AggregateRelease,
    ReleaseMechanism,
    analytic_gaussian_sigma,
    classic_gaussian_sigma,
    release_means,
)
from miaudit.aggregate.sankararaman import SankararamanAttack, sankararaman_statistic
from miaudit.aggregate.synthetic import genotype_panel

__all__ = [
    "AggregateAttack",
    "AggregateEvaluation",
    "AggregateRelease",
    "AggregateTest",
    "HomerAttack",
    "PyrgelisAttack",
    "PyrgelisPerTargetAttack",
    "ReleaseMechanism",
    "SankararamanAttack",
    "aggregate_test",
    "analytic_gaussian_sigma",
    "classic_gaussian_sigma",
    "empirical_p_values",
    "evaluate_aggregate_attack",
    "genotype_panel",
    "homer_statistic",
    "pyrgelis_features",
    "release_means",
    "sankararaman_statistic",
]
