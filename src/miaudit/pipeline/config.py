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
from miaudit.gate import Thresholds, check_applicable, parse_check_section
from miaudit.models import MODELS, model_params_schema
from miaudit.pipeline._needs import check_attack_needs
from miaudit.pipeline._yaml import read_yaml
from miaudit.reference import EXECUTORS  # the executor registry's names
from miaudit.tracking import TrackingSettings, parse_tracking_section
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
    "check",
    "tracking",
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
    "device",
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
    """``split:``. ``members``/``nonmembers``: a count (a seeded split) or the record
    indices (a list, or a ``.npy``/text file of them) into the data set as loaded."""

    members: int | str | tuple[int, ...]
    nonmembers: int | str | tuple[int, ...]
    population: int | None = None

    @property
    def listed(self) -> bool:
        """Whether the user lists the members (rather than miaudit drawing them)."""
        return not isinstance(self.members, int)


@dataclass(frozen=True)
class TargetConfig:
    """``target:``: a recipe miaudit trains (``model``), or a model it only queries: a saved
    file (``path``) or an HTTP endpoint (``url``), named by ``external``."""

    model: str | None
    #: the recipe's parameters; for an external target, its validated section
    params: dict[str, Any] = field(default_factory=dict)
    #: ``{name: <defense>, reference_size: N, **params}`` or None (see miaudit.defenses)
    defense: dict[str, Any] | None = None
    #: "path" or "url" for a model miaudit does not train; None: ``model`` is trained
    external: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The section in the file's own shape."""
        d = dict(self.params) if self.external else {"model": self.model, **self.params}
        if self.defense is not None:
            d["defense"] = dict(self.defense)
        return d

    @property
    def name(self) -> str:
        """What the report calls the target: the recipe's name, the file's or the URL."""
        if self.external is None:
            return str(self.model)
        return Path(str(self.params["path"])).name if self.external == "path" else "endpoint"


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
    ``train_fn(x, y, seed) -> model``. ``device`` (cpu, cuda, auto) is where torch reference
    models train, by default the target's ``device`` (:mod:`miaudit.pipeline._devices`).
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
    #: cpu | cuda | auto for torch reference models; None: the target's device
    device: str | None = None


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
    #: the ``check:`` section: thresholds of ``miaudit check`` (None: none)
    check: Thresholds | None = None
    #: the ``tracking:`` section: where the audit is logged (None: nowhere)
    tracking: TrackingSettings | None = None

    def to_dict(self) -> dict[str, Any]:
        """The configuration in the file's own shape (as stored in results.json)."""
        d = asdict(self)
        d["target"] = self.target.to_dict()
        d["dataset"] = {k: v for k, v in d["dataset"].items() if v is not None}
        d["split"] = {k: v for k, v in d["split"].items() if v is not None}
        d["reference"] = {k: v for k, v in d["reference"].items() if v is not None}
        _gate_sections_to_dict(self, d)
        return d


def load_config(path: str | Path, *, allow_imports: bool | None = None) -> AuditConfig:
    """Read and validate a YAML configuration file.

    The file is read by :func:`miaudit.pipeline._yaml.read_yaml`: at most 1 MB of UTF-8,
    no duplicate keys, aliases bounded (issue 9 items 11 and 12).
    """
    return parse_config(read_yaml(path), source=str(path), allow_imports=allow_imports)


def parse_config(
    raw: Any, *, source: str = "config", allow_imports: bool | None = None
) -> AuditConfig:
    """Validate a configuration given as a dict (the parsed YAML). ``allow_imports``: whether
    code the target section names (a saved model's module factory) may be imported while
    it is checked (None: unless ``MIAUDIT_NO_CONFIG_IMPORTS=1``)."""
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

    target = parse_target(raw["target"], source, allow_imports=allow_imports)
    split = _split(raw["split"], source, external=target.external is not None)

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
        check=None if raw.get("check") is None else parse_check_section(raw["check"], source),
        tracking=None
        if raw.get("tracking") is None
        else parse_tracking_section(raw["tracking"], source),
    )
    _check_devices(config, source)
    check_config_needs(config, source=source)  # the attacks' declared needs, before training
    if config.check is not None:
        check_thresholds_apply(config, config.check, source=source)
    return config


