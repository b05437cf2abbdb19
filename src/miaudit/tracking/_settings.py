"""The config's ``tracking:`` section: where an audit is logged as an experiment run.

::

    tracking:
      mlflow: file:./mlruns          # MLflow tracking URI (file:, http(s)://, databricks, ...)
      experiment: privacy-audits     # default "miaudit"
      run_name: nightly              # default: the audit's title

Credentials do not belong in a config (it is committed and copied into results.json): a URI
with a password is refused; MLflow reads ``MLFLOW_TRACKING_USERNAME`` /
``MLFLOW_TRACKING_PASSWORD`` / ``MLFLOW_TRACKING_TOKEN`` from the environment.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from miaudit.errors import ConfigError, short_repr

TRACKING_KEYS = ("mlflow", "experiment", "run_name")
DEFAULT_EXPERIMENT = "miaudit"


@dataclass(frozen=True)
class TrackingSettings:
    """Where to log an audit: an MLflow tracking URI, experiment and run name (None: the
    audit's title)."""

    mlflow: str
    experiment: str = DEFAULT_EXPERIMENT
    run_name: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"mlflow": self.mlflow, "experiment": self.experiment}
        if self.run_name is not None:
            out["run_name"] = self.run_name
        return out


def parse_tracking_section(value: Any, source: str = "config") -> TrackingSettings:
    """The config's ``tracking:`` mapping as :class:`TrackingSettings`.

    Raises:
        ConfigError: not a mapping, unknown keys, missing or empty ``mlflow``, non-string
            names, or a URI that carries a password.
    """
    where = f"{source}: tracking"
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where} must be a mapping like {{mlflow: file:./mlruns}}")
    for key in value:
        if key not in TRACKING_KEYS:
            raise ConfigError(
                f"{where}: unknown key {short_repr(key)} (valid: {', '.join(TRACKING_KEYS)})"
            )
    if "mlflow" not in value:
        raise ConfigError(f"{where} needs 'mlflow': the MLflow tracking URI (e.g. file:./mlruns)")
    uri = _text(value["mlflow"], f"{where}.mlflow")
    try:
        password = urlsplit(uri).password
    except ValueError as exc:
        raise ConfigError(f"{where}.mlflow is not a valid URI: {exc}") from None
    if password is not None:
        raise ConfigError(
            f"{where}.mlflow carries a password; leave it out of the config (it is copied "
            "into results.json) and set MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD "
            "in the environment"
        )
    experiment = _text(value.get("experiment", DEFAULT_EXPERIMENT), f"{where}.experiment")
    run_name = value.get("run_name")
    return TrackingSettings(
        mlflow=uri,
        experiment=experiment,
        run_name=None if run_name is None else _text(run_name, f"{where}.run_name"),
    )


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{where} must be a non-empty string, got {short_repr(value)}")
    return value
