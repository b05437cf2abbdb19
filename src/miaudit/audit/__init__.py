"""Audit orchestration: the Python API, the config schema and config-driven runs."""

from miaudit.audit.api import DEFAULT_ATTACKS, audit, resolve_attacks
from miaudit.audit.config import AuditConfig, load_config, parse_config
from miaudit.audit.result import AttackResult, AuditResult, TargetSummary
from miaudit.audit.run import run_config

__all__ = [
    "DEFAULT_ATTACKS",
    "AttackResult",
    "AuditConfig",
    "AuditResult",
    "TargetSummary",
    "audit",
    "load_config",
    "parse_config",
    "resolve_attacks",
    "run_config",
]
