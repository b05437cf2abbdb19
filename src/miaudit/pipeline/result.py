"""Audit results: plain dataclasses that serialise to results.json, scores.csv and report.html."""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

TPR_LEVELS = ("0.001", "0.01", "0.1")
#: the files :meth:`AuditResult.save` writes, in the order it writes them
OUTPUT_FILES = ("results.json", "scores.csv", "report.html")

#: the attacker's access levels, weakest first
ACCESS_LEVELS = ("labels", "outputs", "white-box")
_ACCESS_OF_KNOWLEDGE = {
    "black-box labels": "labels",
    "black-box probabilities": "outputs",
    "white-box": "white-box",
}
STRONGEST_CRITERION = (
    "highest TPR at 1% FPR, ties broken by the higher AUC, then by the order the attacks ran; "
    "the highest-AUC attack breaks ties by TPR at 1% FPR"
)


@dataclass
class TargetSummary:
    """The audited model and how well it generalises."""

    model: str
    params: dict[str, Any]
    num_classes: int
    n_members: int
    n_nonmembers: int
    train_accuracy: float
    test_accuracy: float
    dataset: str | None = None
    defense: dict[str, Any] | None = None
    #: the data set's original label of each class 0..C-1 when miaudit encoded its labels
    #: (e.g. {3, 7, 100} -> 0, 1, 2); None when the labels were used as they are
    label_values: list[int] | None = None
    #: exact duplicate records dropped from the data set before the split (config runs);
    #: None when the audit did not split a data set itself
    duplicates_dropped: int | None = None

    @property
    def generalization_gap(self) -> float:
        return self.train_accuracy - self.test_accuracy

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "params": self.params,
            "dataset": self.dataset,
            "num_classes": self.num_classes,
            "n_members": self.n_members,
            "n_nonmembers": self.n_nonmembers,
            "train_accuracy": self.train_accuracy,
            "test_accuracy": self.test_accuracy,
            "generalization_gap": self.generalization_gap,
            "defense": self.defense,
            "label_values": self.label_values,
            "duplicates_dropped": self.duplicates_dropped,
            **(
                {"epsilon": self.defense["epsilon"]}
                if self.defense and "epsilon" in self.defense
                else {}
            ),
        }


@dataclass
class AttackResult:
    """One attack's scores on the audited records and the metrics computed from them.

    ``metrics`` is the dict of :func:`miaudit.metrics.evaluate_scores` (auc, auc_ci,
    tpr_at_fpr, tpr_at_fpr_ci, balanced_accuracy, advantage, epsilon_lower_bound, ...).
    ``error`` is set (and scores/metrics empty) when the attack failed; the others still run.
    ``name`` is the result's label (the attack's registered name unless a label was given);
    ``attack`` is the registered name.
    """

    name: str
    threat_model: dict[str, Any]
    params: dict[str, Any]
    scores: np.ndarray | None
    metrics: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    error: str | None = None
    attack: str | None = None
    queries_per_record: float | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "attack": self.attack or self.name,
            "threat_model": self.threat_model,
            "params": self.params,
        }
        out.update(self.metrics)
        if self.queries_per_record is not None:
            out["queries_per_record"] = self.queries_per_record
        out["error"] = self.error
        return out


