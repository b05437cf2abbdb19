"""The privacy / utility / cost trade-off of defenses (the survey's challenge 4).

``miaudit tradeoff CONFIG`` runs the config's audit once without a defense and once per
strength value of every defense listed in its ``tradeoff:`` section, and reports, per
point: test accuracy, train-test gap, training time, and the strongest attack's AUC and TPR
at 0.1% / 1% FPR (the maximum over the config's attacks, each metric separately)::

    tradeoff:
      reference_size: 500                 # defender's records for defenses that need them
      defenses:
        - {name: l2, values: [1.0e-4, 1.0e-3, 1.0e-2]}
        - {name: dp_sgd, values: [0.5, 1.0, 2.0], max_grad_norm: 1.0}
        - {name: memguard, param: budget, values: [0.1, 0.5, 1.0]}
        - {name: dp_sgd, param: target_epsilon, values: [1.0, 3.0],
           target: {hidden: [], optimizer: adam, lr: 0.03, batch_size: 250, epochs: 30}}

An entry's ``target:`` overrides the target recipe's parameters for that defense's points
(DP-SGD, for one, needs a small model and large lots); the sweep then also audits that
recipe without the defense, so each defense is compared with its own undefended recipe.

A point that fails (a defense that diverges, a missing data set) is recorded with its error
and the sweep goes on; ``results.json`` and the report are rewritten after every point, so
an interrupted sweep keeps what it finished (and reference models are reused from
``reference.cache_dir`` when it is set).
"""

from __future__ import annotations

import copy
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from miaudit.defenses import DEFENSES, Defense, DefenseSpec
from miaudit.errors import ConfigError, short_repr
from miaudit.pipeline._preflight import check_config_code
from miaudit.pipeline._yaml import read_yaml
from miaudit.pipeline.config import parse_config
from miaudit.pipeline.output import prepare_output_dir, run_identity, write_outputs
from miaudit.pipeline.run import run_config
from miaudit.results import AuditResult, TradeoffPoint, json_safe, recipe_text


def failed_point(
    defense: str, param: str | None, value: Any, recipe: dict | None, error: str
) -> TradeoffPoint:
    """A point whose audit failed: metrics are NaN and ``error`` says why."""
    nan = float("nan")
    return TradeoffPoint(
        defense=defense,
        param=param,
        value=value,
        train_accuracy=nan,
        test_accuracy=nan,
        train_seconds=nan,
        auc=nan,
        tpr_at_0_001=nan,
        tpr_at_0_01=nan,
        strongest_attack="–",
        recipe=recipe,
        error=error,
    )


def point_from(result: AuditResult, defense: str, param: str | None, value: Any) -> TradeoffPoint:
    """Summarise one audit: the strongest attack for each metric."""
    ok = [(a, a.metrics) for a in result.attacks if a.error is None and a.metrics is not None]
    if not ok:
        raise ConfigError(f"every attack failed for {defense}={value}")
    # the first attack with the highest value wins (this sweep's rule since it was written)
    best, best_m = max(ok, key=lambda am: am[1].tpr_at_fpr["0.01"])
    best_auc = max(ok, key=lambda am: am[1].auc)[1]
    d = result.target.defense or {}
    return TradeoffPoint(
        defense=defense,
        param=param,
        value=value,
        train_accuracy=result.target.train_accuracy,
        test_accuracy=result.target.test_accuracy,
        train_seconds=float(result.timings.get("train_target", 0.0)),
        auc=best_auc.auc,
        auc_ci=_ci(best_auc.auc_ci),
        tpr_at_0_01_ci=_ci(best_m.tpr_at_fpr_ci.get("0.01")),
        tpr_at_0_001=max(m.tpr_at_fpr["0.001"] for _, m in ok),
        tpr_at_0_01=best_m.tpr_at_fpr["0.01"],
        strongest_attack=best.name,
        epsilon=d.get("epsilon"),
        failed_attacks=[a.name for a in result.attacks if a.error is not None],
    )


def _ci(value: Any) -> tuple[float, float] | None:
    if value is None or len(value) != 2:
        return None
    return float(value[0]), float(value[1])