def parse_target(value: Any, source: str, *, allow_imports: bool | None = None) -> TargetConfig:
    """``target:``: exactly one of ``model`` (a recipe to train), ``path`` (a saved model
    file, :mod:`miaudit.targets.files`) or ``url`` (an HTTP endpoint,
    :mod:`miaudit.targets.http`). An external target takes only an inference-time
    defense (one that wraps its outputs): a training-time one would need to train it."""
    from miaudit.pipeline._external import EXTERNAL_KINDS, check_external

    tg = _mapping(value, "target", source)
    kinds = [k for k in EXTERNAL_KINDS if k in tg] or (["model"] if "model" in tg else [])
    if len(kinds) != 1:  # a path's section may hold a `model`: the recipe of its weights
        raise ConfigError(
            f"{source}: target needs exactly one of 'model' (a recipe to train: "
            f"{', '.join(MODELS.names())}), 'path' (a saved model file) or 'url' (an HTTP "
            f"endpoint){'' if not kinds else f', got {kinds}'}"
        )
    defense = None if tg.get("defense") is None else _defense(tg["defense"], source)
    section = {k: v for k, v in tg.items() if k != "defense"}
    if kinds[0] != "model":
        if defense is not None:
            from miaudit.defenses import DEFENSES

            if DEFENSES.get(str(defense["name"])).kind == "training":
                raise ConfigError(
                    f"{source}: target.defense {defense['name']!r} is applied while training, "
                    f"but a target given by '{kinds[0]}' is already trained; an "
                    "inference-time defense (one that wraps the outputs) can be applied"
                )
        checked = check_external(kinds[0], section, source=source, allow_imports=allow_imports)
        return TargetConfig(model=None, params=checked, defense=defense, external=kinds[0])
    model = _opt_str(tg["model"], "target.model", source)
    _known(model, MODELS.names(), "model", source)
    params = {k: v for k, v in section.items() if k != "model"}
    _check_keys(params, set(model_params_schema(model)), source, f"target (model {model})")
    return TargetConfig(model=model, params=params, defense=defense)


def _split(value: Any, source: str, *, external: bool) -> SplitConfig:
    """``split:``: counts (miaudit draws the sets, seeded) or listed record indices; a
    model miaudit does not train (``target.path``/``target.url``) needs both lists, as
    only its owner knows which records it was trained on."""
    sp = _mapping(value, "split", source)
    _check_keys(sp, {"members", "nonmembers", "population"}, source, "split")
    for key in ("members", "nonmembers"):
        if key not in sp:
            raise ConfigError(f"{source}: split needs '{key}'")
    members = _split_set(sp["members"], "split.members", source)
    nonmembers = _split_set(sp["nonmembers"], "split.nonmembers", source)
    if external and (isinstance(members, int) or isinstance(nonmembers, int)):
        raise ConfigError(
            f"{source}: a model miaudit does not train (target.path or target.url) needs "
            "split.members and split.nonmembers as the record indices it was and was not "
            "trained on (a .npy file, a text file of one index per line, or a list): "
            "miaudit cannot draw them"
        )
    if isinstance(members, int) and not isinstance(nonmembers, int):
        raise ConfigError(
            f"{source}: split.nonmembers lists records but split.members is a count; list "
            "both, or give split.members as the record indices to train on"
        )
    population = sp.get("population")
    return SplitConfig(
        members=members,
        nonmembers=nonmembers,
        population=None
        if population is None
        else _int(population, "split.population", source, minimum=0),
    )


def _split_set(value: Any, key: str, source: str) -> int | str | tuple[int, ...]:
    """A count (at least 1), a file of record indices, or a list of them."""
    if isinstance(value, str):
        if not Path(value).is_file():
            raise ConfigError(
                f"{source}: '{key}' must be a positive integer (a count), a list of record "
                f"indices, or a file of them; there is no file {short_repr(value)}"
            )
        return value
    if isinstance(value, list):
        if not value or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            raise ConfigError(f"{source}: '{key}' must list integer record indices")
        return tuple(value)
    return _int(value, key, source, minimum=1)


