"""The Python entry point: audit a trained model (torch or scikit-learn, or any Target)."""

from __future__ import annotations

import platform
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from miaudit.attacks import (
    Attack,
    AttackerKnowledge,
    Offer,
    ReferenceRequest,
)
from miaudit.errors import MiauditError
from miaudit.outputs import ReferenceOutputs
from miaudit.pipeline._attack_list import DEFAULT_ATTACKS, AttackSpec, resolve_attacks
from miaudit.pipeline._holdings import Holdings
from miaudit.pipeline._needs import check_attack_needs
from miaudit.pipeline._pseudo_targets import pseudo_target_scores
from miaudit.pipeline._queries import Queried, query_random_inputs, query_target
from miaudit.pipeline._query_budget import QueryAccount
from miaudit.pipeline._reads import AttackReads, attack_population, attack_reference
from miaudit.pipeline._records import Inputs, check_inputs
from miaudit.pipeline._scoring import failed_result, run_attack
from miaudit.pipeline._scoring_plan import ScoringPlan, plan_scoring
from miaudit.pipeline.references import (
    ReferenceSettings,
    build_reference_outputs,
    check_cacheable,
    request_label,
    resolve_request,
)
from miaudit.results import AttackResult, AuditResult, TargetSummary
from miaudit.targets import Target, as_target
from miaudit.validation import check_evaluation


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
    pseudo_targets: bool = False,
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
        pseudo_targets: also score each attack's random-plan reference models as targets
            (each by the attack fitted on the others), in ``AttackResult.pseudo_targets``,
            for DUCI and the owner test's power (:mod:`miaudit.pipeline._pseudo_targets`);
            attacks without such models get None.

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
    inputs = check_inputs(target, members, nonmembers, population, record_ids)
    plan = _scoring_plan(attack_objs, inputs, settings, dataset, seed)
    account = QueryAccount.of(target)  # a query-budgeted target (HTTP API); else a no-op
    account.start_shared(inputs, attack_objs, plan, random_queries, seed)
    queried = query_target(target, inputs, plan.target_augment)
    held = _attacker_holdings(target, inputs, queried, plan, attack_objs, settings, random_queries)
    results, ref_seconds = _run_attacks(
        attack_objs, held, plan, bootstrap, progress, account, pseudo_targets=pseudo_targets
    )
    summary = _summary(held, inputs, queried, model_name, model_params, dataset)
    result = _assemble(
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
        scoring=plan.scoring(),
    )
    result.queries = account.report()
    return result


def _assemble(
    summary: TargetSummary,
    results: list[AttackResult],
    ref_seconds: dict[str, float],
    queried: Queried,
    inputs: Inputs,
    settings: ReferenceSettings,
    attack_objs: list[tuple[str, Attack]],
    *,
    config: dict[str, Any] | None,
    seed: int,
    title: str,
    scoring: dict[str, Any] | None = None,
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
        scoring=scoring,
    )


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
        parameters_note=target.parameters_note,
        probabilities="probabilities" in target.capabilities,
    )
    attack_objs = resolve_attacks(attacks, offer=offer)
    check_attack_needs(attack_objs, offer)
    if has_recipe and any(a.needs().trains_models for _, a in attack_objs):
        check_cacheable(settings)  # a train_fn the cache cannot identify: refuse before work
    return attack_objs


