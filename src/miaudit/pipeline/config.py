"""The audit configuration file (YAML): schema, validation, clear errors.

Every key is checked; unknown keys are errors (with a "did you mean" hint), so a typo
never silently falls back to a default. Example::

    seed: 0
    dataset: {name: location}          # or {path: data.npz}; data_dir optional
    split: {members: 1000, nonmembers: 1000}   # the rest is the attacker's population
    target: {model: mlp, hidden: [1024, 512, 256, 128], epochs: 100, batch_size: 64,
             optimizer: adam, lr: 0.001, weight_decay: 0.0}
    attacks: [gap, loss, confidence, entropy, modified_entropy]   # or: all
    output: runs/location

Attack and defense parameters are checked against each class's declared types and ranges
(:mod:`miaudit.validation`) here, so a wrong value fails when the config is read, before any
model trains. ``evaluation.bootstrap: 0`` turns confidence intervals off (null in
results.json, "-" in the summary); otherwise it needs at least
:data:`~miaudit.validation.MIN_BOOTSTRAP` resamples.
"""

from __future__ import annotations

import difflib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from miaudit.attacks import ATTACKS
from miaudit.data.augment import check_augment_setting
from miaudit.errors import ConfigError, short_repr
from miaudit.models import MODELS, model_params_schema
from miaudit.pipeline._needs import check_attack_needs
from miaudit.pipeline._yaml import read_yaml
from miaudit.reference import EXECUTORS  # the executor registry's names
from miaudit.validation import MIN_BOOTSTRAP, check_int, init_parameters, validate_params

TOP_KEYS = {
    "seed",
    "dataset",
    "split",
    "target",
    "attacks",
    "output",
    "evaluation",
    "title",
    "reference",
}
REFERENCE_KEYS = {
    "num_models",
    "executor",
    "address",
    "workers",
    "cache_dir",
    "train_fn",
    "train_fn_version",
    "model",
    "augment",
    "defense_aware",
}
REQUIRED_TOP = ("dataset", "split", "target", "attacks")
#: Largest seed: numpy, torch and scikit-learn all accept 0 <= seed < 2**32.
MAX_SEED = 2**32 - 1


@dataclass(frozen=True)
class DatasetConfig:
    name: str | None = None
    path: str | None = None
    data_dir: str | None = None


@dataclass(frozen=True)
class SplitConfig:
    members: int
    nonmembers: int
    population: int | None = None


@dataclass(frozen=True)
class TargetConfig:
    model: str
    params: dict[str, Any] = field(default_factory=dict)
    #: ``{name: <defense>, reference_size: N, **params}`` or None (see miaudit.defenses)
    defense: dict[str, Any] | None = None


@dataclass(frozen=True)
class EvaluationConfig:
    #: bootstrap resamples of the confidence intervals; 0 = no intervals
    bootstrap: int = 200
    random_queries: int = 1000


@dataclass(frozen=True)
class ReferenceConfig:
    """The ``reference:`` section: how reference/shadow models are trained.

    ``model`` (a mapping like ``target:``) overrides the recipe; by default reference models
    use the target's recipe. ``train_fn`` is "package.module:function" with signature
    ``train_fn(x, y, seed) -> model``.
    """

    num_models: int = 16
    executor: str = "serial"
    address: str | None = None
    workers: int | None = None
    cache_dir: str | None = None
    train_fn: str | None = None
    #: explicit cache version of ``train_fn`` (replaces its automatic fingerprint)
    train_fn_version: str | None = None
    model: dict[str, Any] | None = None
    #: the augmented views of audited images: None (the data kind's default), true, false,
    #: or {flip: bool, shift: pixels} (see miaudit.data.augment.resolve_augmentation)
    augment: bool | dict[str, Any] | None = None
    defense_aware: bool = True


@dataclass(frozen=True)
class AuditConfig:
    """A validated audit configuration."""

    dataset: DatasetConfig
    split: SplitConfig
    target: TargetConfig
    attacks: list[str | dict[str, Any]] | str
    seed: int = 0
    output: str | None = None
    evaluation: EvaluationConfig = field(default_factory=EvaluationConfig)
    title: str | None = None
    reference: ReferenceConfig = field(default_factory=ReferenceConfig)

    def to_dict(self) -> dict[str, Any]:
        """The configuration in the file's own shape (as stored in results.json)."""
        d = asdict(self)
        target = {"model": self.target.model, **self.target.params}
        if self.target.defense is not None:
            target["defense"] = dict(self.target.defense)
        d["target"] = target
        d["dataset"] = {k: v for k, v in d["dataset"].items() if v is not None}
        d["split"] = {k: v for k, v in d["split"].items() if v is not None}
        d["reference"] = {k: v for k, v in d["reference"].items() if v is not None}
        return d