def _check_devices(config: AuditConfig, source: str) -> None:
    """``target.device`` and ``reference.device`` name a device (cpu, cuda, auto); whether
    CUDA is there is checked when the run starts (:mod:`miaudit.pipeline._devices`)."""
    from miaudit.models._factory import DEVICES

    for where, value in (
        ("target.device", config.target.params.get("device", "cpu")),
        ("reference.device", "cpu" if config.reference.device is None else config.reference.device),
    ):
        if value not in DEVICES:
            raise ConfigError(
                f"{source}: unknown device {short_repr(value)} in '{where}'; valid: "
                f"{', '.join(DEVICES)}"
            )
    ref = config.reference
    if ref.device is not None and ref.train_fn is not None:
        raise ConfigError(
            f"{source}: 'reference.device' applies to miaudit's torch models; a "
            "reference.train_fn chooses its own device"
        )
    model = config.target.model if ref.model is None else ref.model["model"]
    if ref.device is not None and model is None:
        raise ConfigError(
            f"{source}: 'reference.device' applies to the reference models' recipe, and a "
            "target given by path or url has none: set reference.model (with its device)"
        )
    if ref.device is not None and MODELS.get(model).build is None:
        raise ConfigError(
            f"{source}: 'reference.device' applies to torch models; the reference model "
            f"{model!r} is a scikit-learn model"
        )
    own = (ref.model or {}).get("device")
    if ref.device is not None and own is not None and own != ref.device:
        raise ConfigError(
            f"{source}: 'reference.device' ({ref.device}) and 'reference.model.device' "
            f"({own}) disagree; set one of them"
        )


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
    device = ref.get("device")
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
        device=device,
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


def _gate_sections_to_dict(config: AuditConfig, d: dict[str, Any]) -> None:
    """``check`` and ``tracking`` in the file's shape, left out when absent (so that a
    config without them records the same results.json as before they existed)."""
    for key, section in (("check", config.check), ("tracking", config.tracking)):
        if section is None:
            d.pop(key, None)
        else:
            d[key] = section.to_dict()


def check_thresholds_apply(
    config: AuditConfig, thresholds: Thresholds, *, source: str = "config"
) -> None:
    """Refuse (ConfigError), before anything trains, thresholds this config's audit cannot
    answer (:func:`miaudit.gate.check_applicable`): a per-attack threshold for an attack
    the config does not run, ``max_epsilon`` without a differentially private defense,
    ``strict`` with ``evaluation.bootstrap: 0``."""
    from miaudit.defenses import DEFENSES

    labels = None
    if config.attacks != "all":
        labels = [
            a if isinstance(a, str) else str(a.get("label", a["name"])) for a in config.attacks
        ]
    defense = None if config.target.defense is None else str(config.target.defense["name"])
    check_applicable(
        thresholds,
        attack_labels=labels,
        registered=ATTACKS.names(),
        defense=defense,
        differentially_private=defense is not None
        and bool(DEFENSES.get(defense).differentially_private),
        bootstrap=config.evaluation.bootstrap,
        source=source,
    )


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
    only the attacks whose needs are met. Config runs have a recipe (the target's, or
    ``reference.model``/``train_fn``) except for an external target without either.
    """
    from miaudit.attacks import Offer, make_attack

    if config.attacks == "all":
        return
    population = config.split.population if n_population is None else n_population
    recipe = config.target.external is None or (
        config.reference.model is not None or config.reference.train_fn is not None
    )
    note = None
    if config.target.external is not None:
        from miaudit.pipeline._external import external_parameters_note

        note = external_parameters_note(config.target.external, config.target.params)
    offer = Offer(
        recipe=recipe,
        parameters=_exposes_parameters(config),
        population=population != 0,
        parameters_note=note,
    )
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

    defense = config.target.defense
    if config.target.external is not None:
        from miaudit.pipeline._external import external_parameters_note

        note = external_parameters_note(config.target.external, config.target.params)
        return note is None and defense is None
    if MODELS.get(config.target.model).family != "torch":
        return False
    return defense is None or DEFENSES.get(str(defense["name"])).kind == "training"


__all__ = ["AuditConfig", "TargetConfig", "check_config_needs", "load_config", "parse_config"]
