"""Config-driven audits: load the data, split it, train the target, attack it, write the report."""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from miaudit.data import load_dataset, make_split
from miaudit.data.augment import resolve_augmentation
from miaudit.data.integrity import first_occurrences, record_ids
from miaudit.data.split import read_index_list, split_by_indices
from miaudit.defenses import DEFENSES, DefenseData, DefenseSpec
from miaudit.errors import ConfigError, DataError
from miaudit.models import train_model
from miaudit.pipeline._devices import DeviceChoice, resolve_devices, with_device
from miaudit.pipeline._external import build_external, describe_external
from miaudit.pipeline._preflight import check_audit_memory, check_config_code, import_train_fn
from miaudit.pipeline.api import audit
from miaudit.pipeline.config import AuditConfig, check_config_needs, load_config, parse_config
from miaudit.pipeline.output import OUTPUT_FILES, prepare_output_dir, run_identity, save_result
from miaudit.pipeline.references import ReferenceSettings, check_cacheable
from miaudit.results import AuditResult


def run_config(
    config: AuditConfig | dict[str, Any] | str | Path,
    *,
    output: str | Path | None = None,
    data_dir: str | Path | None = None,
    progress: bool = True,
    overwrite: bool = False,
    allow_imports: bool | None = None,
    track: bool = True,
    pseudo_targets: bool = False,
) -> AuditResult:
    """Run the audit a configuration describes and, if it names an output, write it there.

    The target is trained on the split's members with the config's seed; the
    attacker's population is the rest of the data set (or ``split.population`` records).
    Exact duplicate records are dropped before the split (the first copy is kept; their
    number is ``results.json``'s ``target.duplicates_dropped``, and record ids stay indices
    into the data set as loaded); labels a user's file encodes other than 0..C-1 are
    remapped, the original values in ``target.label_values``.
    The output directory is checked before any work (see :mod:`miaudit.pipeline.output`):
    it must be writable and must not hold another config's results unless ``overwrite``.

    Code the config names (``reference.train_fn``) is imported and checked first, before the
    data are loaded; ``allow_imports=False`` (or ``MIAUDIT_NO_CONFIG_IMPORTS=1`` in the
    environment, or ``miaudit audit --no-code``) refuses it before anything is imported.
    The memory the config's sizes need is estimated before any training; a config that
    cannot fit is refused with the estimate (see :mod:`miaudit.pipeline._preflight`).

    With a ``tracking:`` section (and ``track``), the tracking store is checked before any
    work and the saved audit is logged to it last (:func:`miaudit.tracking.log_audit`); a
    logging failure raises :class:`~miaudit.errors.TrackingError` after the results are
    saved. ``track=False`` leaves tracking to the caller (``miaudit check`` logs the
    gate's files too). ``pseudo_targets`` is :func:`miaudit.audit`'s (the owner audit's
    fraction used and power curve).
    """
    if isinstance(config, (str, Path)):
        config = load_config(config, allow_imports=allow_imports)
    elif isinstance(config, dict):
        config = parse_config(config, allow_imports=allow_imports)
    out_dir = _check_before_work(config, output, overwrite, allow_imports)
    devices = resolve_devices(config)  # once, before any data are loaded
    if track:
        check_tracking_before_work(config, out_dir)
    sets = _audit_sets(config, data_dir)
    # views the records cannot have (augment on tabular data, a shift too large): refuse now
    resolve_augmentation(config.reference.augment, sets.members[0].shape[1:], sets.dataset_name)
    start = time.perf_counter()
    target, applied = _make_target(
        config, sets, out_dir, progress, devices.get("target"), allow_imports
    )
    train_seconds = time.perf_counter() - start
    reference = reference_settings(
        config,
        defense=sets.defense,
        data_dir=data_dir or config.dataset.data_dir,
        device=devices.get("reference"),
    )
    result = audit(
        target,
        members=sets.members,  # the training set itself, not a second copy
        nonmembers=sets.nonmembers,
        population=sets.population,
        attacks=config.attacks,
        num_classes=sets.num_classes,
        seed=config.seed,
        random_queries=config.evaluation.random_queries,
        bootstrap=config.evaluation.bootstrap,
        reference=reference,
        record_ids=sets.record_ids,
        model_name=config.target.name,
        model_params=config.target.params,
        dataset=sets.dataset_name,
        config=config.to_dict(),
        title=config.title
        or f"Membership-inference audit: {config.target.name} on {sets.dataset_name}",
        progress=progress,
        pseudo_targets=pseudo_targets,
    )
    _record_run(result, sets, applied, train_seconds)
    if config.target.external is not None:
        result.target.source = describe_external(config.target.external, config.target.params)
    if devices:
        result.devices = {role: choice.to_dict() for role, choice in devices.items()}
    if out_dir is not None:
        save_result(result, out_dir, overwrite=overwrite)
    if track and config.tracking is not None and out_dir is not None:
        from miaudit.tracking import log_audit

        log_audit(config.tracking, result, out_dir)
    return result