@dataclass(frozen=True)
class SweepEntry:
    """One defense of a ``tradeoff:`` section, validated (from :func:`parse_tradeoff`).

    Attributes:
        defense: the registered defense class.
        param: the parameter the sweep varies (the class's ``strength_param`` by default).
        values: the values of ``param``, in order.
        fixed: the defense's other parameters, the same at every point.
        reference_size: the defender's records (0: the default of
            :func:`miaudit.pipeline.run.default_reference_size` where the defense needs some).
        recipe: overrides of the target's parameters for this defense's points, or None.
    """

    defense: type[Defense]
    param: str
    values: tuple[Any, ...]
    fixed: dict[str, Any]
    reference_size: int = 0
    recipe: dict[str, Any] | None = None

    @property
    def name(self) -> str:
        return self.defense.name

    def point_defense(self, value: Any) -> dict[str, Any]:
        """The config's ``target.defense`` mapping of the point at ``value``."""
        spec = {"name": self.name, "reference_size": self.reference_size, **self.fixed}
        spec[self.param] = value
        if not spec.get("reference_size"):
            spec.pop("reference_size", None)
        return spec


class SweepPoint(NamedTuple):
    """One audit of the sweep (from :func:`sweep_points`): its config, its defense (None
    for an undefended baseline), the swept parameter and value, and the recipe override."""

    config: dict[str, Any]
    defense: DefenseSpec | None
    param: str | None
    value: Any
    recipe: dict[str, Any] | None

    @property
    def label(self) -> str:
        """The defense's name, "none" for a baseline."""
        return "none" if self.defense is None else self.defense.name


def parse_tradeoff(raw: dict[str, Any], source: str) -> tuple[dict[str, Any], list[SweepEntry]]:
    """Split a tradeoff config into the audit config and the validated sweep."""
    raw = copy.deepcopy(raw)
    sweep = raw.pop("tradeoff", None)
    if not isinstance(sweep, dict) or not isinstance(sweep.get("defenses"), list):
        raise ConfigError(f"{source}: a tradeoff config needs 'tradeoff: {{defenses: [...]}}'")
    unknown = set(sweep) - {"defenses", "reference_size"}
    if unknown:
        raise ConfigError(f"{source}: unknown key(s) in tradeoff: {', '.join(sorted(unknown))}")
    reference_size = sweep.get("reference_size", 0)
    entries = []
    for item in sweep["defenses"]:
        if not isinstance(item, dict) or "name" not in item or "values" not in item:
            raise ConfigError(f"{source}: each tradeoff defense needs 'name' and 'values'")
        item = dict(item)
        cls = DEFENSES.get(item.pop("name"))
        param = item.pop("param", None) or cls.strength_param
        if param is None:
            raise ConfigError(f"{source}: defense {cls.name!r} has no strength parameter")
        values = item.pop("values")
        if not isinstance(values, list) or not values:
            raise ConfigError(f"{source}: tradeoff values for {cls.name!r} must be a list")
        recipe = item.pop("target", None)
        if recipe is not None:
            if not isinstance(recipe, dict) or not recipe:
                raise ConfigError(
                    f"{source}: tradeoff 'target' of {cls.name!r} must be a mapping of "
                    "target parameters"
                )
            if "defense" in recipe:
                raise ConfigError(
                    f"{source}: tradeoff 'target' of {cls.name!r} must not set a defense"
                )
            parse_config(recipe_config(raw, recipe), source=f"{source} ({cls.name} target)")
        size = item.pop("reference_size", reference_size)
        entries.append(SweepEntry(cls, param, tuple(values), item, size, recipe))
    parse_config(raw, source=source)  # the audit itself must be valid
    return raw, entries


def recipe_config(base: dict[str, Any], recipe: dict[str, Any] | None) -> dict[str, Any]:
    """A copy of the audit config with the target parameters overridden by ``recipe``."""
    cfg = copy.deepcopy(base)
    if recipe:
        cfg["target"] = {**cfg["target"], **copy.deepcopy(recipe)}
    return cfg


TRADEOFF_FILES = ("results.json", "report.html")


def sweep_points(
    base: dict[str, Any], sweep: list[SweepEntry], *, source: str = "tradeoff"
) -> list[SweepPoint]:
    """The sweep's audits in order: one undefended baseline per distinct target recipe,
    then each defense at each value. Every point's config is checked here, before any
    audit trains (a bad value is a ConfigError naming the point; issue 9 item 3), and its
    defense resolved once into a :class:`~miaudit.defenses.DefenseSpec`."""
    points: list[SweepPoint] = []
    baselines: list[dict | None] = []
    for recipe in [None, *(entry.recipe for entry in sweep)]:
        if recipe not in baselines:
            baselines.append(recipe)
    for recipe in baselines:
        cfg = recipe_config(base, recipe)
        parse_config(cfg, source=f"{source} (baseline)")
        points.append(SweepPoint(cfg, None, None, None, recipe))
    for entry in sweep:
        for value in entry.values:
            cfg = recipe_config(base, entry.recipe)
            cfg["target"]["defense"] = entry.point_defense(value)
            where = f"{source} ({entry.name} {entry.param}={short_repr(value)})"
            defense = parse_config(cfg, source=where).target.defense
            spec = DefenseSpec.from_dict(defense)  # type: ignore[arg-type]
            points.append(SweepPoint(cfg, spec, entry.param, value, entry.recipe))
    return points


