"""The audit of a query-budgeted target (a model behind an HTTP API): the shared queries and
each attack charged apart, an attack whose declared queries the budget cannot take skipped
with the reason (the attacks that fit still run), and what results.json records.

The target's :class:`~miaudit.targets.http.QueryLedger` is the hard cap: it never sends a
query past the budget. The checks here come first, so that the budget is not spent on an
attack that cannot finish: the shared queries (the audited records and their views, the
population's outputs, the random queries; counted once, whichever attacks read them) before
anything is sent, each attack before it starts, against its declared need
(``LabelOnlyAttack.target_queries``: ``fit``'s label queries and ``max_queries_per_record``
per audited record; 0 for attacks that read the shared outputs only; unknown for shadow
data synthesised by querying the target, which then runs while the budget lasts). A need is
an upper bound; queries already sent for the same attack (same label, parameters and audit)
in an earlier, interrupted run count as paid, their answers being cached.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

from miaudit.attacks import Attack
from miaudit.pipeline._records import Inputs
from miaudit.pipeline._scoring_plan import ScoringPlan
from miaudit.targets import QueryBudgetExceeded, Target

#: shadow-data sources that do not query the target (the others: need unknown)
_QUERY_FREE_SOURCES = frozenset({"population", "noisy", "statistics_synthesis"})


def declared_queries(attack: Attack, n_records: int, n_population: int) -> int | None:
    """The most target queries ``attack`` sends besides the shared ones (None: unknown)."""
    own = getattr(attack, "target_queries", None)
    if callable(own):
        return int(own(n_records, n_population))
    if attack.access != "outputs":
        return None
    request = attack.reference_request()
    if request is not None and request.kind == "shadow" and request.dataset is None:
        if request.data_source not in _QUERY_FREE_SOURCES:
            return None
    return 0


def shared_queries(
    inputs: Inputs,
    attacks: Sequence[tuple[str, Attack]],
    plan: ScoringPlan,
    random_queries: int,
) -> int:
    """The queries every audit sends once, as the scoring plan asks for them: the audited
    records (with their augmented views when an attack reads them), the population rows
    some attack reads the target's outputs on, and the random queries when an attack reads
    them."""
    n = len(inputs.y_in) + len(inputs.y_out)
    augment = plan.target_augment
    views = 0 if augment is None else len(augment(inputs.x_in[:1]))
    population = int(plan.target_population.size)
    randoms = int(random_queries) if any(a.needs().random_queries for _, a in attacks) else 0
    return n * (1 + views) + population + randoms


def _digest(*parts: Any) -> str:
    text = json.dumps(parts, sort_keys=True, default=repr)
    return hashlib.blake2b(text.encode(), digest_size=6).hexdigest()


class QueryAccount:
    """Charges an audit's queries to the shared step and to each attack; a no-op for a
    target without a query ledger."""

    def __init__(self, ledger: Any = None) -> None:
        self.ledger = ledger
        self.declared: dict[str, int | None] = {}
        self.audit_key = ""

    @classmethod
    def of(cls, target: Target) -> QueryAccount:
        """The account of ``target``'s ledger (found through wrappers' ``.target``)."""
        seen: Target | None = target
        while seen is not None:
            ledger = getattr(seen, "query_ledger", None)
            if ledger is not None:
                return cls(ledger)
            seen = getattr(seen, "target", None)
        return cls(None)

    def start_shared(
        self,
        inputs: Inputs,
        attacks: Sequence[tuple[str, Attack]],
        plan: ScoringPlan,
        random_queries: int,
        seed: int,
    ) -> None:
        """Charge what follows to the shared queries; QueryBudgetExceeded before anything is
        sent when the budget cannot take them."""
        if self.ledger is None:
            return
        self.ledger.begin_run()
        n_pop = 0 if inputs.population is None else len(inputs.population[1])
        self.audit_key = _digest(len(inputs.y_in), len(inputs.y_out), n_pop, seed)
        key = f"shared:{self.audit_key}:{random_queries}"
        self.ledger.charge_to("shared", key)
        need = shared_queries(inputs, attacks, plan, random_queries)
        self.declared["shared"] = need
        left = self.ledger.left()
        new = max(need - self.ledger.spent(key), 0)
        if left is not None and new > left:
            raise QueryBudgetExceeded(
                f"{self.ledger.endpoint}: the query budget cannot take the audit's shared "
                f"queries: {new} (the audited records and their views, the population's "
                f"outputs, {random_queries} random queries), {left} of {self.ledger.budget} "
                "left; raise query_budget, or audit fewer records / random_queries"
            )

    def start_attack(
        self, label: str, attack: Attack, n_records: int, n_population: int
    ) -> str | None:
        """Charge what follows to ``label``; the reason it must be skipped when its declared
        queries do not fit in what the budget has left, else None."""
        if self.ledger is None:
            return None
        key = f"attack:{label}:{_digest(attack.name, attack.get_params(), self.audit_key)}"
        self.ledger.charge_to(label, key)
        need = declared_queries(attack, n_records, n_population)
        self.declared[label] = need
        left = self.ledger.left()
        if need is None or left is None:
            return None
        new = max(need - self.ledger.spent(key), 0)
        if new <= left:
            return None
        return (
            f"not run: the query budget is reached for this attack: it needs up to {new} "
            f"target queries, {left} of the budget of {self.ledger.budget} are left "
            f"({self.ledger.endpoint})"
        )

    def check_endpoint(self) -> None:
        """Raise the endpoint's error when it stopped answering: the audit stops there (its
        answers so far are cached; a rerun resumes) instead of failing every later attack."""
        if self.ledger is not None and self.ledger.unavailable is not None:
            raise self.ledger.unavailable

    def report(self) -> dict[str, Any] | None:
        """The ledger's record (results.json ``queries``) with each step's declared need."""
        if self.ledger is None:
            return None
        self.ledger.charge_to("direct")
        out = self.ledger.report()
        tallies = out["by_attack"]
        zero = {"asked": 0, "reused": 0, "sent": 0, "requests": 0}
        steps = {
            label: {**tallies.get(label, zero), "declared": need}
            for label, need in self.declared.items()
        }
        steps.update((label, t) for label, t in tallies.items() if label not in steps)
        out["by_attack"] = steps
        return out
