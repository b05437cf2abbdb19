"""The ``TargetKind`` protocol: how one kind of model answers queries and what signals its
answers give; ``Records``; :func:`measure`."""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from typing import Any, Protocol, TypeVar, runtime_checkable

from miaudit.errors import DataError
from miaudit.kinds._signals import Signals


@runtime_checkable
class Records(Protocol):
    """An opaque set of records: a length, and a subset by an integer index array.

    NumPy arrays qualify (feature rows, images, node ids, and object arrays of token
    sequences of different lengths), as does
    :class:`~miaudit.kinds.LabeledRecords` (a classifier's ``(x, y)``). Only the target
    kind looks inside a record; the rest of the audit only counts, splits and aligns them.
    """

    def __len__(self) -> int: ...

    def __getitem__(self, index: Any) -> Any: ...


RecordsT = TypeVar("RecordsT", bound=Records, contravariant=True)
AnswersT = TypeVar("AnswersT")


@runtime_checkable
class TargetKind(Protocol[RecordsT, AnswersT]):
    """One kind of audited model: classifier, language model, generator, graph model, ...

    Two steps, kept apart because they differ in cost and in who may repeat them:

    * ``query(target, records) -> answers``: what the model answers on the records (a
      classifier's probability matrix, an LM's per-token log-probabilities, a generator's
      nearest samples). This is the step that costs queries and is counted; it runs once per
      (model, record set), for the target and for every reference model.
    * ``signals(answers, names) -> Signals``: pure NumPy, from the answers to named
      per-record signals (row i is record i). Every attack reads signals by name, so one
      attack applies to every kind that computes the signal it reads.

    Attributes:
        name: the kind's name ("classifier", "causal_lm", ...).
        signal_names: the signals ``signals`` can compute, in its default order.
    """

    name: str
    signal_names: tuple[str, ...]

    def query(self, target: Any, records: RecordsT) -> AnswersT:
        """The target's answers on ``records`` (one query per record, or as the kind counts)."""
        ...

    def signals(self, answers: AnswersT, names: Sequence[str] | None = None) -> Signals:
        """The named signals of ``answers`` (all of ``signal_names`` when ``names`` is None)."""
        ...


def resolve_names(kind: TargetKind[Any, Any], names: Sequence[str] | None) -> tuple[str, ...]:
    """``names`` as a tuple (``kind.signal_names`` when None), or DataError naming the
    signals the kind computes, for an unknown or repeated name."""
    if names is None:
        return tuple(kind.signal_names)
    if isinstance(names, str):
        raise DataError(f"signal names must be a sequence of names, got the string {names!r}")
    names = tuple(names)
    for name in names:
        if name not in kind.signal_names:
            close = difflib.get_close_matches(str(name), kind.signal_names, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise DataError(
                f"a {kind.name} target gives no signal {name!r} "
                f"(its signals: {', '.join(kind.signal_names)}){hint}"
            )
    if len(set(names)) != len(names):
        raise DataError(f"repeated signal names: {list(names)}")
    return names


def measure(
    kind: TargetKind[RecordsT, Any],
    target: Any,
    records: RecordsT,
    names: Sequence[str] | None = None,
) -> Signals:
    """``kind.signals(kind.query(target, records), names)``, checked to hold one row per
    record (a kind that drops or repeats records is a bug, caught here)."""
    wanted = resolve_names(kind, names)
    signals = kind.signals(kind.query(target, records), wanted)
    n = len(records)
    if signals.n != n:
        raise DataError(f"{kind.name} kind returned signals of {signals.n} records for {n}")
    if set(signals.names) != set(wanted):
        raise DataError(
            f"{kind.name} kind returned signals {list(signals.names)}, asked for {list(wanted)}"
        )
    return signals