def check_tracking_before_work(config: AuditConfig, out_dir: str | Path | None) -> None:
    """A ``tracking:`` section needs an output directory (its files are the run's
    artifacts) and a tracking store that answers; checked before any data are loaded."""
    if config.tracking is None:
        return
    if out_dir is None:
        raise ConfigError(
            "tracking logs the audit's saved files: set 'output' in the config (or pass an "
            "output directory)"
        )
    from miaudit.tracking import check_tracking

    check_tracking(config.tracking)


def _check_before_work(
    config: AuditConfig, output: str | Path | None, overwrite: bool, allow_imports: bool | None
) -> str | Path | None:
    """The checks before any data are loaded: the code the config names (imported, and
    identifiable by the reference cache), and the output directory (usable, not holding
    another config's results). Returns the output directory, or None."""
    train_fn = check_config_code(config, allow_imports)
    if train_fn is not None:  # a train_fn the reference cache cannot identify: refuse now
        check_cacheable(
            ReferenceSettings(
                train_fn=train_fn,
                cache_dir=config.reference.cache_dir,
                train_fn_version=config.reference.train_fn_version,
            )
        )
    out_dir = output or config.output
    if out_dir is not None:
        prepare_output_dir(
            out_dir,
            identity=run_identity({"config": config.to_dict()}),
            files=OUTPUT_FILES,
            overwrite=overwrite,
        )
    return out_dir


@dataclass(frozen=True)
class _AuditSets:
    """The records a config run reads, split, and what the result records about them."""

    members: tuple[np.ndarray, np.ndarray]
    nonmembers: tuple[np.ndarray, np.ndarray]
    population: tuple[np.ndarray, np.ndarray] | None
    #: indices into the data set as loaded of the audited records (members first)
    record_ids: np.ndarray
    defense: DefenseSpec | None
    defense_data: DefenseData
    dataset_name: str
    num_classes: int
    label_values: Any
    duplicates_dropped: int


def _audit_sets(config: AuditConfig, data_dir: str | Path | None) -> _AuditSets:
    """Load the data set, drop exact duplicates, split it, check the memory the sizes
    need, give the defender its records and check the attacks' needs against what is
    left. Only the sets are kept: the whole data set goes when this returns, rather than
    being held through training and every attack (issue 9 item 15)."""
    dataset = load_dataset(
        config.dataset.name,
        path=config.dataset.path,
        data_dir=data_dir or config.dataset.data_dir,
    )
    # exact duplicates could land on both sides of the split (issue 9 item 5): keep the
    # first copy of each record; `kept` maps back to the data set's own record indices
    if config.split.listed:
        (canonical,) = record_ids([dataset.x])
        kept = np.flatnonzero(canonical == np.arange(len(canonical)))
        split = _listed_split(config, canonical, kept)
    else:
        kept = first_occurrences(dataset.x)
    duplicates_dropped = len(dataset) - len(kept)
    if duplicates_dropped:
        dataset = dataset.subset(kept)
    if not config.split.listed:
        split = _split(config, len(dataset.y), duplicates_dropped)
    x, y = dataset.x, dataset.y
    population_idx = split.population
    check_audit_memory(
        config,
        record_shape=x.shape[1:],
        num_classes=dataset.num_classes,
        n_members=len(split.members),
        n_nonmembers=len(split.nonmembers),
        n_population=len(population_idx),
    )
    defense = resolve_defense(
        config.target.defense, n_members=len(split.members), n_population=len(population_idx)
    )
    defense_data = DefenseData()
    if defense is not None and defense.reference_size:
        # the defender's own records, disjoint from the attacker's
        ref = population_idx[: defense.reference_size]
        population_idx = population_idx[defense.reference_size :]
        defense_data = DefenseData(reference=(x[ref], y[ref]))
    check_config_needs(config, n_population=len(population_idx))  # what the split left
    return _AuditSets(
        members=(x[split.members], y[split.members]),
        nonmembers=(x[split.nonmembers], y[split.nonmembers]),
        population=(x[population_idx], y[population_idx]) if len(population_idx) else None,
        record_ids=kept[np.concatenate([split.members, split.nonmembers])],
        defense=defense,
        defense_data=defense_data,
        dataset_name=dataset.name,
        num_classes=dataset.num_classes,
        label_values=dataset.classes,
        duplicates_dropped=duplicates_dropped,
    )


