"""The query budget of one endpoint: a hard cap on the queries sent, over every run that
shares the cache, and who asked for them (the shared queries, each attack).

A query is one record sent in a request; a record answered from the cache costs nothing.
The ledger is charged before a request is sent, and is never charged past the budget:
:class:`HttpBudgetExceeded` is raised instead, and nothing is sent. A request that
certainly never reached the endpoint (connection refused) is taken back; a timeout or a
server error counts, because the endpoint may have received and billed it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from miaudit.targets.http._errors import EndpointUnavailable, HttpBudgetExceeded
from miaudit.targets.http._store import QueryStore


@dataclass
class Tally:
    """Queries of one charge label in this run."""

    asked: int = 0
    reused: int = 0
    sent: int = 0
    requests: int = 0

    def to_dict(self) -> dict[str, int]:
        return {
            "asked": self.asked,
            "reused": self.reused,
            "sent": self.sent,
            "requests": self.requests,
        }


class QueryLedger:
    """Budget, charge label and tallies of one endpoint (persisted in its :class:`QueryStore`).

    Args:
        store: the endpoint's cache and ledger.
        budget: the most queries ever sent to the endpoint through this cache (None: no cap).
        endpoint: the URL as reports show it (no credentials, no query string).
    """

    def __init__(self, store: QueryStore, budget: int | None, endpoint: str) -> None:
        self.store, self.budget, self.endpoint = store, budget, endpoint
        self.label = "direct"
        self.key = "direct"
        self.tallies: dict[str, Tally] = {}
        #: the endpoint's failure when it stopped answering (the audit stops at it)
        self.unavailable: EndpointUnavailable | None = None

    # -- who is querying -----------------------------------------------------------------
    def begin_run(self) -> None:
        """Start this run's tallies afresh (an audit's record covers its own queries)."""
        self.tallies = {}
        self.unavailable = None

    def charge_to(self, label: str, key: str | None = None) -> None:
        """Charge the next queries to ``label`` (``key``: its entry in the persistent ledger,
        e.g. the label with the attack's parameters; default the label)."""
        self.label, self.key = label, key or label

    def tally(self) -> Tally:
        return self.tallies.setdefault(self.label, Tally())

    # -- the budget ----------------------------------------------------------------------
    def sent_total(self) -> int:
        """Queries sent to the endpoint over every run that used this cache."""
        return self.store.sent_total()

    def left(self) -> int | None:
        """Queries the budget still allows (None: no budget)."""
        return None if self.budget is None else max(self.budget - self.sent_total(), 0)

    def spent(self, key: str) -> int:
        """Queries sent so far (every run) under the persistent ledger entry ``key``."""
        return self.store.sent_by_charge().get(key, (0, 0))[0]

    def reserve(self, n: int, what: str) -> None:
        """Charge ``n`` queries before they are sent; HttpBudgetExceeded (nothing charged)
        when the budget cannot take them."""
        if not self.store.charge(self.key, n, 1, cap=self.budget):
            left = self.left()
            raise HttpBudgetExceeded(
                f"{self.endpoint}: query budget reached: {what} needs {n} more queries, "
                f"{left} of the budget of {self.budget} are left ({self.sent_total()} sent, "
                "counted over every run sharing the cache); raise query_budget to go on"
            )
        t = self.tally()
        t.sent += n
        t.requests += 1

    def release(self, n: int) -> None:
        """Take back a request that certainly never reached the endpoint."""
        self.store.charge(self.key, -n, -1)
        t = self.tally()
        t.sent -= n
        t.requests -= 1

    def count_asked(self, asked: int, answered_here: int) -> None:
        """``asked`` records were asked, ``answered_here`` of them by the endpoint itself."""
        t = self.tally()
        t.asked += asked
        t.reused += asked - answered_here

    # -- the record ----------------------------------------------------------------------
    def report(self) -> dict[str, Any]:
        """What results.json records: the budget, the queries sent (this run, every run),
        per charge label (the shared queries, each attack): asked, reused from the cache,
        sent, requests."""
        by_key = self.store.sent_by_charge()
        total = Tally()
        for t in self.tallies.values():
            total.asked += t.asked
            total.reused += t.reused
            total.sent += t.sent
            total.requests += t.requests
        sent_all = sum(s for s, _ in by_key.values())
        return {
            "endpoint": self.endpoint,
            "budget": self.budget,
            "sent_all_runs": sent_all,
            "left": None if self.budget is None else max(self.budget - sent_all, 0),
            "cache": None if self.store.path is None else str(self.store.path),
            "cached_answers": self.store.answers_count(),
            "this_run": total.to_dict(),
            "by_attack": {label: t.to_dict() for label, t in self.tallies.items()},
        }
