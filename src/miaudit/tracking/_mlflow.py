"""Log an audit as an MLflow run: its config as parameters, its metrics, its files.

MLflow (``mlflow-skinny``, the ``tracking`` extra) is imported only here, inside functions,
so ``import miaudit`` stays light. The run is written through :class:`mlflow.MlflowClient`
(no global "active run", no change to the process's tracking URI).

What a run holds:

* parameters: the config flattened to dotted keys (``target.model``, ``split.members``,
  ``attacks`` as JSON), without the ``tracking`` section itself; values longer than MLflow's
  limit are cut (the whole config is in the results.json artifact);
* metrics: ``target/train_accuracy``, ``target/test_accuracy``,
  ``target/generalization_gap``, ``target/dp_epsilon`` (DP defenses), and per completed
  attack ``attack/<label>/<metric>`` for ``auc``, ``auc_ci_low``/``_high``,
  ``tpr_at_fpr_<level>`` (and ``_ci_low``/``_high``), ``balanced_accuracy``, ``advantage``,
  ``epsilon_lower_bound``, ``epsilon_lower_bound_heldout``, ``precision``, ``recall``
  (the values of results.json; non-finite ones are left out), plus the caller's extras (the
  gate's ``check/...``);
* tags: ``miaudit.version``, ``miaudit.created``, ``miaudit.strongest_attack``,
  ``attack/<label>/error`` for failed attacks, plus the caller's;
* artifacts, under ``miaudit/``: results.json, scores.csv, report.html and any other file
  named (check.md, check.junit.xml).

MLflow 3 refuses its file store (``file:`` URIs and plain paths) unless
``MLFLOW_ALLOW_FILE_STORE=true``; a config naming a ``file:`` URI asks for that store, so
miaudit sets the variable while it logs (unless the environment sets it already, to either
value). ``sqlite:`` URIs need SQLAlchemy and Alembic, which mlflow-skinny does not include.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from miaudit.errors import ConfigError, TrackingError, one_line
from miaudit.results import AuditResult
from miaudit.tracking._settings import TrackingSettings

#: MLflow's limit on a parameter value (mlflow.utils.validation.MAX_PARAM_VAL_LENGTH)
MAX_PARAM_CHARS = 6000
MAX_TAG_CHARS = 8000
ARTIFACT_DIR = "miaudit"
ALLOW_FILE_STORE = "MLFLOW_ALLOW_FILE_STORE"
_ATTACK_METRICS = (
    "balanced_accuracy",
    "advantage",
    "epsilon_lower_bound",
    "epsilon_lower_bound_heldout",
    "precision",
    "recall",
)


def check_tracking(settings: TrackingSettings) -> None:
    """Before any work: MLflow is installed and the tracking store answers (an experiment
    lookup, which creates nothing).

    Raises:
        ConfigError: MLflow is not installed.
        TrackingError: the store cannot be reached or refuses the lookup.
    """
    client_class = _client_class()
    try:
        with _file_store_allowed(settings.mlflow):
            client_class(tracking_uri=settings.mlflow).get_experiment_by_name(settings.experiment)
    except Exception as exc:  # noqa: BLE001 -- MLflow and its transports raise many types
        raise TrackingError(
            f"cannot reach the MLflow tracking store {settings.mlflow!r} "
            f"(nothing was run): {one_line(exc, 500)}"
        ) from None


def log_audit(
    settings: TrackingSettings,
    result: AuditResult,
    directory: str | Path,
    *,
    files: Iterable[str] = ("results.json", "scores.csv", "report.html"),
    metrics: Mapping[str, float] | None = None,
    tags: Mapping[str, str] | None = None,
) -> str:
    """Log ``result`` (saved in ``directory``) as one MLflow run; returns its run id.

    ``files`` are the names in ``directory`` logged as artifacts (missing ones are skipped);
    ``metrics`` and ``tags`` are added to the audit's own. A run that fails half-way is
    marked FAILED.

    Raises:
        TrackingError: anything MLflow raised, in one line naming the URI.
    """
    from mlflow.entities import Metric, Param, RunTag

    client_class = _client_class()
    client, run_id = None, None
    try:
        with _file_store_allowed(settings.mlflow):
            client = client_class(tracking_uri=settings.mlflow)
            experiment_id = _experiment_id(client, settings.experiment)
            run = client.create_run(experiment_id, run_name=settings.run_name or result.title[:250])
            run_id = run.info.run_id
            stamp = run.info.start_time
            all_metrics = {**audit_metrics(result), **(metrics or {})}
            all_tags = {**audit_tags(result), **(tags or {})}
            client.log_batch(
                run_id,
                metrics=[Metric(k, v, stamp, 0) for k, v in all_metrics.items()],
                params=[Param(k, v) for k, v in audit_params(result.config).items()],
                tags=[RunTag(k, v[:MAX_TAG_CHARS]) for k, v in all_tags.items()],
            )
            for name in files:
                path = Path(directory) / name
                if path.is_file():
                    client.log_artifact(run_id, str(path), ARTIFACT_DIR)
            client.set_terminated(run_id, "FINISHED")
    except Exception as exc:  # noqa: BLE001 -- MLflow and its transports raise many types
        if client is not None and run_id is not None:
            with contextlib.suppress(Exception), _file_store_allowed(settings.mlflow):
                client.set_terminated(run_id, "FAILED")
        raise TrackingError(
            f"the audit's results are saved in {str(directory)!r}, but logging them to MLflow "
            f"({settings.mlflow!r}) failed: {one_line(exc, 500)}"
        ) from None
    return run_id


def audit_metrics(result: AuditResult) -> dict[str, float]:
    """The run's metrics (see the module docstring): results.json's values under MLflow
    keys, finite ones only."""
    t = result.target
    out: dict[str, float] = {
        "target/train_accuracy": t.train_accuracy,
        "target/test_accuracy": t.test_accuracy,
        "target/generalization_gap": t.generalization_gap,
    }
    epsilon = (t.defense or {}).get("epsilon")
    if isinstance(epsilon, int | float) and not isinstance(epsilon, bool):
        out["target/dp_epsilon"] = float(epsilon)
    for label, a in zip(_keys(a.name for a in result.attacks), result.attacks, strict=True):
        m = a.metrics
        if a.error is not None or m is None:
            continue
        prefix = f"attack/{label}/"
        out[prefix + "auc"] = m.auc
        _interval(out, prefix + "auc", m.auc_ci)
        for level, value in m.tpr_at_fpr.items():
            out[f"{prefix}tpr_at_fpr_{level}"] = value
            _interval(out, f"{prefix}tpr_at_fpr_{level}", m.tpr_at_fpr_ci.get(level))
        for name in _ATTACK_METRICS:
            out[prefix + name] = getattr(m, name)
    return {k: float(v) for k, v in out.items() if isinstance(v, int | float) and math.isfinite(v)}


def audit_tags(result: AuditResult) -> dict[str, str]:
    """The run's tags: miaudit's version, when the audit ran, its strongest attack, and
    the error of each failed attack."""
    tags = {
        "miaudit.version": str(result.versions.get("miaudit", "")),
        "miaudit.created": result.created,
    }
    strongest = result.strongest_attacks().get("strongest_attack")
    if strongest:
        tags["miaudit.strongest_attack"] = str(strongest["name"])
    for label, a in zip(_keys(a.name for a in result.attacks), result.attacks, strict=True):
        if a.error is not None:
            tags[f"attack/{label}/error"] = a.error
    return tags


def audit_params(config: Mapping[str, Any] | None) -> dict[str, str]:
    """The config flattened to dotted keys (lists and the attack list as JSON), without its
    ``tracking`` section; None values are left out."""
    out: dict[str, str] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, Mapping) and value and prefix != "attacks":
            for k, v in value.items():
                walk(f"{prefix}.{_key(str(k))}" if prefix else _key(str(k)), v)
            return
        if value is None:
            return
        text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
        if len(text) > MAX_PARAM_CHARS:
            cut = " ... (cut; the whole config is in results.json)"
            text = text[: MAX_PARAM_CHARS - len(cut)] + cut
        out[prefix] = text

    for key, value in (config or {}).items():
        if key != "tracking":
            walk(_key(str(key)), value)
    return out


def _interval(out: dict[str, float], key: str, ci: Any) -> None:
    if ci is not None:
        out[key + "_ci_low"], out[key + "_ci_high"] = float(ci[0]), float(ci[1])


def _key(text: str) -> str:
    """``text`` as a piece of an MLflow key: characters other than letters, digits, ``_``,
    ``-`` and ``.`` become ``_``; no ``..`` (MLflow refuses names that act as paths)."""
    key = re.sub(r"[^\w.\-]", "_", text).replace("..", "__")
    return key.strip(".") or "_"


def _keys(labels: Iterable[str]) -> list[str]:
    """:func:`_key` of each attack label, made unique (``_2``, ``_3``, ... on a clash)."""
    out: list[str] = []
    for label in labels:
        key, n = _key(label), 1
        while key in out:
            n += 1
            key = f"{_key(label)}_{n}"
        out.append(key)
    return out


def _client_class() -> Any:
    """:class:`mlflow.MlflowClient` (built inside :func:`_file_store_allowed`: the client
    opens its store on every call)."""
    try:
        from mlflow import MlflowClient
    except ImportError:
        raise ConfigError(
            "tracking.mlflow needs MLflow: pip install 'miaudit[tracking]' (mlflow-skinny)"
        ) from None
    return MlflowClient


def _experiment_id(client: Any, name: str) -> str:
    found = client.get_experiment_by_name(name)
    if found is not None:
        return str(found.experiment_id)
    try:
        return str(client.create_experiment(name))
    except Exception:  # another job created it meanwhile
        found = client.get_experiment_by_name(name)
        if found is None:
            raise
        return str(found.experiment_id)


def is_file_store(uri: str) -> bool:
    """Whether MLflow reads ``uri`` as its file store: a ``file:`` URI or a plain path."""
    scheme = re.match(r"^([A-Za-z][A-Za-z0-9+.\-]*):", uri)
    if scheme is None:
        return True
    return scheme.group(1).lower() == "file" or (len(scheme.group(1)) == 1 and os.name == "nt")


@contextlib.contextmanager
def _file_store_allowed(uri: str) -> Iterator[None]:
    """``MLFLOW_ALLOW_FILE_STORE=true`` while logging to a file store the config names,
    unless the environment already decides; restored afterwards."""
    if not is_file_store(uri) or ALLOW_FILE_STORE in os.environ:
        yield
        return
    os.environ[ALLOW_FILE_STORE] = "true"
    try:
        yield
    finally:
        os.environ.pop(ALLOW_FILE_STORE, None)