@dataclass
class AuditResult:
    """Everything needed to read and reproduce one audit.

    Attributes:
        target: summary of the audited model.
        attacks: one entry per attack, in the order they ran.
        membership: bool (n,) ground truth of the audited records (True = member).
        record_ids: int64 (n,) ids of the audited records (indices into the dataset).
        config: the validated configuration, when the audit came from one.
        seed: the audit's seed.
        versions: package versions (python, miaudit, numpy, torch, ...).
        created: ISO timestamp.
        timings: wall-clock seconds per step ("train_target", "attack:<name>", ...).
            ``created`` and ``timings`` are the only fields that differ between two runs of
            the same configuration and seed.
        reference_defense_aware: whether the reference/shadow models the attacks used were
            trained with (training-time) or wrapped by (inference-time) the target's defense,
            the defense-aware attacker; False when they were undefended; None when no attack
            used them or it is unknown.
    """

    target: TargetSummary
    attacks: list[AttackResult]
    membership: np.ndarray
    record_ids: np.ndarray
    config: dict[str, Any] | None
    seed: int
    versions: dict[str, str]
    created: str = ""
    title: str = "Membership-inference audit"
    timings: dict[str, float] = field(default_factory=dict)
    reference_defense_aware: bool | None = None

    def attack(self, name: str) -> AttackResult:
        for a in self.attacks:
            if a.name == name:
                return a
        raise KeyError(f"no attack {name!r} in this result; have {[a.name for a in self.attacks]}")

    def to_dict(self) -> dict[str, Any]:
        return _json_safe(
            {
                "title": self.title,
                "created": self.created,
                "seed": self.seed,
                "versions": self.versions,
                "config": self.config,
                "target": self.target.to_dict(),
                "attacks": [a.to_dict() for a in self.attacks],
                "summary": self.strongest_attacks(),
                "reference_defense_aware": self.reference_defense_aware,
                "timings": self.timings,
            }
        )

    def strongest_attacks(self) -> dict[str, Any]:
        """The strongest attacks of this audit (results.json's ``summary``); see
        :func:`strongest_attacks`."""
        return strongest_attacks(self.attacks)

    def to_json(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=2, sort_keys=False) + "\n")
        return path

    def to_html(self, path: str | Path) -> Path:
        from miaudit.report import render_html

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render_html(self), encoding="utf-8")
        return path

    def write_scores_csv(self, path: str | Path) -> Path:
        """One row per record: record_id, member (0/1), one score column per attack."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        ok = [a for a in self.attacks if a.scores is not None]
        with path.open("w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["record_id", "member", *[a.name for a in ok]])
            for i in range(len(self.record_ids)):
                row = [int(self.record_ids[i]), int(self.membership[i])]
                row += [repr(float(a.scores[i])) for a in ok]
                writer.writerow(row)
        return path

    def save(self, directory: str | Path, *, overwrite: bool = False) -> Path:
        """Write results.json, scores.csv and report.html into ``directory``, atomically.

        Refuses (:class:`~miaudit.errors.OutputError`) a directory holding the results of a
        different run unless ``overwrite``; raises
        :class:`~miaudit.errors.IncompleteOutputError` naming the files it could not write
        (e.g. a full disk), keeping those it wrote completely (see
        :mod:`miaudit.pipeline.output`).
        """
        from miaudit.pipeline.output import prepare_output_dir, run_identity, write_outputs

        prepare_output_dir(
            directory,
            identity=run_identity(self.to_dict()),
            files=OUTPUT_FILES,
            overwrite=overwrite,
        )
        writers = {
            "results.json": self.to_json,
            "scores.csv": self.write_scores_csv,
            "report.html": self.to_html,
        }
        return write_outputs(directory, writers)

    def summary(self) -> str:
        """A plain-text table of the target and every attack's headline metrics."""
        t = self.target
        width = max([20, *(len(a.name) + 1 for a in self.attacks)])
        lines = [
            f"{self.title}",
            f"target: {t.model}  train acc {t.train_accuracy:.3f}  test acc "
            f"{t.test_accuracy:.3f}  gap {t.generalization_gap:+.3f}  "
            f"({t.n_members} members, {t.n_nonmembers} non-members)",
            f"{'attack':<{width}} {'AUC':>7} {'95% CI':>15} {'TPR@0.1%':>9} {'TPR@1%':>8} "
            f"{'TPR@10%':>8} {'adv':>6} {'eps>=*':>6} {'eps>=':>6}",
        ]
        for a in self.attacks:
            if a.error is not None:
                lines.append(f"{a.name:<{width}} FAILED: {a.error}")
                continue
            m = a.metrics
            tpr = m["tpr_at_fpr"]
            lines.append(
                f"{a.name:<{width}} {m['auc']:7.3f} {_ci_text(m.get('auc_ci')):>15} "
                f"{tpr['0.001']:9.3f} {tpr['0.01']:8.3f} {tpr['0.1']:8.3f} "
                f"{m['advantage']:6.3f} {m['epsilon_lower_bound']:6.2f} "
                f"{_fixed(m.get('epsilon_lower_bound_heldout'), 6, 2)}"
            )
        if any(a.error is None for a in self.attacks):
            lines.append(
                "eps>=*: max over thresholds, optimistic; eps>=: held-out (threshold chosen "
                "on half the records), a valid 95% lower bound"
            )
        return "\n".join(lines)


def _ci_text(ci: Any) -> str:
    """``[lo, hi]`` with 3 decimals, or "-" when there is no interval (``bootstrap: 0``)."""
    if isinstance(ci, (list, tuple)) and len(ci) == 2:
        return f"[{ci[0]:.3f}, {ci[1]:.3f}]"
    return "-"


