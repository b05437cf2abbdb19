"""The result of one audit: plain dataclasses, serialised at the edge (``to_dict``) and
rebuilt from results.json (``from_dict``)."""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from miaudit.errors import DataError
from miaudit.metrics import AttackMetrics
from miaudit.results import _files
from miaudit.results._json import json_float, json_interval, json_safe
from miaudit.results._strongest import strongest_attacks

TPR_LEVELS = ("0.001", "0.01", "0.1")


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
    #: where a model miaudit did not train came from (a file with its SHA-256, or an
    #: endpoint); None for a target miaudit trained or was handed as an object
    source: dict[str, Any] | None = None
    #: a language model's tokenizer, context handling and losses (members vs non-members;
    #: the accuracies above are then next-token accuracies); None for classifiers
    language_model: dict[str, Any] | None = None
    #: a generative model's family, training losses and each attack's cost (generated
    #: samples, seconds; issue 14); the accuracies above are then NaN (a generator has
    #: none); None for classifiers and language models
    generative: dict[str, Any] | None = None

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
            **({"source": self.source} if self.source is not None else {}),
            **({"language_model": self.language_model} if self.language_model else {}),
            **({"generative": self.generative} if self.generative else {}),
            **(
                {"epsilon": self.defense["epsilon"]}
                if self.defense and "epsilon" in self.defense
                else {}
            ),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TargetSummary:
        """The inverse of :meth:`to_dict` (the derived gap and epsilon are recomputed)."""
        return cls(
            model=data["model"],
            params=data["params"],
            num_classes=int(data["num_classes"]),
            n_members=int(data["n_members"]),
            n_nonmembers=int(data["n_nonmembers"]),
            train_accuracy=json_float(data["train_accuracy"]),
            test_accuracy=json_float(data["test_accuracy"]),
            dataset=data.get("dataset"),
            defense=data.get("defense"),
            label_values=data.get("label_values"),
            duplicates_dropped=data.get("duplicates_dropped"),
            source=data.get("source"),
            language_model=data.get("language_model"),
            generative=data.get("generative"),
        )


def metrics_from_dict(data: Mapping[str, Any]) -> AttackMetrics:
    """:class:`~miaudit.metrics.AttackMetrics` from its ``to_dict`` as results.json holds it
    (intervals back to tuples, None intervals stay None, "inf" back to a float; a metric
    missing from an older file is NaN)."""

    def num(key: str) -> float:
        return json_float(data.get(key))

    return AttackMetrics(
        auc=num("auc"),
        auc_ci=json_interval(data.get("auc_ci")),
        tpr_at_fpr={str(k): json_float(v) for k, v in data["tpr_at_fpr"].items()},
        tpr_at_fpr_ci={str(k): json_interval(v) for k, v in data["tpr_at_fpr_ci"].items()},
        balanced_accuracy=num("balanced_accuracy"),
        advantage=num("advantage"),
        epsilon_lower_bound=num("epsilon_lower_bound"),
        epsilon_lower_bound_heldout=num("epsilon_lower_bound_heldout"),
        threshold=num("threshold"),
        precision=num("precision"),
        recall=num("recall"),
        n_members=int(data["n_members"]),
        n_nonmembers=int(data["n_nonmembers"]),
    )


@dataclass(frozen=True)
class PseudoTargetScores:
    """An attack's scores of the audited records on its own reference models, each scored
    as the target by the attack fitted on the other models (``audit(...,
    pseudo_targets=True)``): ``scores`` float64 (models, records), ``membership`` bool
    (models, records), whether the model trained on the record. Not written to
    results.json."""

    scores: np.ndarray
    membership: np.ndarray


