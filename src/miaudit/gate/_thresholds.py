"""The thresholds of a privacy gate: parsed, validated and merged before any model trains.

A threshold is an upper limit on one measured quantity:

* ``max_auc``: the attack's ROC AUC, in [0, 1];
* ``max_tpr``: the attack's TPR at one FPR level, ``{FPR: TPR}`` with FPR in [0, 1) and TPR
  in [0, 1] (the command line writes ``FPR:TPR``, e.g. ``0.001:0.01``);
* ``max_epsilon``: the DP accountant's epsilon of the target's differentially private
  defense (DP-SGD), > 0; it belongs to the target, not to an attack.

AUC and TPR thresholds apply to every attack of the audit unless a per-attack threshold of
the same metric (and FPR level) names it (``attacks: {lira: {max_auc: 0.65}}``): the
per-attack one replaces the audit-wide one for that attack. Thresholds given on the command
line replace the config's audit-wide thresholds of the same metric (and FPR level).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from miaudit.errors import ConfigError, short_repr

Metric = Literal["auc", "tpr", "epsilon"]
#: config keys of the thresholds, and the keys a per-attack entry may hold
THRESHOLD_KEYS = ("max_auc", "max_tpr", "max_epsilon")
CHECK_KEYS = (*THRESHOLD_KEYS, "strict", "attacks")
ATTACK_KEYS = ("max_auc", "max_tpr")


def fpr_key(fpr: float) -> str:
    """The key of an FPR level in results.json (``0.001 -> "0.001"``, as
    :func:`miaudit.metrics._evaluate.level_key` writes it)."""
    return str(float(fpr))


@dataclass(frozen=True)
class Threshold:
    """An upper limit on one metric: exceeded when the value is above ``limit``.

    ``fpr`` is the FPR level of a TPR threshold (None otherwise); ``attack`` the label of
    the one attack it applies to, or None for every attack (AUC, TPR) or the target
    (epsilon).
    """

    metric: Metric
    limit: float
    fpr: float | None = None
    attack: str | None = None

    @property
    def key(self) -> tuple[str, float | None]:
        """What a per-attack threshold overrides: the metric and its FPR level."""
        return self.metric, self.fpr

    @property
    def option(self) -> str:
        """The config key (``max_tpr[0.001]`` for a TPR level)."""
        if self.metric == "tpr":
            return f"max_tpr[{fpr_key(self.fpr)}]"  # type: ignore[arg-type]
        return f"max_{self.metric}"

    @property
    def quantity(self) -> str:
        """The measured quantity in words: "AUC", "TPR at FPR 0.001", "DP epsilon"."""
        if self.metric == "auc":
            return "AUC"
        if self.metric == "tpr":
            return f"TPR at FPR {fpr_key(self.fpr)}"  # type: ignore[arg-type]
        return "DP epsilon"

    @property
    def scope(self) -> str:
        if self.metric == "epsilon":
            return "target (DP accountant)"
        return "every attack" if self.attack is None else f"attack {self.attack}"

    @property
    def name(self) -> str:
        """One line naming the threshold: ``AUC <= 0.6 (every attack)``."""
        return f"{self.quantity} <= {self.limit:g} ({self.scope})"


@dataclass(frozen=True)
class Thresholds:
    """The thresholds of a gate and how uncertainty counts.

    ``strict=False`` (default): a threshold is exceeded when the point estimate is above it.
    ``strict=True``: when the upper end of the 95% bootstrap confidence interval is above
    it (the gate passes only when the data rule out, at 95%, a value above the limit).
    The DP epsilon is the accountant's exact value either way.
    """

    items: tuple[Threshold, ...] = ()
    strict: bool = False
    #: where each threshold came from, for messages ("config" or "command line")
    sources: tuple[str, ...] = field(default=(), compare=False)

    def __post_init__(self) -> None:
        if not self.sources:
            object.__setattr__(self, "sources", ("config",) * len(self.items))

    def overridden(self, threshold: Threshold) -> frozenset[str]:
        """The attacks an audit-wide threshold does not apply to: those with their own
        threshold of the same metric and FPR level."""
        return frozenset(
            t.attack for t in self.items if t.attack is not None and t.key == threshold.key
        )

    def merged(self, other: Thresholds) -> Thresholds:
        """These thresholds with ``other``'s (the command line's) audit-wide thresholds
        replacing those of the same metric and FPR level; ``strict`` if either is."""
        keys = {t.key for t in other.items if t.attack is None}
        kept = [
            (t, s)
            for t, s in zip(self.items, self.sources, strict=True)
            if t.attack is not None or t.key not in keys
        ]
        kept += list(zip(other.items, other.sources, strict=True))
        return Thresholds(
            items=tuple(t for t, _ in kept),
            strict=self.strict or other.strict,
            sources=tuple(s for _, s in kept),
        )

    def attack_labels(self) -> list[str]:
        """The attacks named by per-attack thresholds, in order."""
        return list(dict.fromkeys(t.attack for t in self.items if t.attack is not None))

    def to_dict(self) -> dict[str, Any]:
        """The config's ``check:`` shape (as results.json records the config)."""
        out: dict[str, Any] = {}
        per_attack: dict[str, dict[str, Any]] = {}
        for t in self.items:
            where = out if t.attack is None else per_attack.setdefault(t.attack, {})
            if t.metric == "tpr":
                where.setdefault("max_tpr", {})[fpr_key(t.fpr)] = t.limit  # type: ignore[arg-type]
            else:
                where[f"max_{t.metric}"] = t.limit
        out["strict"] = self.strict
        if per_attack:
            out["attacks"] = per_attack
        return out


