"""The on-disk query cache and ledger of one endpoint: answers by record, queries sent.

One SQLite file (the standard library's ``sqlite3``) per endpoint and mapping, under
``<cache_dir>/<host>-<digest>/queries.sqlite``; without a cache directory the same tables
live in memory (the budget then holds for this process only). Every batch is two
transactions: the ledger is charged *before* the request is sent (so a killed audit never
under-counts what reached the endpoint), and the answers are stored as soon as they are
validated (so a rerun re-sends nothing that was answered). Header values are never written.
"""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from miaudit.errors import DataError

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS answers (key BLOB PRIMARY KEY, answer TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS ledger (charge TEXT PRIMARY KEY, sent INTEGER NOT NULL, "
    "requests INTEGER NOT NULL)",
)
_CHUNK = 500  # keys per SELECT ... IN (...) (SQLite's default limit is 999 variables)


def endpoint_digest(identity: dict[str, Any]) -> str:
    """A stable digest of an endpoint's identity (URL, mapping, output kind)."""
    text = json.dumps(identity, sort_keys=True, separators=(",", ":"))
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def store_path(cache_dir: str | Path, host: str, identity: dict[str, Any]) -> Path:
    """Where the endpoint's cache lives under ``cache_dir``."""
    safe = re.sub(r"[^A-Za-z0-9.-]+", "_", host)[:60] or "endpoint"
    return Path(cache_dir) / f"{safe}-{endpoint_digest(identity)}" / "queries.sqlite"


class QueryStore:
    """Answers keyed by record digest, and queries sent per charge label (cumulative)."""

    def __init__(self, path: Path | None, identity: dict[str, Any]) -> None:
        self.path = path
        where = ":memory:" if path is None else str(path)
        try:
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(where, isolation_level=None, timeout=30.0)
            for statement in _SCHEMA:
                self._db.execute(statement)
            self._check_identity(identity)
        except (sqlite3.Error, OSError) as e:
            raise DataError(
                f"query cache {where} cannot be used: {e}; delete it to start afresh (its "
                "ledger of queries sent goes with it)"
            ) from None

    def _check_identity(self, identity: dict[str, Any]) -> None:
        text = json.dumps(identity, sort_keys=True)
        row = self._db.execute("SELECT value FROM meta WHERE key = 'identity'").fetchone()
        if row is None:
            self._db.execute("INSERT INTO meta VALUES ('identity', ?)", (text,))
        elif row[0] != text:
            raise DataError(
                f"query cache {self.path} belongs to another endpoint or mapping; give a "
                "different cache_dir"
            )

    def lookup(self, keys: list[bytes]) -> dict[bytes, str]:
        """The cached answers of ``keys`` (those absent are left out)."""
        found: dict[bytes, str] = {}
        for start in range(0, len(keys), _CHUNK):
            chunk = keys[start : start + _CHUNK]
            marks = ",".join("?" * len(chunk))
            rows = self._db.execute(
                f"SELECT key, answer FROM answers WHERE key IN ({marks})", chunk
            ).fetchall()
            found.update((bytes(k), a) for k, a in rows)
        return found

    def store(self, items: Iterable[tuple[bytes, str]]) -> None:
        """Keep these answers (one transaction)."""
        with self._transaction():
            self._db.executemany("INSERT OR REPLACE INTO answers VALUES (?, ?)", list(items))

    def charge(self, label: str, sent: int, requests: int, *, cap: int | None = None) -> bool:
        """Add ``sent`` queries in ``requests`` requests to ``label`` (negative: a request
        that certainly never reached the endpoint is taken back), unless that would take
        the total past ``cap``: then nothing is charged and False is returned. The check and
        the charge are one transaction, so two audits sharing the cache cannot both pass."""
        with self._transaction():
            if cap is not None and self.sent_total() + sent > cap:
                return False
            self._db.execute(
                "INSERT INTO ledger VALUES (?, ?, ?) ON CONFLICT(charge) DO UPDATE SET "
                "sent = sent + excluded.sent, requests = requests + excluded.requests",
                (label, sent, requests),
            )
        return True

    def sent_by_charge(self) -> dict[str, tuple[int, int]]:
        """``{label: (queries sent, requests)}`` over every run that used this cache."""
        rows = self._db.execute("SELECT charge, sent, requests FROM ledger").fetchall()
        return {str(c): (int(s), int(r)) for c, s, r in rows}

    def sent_total(self) -> int:
        row = self._db.execute("SELECT COALESCE(SUM(sent), 0) FROM ledger").fetchone()
        return int(row[0])

    def answers_count(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM answers").fetchone()[0])

    def close(self) -> None:
        self._db.close()

    def _transaction(self) -> _Transaction:
        return _Transaction(self._db, self.path)


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT (ROLLBACK on error); a full disk is a DataError."""

    def __init__(self, db: sqlite3.Connection, path: Path | None) -> None:
        self.db, self.path = db, path

    def __enter__(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind: Any, exc: Any, tb: Any) -> None:
        if kind is None:
            try:
                self.db.execute("COMMIT")
                return
            except sqlite3.Error as e:
                self.db.execute("ROLLBACK")
                raise DataError(f"query cache {self.path}: cannot write ({e})") from None
        self.db.execute("ROLLBACK")
