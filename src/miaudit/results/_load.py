"""Read a saved audit back: results.json (the typed result) and the scores.csv beside it
(the per-record membership and scores), so that a report can be rendered again."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from miaudit.errors import DataError
from miaudit.results._audit import AuditResult
from miaudit.results._files import (
    SCORES_CSV,
    parse,
    read_results_json,
    results_kind,
    results_path,
)
from miaudit.results._tradeoff import TradeoffPoint


def load_result(path: str | Path) -> AuditResult:
    """The :class:`AuditResult` saved in ``path`` (a results.json or its directory), with
    its membership, record ids and scores from the scores.csv beside it.

    Raises:
        DataError: results.json is missing, not JSON or not an audit's results, or
            scores.csv is missing or does not match it (columns, number of records or
            members, values).
    """
    path = results_path(path)
    result = AuditResult.from_json(path)
    completed = [a.name for a in result.attacks if a.error is None]
    target = result.target
    ids, member, scores = read_scores_csv(
        path.parent / SCORES_CSV, completed, target.n_members, target.n_nonmembers
    )
    result.record_ids, result.membership = ids, member
    for a in result.attacks:
        a.scores = scores.get(a.name)
    return result


def load_tradeoff(path: str | Path) -> list[TradeoffPoint]:
    """The points of the trade-off sweep saved in ``path`` (a results.json or its directory).

    Raises:
        DataError: the file is missing, not JSON or not a sweep's results.
    """
    path = results_path(path)
    data = read_results_json(path)
    if results_kind(data, repr(str(path))) != "tradeoff":
        raise DataError(f"{str(path)!r} holds an audit, not a trade-off sweep")
    return parse(lambda d: [TradeoffPoint.from_dict(p) for p in d["points"]], data, path)


def read_scores_csv(
    path: Path, attacks: list[str], n_members: int, n_nonmembers: int
) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """``(record_ids, membership, {attack: scores})`` of a scores.csv, checked against the
    results it belongs to: one column per completed attack, in order, and one row per
    audited record (``n_members`` of them members).

    Raises:
        DataError: the file is missing or does not match.
    """
    where = repr(str(path))
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            rows = list(csv.reader(fh))
    except FileNotFoundError:
        raise DataError(
            f"{where} does not exist: the report's curves and per-record tables need the "
            "scores.csv saved beside results.json"
        ) from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"cannot read {where}: {exc}") from None
    header = ["record_id", "member", *attacks]
    if not rows or rows[0] != header:
        got = rows[0] if rows else "an empty file"
        raise DataError(
            f"{where} does not match results.json: expected columns {header}, got {got}"
        )
    body = rows[1:]
    if len(body) != n_members + n_nonmembers:
        raise DataError(
            f"{where} does not match results.json: {len(body)} records, expected "
            f"{n_members + n_nonmembers}"
        )
    try:
        if any(len(r) != len(header) for r in body):
            raise ValueError("a row has the wrong number of fields")
        ids = np.array([int(r[0]) for r in body], dtype=np.int64)
        member_codes = [r[1] for r in body]
        if set(member_codes) - {"0", "1"}:
            raise ValueError("the member column holds values other than 0 and 1")
        membership = np.array([c == "1" for c in member_codes], dtype=bool)
        scores = {
            name: np.array([float(r[2 + j]) for r in body], dtype=np.float64)
            for j, name in enumerate(attacks)
        }
    except ValueError as exc:
        raise DataError(f"{where} is malformed: {exc}") from None
    if int(membership.sum()) != n_members:
        raise DataError(
            f"{where} does not match results.json: {int(membership.sum())} members, expected "
            f"{n_members}"
        )
    return ids, membership, scores