def run_tradeoff(
    path: str | Path,
    *,
    output: str | Path,
    data_dir: str | None = None,
    progress: bool = True,
    overwrite: bool = False,
    allow_imports: bool | None = None,
) -> list[TradeoffPoint]:
    """Run the sweep of ``path`` and write results.json and report.html into ``output``.

    The output directory is checked before the first audit (writable, and not holding a
    different sweep's results unless ``overwrite``); results are rewritten atomically after
    every point. ``allow_imports=False`` (or ``MIAUDIT_NO_CONFIG_IMPORTS=1``) refuses a
    ``reference.train_fn`` before anything is imported, as :func:`run_config` does.
    """
    path = Path(path)
    raw = read_yaml(path)
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the configuration must be a mapping")
    if raw.get("tracking") is not None:  # each point would need a run of its own
        raise ConfigError(f"{path}: tradeoff sweeps do not log to 'tracking'; remove that section")
    base, sweep = parse_tradeoff(raw, str(path))
    base.pop("output", None)
    check_config_code(parse_config(base, source=str(path)), allow_imports)
    prepare_output_dir(
        output,
        identity=run_identity({"config": raw, "points": []}),
        files=TRADEOFF_FILES,
        overwrite=overwrite,
    )
    points: list[TradeoffPoint] = []

    def audit_point(cfg: dict, defense: str, param: str | None, value: Any, recipe) -> None:
        start = time.perf_counter()
        try:
            result = run_config(
                cfg, data_dir=data_dir, progress=progress, allow_imports=allow_imports
            )
            point = point_from(result, defense, param, value)
        except Exception as e:  # one failed point must not lose the sweep
            point = failed_point(defense, param, value, recipe, f"{type(e).__name__}: {e}")
        else:
            point.recipe = recipe
            point.train_seconds = point.train_seconds or time.perf_counter() - start
        points.append(point)
        write_tradeoff(points, raw, output)

    # every point's parameters are checked here, before any training
    for point in sweep_points(base, sweep, source=str(path)):
        audit_point(point.config, point.label, point.param, point.value, point.recipe)
    return points


def write_tradeoff(points: list[TradeoffPoint], config: dict, output: str | Path) -> Path:
    from miaudit.report.tradeoff import render_tradeoff_html

    data = json_safe({"config": config, "points": [p.to_dict() for p in points]})
    return write_outputs(
        output,
        {
            "results.json": lambda p: p.write_text(json.dumps(data, indent=2) + "\n"),
            "report.html": lambda p: p.write_text(render_tradeoff_html(points), encoding="utf-8"),
        },
    )


def _ci_text(ci: tuple[float, float] | None) -> str:
    return "-" if ci is None else f"[{ci[0]:.3f}, {ci[1]:.3f}]"


def table(points: list[TradeoffPoint]) -> str:
    """A plain-text table of the sweep (recipe overrides numbered [r1], [r2], ... below it)."""
    lines = [
        f"{'defense':<28} {'value':>10} {'test acc':>9} {'gap':>7} {'train s':>8} "
        f"{'AUC':>6} {'AUC 95% CI':>14} {'TPR@0.1%':>9} {'TPR@1%':>7} {'TPR@1% 95% CI':>14} "
        f"{'eps':>6}"
    ]
    recipes: list[str] = []
    for p in points:
        eps = "-" if p.epsilon is None else f"{p.epsilon:.2f}"
        value = "-" if p.value is None else str(p.value)
        name = p.defense
        if p.recipe:
            text = recipe_text(p.recipe)
            if text not in recipes:
                recipes.append(text)
            name = f"{p.defense} [r{recipes.index(text) + 1}]"
        if p.error is not None:
            lines.append(f"{name:<28} {value:>10} FAILED: {p.error}")
            continue
        lines.append(
            f"{name:<28} {value:>10} {p.test_accuracy:9.3f} {p.gap:+7.3f} "
            f"{p.train_seconds:8.1f} {p.auc:6.3f} {_ci_text(p.auc_ci):>14} {p.tpr_at_0_001:9.3f} "
            f"{p.tpr_at_0_01:7.3f} {_ci_text(p.tpr_at_0_01_ci):>14} "
            f"{eps:>6}"
        )
    lines += [f"[r{i}] target recipe: {text}" for i, text in enumerate(recipes, 1)]
    return "\n".join(lines)