def _split(config: AuditConfig, n: int, duplicates_dropped: int) -> Any:
    """The config's seeded split of ``n`` records; a split too large after dropping
    duplicates says how many were dropped and why."""
    try:
        return make_split(
            n,
            members=config.split.members,
            nonmembers=config.split.nonmembers,
            population=config.split.population,
            seed=config.seed,
        )
    except DataError as exc:
        if not duplicates_dropped:
            raise
        raise DataError(
            f"{exc} ({duplicates_dropped} exact duplicate records were dropped from the "
            f"{duplicates_dropped + n} loaded, so that no record is both a member "
            "and a non-member)"
        ) from None


def _listed_split(config: AuditConfig, canonical: np.ndarray, kept: np.ndarray) -> Any:
    """The split of records the config lists (indices into the data set as loaded)."""
    sp = config.split

    def listed(value: Any, key: str) -> Any:
        return value if isinstance(value, int) else read_index_list(value, what=key)

    split, _ = split_by_indices(
        canonical,
        kept,
        members=listed(sp.members, "split.members"),
        nonmembers=listed(sp.nonmembers, "split.nonmembers"),
        population=sp.population,
        seed=config.seed,
    )
    return split


def _make_target(
    config: AuditConfig,
    sets: _AuditSets,
    out_dir: str | Path | None,
    progress: bool,
    device: DeviceChoice | None,
    allow_imports: bool | None = None,
) -> tuple[Any, Any]:
    """The target: trained on the members with the config's seed on ``device`` (resolved
    by :func:`~miaudit.pipeline._devices.resolve_devices`; None: not a torch recipe), by a
    training-time defense or by its recipe; or loaded (a file, on its section's device) or
    connected (an endpoint). An inference-time defense then wraps it. Returns the target
    and the applied defense (a fresh copy that reports what it measured), or None."""
    applied = None if sets.defense is None else sets.defense.build()
    seed = config.seed
    if config.target.external is not None:
        cache_dir = config.target.params.get("cache_dir")
        if cache_dir is None and out_dir is not None:
            cache_dir = Path(out_dir) / "queries"
        target = build_external(
            config.target.external,
            config.target.params,
            num_classes=sets.num_classes,
            record_shape=sets.members[0].shape[1:],
            cache_dir=cache_dir,
            allow_imports=allow_imports,
        )
        if applied is not None:
            target = applied.wrap(target, train=sets.members, seed=seed, data=sets.defense_data)
        return target, applied
    params = with_device(config.target.params, device)
    if applied is not None and applied.kind == "training":
        target = applied.train(
            config.target.model,
            params,
            *sets.members,
            num_classes=sets.num_classes,
            seed=seed,
            data=sets.defense_data,
            progress=progress,
        )
        return target, applied
    target = train_model(
        config.target.model,
        params,
        *sets.members,
        num_classes=sets.num_classes,
        seed=seed,
        progress=progress,
    )
    if applied is not None:
        target = applied.wrap(target, train=sets.members, seed=seed, data=sets.defense_data)
    return target, applied


def _record_run(result: AuditResult, sets: _AuditSets, applied: Any, seconds: float) -> None:
    """What a config run adds to the audit's result: the defense's report (with its
    defender records), the duplicates dropped, the original labels, the training time."""
    if applied is not None:
        result.target.defense = applied.report()
        reference_size = sets.defense.reference_size if sets.defense is not None else None
        if reference_size:
            result.target.defense.setdefault("reference_size", reference_size)
    result.target.duplicates_dropped = sets.duplicates_dropped
    if sets.label_values is not None:
        result.target.label_values = list(sets.label_values)
    result.timings = {"train_target": seconds, **result.timings}


