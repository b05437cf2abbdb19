"""What the reference engine is doing, said on its progress bar (issue 18: an audit spent
minutes per reference model without saying on what).

Models trained in this process (the serial and batched executors) report each query set
they score, e.g. "scoring 69,000 population records x 10 views with reference model 2/4",
with an estimate of its duration after the first view is timed; every executor reports,
after the first model, how long the rest should take. Process and Ray workers report no
per-query-set status (they run elsewhere), only finished models. With ``progress=False``
nothing is set, so nothing is written.
"""

from __future__ import annotations

import contextlib
import contextvars
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

#: the status of the call in progress in this process (None: report nothing)
_CURRENT: contextvars.ContextVar[Status | None] = contextvars.ContextVar(
    "miaudit_reference_status", default=None
)

#: a step longer than this (seconds, estimated) gets its estimate written as a line
LONG_STEP_S = 30.0


def records(n: int) -> str:
    """``69,000 records`` / ``1 record``."""
    return f"{n:,} record" + ("" if n == 1 else "s")


@dataclass
class Status:
    """The bar of one :func:`~miaudit.reference.train_references` call and its timings."""

    bar: Any
    num_models: int
    parallel: int = 1
    started: float = field(default_factory=time.perf_counter)
    estimated: bool = False

    def say(self, text: str) -> None:
        self.bar.set_description_str(text, refresh=True)

    def note(self, text: str) -> None:
        self.bar.write(text)

    def first_done(self, remaining: int) -> None:
        """After the first model: an estimate of the remaining ones."""
        if self.estimated or remaining <= 0:
            return
        self.estimated = True
        spent = time.perf_counter() - self.started
        rest = spent * remaining / max(1, self.parallel)
        if rest >= LONG_STEP_S:
            self.note(
                f"reference models: the first took {spent:,.0f} s; about {rest:,.0f} s more "
                f"for the other {remaining}"
            )


@contextlib.contextmanager
def reporting(status: Status | None) -> Iterator[None]:
    """Make ``status`` the one in-process jobs report to, for the duration of the block."""
    token = _CURRENT.set(status)
    try:
        yield
    finally:
        _CURRENT.reset(token)


class Scoring:
    """Reports the scoring of one query set by one model: its description first, then,
    once the first view is timed, the estimate for all of them (a line when long)."""

    def __init__(self, what: str, n: int, views: int, model: int) -> None:
        self.status = _CURRENT.get()
        self.views, self.t0 = views, time.perf_counter()
        if self.status is not None:
            shown = f" x {views} views" if views > 1 else ""
            self.text = (
                f"scoring {n:,} {what}{shown} with reference model "
                f"{model + 1}/{self.status.num_models}"
            )
            self.status.say(self.text)

    def view_done(self, done: int) -> None:
        """After ``done`` of the views: the estimate of the rest, said once."""
        if self.status is None or done != 1 or self.views <= 1:
            return
        rest = (time.perf_counter() - self.t0) * (self.views - 1)
        self.status.say(f"{self.text} (about {rest:,.0f} s)")
        if rest >= LONG_STEP_S:
            self.status.note(f"{self.text}: about {rest:,.0f} s")


def training(model: int, n: int) -> None:
    """Say that model ``model`` trains on ``n`` records (in-process executors)."""
    status = _CURRENT.get()
    if status is not None:
        status.say(f"training reference model {model + 1}/{status.num_models} on {records(n)}")
