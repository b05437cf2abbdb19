"""Experiment tracking: an audit logged as an MLflow run (the config's ``tracking:``).

:func:`parse_tracking_section` reads the config section; :func:`check_tracking` checks,
before any work, that MLflow is installed and the store answers; :func:`log_audit` logs a
saved audit (parameters, metrics, tags, files). MLflow is imported lazily (the ``tracking``
extra: ``pip install 'miaudit[tracking]'``). Reads results only.
"""

from miaudit.tracking._mlflow import (
    audit_metrics,
    audit_params,
    audit_tags,
    check_tracking,
    is_file_store,
    log_audit,
)
from miaudit.tracking._settings import TRACKING_KEYS, TrackingSettings, parse_tracking_section

__all__ = [
    "TRACKING_KEYS",
    "TrackingSettings",
    "audit_metrics",
    "audit_params",
    "audit_tags",
    "check_tracking",
    "is_file_store",
    "log_audit",
    "parse_tracking_section",
]