@dataclass
class AttackResult:
    """One attack's scores on the audited records and the metrics computed from them.

    ``metrics`` is the :class:`~miaudit.metrics.AttackMetrics` of
    :func:`miaudit.metrics.evaluate_scores` (auc, auc_ci, tpr_at_fpr, tpr_at_fpr_ci,
    balanced_accuracy, advantage, epsilon_lower_bound, ...), None when the attack failed.
    ``error`` is set (and scores/metrics None) when the attack failed; the others still run.
    ``name`` is the result's label (the attack's registered name unless a label was given);
    ``attack`` is the registered name.
    """

    name: str
    threat_model: dict[str, Any]
    params: dict[str, Any]
    scores: np.ndarray | None
    metrics: AttackMetrics | None = None
    seconds: float = 0.0
    error: str | None = None
    attack: str | None = None
    queries_per_record: float | None = None
    pseudo_targets: PseudoTargetScores | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "attack": self.attack or self.name,
            "threat_model": self.threat_model,
            "params": self.params,
        }
        if self.metrics is not None:
            out.update(self.metrics.to_dict())
        if self.queries_per_record is not None:
            out["queries_per_record"] = self.queries_per_record
        out["error"] = self.error
        return out

    @classmethod
    def from_dict(
        cls, data: Mapping[str, Any], *, scores: np.ndarray | None = None, seconds: float = 0.0
    ) -> AttackResult:
        """The inverse of :meth:`to_dict`; results.json holds neither the scores (they are in
        scores.csv) nor the seconds (they are in the audit's timings)."""
        qpr = data.get("queries_per_record")
        return cls(
            name=data["name"],
            attack=data["attack"],
            threat_model=data["threat_model"],
            params=data["params"],
            scores=scores,
            metrics=metrics_from_dict(data) if "auc" in data else None,
            seconds=seconds,
            error=data["error"],
            queries_per_record=None if qpr is None else json_float(qpr),
        )


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
        queries: the target's query record when it is a model behind an API with a query
            ledger (:class:`~miaudit.targets.http.HttpTarget`): the budget, the queries
            sent (this run and every run sharing the cache), and per step (the shared
            queries, each attack) the queries asked, reused from the cache, sent, and the
            attack's declared need; None (and absent from results.json) for other targets.
        devices: where the torch models of a config run trained: ``{"target": {"requested":
            "auto", "resolved": "cuda"}, "reference": {...}}`` (``device`` of the config's
            ``target:`` and ``reference:``, and what it resolved to on this machine); None
            when not recorded (an API audit, or no torch model). results.json has the key
            only when it is set.
        scoring: what the audit scored (issue 18): the augmented views of the audited
            records and how they were chosen, whether the target was queried on them, and
            how many population records the target and each reference request's models
            were scored on (:meth:`miaudit.pipeline._scoring_plan.ScoringPlan.scoring`);
            None for results written before it existed.

    Writing every output file (results.json, scores.csv, report.html) is
    :func:`miaudit.save_result`; re-reading them is :func:`miaudit.results.load_result`.
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
    queries: dict[str, Any] | None = None
    devices: dict[str, dict[str, str]] | None = None
    scoring: dict[str, Any] | None = None
    #: the audited records' texts, in record order (language-model audits; the report shows
    #: the records most at risk as escaped snippets); None for other targets
    record_texts: list[str] | None = None

    def attack(self, name: str) -> AttackResult:
        for a in self.attacks:
            if a.name == name:
                return a
        raise KeyError(f"no attack {name!r} in this result; have {[a.name for a in self.attacks]}")

    def to_dict(self) -> dict[str, Any]:
        return json_safe(
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
                **({} if self.devices is None else {"devices": self.devices}),
                "scoring": self.scoring,
                "timings": self.timings,
                **({} if self.queries is None else {"queries": self.queries}),
                **({} if self.record_texts is None else {"record_texts": self.record_texts}),
            }
        )

    @classmethod
    def from_dict(
        cls,
        data: Mapping[str, Any],
        *,
        membership: np.ndarray | None = None,
        record_ids: np.ndarray | None = None,
        scores: Mapping[str, np.ndarray] | None = None,
    ) -> AuditResult:
        """The inverse of :meth:`to_dict`: ``to_dict(from_dict(d)) == d``.

        results.json holds no per-record values: pass ``membership``, ``record_ids`` and the
        completed attacks' ``scores`` (by name) from scores.csv, as
        :func:`~miaudit.results.load_result` does; without them the result has no records.
        Each attack's seconds come from ``timings["attack:<name>"]``.
        """
        timings = data["timings"]
        scores = scores or {}
        return cls(
            target=TargetSummary.from_dict(data["target"]),
            attacks=[
                AttackResult.from_dict(
                    a,
                    scores=scores.get(a["name"]),
                    seconds=json_float(timings.get(f"attack:{a['name']}", 0.0)),
                )
                for a in data["attacks"]
            ],
            membership=np.zeros(0, dtype=bool) if membership is None else membership,
            record_ids=np.zeros(0, dtype=np.int64) if record_ids is None else record_ids,
            config=data["config"],
            seed=data["seed"],
            versions=data["versions"],
            created=data["created"],
            title=data["title"],
            timings=dict(timings),
            reference_defense_aware=data["reference_defense_aware"],
            queries=data.get("queries"),
            devices=data.get("devices"),
            scoring=data.get("scoring"),
            record_texts=data.get("record_texts"),
        )

    @classmethod
    def from_json(cls, path: str | Path) -> AuditResult:
        """The result in a results.json (or its directory), without the per-record values;
        :func:`~miaudit.results.load_result` also reads them from scores.csv.

        Raises:
            DataError: the file is missing, not JSON or not an audit's results.
        """
        path = _files.results_path(path)
        data = _files.read_results_json(path)
        if _files.results_kind(data, repr(str(path))) != "audit":
            raise DataError(f"{str(path)!r} holds a trade-off sweep, not an audit")
        return _files.parse(cls.from_dict, data, path)

    def strongest_attacks(self) -> dict[str, Any]:
        """The strongest attacks of this audit (results.json's ``summary``); see
        :func:`~miaudit.results.strongest_attacks`."""
        return strongest_attacks(self.attacks)

    def to_json(self, path: str | Path) -> Path:
        """Write results.json (:meth:`to_dict`) to ``path``."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=2, sort_keys=False) + "\n")
        return path

    def write_scores_csv(self, path: str | Path) -> Path:
        """One row per record: record_id, member (0/1), one score column per attack
        (``repr(float)``, so the scores read back exactly)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        ok = [a for a in self.attacks if a.scores is not None]
        with path.open("w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["record_id", "member", *[a.name for a in ok]])
            for i in range(len(self.record_ids)):
                row = [int(self.record_ids[i]), int(self.membership[i])]
                row += [repr(float(a.scores[i])) for a in ok]  # type: ignore[index]
                writer.writerow(row)
        return path

    def summary(self) -> str:
        """A plain-text table of the target and every attack's headline metrics."""
        t = self.target
        width = max([20, *(len(a.name) + 1 for a in self.attacks)])
        if t.generative:  # a generator has no accuracy
            target_line = (
                f"target: {t.model} ({t.generative.get('family', 'generative')})  "
                f"({t.n_members} members, {t.n_nonmembers} non-members)"
            )
        else:
            target_line = (
                f"target: {t.model}  train acc {t.train_accuracy:.3f}  test acc "
                f"{t.test_accuracy:.3f}  gap {t.generalization_gap:+.3f}  "
                f"({t.n_members} members, {t.n_nonmembers} non-members)"
            )
        lines = [
            f"{self.title}",
            target_line,
            f"{'attack':<{width}} {'AUC':>7} {'95% CI':>15} {'TPR@0.1%':>9} {'TPR@1%':>8} "
            f"{'TPR@10%':>8} {'adv':>6} {'eps>=*':>6} {'eps>=':>6}",
        ]
        for a in self.attacks:
            if a.error is not None:
                lines.append(f"{a.name:<{width}} FAILED: {a.error}")
                continue
            if a.metrics is None:
                lines.append(f"{a.name:<{width}} (no metrics)")
                continue
            m = a.metrics
            tpr = m.tpr_at_fpr
            lines.append(
                f"{a.name:<{width}} {m.auc:7.3f} {_ci_text(m.auc_ci):>15} "
                f"{tpr['0.001']:9.3f} {tpr['0.01']:8.3f} {tpr['0.1']:8.3f} "
                f"{m.advantage:6.3f} {m.epsilon_lower_bound:6.2f} "
                f"{_fixed(m.epsilon_lower_bound_heldout, 6, 2)}"
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
    """``value`` right-aligned with ``digits`` decimals, or "-" when missing (NaN: a result
    written before the metric existed)."""
    if isinstance(value, int | float) and value == value:
        return f"{value:{width}.{digits}f}"
    return f"{'-':>{width}}"