def load_config(path: str | Path) -> AuditConfig:
    """Read and validate a YAML configuration file.

    The file is read by :func:`miaudit.pipeline._yaml.read_yaml`: at most 1 MB of UTF-8,
    no duplicate keys, aliases bounded (issue 9 items 11 and 12).
    """
    return parse_config(read_yaml(path), source=str(path))


def parse_config(raw: Any, *, source: str = "config") -> AuditConfig:
    """Validate a configuration given as a dict (the parsed YAML)."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: the configuration must be a mapping of keys to values")
    _check_keys(raw, TOP_KEYS, source)
    for key in REQUIRED_TOP:
        if key not in raw:
            raise ConfigError(f"{source}: missing required key '{key}'")
    # numpy, torch and scikit-learn all accept seeds below 2**32 (torch.manual_seed of a
    # larger one raises an OverflowError mid-run, scikit-learn a ValueError)
    seed = _int(raw.get("seed", 0), "seed", source, minimum=0, maximum=MAX_SEED)

    ds = _mapping(raw["dataset"], "dataset", source)
    _check_keys(ds, {"name", "path", "data_dir"}, source, "dataset")
    if ("name" in ds) == ("path" in ds):
        raise ConfigError(f"{source}: dataset needs exactly one of 'name' or 'path'")
    dataset = DatasetConfig(
        name=_opt_str(ds.get("name"), "dataset.name", source),
        path=_opt_str(ds.get("path"), "dataset.path", source),
        data_dir=_opt_str(ds.get("data_dir"), "dataset.data_dir", source),
    )
    if dataset.name is not None:
        from miaudit.data import DATASETS

        _known(dataset.name, DATASETS.names(), "dataset", source)

    sp = _mapping(raw["split"], "split", source)
    _check_keys(sp, {"members", "nonmembers", "population"}, source, "split")
    for key in ("members", "nonmembers"):
        if key not in sp:
            raise ConfigError(f"{source}: split needs '{key}'")
    split = SplitConfig(
        members=_int(sp["members"], "split.members", source, minimum=1),
        nonmembers=_int(sp["nonmembers"], "split.nonmembers", source, minimum=1),
        population=None
        if sp.get("population") is None
        else _int(sp["population"], "split.population", source, minimum=0),
    )

    tg = _mapping(raw["target"], "target", source)
    if "model" not in tg:
        raise ConfigError(f"{source}: target needs 'model' (one of {', '.join(MODELS.names())})")
    model = _opt_str(tg["model"], "target.model", source)
    _known(model, MODELS.names(), "model", source)
    params = {k: v for k, v in tg.items() if k not in ("model", "defense")}
    _check_keys(params, set(model_params_schema(model)), source, f"target (model {model})")
    defense = None if tg.get("defense") is None else _defense(tg["defense"], source)
    target = TargetConfig(model=model, params=params, defense=defense)

    attacks = _attacks(raw["attacks"], source)

    ev = _mapping(raw.get("evaluation", {}) or {}, "evaluation", source)
    _check_keys(ev, {"bootstrap", "random_queries"}, source, "evaluation")
    evaluation = EvaluationConfig(
        bootstrap=_bootstrap(ev.get("bootstrap", 200), source),
        random_queries=_int(
            ev.get("random_queries", 1000), "evaluation.random_queries", source, minimum=0
        ),
    )
    reference = _reference(raw.get("reference", {}) or {}, source)
    config = AuditConfig(
        reference=reference,
        dataset=dataset,
        split=split,
        target=target,
        attacks=attacks,
        seed=seed,
        output=_opt_str(raw.get("output"), "output", source),
        evaluation=evaluation,
        title=_opt_str(raw.get("title"), "title", source),
    )
    check_config_needs(config, source=source)  # the attacks' declared needs, before training
    return config


def _bootstrap(value: Any, source: str) -> int:
    """``evaluation.bootstrap``: 0 (no intervals) or at least MIN_BOOTSTRAP resamples."""
    n = _int(value, "evaluation.bootstrap", source, minimum=0)
    if 0 < n < MIN_BOOTSTRAP:
        raise ConfigError(
            f"{source}: 'evaluation.bootstrap' must be 0 (no confidence intervals) or at least "
            f"{MIN_BOOTSTRAP} resamples (default 200), got {n}"
        )
    return n


def _defense(value: Any, source: str) -> dict[str, Any]:
    """``target.defense``: a known name, known keys, parameters of the declared types and
    ranges, and a ``reference_size`` (defender records; at least 1 for defenses that train
    on them, default chosen by :func:`miaudit.pipeline.run.run_config`)."""
    from miaudit.defenses import DEFENSES

    d = _mapping(value, "target.defense", source)
    name = d.get("name")
    if not isinstance(name, str):
        raise ConfigError(f"{source}: target.defense needs 'name' ({', '.join(DEFENSES.names())})")
    _known(name, DEFENSES.names(), "defense", source)
    cls = DEFENSES.get(name)
    allowed = _init_params(cls) | {"name", "reference_size"}
    _check_keys(d, allowed, source, f"target.defense ({name})")
    if "reference_size" in d:
        size = _int(d["reference_size"], "target.defense.reference_size", source, minimum=0)
        if size == 0 and cls.needs_reference:
            raise ConfigError(
                f"{source}: 'target.defense.reference_size' must be at least 1: defense "
                f"{name!r} is fitted on defender records (leave the key out for the default, "
                "min(split.members, population // 2))"
            )
    params = {k: v for k, v in d.items() if k not in ("name", "reference_size")}
    validate_params(cls, params, kind="defense", name=name, prefix=f"{source}: ")
    return dict(d)


def _reference(value: Any, source: str) -> ReferenceConfig:
    ref = _mapping(value, "reference", source)
    _check_keys(ref, REFERENCE_KEYS, source, "reference")
    executor = _opt_str(ref.get("executor", "serial"), "reference.executor", source)
    _known(executor, list(EXECUTORS), "executor", source)
    workers = ref.get("workers")
    model = ref.get("model")
    if model is not None:
        model = _mapping(model, "reference.model", source)
        if "model" not in model:
            raise ConfigError(f"{source}: reference.model needs 'model' (a model name)")
        _known(model["model"], MODELS.names(), "model", source)
        params = {k: v for k, v in model.items() if k != "model"}
        _check_keys(params, set(model_params_schema(model["model"])), source, "reference.model")
    train_fn = _opt_str(ref.get("train_fn"), "reference.train_fn", source)
    if train_fn is not None and ":" not in train_fn:
        raise ConfigError(
            f"{source}: reference.train_fn must look like 'package.module:function', "
            f"got {short_repr(train_fn)}"
        )
    if train_fn is not None and model is not None:
        raise ConfigError(f"{source}: reference needs at most one of 'train_fn' and 'model'")
    train_fn_version = _opt_str(ref.get("train_fn_version"), "reference.train_fn_version", source)
    if train_fn_version is not None and (train_fn is None or not train_fn_version.strip()):
        raise ConfigError(
            f"{source}: reference.train_fn_version must be a non-empty string and needs "
            "reference.train_fn"
        )
    try:
        augment = check_augment_setting(ref.get("augment"))
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    defense_aware = ref.get("defense_aware", True)
    if not isinstance(defense_aware, bool):
        raise ConfigError(f"{source}: 'reference.defense_aware' must be true or false")
    return ReferenceConfig(
        num_models=_int(ref.get("num_models", 16), "reference.num_models", source, minimum=1),
        executor=executor,
        address=_opt_str(ref.get("address"), "reference.address", source),
        workers=None if workers is None else _int(workers, "reference.workers", source, minimum=1),
        cache_dir=_opt_str(ref.get("cache_dir"), "reference.cache_dir", source),
        train_fn=train_fn,
        train_fn_version=train_fn_version,
        model=None if model is None else dict(model),
        augment=augment,
        defense_aware=defense_aware,
    )


def _attacks(value: Any, source: str) -> list[str | dict[str, Any]] | str:
    if value == "all":
        return "all"
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value:
        raise ConfigError(f"{source}: attacks must be a non-empty list of names, or 'all'")
    out: list[str | dict[str, Any]] = []
    for item in value:
        if isinstance(item, str):
            _known(item, ATTACKS.names(), "attack", source)
            validate_params(ATTACKS.get(item), {}, kind="attack", name=item, prefix=f"{source}: ")
            out.append(item)
        elif isinstance(item, dict) and isinstance(item.get("name"), str):
            name = item["name"]
            _known(name, ATTACKS.names(), "attack", source)
            cls = ATTACKS.get(name)
            allowed = _init_params(cls) | {"name", "label"}
            _check_keys(item, allowed, source, f"attack {name}")
            if "label" in item and not isinstance(item["label"], str):
                raise ConfigError(
                    f"{source}: the label of attack {name!r} must be a string, got "
                    f"{short_repr(item['label'])}"
                )
            params = {k: v for k, v in item.items() if k not in ("name", "label")}
            validate_params(cls, params, kind="attack", name=name, prefix=f"{source}: ")
            out.append(dict(item))
        else:
            raise ConfigError(
                f"{source}: each attack must be a name or a mapping with 'name', "
                f"got {short_repr(item)}"
            )
    return out


def _init_params(cls: type) -> set[str]:
    return set(init_parameters(cls))


def _check_keys(d: dict, allowed: set[str], source: str, where: str = "") -> None:
    for key in d:
        if key not in allowed:
            hint = _close_match(key, sorted(allowed))
            did_you_mean = f"; did you mean '{hint}'?" if hint else ""
            place = f" in {where}" if where else ""
            raise ConfigError(
                f"{source}: unknown key {short_repr(key)}{place}{did_you_mean} "
                f"(valid: {', '.join(sorted(allowed))})"
            )


def _known(name: str, valid: list[str], kind: str, source: str) -> None:
    if name not in valid:
        hint = _close_match(name, valid)
        did_you_mean = f"; did you mean '{hint}'?" if hint else ""
        raise ConfigError(
            f"{source}: unknown {kind} {short_repr(name)}{did_you_mean} (valid: {', '.join(valid)})"
        )


def _close_match(name: Any, valid: list[str]) -> str | None:
    """The valid name closest to ``name`` (difflib), or None; long or odd names get none
    (difflib is quadratic in the length, and a 1 MB key must not take minutes)."""
    if not isinstance(name, str) or len(name) > 100:
        return None
    hint = difflib.get_close_matches(name, valid, n=1)
    return hint[0] if hint else None


def _mapping(value: Any, key: str, source: str) -> dict:
    if not isinstance(value, dict):
        raise ConfigError(f"{source}: '{key}' must be a mapping, got {type(value).__name__}")
    return value


def _int(value: Any, key: str, source: str, *, minimum: int, maximum: int | None = None) -> int:
    """The integer at ``key`` (:func:`miaudit.validation.check_int`, the message naming the
    config file and the key)."""
    return check_int(value, f"{source}: '{key}'", low=minimum, high=maximum)


def _opt_str(value: Any, key: str, source: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ConfigError(f"{source}: '{key}' must be a string, got {short_repr(value)}")
    return value


def check_config_needs(
    config: AuditConfig, *, n_population: int | None = None, source: str = "config"
) -> None:
    """Refuse (ConfigError) a config's attacks whose declared needs it cannot meet, before
    anything trains. ``n_population``: the population records the split (and the defense's
    ``reference_size``) leave, once known; None reads ``split.population`` (unset: the rest
    of the data set, checked again when its size is known). "all" is not checked: it runs
    only the attacks whose needs are met. Config runs always have a recipe (the target's).
    """
    from miaudit.attacks import Offer, make_attack

    if config.attacks == "all":
        return
    population = config.split.population if n_population is None else n_population
    offer = Offer(recipe=True, parameters=_exposes_parameters(config), population=population != 0)
    attacks = []
    for spec in config.attacks:
        params = {"name": spec} if isinstance(spec, str) else dict(spec)
        name = params.pop("name")
        label = params.pop("label", name)
        attacks.append((label, make_attack(name, **params)))
    left = "" if n_population is None else f"the split leaves {n_population} population records: "
    check_attack_needs(attacks, offer, prefix=f"{source}: {left}")


def _exposes_parameters(config: AuditConfig) -> bool:
    """Whether the config's target will expose its parameters: a torch model, trained
    with at most a training-time defense (an inference-time one wraps and hides it)."""
    from miaudit.defenses import DEFENSES
    from miaudit.models import MODELS

    if MODELS.get(config.target.model).family != "torch":
        return False
    defense = config.target.defense
    return defense is None or DEFENSES.get(str(defense["name"])).kind == "training"


__all__ = ["AuditConfig", "check_config_needs", "load_config", "parse_config"]