def parse_check_section(value: Any, source: str = "config") -> Thresholds:
    """The config's ``check:`` section (a mapping) as :class:`Thresholds`.

    Raises:
        ConfigError: unknown keys, a value out of range, an FPR that is not a number in
            [0, 1), a per-attack epsilon, or no threshold at all.
    """
    where = f"{source}: check"
    d = _mapping(value, where)
    _check_keys(d, CHECK_KEYS, where)
    strict = d.get("strict", False)
    if not isinstance(strict, bool):
        raise ConfigError(f"{where}.strict must be true or false, got {short_repr(strict)}")
    items = list(_thresholds_of(d, where, attack=None))
    attacks = d.get("attacks") or {}
    for label, entry in _mapping(attacks, f"{where}.attacks").items():
        if not isinstance(label, str) or not label:
            raise ConfigError(f"{where}.attacks: keys are attack labels, got {short_repr(label)}")
        at = f"{where}.attacks.{label}"
        entry = _mapping(entry, at)
        _check_keys(entry, ATTACK_KEYS, at, extra=" (max_epsilon belongs to the target)")
        found = list(_thresholds_of(entry, at, attack=label))
        if not found:
            raise ConfigError(f"{at} gives no threshold (max_auc or max_tpr)")
        items += found
    if not items:
        raise ConfigError(f"{where} gives no threshold: set max_auc, max_tpr or max_epsilon")
    return Thresholds(items=tuple(items), strict=strict)


def parse_cli_thresholds(
    *,
    max_auc: str | None = None,
    max_tpr: Iterable[str] = (),
    max_epsilon: str | None = None,
    strict: bool = False,
) -> Thresholds:
    """The command line's thresholds (strings as typed) as audit-wide :class:`Thresholds`.

    Raises:
        ConfigError: a value that is not a number in range, or a ``--max-tpr`` that is not
            ``FPR:TPR``.
    """
    items: list[Threshold] = []
    if max_auc is not None:
        items.append(Threshold("auc", _fraction(_number(max_auc, "--max-auc"), "--max-auc")))
    seen: dict[float, str] = {}
    for text in max_tpr:
        fpr_text, sep, tpr_text = str(text).partition(":")
        if not sep:
            raise ConfigError(
                f"--max-tpr takes FPR:TPR (e.g. 0.001:0.01, fractions), got {short_repr(text)}"
            )
        fpr = _fpr(_number(fpr_text, "the FPR of --max-tpr"), f"--max-tpr {text}")
        tpr = _fraction(_number(tpr_text, "the TPR of --max-tpr"), f"--max-tpr {text}")
        if fpr in seen:
            raise ConfigError(f"--max-tpr gives FPR {fpr_key(fpr)} twice ({seen[fpr]}, {text})")
        seen[fpr] = str(text)
        items.append(Threshold("tpr", tpr, fpr=fpr))
    if max_epsilon is not None:
        items.append(Threshold("epsilon", _epsilon(_number(max_epsilon, "--max-epsilon"))))
    return Thresholds(items=tuple(items), strict=strict, sources=("command line",) * len(items))


def _thresholds_of(d: Mapping[str, Any], where: str, *, attack: str | None) -> Iterable[Threshold]:
    if "max_auc" in d:
        yield Threshold("auc", _fraction(d["max_auc"], f"{where}.max_auc"), attack=attack)
    if "max_tpr" in d:
        levels = _mapping(d["max_tpr"], f"{where}.max_tpr", hint=" of FPR: TPR, e.g. {0.001: 0.01}")
        if not levels:
            raise ConfigError(
                f"{where}.max_tpr is empty: give FPR: TPR pairs, e.g. {{0.001: 0.01}}"
            )
        seen: set[float] = set()
        for fpr_value, tpr in levels.items():
            at = f"{where}.max_tpr[{short_repr(fpr_value)}]"
            fpr = _fpr(_number(fpr_value, f"the FPR key of {where}.max_tpr"), at)
            if fpr in seen:
                raise ConfigError(f"{where}.max_tpr gives FPR {fpr_key(fpr)} twice")
            seen.add(fpr)
            yield Threshold("tpr", _fraction(tpr, at), fpr=fpr, attack=attack)
    if "max_epsilon" in d:
        yield Threshold("epsilon", _epsilon(d["max_epsilon"], f"{where}.max_epsilon"))


