"""Result types of an audit and of a defense sweep, and their JSON form.

A leaf of the package: the pipeline builds these values, the report renders them, and
neither is imported here. ``to_dict`` serialises at the edge (results.json); ``from_dict``
and :func:`load_result` rebuild the typed values from a saved run.
"""

from miaudit.results._audit import (
    TPR_LEVELS,
    AttackResult,
    AuditResult,
    PseudoTargetScores,
    TargetSummary,
    metrics_from_dict,
)
from miaudit.results._files import RESULTS_JSON, SCORES_CSV, read_results_json, results_kind
from miaudit.results._json import json_float, json_interval, json_safe, metric_value
from miaudit.results._load import load_result, load_tradeoff, read_scores_csv
from miaudit.results._strongest import (
    ACCESS_LEVELS,
    STRONGEST_CRITERION,
    attack_access,
    headline,
    pick_strongest,
    strongest_attacks,
)
from miaudit.results._tradeoff import TradeoffPoint, recipe_text

__all__ = [
    "ACCESS_LEVELS",
    "RESULTS_JSON",
    "SCORES_CSV",
    "STRONGEST_CRITERION",
    "TPR_LEVELS",
    "AttackResult",
    "AuditResult",
    "PseudoTargetScores",
    "TargetSummary",
    "TradeoffPoint",
    "attack_access",
    "headline",
    "json_float",
    "json_interval",
    "json_safe",
    "load_result",
    "load_tradeoff",
    "metric_value",
    "metrics_from_dict",
    "pick_strongest",
    "read_results_json",
    "read_scores_csv",
    "recipe_text",
    "results_kind",
    "strongest_attacks",
]