def default_reference_size(n_members: int, n_population: int) -> int:
    """The defender's records when ``target.defense.reference_size`` is not set, for the
    defenses fitted on records of their own (MemGuard, distillation, adversarial
    regularisation, MMD + mix-up): as many as the target's members (the defender's
    non-member set mirrors its training set, as in MemGuard's and Nasr et al.'s set-ups),
    at most half the population left outside the split, so that the attacker keeps the rest.
    """
    return min(int(n_members), int(n_population) // 2)


def resolve_reference_size(spec: dict[str, Any], *, n_members: int, n_population: int) -> int:
    """The number of defender records taken from the population for ``spec`` (a config's
    ``target.defense``): its ``reference_size``, else :func:`default_reference_size` for
    defenses that need records, else 0. ConfigError, before any training, when the population
    cannot give them (issue 9 item 10: MemGuard without ``reference_size`` failed with an API
    message)."""
    name = str(spec["name"])
    given = spec.get("reference_size")
    if given is not None:
        size = int(given)
        if size > n_population:
            raise ConfigError(
                f"target.defense.reference_size {size} exceeds the {n_population} records "
                "left outside the split"
            )
        return size
    if not DEFENSES.get(name).needs_reference:
        return 0
    size = default_reference_size(n_members, n_population)
    if size < 1:
        raise ConfigError(
            f"defense {name!r} is fitted on defender records taken from the population, but "
            f"the split leaves only {n_population} population record(s); set "
            "target.defense.reference_size, or leave more records outside split.members and "
            "split.nonmembers (split.population)"
        )
    return size


def resolve_defense(
    spec: dict[str, Any] | None, *, n_members: int, n_population: int
) -> DefenseSpec | None:
    """The config's ``target.defense`` as a :class:`~miaudit.defenses.DefenseSpec`, its
    ``reference_size`` resolved by :func:`resolve_reference_size` (kept when the config
    gives one, even 0; the default for defenses that need records; else None). The one place
    a config's defense mapping is read; None without a defense."""
    if spec is None:
        return None
    size = resolve_reference_size(spec, n_members=n_members, n_population=n_population)
    resolved = size if size or "reference_size" in spec else None
    return replace(DefenseSpec.from_dict(spec), reference_size=resolved)


def reference_settings(
    config: AuditConfig,
    *,
    defense: DefenseSpec | None,
    data_dir: str | Path | None,
    device: DeviceChoice | None = None,
) -> ReferenceSettings:
    """The reference-model settings of a config: its ``reference:`` section, with the
    target's recipe as the default recipe.

    ``defense`` is the target's defense as :func:`resolve_defense` resolved it (None: no
    defense). ``device``: the reference models' device as
    :func:`~miaudit.pipeline._devices.resolve_devices` resolved it (None: the recipe's own).
    With ``reference.defense_aware`` (default true) the reference models get the target's
    defense: a training-time defense trains them (when they use the target's recipe; those
    that need defender records get them as described below); an
    inference-time defense (MemGuard, top-k, rounding) wraps each of them, with the same
    parameters and ``reference_size``, before its outputs are computed (see
    :meth:`miaudit.reference.TrainRecipe.defender_indices` for the simulated defender's data).
    """
    ref = config.reference
    model, params, train_fn = config.target.model, dict(config.target.params), None
    if config.target.external is not None:  # no recipe of its own: reference.model, if any
        model, params = None, None
    if ref.model is not None:
        model = ref.model["model"]
        params = {k: v for k, v in ref.model.items() if k != "model"}
    if ref.train_fn is not None:
        train_fn = import_train_fn(ref.train_fn)
        model, params = None, None
    elif params is not None:
        params = with_device(params, device)
    aware = None
    if ref.defense_aware and defense is not None:  # the crystal-box attacker
        if defense.kind == "training":
            if train_fn is None and ref.model is None:  # trains the target's own recipe
                # reference_size sizes the simulated defender's data of the defenses that
                # need some (distillation, adversarial regularisation, MMD + mix-up)
                keep = defense.defense.needs_reference
                aware = defense if keep else replace(defense, reference_size=None)
        else:  # wraps any reference model; reference_size sizes the simulated defender's data
            aware = defense
    return ReferenceSettings(
        num_models=ref.num_models,
        executor=ref.executor,
        address=ref.address,
        workers=ref.workers,
        cache_dir=ref.cache_dir,
        model=model,
        params=params,
        train_fn=train_fn,
        train_fn_version=ref.train_fn_version,
        augment=ref.augment,
        data_dir=None if data_dir is None else str(data_dir),
        defense=aware,
    )
