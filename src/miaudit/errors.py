"""Errors raised by miaudit. Each names the problem and, where possible, the fix."""

from __future__ import annotations


class MiauditError(ValueError):
    """Base class of every error miaudit raises for bad input."""


class ConfigError(MiauditError):
    """The audit configuration is invalid (unknown key, wrong type, bad value)."""


class DataError(MiauditError):
    """A dataset or array is malformed (missing arrays, wrong shapes, NaN, bad labels)."""


class UnknownNameError(MiauditError):
    """A registry lookup failed; the message lists the valid names."""


class NotFittedError(MiauditError):
    """An attack was used before `fit` was called."""


class OutputError(MiauditError):
    """The output directory cannot take the run's files (checked before any work)."""


class IncompleteOutputError(OutputError):
    """The audit ran but some output files could not be written (e.g. a full disk); the
    files written completely are kept and the message names the missing ones."""


class WorkerError(MiauditError):
    """A worker process training reference models died (killed, out of memory). Models
    finished before it are kept in the cache when there is one, so a rerun resumes."""


class TrackingError(MiauditError):
    """Logging a run to an experiment tracker (MLflow) failed. Raised after the audit's
    results were saved (the message says where), or before any work when the tracking
    store cannot be reached; never instead of saving them."""


class ResourceError(MiauditError):
    """A job would need more memory than this machine has (estimated before allocating);
    the message gives the estimate and the setting to change."""


def short_repr(value: object, limit: int = 80) -> str:
    """``repr(value)`` cut to at most ``limit`` characters, for error messages.

    Issue 9 item 12: a YAML "billion laughs" config expanded to gigabytes, and an error that
    printed the value wrote a 2.1 GB line. Every message that shows a user's value goes through
    this. Containers are summarised before ``repr`` touches their items, so a huge (or deeply
    shared) value costs no more than ``limit`` characters to print.
    """
    limit = max(int(limit), 8)
    if isinstance(value, (list, tuple, dict, set, frozenset)) and len(value) > limit:
        return f"<{type(value).__name__} of {len(value)} items>"
    if isinstance(value, (str, bytes)) and len(value) > 4 * limit:
        value = value[: 4 * limit]
    try:
        text = _bounded_repr(value, limit)
    except Exception:  # noqa: BLE001 -- a failing __repr__ must not hide the real error
        text = f"<{type(value).__name__}>"
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return text


def one_line(text: object, limit: int = 200) -> str:
    """``str(text)`` on one line (whitespace runs collapsed), cut to ``limit`` characters:
    how every error message reaches the command line's single stderr line."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def _bounded_repr(value: object, limit: int) -> str:
    """A repr that stops descending into containers once ``limit`` characters are spent."""
    import reprlib

    r = reprlib.Repr()
    r.maxlevel = 3
    r.maxstring = limit
    r.maxother = limit
    r.maxlong = limit
    for attr in ("maxlist", "maxtuple", "maxdict", "maxset", "maxfrozenset", "maxdeque"):
        setattr(r, attr, 6)
    return r.repr(value)


class ServiceUnavailable(MiauditError):
    """A service the run depends on (a model's HTTP endpoint) stopped answering mid-run:
    not bad input; the work so far is kept (answers cached) and a rerun resumes. The CLI
    exits 6."""
