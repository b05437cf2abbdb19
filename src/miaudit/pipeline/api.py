"""The Python entry point: audit a trained model (torch or scikit-learn, or any Target)."""

from __future__ import annotations

import platform
import time
import traceback
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from miaudit.attacks import ATTACKS, Attack, AttackerKnowledge, make_attack
from miaudit.data.integrity import check_disjoint, check_features
from miaudit.errors import ConfigError, DataError, MiauditError
from miaudit.metrics import evaluate_scores
from miaudit.outputs import ModelOutputs, check_labels, concat_outputs
from miaudit.pipeline.references import (
    ReferenceSettings,
    augmenter,
    build_reference_outputs,
    check_cacheable,
    resolve_request,
)
from miaudit.results import AttackResult, AuditResult, TargetSummary
from miaudit.targets import LabelOnlyTarget, Target, as_target
from miaudit.validation import check_evaluation

DEFAULT_ATTACKS = ("gap", "loss", "confidence", "entropy", "modified_entropy")

AttackSpec = str | dict[str, Any] | Attack

# random_inputs reads its reference records this many bytes at a time
_CHUNK_BYTES = 1 << 24


def audit(
    model: Any,
    *,
    members: tuple[np.ndarray, np.ndarray],
    nonmembers: tuple[np.ndarray, np.ndarray],
    population: tuple[np.ndarray, np.ndarray] | None = None,
    attacks: Sequence[AttackSpec] | str = DEFAULT_ATTACKS,
    num_classes: int | None = None,
    seed: int = 0,
    random_queries: int = 1000,
    bootstrap: int = 200,
    reference: ReferenceSettings | None = None,
    record_ids: np.ndarray | None = None,
    model_name: str | None = None,
    model_params: dict[str, Any] | None = None,
    dataset: str | None = None,
    config: dict[str, Any] | None = None,
    title: str = "Membership-inference audit",
    progress: bool = True,
) -> AuditResult:
    """Run membership-inference attacks against ``model`` and measure what they learn.

    Args:
        model: a trained torch ``nn.Module``, a fitted scikit-learn classifier, or a
            :class:`~miaudit.targets.Target`.
        members: ``(x, y)`` records the model was trained on.
        nonmembers: ``(x, y)`` records from the same distribution it did not see.
        population: ``(x, y)`` the attacker's own data (disjoint from both), if any.
        attacks: attack names, ``{"name": ..., "label": ..., **params}`` dicts, Attack
            objects, or "all". ``label`` (optional) names the result, so that one attack
            can run in several variants (e.g. LiRA online and offline).
        num_classes: number of classes; inferred from the model when omitted.
        seed: seed of every random step (random queries, bootstrap); an integer >= 0.
        random_queries: number of random inputs queried for ML-Leaks' threshold choice.
        bootstrap: bootstrap resamples for confidence intervals: 0 for none (metrics then
            hold None intervals), else at least :data:`~miaudit.validation.MIN_BOOTSTRAP`.
        record_ids: ids of the audited records (members first, then non-members);
            defaults to 0..n-1.
        reference: how to train reference/shadow models for the attacks that need them
            (LiRA, RMIA, Shokri, ...): a :class:`ReferenceSettings` with the recipe
            (``model``/``params`` or ``train_fn``), ``num_models``, executor and cache.

    Returns:
        An :class:`AuditResult`; an attack that fails is recorded with its error and the
        others still run. Bad evaluation settings and attack parameters (of the declared
        types and ranges, Attack objects included) raise a ConfigError before anything is
        queried or trained.
    """
    check_evaluation(seed=seed, bootstrap=bootstrap, random_queries=random_queries)
    settings = reference or ReferenceSettings()
    has_recipe = settings.model is not None or settings.train_fn is not None
    target = as_target(model, num_classes=num_classes)
    attack_objs = resolve_attacks(
        attacks, with_reference_models=has_recipe, white_box="parameters" in target.capabilities
    )
    if has_recipe and any(a.needs_recipe() for _, a in attack_objs):
        check_cacheable(settings)  # a train_fn the cache cannot identify: refuse before work
    known_classes = _known_classes(target)
    x_in, y_in = _check_pair(members, "members", known_classes)
    x_out, y_out = _check_pair(nonmembers, "nonmembers", known_classes)
    if x_in.shape[1:] != x_out.shape[1:]:
        raise DataError(
            f"members and non-members have different record shapes: {x_in.shape[1:]} vs "
            f"{x_out.shape[1:]}"
        )
    population_pair = None
    if population is not None:
        population_pair = _check_pair(population, "population", known_classes)
        if population_pair[0].shape[1:] != x_in.shape[1:]:
            raise DataError(
                f"population records have shape {population_pair[0].shape[1:]}, "
                f"expected {x_in.shape[1:]}"
            )
    _check_disjoint(x_in, x_out, population_pair)
    augment = augmenter(x_in, settings)
    out_in = _target_outputs(target, x_in, y_in, augment)
    out_out = _target_outputs(target, x_out, y_out, augment)
    c = out_in.num_classes
    train_accuracy = float(np.mean(out_in.predicted == out_in.y))
    test_accuracy = float(np.mean(out_out.predicted == out_out.y))
    audited = concat_outputs([out_in, out_out])
    del out_in, out_out  # `audited` holds a copy of both (issue 9 item 15)
    membership = np.concatenate([np.ones(len(y_in), bool), np.zeros(len(y_out), bool)])
    if record_ids is None:
        record_ids = np.arange(len(membership), dtype=np.int64)
    record_ids = np.asarray(record_ids, dtype=np.int64)
    if record_ids.shape != membership.shape:
        raise DataError(
            f"mismatched lengths: {len(record_ids)} record ids for {len(membership)} records"
        )

    rng = np.random.default_rng(seed)
    pop_outputs = None
    x_ref = x_in
    if population_pair is not None:
        x_ref = population_pair[0]
        if any(attack.uses_population for _, attack in attack_objs):
            pop_outputs = target.outputs(*population_pair)
    rand_outputs = None
    if random_queries > 0:
        x_rand = random_inputs(x_ref, random_queries, rng)
        probs = target.predict_proba(x_rand)
        rand_outputs = ModelOutputs(probs=probs, y=np.argmax(probs, axis=1))

    # the audited records in one array, only for attacks that query the target themselves
    # or train reference models on them (a copy of every audited record: issue 9 item 15)
    records = None
    if any(a.access != "outputs" or a.reference_request() is not None for _, a in attack_objs):
        records = (np.concatenate([x_in, x_out]), np.concatenate([y_in, y_out]))
    knowledge = AttackerKnowledge(
        num_classes=c,
        population=pop_outputs,
        random_queries=rand_outputs,
        seed=seed,
        population_data=population_pair,
        train_model=reference_trainer(settings, c),
    )
    references: dict[Any, Any] = {}
    ref_seconds: dict[str, float] = {}
    results = []
    bar = tqdm(attack_objs, desc="attacks", disable=not progress, leave=False)
    for label, attack in bar:
        bar.set_postfix_str(label)
        # an attack that does not declare uses_population gets no population outputs, so
        # one that reads them without declaring it fails instead of being silently starved
        attack_knowledge = knowledge if attack.uses_population else _without_population(knowledge)
        request = attack.reference_request()
        if request is not None:
            try:
                request = resolve_request(request, settings)
                if request not in references:
                    start = time.perf_counter()
                    try:
                        references[request] = build_reference_outputs(
                            request,
                            settings=settings,
                            target=target,
                            num_classes=c,
                            audited=records,
                            population=population_pair,
                            n_members=len(y_in),
                            seed=seed,
                            progress=progress,
                        )
                    except MiauditError as exc:
                        references[request] = exc
                    ref_seconds[_request_label(request)] = time.perf_counter() - start
                built = references[request]
                if isinstance(built, Exception):
                    raise built
                attack_knowledge = replace(attack_knowledge, reference=built)
            except MiauditError as exc:
                results.append(_failed(label, attack, time.perf_counter(), str(exc)))
                continue
        results.append(
            _run_attack(
                label,
                attack,
                attack_knowledge,
                audited,
                membership,
                seed,
                bootstrap,
                target=target,
                records=records,
            )
        )

    summary = TargetSummary(
        model=model_name or target.description,
        params=dict(model_params or {}),
        num_classes=c,
        n_members=len(y_in),
        n_nonmembers=len(y_out),
        train_accuracy=train_accuracy,
        test_accuracy=test_accuracy,
        dataset=dataset,
    )
    return AuditResult(
        target=summary,
        attacks=results,
        membership=membership,
        record_ids=record_ids,
        config=config,
        seed=seed,
        versions=package_versions(),
        created=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        title=title,
        timings={
            **{f"references:{k}": v for k, v in ref_seconds.items()},
            **{f"attack:{a.name}": a.seconds for a in results},
        },
        reference_defense_aware=(
            settings.defense is not None
            if has_recipe and any(a.threat_model.needs_shadow_models for _, a in attack_objs)
            else None
        ),
    )


