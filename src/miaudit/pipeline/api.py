"""The Python entry point: audit a trained model (torch or scikit-learn, or any Target)."""

from __future__ import annotations

import platform
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from miaudit.attacks import (
    ATTACKS,
    Attack,
    AttackerKnowledge,
    Offer,
    ReferenceRequest,
    make_attack,
)
from miaudit.data.integrity import check_disjoint, check_features
from miaudit.errors import ConfigError, DataError, MiauditError
from miaudit.metrics import evaluate_scores
from miaudit.outputs import ModelOutputs, ReferenceOutputs, check_labels, concat_outputs
from miaudit.pipeline._preflight import check_attack_needs
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
        queried or trained, and so does an attack whose declared needs
        (:class:`~miaudit.attacks.Needs`) this audit cannot meet: a recipe for reference
        models, population records, a target that exposes its parameters ("all" leaves
        those attacks out).
    """
    check_evaluation(seed=seed, bootstrap=bootstrap, random_queries=random_queries)
    settings = reference or ReferenceSettings()
    target = as_target(model, num_classes=num_classes)
    attack_objs = _checked_attacks(attacks, target, settings, population is not None)
    inputs = _check_inputs(target, members, nonmembers, population, record_ids)
    queried = _query_target(target, inputs, settings)
    held = _attacker_holdings(target, inputs, queried, attack_objs, settings, seed, random_queries)
    results, ref_seconds = _run_attacks(attack_objs, held, bootstrap, progress)
    summary = _summary(held, inputs, queried, model_name, model_params, dataset)
    return _assemble(
        summary,
        results,
        ref_seconds,
        queried,
        inputs,
        settings,
        attack_objs,
        config=config,
        seed=seed,
        title=title,
    )


def _assemble(
    summary: TargetSummary,
    results: list[AttackResult],
    ref_seconds: dict[str, float],
    queried: _Queried,
    inputs: _Inputs,
    settings: ReferenceSettings,
    attack_objs: list[tuple[str, Attack]],
    *,
    config: dict[str, Any] | None,
    seed: int,
    title: str,
) -> AuditResult:
    """The audit's result: the target's summary, every attack's result, the timings."""
    return AuditResult(
        target=summary,
        attacks=results,
        membership=queried.membership,
        record_ids=inputs.record_ids,
        config=config,
        seed=seed,
        versions=package_versions(),
        created=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        title=title,
        timings={
            **{f"references:{k}": v for k, v in ref_seconds.items()},
            **{f"attack:{a.name}": a.seconds for a in results},
        },
        reference_defense_aware=_defense_aware(settings, attack_objs),
    )


@dataclass(frozen=True)
class _Inputs:
    """The audit's records, checked: members, non-members, the attacker's population."""

    x_in: np.ndarray
    y_in: np.ndarray
    x_out: np.ndarray
    y_out: np.ndarray
    population: tuple[np.ndarray, np.ndarray] | None
    record_ids: np.ndarray


@dataclass(frozen=True)
class _Queried:
    """The target's outputs on the audited records (members first) and its accuracies."""

    audited: ModelOutputs
    membership: np.ndarray
    train_accuracy: float
    test_accuracy: float


@dataclass(frozen=True)
class _Holdings:
    """Everything the attacker holds; each attack gets the parts it declares
    (:func:`_knowledge`)."""

    target: Target
    settings: ReferenceSettings
    num_classes: int
    seed: int
    n_members: int
    audited: ModelOutputs
    membership: np.ndarray
    #: the audited records in one array, for attacks that query the target themselves or
    #: train reference models on them (a copy of every audited record: issue 9 item 15)
    records: tuple[np.ndarray, np.ndarray] | None
    population: tuple[np.ndarray, np.ndarray] | None
    population_outputs: ModelOutputs | None
    random_queries: ModelOutputs | None
    train_model: Any


def _checked_attacks(
    attacks: Sequence[AttackSpec] | str,
    target: Target,
    settings: ReferenceSettings,
    has_population: bool,
) -> list[tuple[str, Attack]]:
    """The requested attacks, refused (ConfigError) when their declared needs are unmet."""
    has_recipe = settings.model is not None or settings.train_fn is not None
    offer = Offer(
        recipe=has_recipe,
        parameters="parameters" in target.capabilities,
        population=has_population,
    )
    attack_objs = resolve_attacks(attacks, offer=offer)
    check_attack_needs(attack_objs, offer)
    if has_recipe and any(a.needs().trains_models for _, a in attack_objs):
        check_cacheable(settings)  # a train_fn the cache cannot identify: refuse before work
    return attack_objs