def _number(value: Any, what: str) -> float:
    """A finite number from a YAML number or a string as typed ("0.001", "1e-3")."""
    if isinstance(value, bool):
        raise ConfigError(f"{what} must be a number, got {short_repr(value)}")
    if isinstance(value, int | float):
        v = float(value)
    else:
        try:
            v = float(str(value).strip())
        except ValueError:
            raise ConfigError(f"{what} must be a number, got {short_repr(value)}") from None
    if not math.isfinite(v):
        raise ConfigError(f"{what} must be a finite number, got {short_repr(value)}")
    return v


def _fraction(value: Any, what: str) -> float:
    v = _number(value, what)
    if not 0.0 <= v <= 1.0:
        raise ConfigError(f"{what} must be a number in [0, 1] (a fraction, not a %), got {v:g}")
    return v


def _fpr(v: float, what: str) -> float:
    if not 0.0 <= v < 1.0:
        raise ConfigError(f"{what}: the FPR must be a number in [0, 1) (a fraction), got {v:g}")
    return v


def _epsilon(value: Any, what: str = "--max-epsilon") -> float:
    v = _number(value, what)
    if v <= 0.0:
        raise ConfigError(f"{what} must be a number > 0, got {v:g}")
    return v


def _mapping(value: Any, where: str, hint: str = "") -> Mapping[Any, Any]:
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where} must be a mapping{hint}, got {short_repr(value)}")
    return value


def _check_keys(
    d: Mapping[Any, Any], allowed: tuple[str, ...], where: str, extra: str = ""
) -> None:
    for key in d:
        if key not in allowed:
            import difflib

            hint = difflib.get_close_matches(str(key)[:100], allowed, n=1)
            did_you_mean = f"; did you mean '{hint[0]}'?" if hint else ""
            raise ConfigError(
                f"{where}: unknown key {short_repr(key)}{did_you_mean} "
                f"(valid: {', '.join(allowed)}){extra}"
            )


def check_applicable(
    thresholds: Thresholds,
    *,
    attack_labels: Iterable[str] | None,
    registered: Iterable[str],
    defense: str | None,
    differentially_private: bool,
    bootstrap: int,
    source: str = "config",
) -> None:
    """Refuse, before any model trains, thresholds the coming audit cannot answer.

    Args:
        attack_labels: the labels of the audit's attacks, or None when they are decided
            at run time (``attacks: all``; then a per-attack threshold must name a
            registered attack, and is checked again on the results).
        registered: the registered attack names.
        defense: the target's defense name, or None.
        differentially_private: whether that defense has a DP accountant.
        bootstrap: the audit's bootstrap resamples (0: no confidence intervals).

    Raises:
        ConfigError: a per-attack threshold naming no attack of the audit, an audit-wide
            one every attack overrides, ``max_epsilon`` without a differentially private
            defense, ``strict`` without intervals.
    """
    valid = list(registered if attack_labels is None else attack_labels)
    for label in thresholds.attack_labels():
        if label not in valid:
            what = "registered attack" if attack_labels is None else "attack of the audit"
            raise ConfigError(
                f"{source}: check.attacks.{label}: no {what} is labelled {label!r} "
                f"(the audit's attacks: {', '.join(valid)})"
            )
    for t in thresholds.items:
        if t.metric != "epsilon" and t.attack is None and attack_labels is not None:
            if set(valid) <= thresholds.overridden(t):
                raise ConfigError(
                    f"{source}: check.{t.option} applies to no attack: every attack of the "
                    "audit has its own threshold in check.attacks"
                )
    if any(t.metric == "epsilon" for t in thresholds.items) and not differentially_private:
        has = (
            "no defense" if defense is None else f"defense {defense!r}, which has no DP accountant"
        )
        raise ConfigError(
            f"{source}: max_epsilon needs a differentially private defense (target.defense: "
            f"{{name: dp_sgd, ...}}) whose accountant gives epsilon; the target has {has}"
        )
    if (
        thresholds.strict
        and bootstrap == 0
        and any(t.metric != "epsilon" for t in thresholds.items)
    ):
        raise ConfigError(
            f"{source}: strict checks compare the upper end of each metric's confidence "
            "interval, but evaluation.bootstrap is 0 (no intervals); set it to at least 10 "
            "(default 200) or drop strict"
        )