def resolve_attacks(
    attacks: Sequence[AttackSpec] | str,
    *,
    with_reference_models: bool = True,
    white_box: bool = True,
) -> list[tuple[str, Attack]]:
    """Turn names / dicts / objects (or "all") into (label, attack) pairs; unknown names fail,
    and so do parameters outside an attack's declared types and ranges (ConfigError).

    "all" means every registered attack that runs with its default parameters, leaving out
    those that need reference models when ``with_reference_models`` is False (no recipe
    to train them was given) and white-box attacks when ``white_box`` is False (the
    target does not expose its parameters).
    """
    if isinstance(attacks, str):
        if attacks != "all":
            attacks = [attacks]
        else:
            attacks = [
                n
                for n in ATTACKS.names()
                if not ATTACKS.get(n).required_params
                and (with_reference_models or not ATTACKS.get(n)().needs_recipe())
                and (white_box or ATTACKS.get(n).access != "white-box")
            ]
    if len(attacks) == 0:
        raise ConfigError("no attacks given; name at least one (see `miaudit attacks`)")
    out: list[tuple[str, Attack]] = []
    for spec in attacks:
        if isinstance(spec, Attack):
            spec.check_params()  # an object built by hand skipped make_attack's checks
            out.append((spec.name, spec))
        elif isinstance(spec, str):
            out.append((spec, _make(spec, {})))
        elif isinstance(spec, dict):
            params = dict(spec)
            name = params.pop("name", None)
            label = params.pop("label", name)
            if not isinstance(name, str) or not isinstance(label, str):
                raise ConfigError(f"attack entry {spec!r} needs a 'name' (and a string label)")
            out.append((label, _make(name, params)))
        else:
            raise ConfigError(f"attack must be a name, a dict or an Attack, got {spec!r}")
    names = [label for label, _ in out]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ConfigError(
            f"attack(s) listed twice: {', '.join(dupes)}; give variants distinct 'label's"
        )
    return out


