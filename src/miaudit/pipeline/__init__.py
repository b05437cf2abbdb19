"""Audit orchestration: the Python API, the config schema and config-driven runs."""

from miaudit.pipeline._attack_list import DEFAULT_ATTACKS, resolve_attacks
from miaudit.pipeline.api import audit
from miaudit.pipeline.config import AuditConfig, load_config, parse_config
from miaudit.pipeline.output import save_result
from miaudit.pipeline.references import ReferenceSettings
from miaudit.pipeline.run import run_config
from miaudit.results import AttackResult, AuditResult, TargetSummary

__all__ = [
    "DEFAULT_ATTACKS",
    "AttackResult",
    "AuditConfig",
    "AuditResult",
    "ReferenceSettings",
    "TargetSummary",
    "audit",
    "load_config",
    "parse_config",
    "resolve_attacks",
    "run_config",
    "save_result",
]