def _check_inputs(
    target: Target,
    members: Any,
    nonmembers: Any,
    population: Any,
    record_ids: np.ndarray | None,
) -> _Inputs:
    """The records as arrays of matching shapes, disjoint, with labels of the model's classes."""
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
    n = len(y_in) + len(y_out)
    ids = np.arange(n, dtype=np.int64) if record_ids is None else record_ids
    ids = np.asarray(ids, dtype=np.int64)
    if ids.shape != (n,):
        raise DataError(f"mismatched lengths: {len(ids)} record ids for {n} records")
    return _Inputs(x_in, y_in, x_out, y_out, population_pair, ids)


def _query_target(target: Target, inputs: _Inputs, settings: ReferenceSettings) -> _Queried:
    """The target's outputs on the members, then the non-members (with augmented views)."""
    augment = augmenter(inputs.x_in, settings)
    out_in = _target_outputs(target, inputs.x_in, inputs.y_in, augment)
    out_out = _target_outputs(target, inputs.x_out, inputs.y_out, augment)
    train_accuracy = float(np.mean(out_in.predicted == out_in.y))
    test_accuracy = float(np.mean(out_out.predicted == out_out.y))
    membership = np.concatenate([np.ones(out_in.n, bool), np.zeros(out_out.n, bool)])
    # `audited` holds a copy of both; the two go when this returns (issue 9 item 15)
    audited = concat_outputs([out_in, out_out])
    return _Queried(audited, membership, train_accuracy, test_accuracy)


def _attacker_holdings(
    target: Target,
    inputs: _Inputs,
    queried: _Queried,
    attack_objs: list[tuple[str, Attack]],
    settings: ReferenceSettings,
    seed: int,
    random_queries: int,
) -> _Holdings:
    """What the attacker holds: the population's outputs (only when an attack declares
    them), the random queries, the audited records (only when an attack queries the target
    or trains reference models on them) and the recipe for models of its own."""
    needs = [attack.needs() for _, attack in attack_objs]
    population, c = inputs.population, queried.audited.num_classes
    rng = np.random.default_rng(seed)
    pop_outputs = None
    if population is not None and any(n.population for n in needs):
        pop_outputs = target.outputs(*population)
    x_like = inputs.x_in if population is None else population[0]
    rand_outputs = _random_queries(target, x_like, random_queries, rng)
    records = None
    if any(n.access != "outputs" or n.reference is not None for n in needs):
        records = (
            np.concatenate([inputs.x_in, inputs.x_out]),
            np.concatenate([inputs.y_in, inputs.y_out]),
        )
    return _Holdings(
        target=target,
        settings=settings,
        num_classes=c,
        seed=seed,
        n_members=len(inputs.y_in),
        audited=queried.audited,
        membership=queried.membership,
        records=records,
        population=population,
        population_outputs=pop_outputs,
        random_queries=rand_outputs,
        train_model=reference_trainer(settings, c),
    )


def _random_queries(
    target: Target, x_like: np.ndarray, n: int, rng: np.random.Generator
) -> ModelOutputs | None:
    """The target's outputs on ``n`` random inputs in the range of ``x_like`` (None: n = 0)."""
    if n == 0:
        return None
    probs = target.predict_proba(random_inputs(x_like, n, rng))
    return ModelOutputs(probs=probs, y=np.argmax(probs, axis=1))


class _References:
    """Reference outputs, built once per distinct (resolved) request; a failure is kept
    and raised again for every attack that asks for the same request."""

    def __init__(self, held: _Holdings, progress: bool) -> None:
        self.held, self.progress = held, progress
        self.built: dict[ReferenceRequest, ReferenceOutputs | MiauditError] = {}
        self.seconds: dict[str, float] = {}

    def get(self, request: ReferenceRequest) -> ReferenceOutputs:
        request = resolve_request(request, self.held.settings)
        if request not in self.built:
            start = time.perf_counter()
            try:
                self.built[request] = self._build(request)
            except MiauditError as exc:
                self.built[request] = exc
            self.seconds[_request_label(request)] = time.perf_counter() - start
        built = self.built[request]
        if isinstance(built, MiauditError):
            raise built
        return built

    def _build(self, request: ReferenceRequest) -> ReferenceOutputs:
        held = self.held
        return build_reference_outputs(
            request,
            settings=held.settings,
            target=held.target,
            num_classes=held.num_classes,
            audited=held.records,
            population=held.population,
            n_members=held.n_members,
            seed=held.seed,
            progress=self.progress,
        )


def _run_attacks(
    attack_objs: list[tuple[str, Attack]], held: _Holdings, bootstrap: int, progress: bool
) -> tuple[list[AttackResult], dict[str, float]]:
    """Fit and score every attack in turn (reference models built at the first attack that
    asks for them); the results and the seconds each reference plan took."""
    references = _References(held, progress)
    results = []
    bar = tqdm(attack_objs, desc="attacks", disable=not progress, leave=False)
    for label, attack in bar:
        bar.set_postfix_str(label)
        try:
            knowledge = _knowledge(attack, held, references)
        except MiauditError as exc:
            results.append(_failed(label, attack, time.perf_counter(), str(exc)))
            continue
        results.append(_run_attack(label, attack, knowledge, held, bootstrap))
    return results, references.seconds