def _fixed(value: Any, width: int, digits: int) -> str:
    """``value`` right-aligned with ``digits`` decimals, or "-" when missing (older results)."""
    return f"{value:{width}.{digits}f}" if isinstance(value, int | float) else f"{'-':>{width}}"


def attack_access(attack: AttackResult) -> str | None:
    """The access level an attack needs: "labels" (predicted labels only), "outputs"
    (probability vectors) or "white-box" (parameters), from its threat model's knowledge.

    An attack that reads the outputs but uses only the predicted label (``gap``) counts as
    "labels". Falls back to the registered attack's threat model; None when unknown.
    """
    tm = attack.threat_model if isinstance(attack.threat_model, Mapping) else {}
    knowledge = tm.get("knowledge")
    if knowledge is None:
        from miaudit.attacks import ATTACKS

        name = attack.attack or attack.name
        if name in ATTACKS:
            knowledge = ATTACKS.get(name).threat_model.knowledge
    return _ACCESS_OF_KNOWLEDGE.get(knowledge) if isinstance(knowledge, str) else None


def strongest_attacks(attacks: list[AttackResult]) -> dict[str, Any]:
    """The strongest of the completed attacks, overall and per access level.

    ``strongest_attack`` has the highest TPR at 1% FPR (ties: higher AUC, then run order);
    ``highest_auc_attack`` the highest AUC (ties: higher TPR at 1% FPR, then run order);
    ``strongest_attack_by_access`` maps each access level that some attack used ("labels",
    "outputs", "white-box") to its strongest attack by the first rule. Each entry gives the
    attack's name, registered attack, access, AUC and TPR at 1% FPR with their 95% CIs (None
    where missing). Failed attacks and attacks without either metric are left out.
    """
    scored = []
    for a in attacks:
        m = a.metrics if isinstance(a.metrics, Mapping) else {}
        tprs = m.get("tpr_at_fpr")
        tpr = _metric_value(tprs.get("0.01") if isinstance(tprs, Mapping) else None)
        auc = _metric_value(m.get("auc"))
        if a.error is None and (tpr is not None or auc is not None):
            scored.append((a, tpr, auc))

    def by_tpr(s: tuple[AttackResult, float | None, float | None]) -> tuple[float, float]:
        return (_or_lowest(s[1]), _or_lowest(s[2]))

    def by_auc(s: tuple[AttackResult, float | None, float | None]) -> tuple[float, float]:
        return (_or_lowest(s[2]), _or_lowest(s[1]))

    by_access = {}
    for level in ACCESS_LEVELS:
        group = [s for s in scored if attack_access(s[0]) == level]
        if group:
            by_access[level] = _summary_entry(*max(group, key=by_tpr))
    return {
        "criterion": STRONGEST_CRITERION,
        "strongest_attack": _summary_entry(*max(scored, key=by_tpr)) if scored else None,
        "highest_auc_attack": _summary_entry(*max(scored, key=by_auc)) if scored else None,
        "strongest_attack_by_access": by_access,
    }


def _summary_entry(a: AttackResult, tpr: float | None, auc: float | None) -> dict[str, Any]:
    m = a.metrics if isinstance(a.metrics, Mapping) else {}
    tpr_cis = m.get("tpr_at_fpr_ci")
    return {
        "name": a.name,
        "attack": a.attack or a.name,
        "access": attack_access(a),
        "tpr_at_fpr": {"0.01": tpr},
        "tpr_at_fpr_ci": {
            "0.01": _interval(tpr_cis.get("0.01") if isinstance(tpr_cis, Mapping) else None)
        },
        "auc": auc,
        "auc_ci": _interval(m.get("auc_ci")),
    }


def _metric_value(value: Any) -> float | None:
    """A metric as a float, or None when missing, not numeric or NaN."""
    if value is None or isinstance(value, bool):
        return None
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(x) else x


def _or_lowest(value: float | None) -> float:
    return -math.inf if value is None else value


def _interval(value: Any) -> list[float | None] | None:
    if isinstance(value, (list, tuple, np.ndarray)) and len(value) == 2:
        return [_metric_value(value[0]), _metric_value(value[1])]
    return None


def _json_safe(obj: Any) -> Any:
    """Convert numpy scalars/arrays and non-finite floats into JSON-safe values."""
    if isinstance(obj, dict):
        return {str(k): _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _json_safe(obj.tolist())
    if isinstance(obj, np.generic):
        return _json_safe(obj.item())
    if isinstance(obj, float) and not math.isfinite(obj):
        return None if math.isnan(obj) else ("inf" if obj > 0 else "-inf")
    return obj