def _make(name: str, params: dict[str, Any]) -> Attack:
    """The attack ``name`` with ``params``, checked (names, required parameters, declared
    types and ranges) before it is built."""
    return make_attack(name, **params)


def random_inputs(x_like: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """Uniform random inputs in the per-feature range of ``x_like`` (ML-Leaks adversary 3).

    Binary features (only 0/1 seen) are drawn as fair coin flips. The range and the binary
    test are computed chunk by chunk in ``x_like``'s own dtype (min and max commute with the
    exact, monotone conversion to float64, so the values equal those of a float64 copy):
    a float64 copy of a 160,000-record population cost 768 MB (issue 9 item 15).
    """
    from miaudit.resources import random_queries_bytes, require_memory

    count = len(x_like)
    width = int(np.prod(x_like.shape[1:], dtype=np.int64))
    require_memory(
        random_queries_bytes(n, width),
        f"{n:,} random queries of {width:,} features",
        "lower random_queries (evaluation.random_queries in a config)",
    )
    step = max(1, _CHUNK_BYTES // max(width * x_like.itemsize, 1))
    lo = hi = binary = None
    for start in range(0, count, step):
        block = x_like[start : start + step].reshape(-1, width)
        b_lo, b_hi = block.min(axis=0), block.max(axis=0)
        b_bin = np.all((block == 0) | (block == 1), axis=0)
        if lo is None:
            lo, hi, binary = b_lo, b_hi, b_bin
        else:
            lo, hi, binary = np.minimum(lo, b_lo), np.maximum(hi, b_hi), binary & b_bin
    lo, hi = np.asarray(lo, dtype=np.float64), np.asarray(hi, dtype=np.float64)
    u = rng.random((n, width))
    x = np.where(binary, (u < 0.5).astype(np.float64), lo + u * (hi - lo))
    return x.reshape((n, *x_like.shape[1:])).astype(x_like.dtype)


def package_versions() -> dict[str, str]:
    """Versions of Python and the packages that shape the results."""
    import matplotlib
    import scipy
    import sklearn
    import torch

    import miaudit

    return {
        "python": platform.python_version(),
        "miaudit": miaudit.__version__,
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "scikit-learn": sklearn.__version__,
        "torch": torch.__version__,
        "matplotlib": matplotlib.__version__,
    }


def _run_attack(
    label: str,
    attack: Attack,
    knowledge: AttackerKnowledge,
    audited: ModelOutputs,
    membership: np.ndarray,
    seed: int,
    bootstrap: int,
    *,
    target: Target,
    records: tuple[np.ndarray, np.ndarray] | None,
) -> AttackResult:
    start = time.perf_counter()
    queries_per_record = None
    try:
        if attack.access == "outputs":
            attack.fit(knowledge)
            scores = attack.score_samples(audited)
        else:
            assert records is not None  # built whenever an attack has access != "outputs"
            fit_view, score_view = _views(attack, target, len(records[1]))
            attack.fit(replace(knowledge, target=fit_view))
            scores = attack.score_records(score_view, *records)
            if attack.access == "labels":  # the cost model of label-only attacks
                queries_per_record = score_view.query_count / len(records[1])
        if not np.all(np.isfinite(scores)):
            raise DataError(f"attack {attack.name!r} produced non-finite scores")
        metrics = evaluate_scores(
            membership, scores, threshold=attack.threshold_, n_resamples=bootstrap, seed=seed
        )
    except MiauditError as exc:
        return _failed(label, attack, start, str(exc))
    except Exception as exc:  # an attack bug must not lose the other attacks' results
        detail = traceback.format_exception_only(type(exc), exc)[-1].strip()
        return _failed(label, attack, start, detail)
    return AttackResult(
        name=label,
        attack=attack.name,
        threat_model=attack.threat_model.to_dict(),
        params=attack.get_params(),
        scores=scores,
        metrics=metrics,
        seconds=time.perf_counter() - start,
        queries_per_record=queries_per_record,
    )


def _views(attack: Attack, target: Target, n: int) -> tuple[Target, Target]:
    """The target as the attack may see it in fit and in scoring (fresh query counters).

    Label-only attacks get label-only views; the scoring view enforces the attack's
    ``max_queries_per_record`` budget. White-box attacks need a target that exposes its
    parameters (a torch model).
    """
    if attack.access == "labels":
        per_record = getattr(attack, "max_queries_per_record", None)
        budget = None if per_record is None else int(per_record) * n
        return LabelOnlyTarget(target), LabelOnlyTarget(target, max_queries=budget)
    if "parameters" not in target.capabilities:
        raise DataError(
            f"{attack.name} is a white-box attack: it needs a target that exposes its "
            f"parameters (a torch model), got {target.description}"
        )
    return target, target


def reference_trainer(settings: ReferenceSettings, num_classes: int) -> Any:
    """``train(x, y, seed) -> Target`` from the reference recipe, or None without one."""
    if settings.model is None and settings.train_fn is None:
        return None
    from miaudit.reference import TrainRecipe

    defense = settings.defense  # a DefenseSpec (ReferenceSettings resolves it)
    if defense is not None and defense.kind != "training":
        # these shadows are read for labels (unchanged by inference-time defenses) or
        # parameters (which a wrapped model hides): they are trained undefended
        defense = None
    if settings.train_fn is not None:
        recipe = TrainRecipe(train_fn=settings.train_fn, num_classes=num_classes)
    else:
        recipe = TrainRecipe(
            model=settings.model,
            params=dict(settings.params or {}),
            num_classes=num_classes,
            defense=defense,
        )
    return recipe.train


def _failed(label: str, attack: Attack, start: float, message: str) -> AttackResult:
    return AttackResult(
        name=label,
        attack=attack.name,
        threat_model=attack.threat_model.to_dict(),
        params=attack.get_params(),
        scores=None,
        seconds=time.perf_counter() - start,
        error=message,
    )


def _check_pair(pair: Any, what: str, num_classes: int | None) -> tuple[np.ndarray, np.ndarray]:
    """``(x, y)`` as arrays: real numeric records (complex and object arrays refused), as
    many labels as records, labels that index the model's ``num_classes`` outputs (None:
    not known yet, checked on the outputs)."""
    if not isinstance(pair, (tuple, list)) or len(pair) != 2:
        raise DataError(f"{what} must be a pair (x, y)")
    x, y = np.asarray(pair[0]), np.asarray(pair[1])
    check_features(x, what=f"{what} records x")
    if x.ndim == 0 or y.ndim != 1:
        raise DataError(
            f"{what} must be records x of shape (n, ...) and labels y of shape (n,), "
            f"got {x.shape} and {y.shape}"
        )
    if len(x) != len(y):
        raise DataError(f"mismatched lengths: {what} has {len(x)} records but {len(y)} labels")
    if len(x) == 0:
        singular = {"members": "member", "nonmembers": "non-member"}.get(what, what)
        raise DataError(f"empty {singular} set: {what} has no records")
    if y.dtype.kind not in "biuf":
        raise DataError(f"{what} labels must be integer class indices, got dtype {y.dtype}")
    if num_classes is None:  # a torch module's classes are known after its first query,
        # whose outputs check the labels' range; integers >= 0 can be checked now
        y = check_labels(y, np.iinfo(np.int64).max, what=f"{what} labels")
        if y.min() < 0:
            raise DataError(f"{what} labels must be class indices >= 0, found {int(y.min())}")
    else:
        y = check_labels(y, num_classes, what=f"{what} labels")
    if np.issubdtype(x.dtype, np.floating) and not np.all(np.isfinite(x)):
        raise DataError(f"{what} records contain NaN or inf")
    return x, y


def _known_classes(target: Target) -> int | None:
    """The target's number of classes, or None while it is unknown (a torch module given
    without ``num_classes`` learns it from its first query)."""
    try:
        return target.num_classes
    except DataError:
        return None


def _check_disjoint(
    x_in: np.ndarray, x_out: np.ndarray, population: tuple[np.ndarray, np.ndarray] | None
) -> None:
    """Refuse members, non-members and population that share a record (exact duplicates,
    labels ignored; issue 9 item 5): an overlap makes the sets indistinguishable by
    construction and the audit would report AUC 0.5 whatever the model leaks."""
    sets = {"members": x_in, "nonmembers": x_out}
    if population is not None:
        sets["population"] = population[0]
    check_disjoint(sets)


def _without_population(knowledge: AttackerKnowledge) -> AttackerKnowledge:
    if knowledge.population is None:
        return knowledge
    return replace(knowledge, population=None)


def _target_outputs(target: Target, x: np.ndarray, y: np.ndarray, augment: Any) -> ModelOutputs:
    """The target's outputs, with augmented views attached when augmenting (LiRA)."""
    base = target.outputs(x, y)
    if augment is None:
        return base
    views = tuple(target.outputs(v, y) for v in augment(x))
    return replace(base, augmented=views)


def _request_label(request: Any) -> str:
    parts = [request.kind, f"{request.num_models} models"]
    if request.kind == "shadow":
        parts.append(request.dataset or request.data_source)
    return " ".join(str(p) for p in parts)