def _knowledge(attack: Attack, held: _Holdings, references: _References) -> AttackerKnowledge:
    """What ``attack`` may read: the parts of the attacker's holdings it declares (an
    attack that reads an undeclared part gets None and fails instead of being silently
    starved), and the reference outputs it requests."""
    needs = attack.needs()
    request = attack.reference_request()
    return AttackerKnowledge(
        num_classes=held.num_classes,
        population=held.population_outputs if needs.population else None,
        random_queries=held.random_queries if needs.random_queries else None,
        seed=held.seed,
        reference=None if request is None else references.get(request),
        population_data=held.population,
        train_model=held.train_model if needs.recipe else None,
    )


def _summary(
    held: _Holdings,
    inputs: _Inputs,
    queried: _Queried,
    model_name: str | None,
    model_params: dict[str, Any] | None,
    dataset: str | None,
) -> TargetSummary:
    return TargetSummary(
        model=model_name or held.target.description,
        params=dict(model_params or {}),
        num_classes=held.num_classes,
        n_members=len(inputs.y_in),
        n_nonmembers=len(inputs.y_out),
        train_accuracy=queried.train_accuracy,
        test_accuracy=queried.test_accuracy,
        dataset=dataset,
    )


def _defense_aware(
    settings: ReferenceSettings, attack_objs: list[tuple[str, Attack]]
) -> bool | None:
    """Whether the reference models carry the target's defense (None: no attack trains
    shadow models with a recipe)."""
    has_recipe = settings.model is not None or settings.train_fn is not None
    if has_recipe and any(a.threat_model.needs_shadow_models for _, a in attack_objs):
        return settings.defense is not None
    return None


def resolve_attacks(
    attacks: Sequence[AttackSpec] | str,
    *,
    offer: Offer | None = None,
) -> list[tuple[str, Attack]]:
    """Turn names / dicts / objects (or "all") into (label, attack) pairs; unknown names fail,
    and so do parameters outside an attack's declared types and ranges (ConfigError).

    "all" means every registered attack that runs with its default parameters and whose
    declared needs ``offer`` meets (None: every need met): without a recipe it leaves out
    the attacks that train models, without population records those that need them, and
    white-box attacks when the target does not expose its parameters.
    """
    if isinstance(attacks, str):
        attacks = [attacks] if attacks != "all" else _all_attacks(offer or Offer())
    if len(attacks) == 0:
        raise ConfigError("no attacks given; name at least one (see `miaudit attacks`)")
    out = [_resolve(spec) for spec in attacks]
    names = [label for label, _ in out]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ConfigError(
            f"attack(s) listed twice: {', '.join(dupes)}; give variants distinct 'label's"
        )
    return out


def _all_attacks(offer: Offer) -> list[str]:
    """The registered attacks (sorted) that need no parameter and whose needs ``offer`` meets."""
    return [
        name
        for name in ATTACKS.names()
        if not ATTACKS.get(name).requires.params and not ATTACKS.get(name)().needs().missing(offer)
    ]


def _resolve(spec: AttackSpec) -> tuple[str, Attack]:
    """One attack entry as (label, attack)."""
    if isinstance(spec, Attack):
        spec.check_params()  # an object built by hand skipped make_attack's checks
        return spec.name, spec
    if isinstance(spec, str):
        return spec, _make(spec, {})
    if isinstance(spec, dict):
        params = dict(spec)
        name = params.pop("name", None)
        label = params.pop("label", name)
        if not isinstance(name, str) or not isinstance(label, str):
            raise ConfigError(f"attack entry {spec!r} needs a 'name' (and a string label)")
        return label, _make(name, params)
    raise ConfigError(f"attack must be a name, a dict or an Attack, got {spec!r}")


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
    held: _Holdings,
    bootstrap: int,
) -> AttackResult:
    """Fit ``attack``, score the audited records and evaluate the scores; an error (an
    attack's bug included) is recorded in the result instead of losing the others."""
    start = time.perf_counter()
    membership, seed = held.membership, held.seed
    try:
        scores, queries_per_record = _fit_and_score(attack, knowledge, held)
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


def _fit_and_score(
    attack: Attack, knowledge: AttackerKnowledge, held: _Holdings
) -> tuple[np.ndarray, float | None]:
    """The attack's scores of the audited records, and the label queries per record it
    made while scoring (label-only attacks; None for the others)."""
    if attack.access == "outputs":
        attack.fit(knowledge)
        return attack.score_samples(held.audited), None
    records = held.records
    assert records is not None  # built whenever an attack has access != "outputs"
    fit_view, score_view = _views(attack, held.target, len(records[1]))
    attack.fit(replace(knowledge, target=fit_view))
    scores = attack.score_records(score_view, *records)
    if attack.access != "labels":
        return scores, None
    return scores, score_view.query_count / len(records[1])  # label-only attacks' cost


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