def _attacker_holdings(
    target: Target,
    inputs: Inputs,
    queried: Queried,
    plan: ScoringPlan,
    attack_objs: list[tuple[str, Attack]],
    settings: ReferenceSettings,
    random_queries: int,
) -> Holdings:
    """What the attacker holds: the target's outputs on the population records some attack
    reads (:attr:`ScoringPlan.target_population`), the random queries (when an attack reads
    them), the audited records (only when an attack queries the target or trains reference
    models on them) and the recipe for models of its own."""
    seed = plan.seed
    needs = [attack.needs() for _, attack in attack_objs]
    population, c = inputs.population, target.num_classes
    rng = np.random.default_rng(seed)
    pop_outputs = _population_outputs(target, inputs, plan)
    x_like = inputs.x_in if population is None else population[0]
    rand_outputs = None  # the target's outputs on random inputs only when an attack reads them
    if any(n.random_queries for n in needs):
        rand_outputs = query_random_inputs(target, x_like, random_queries, rng)
    records = None
    if any(n.access != "outputs" or n.reference is not None for n in needs):
        records = (
            np.concatenate([inputs.x_in, inputs.x_out]),
            np.concatenate([inputs.y_in, inputs.y_out]),
        )
    return Holdings(
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


class _References:
    """Reference outputs, built once per distinct (resolved) request; a failure is kept
    and raised again for every attack that asks for the same request."""

    def __init__(self, held: Holdings, plan: ScoringPlan, progress: bool) -> None:
        self.held, self.plan, self.progress = held, plan, progress
        self.built: dict[ReferenceRequest, ReferenceOutputs | MiauditError] = {}
        self.seconds: dict[str, float] = {}

    def get(self, request: ReferenceRequest) -> ReferenceOutputs:
        """The outputs of the request's models on what its attacks read together."""
        request = resolve_request(request, self.held.settings)
        if request not in self.built:
            start, split = time.perf_counter(), {}
            try:
                self.built[request] = self._build(request, split)
            except MiauditError as exc:
                self.built[request] = exc
            label = request_label(request)
            self.seconds[label] = time.perf_counter() - start
            self.seconds.update({f"{label}:{k}": v for k, v in split.items()})
        built = self.built[request]
        if isinstance(built, MiauditError):
            raise built
        return built

    def _build(self, request: ReferenceRequest, timings: dict[str, float]) -> ReferenceOutputs:
        held = self.held
        return build_reference_outputs(
            request,
            scored=self.plan.requests[request],
            augment=self.plan.augment_fn,
            timings=timings,
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
    attack_objs: list[tuple[str, Attack]],
    held: Holdings,
    plan: ScoringPlan,
    bootstrap: int,
    progress: bool,
    account: QueryAccount | None = None,
    *,
    pseudo_targets: bool = False,
) -> tuple[list[AttackResult], dict[str, float]]:
    """Fit and score every attack in turn (reference models built at the first attack that
    asks for them); the results and the seconds each reference plan took. With a
    query-budgeted target, each attack's queries are charged to it and an attack the budget
    cannot take is skipped with the reason (:class:`QueryAccount`)."""
    references = _References(held, plan, progress)
    account = account or QueryAccount()
    results = []
    bar = tqdm(attack_objs, desc="attacks", disable=not progress, leave=False)
    for label, attack in bar:
        bar.set_postfix_str(label)
        account.check_endpoint()  # an endpoint that stopped answering stops the audit
        skipped = account.start_attack(label, attack, *_record_counts(held))
        if skipped is not None:
            results.append(failed_result(label, attack, time.perf_counter(), skipped))
            continue
        try:
            knowledge = _knowledge(attack, held, references, plan.attacks[id(attack)])
        except MiauditError as exc:
            results.append(failed_result(label, attack, time.perf_counter(), str(exc)))
            continue
        result = run_attack(label, attack, knowledge, held, bootstrap)
        if pseudo_targets and result.error is None and knowledge.reference is not None:
            result.pseudo_targets = _pseudo_targets(attack, knowledge)
        results.append(result)
    account.check_endpoint()
    return results, references.seconds


def _pseudo_targets(attack: Attack, knowledge: AttackerKnowledge) -> Any:
    """The attack's reference models scored as targets, or None where it has none (shadow
    models on other records, too few models): the audit's own result stands either way."""
    try:
        return pseudo_target_scores(attack, knowledge)
    except MiauditError:
        return None


def _record_counts(held: Holdings) -> tuple[int, int]:
    """The audited records and the attacker's population records."""
    return len(held.membership), 0 if held.population is None else len(held.population[1])


def _knowledge(
    attack: Attack, held: Holdings, references: _References, mine: AttackReads
) -> AttackerKnowledge:
    """What ``attack`` may read: the parts of the attacker's holdings it declares (an
    attack that reads an undeclared part gets None and fails instead of being silently
    starved), and its part of the reference outputs it requests (:mod:`._reads`)."""
    needs = attack.needs()
    request = attack.reference_request()
    reference = None
    if request is not None:
        resolved = resolve_request(request, held.settings)
        reference = attack_reference(
            references.get(request), mine, references.plan.requests[resolved]
        )
    population = None
    if needs.population:
        scored = references.plan.target_population
        population = attack_population(held.population_outputs, mine, scored)
    return AttackerKnowledge(
        num_classes=held.num_classes,
        population=population,
        random_queries=held.random_queries if needs.random_queries else None,
        seed=held.seed,
        reference=reference,
        population_data=held.population,
        train_model=held.train_model if needs.recipe else None,
    )


def _scoring_plan(
    attack_objs: list[tuple[str, Attack]],
    inputs: Inputs,
    settings: ReferenceSettings,
    dataset: str | None,
    seed: int,
) -> ScoringPlan:
    """What the target and each reference request are scored on (:mod:`._scoring_plan`)."""
    n_pop = 0 if inputs.population is None else len(inputs.population[1])
    return plan_scoring(
        [a for _, a in attack_objs],
        settings,
        record_shape=tuple(inputs.x_in.shape[1:]),
        dataset=dataset,
        n_population=n_pop,
        seed=seed,
    )


def _population_outputs(target: Target, inputs: Inputs, plan: ScoringPlan) -> Any:
    """The target's outputs on the population records some attack reads (None: none)."""
    rows = plan.target_population
    if inputs.population is None or rows.size == 0:
        return None
    x, y = inputs.population
    if rows.size == len(y):
        return target.outputs(x, y)
    return target.outputs(x[rows], y[rows])


def _summary(
    held: Holdings,
    inputs: Inputs,
    queried: Queried,
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
