"""``Signals``: one model's named per-record membership signals on one record set."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np

from miaudit.errors import DataError
from miaudit.validation import check_int


def _frozen(a: np.ndarray) -> np.ndarray:
    """A read-only view of ``a`` (the caller's array keeps its own flags)."""
    view = a.view()
    view.flags.writeable = False
    return view


def _as_signal(name: object, value: object, n: int) -> np.ndarray:
    if not isinstance(name, str) or not name:
        raise DataError(f"signal names must be non-empty strings, got {name!r}")
    try:
        a = np.asarray(value)
    except (TypeError, ValueError) as e:
        raise DataError(f"signal {name!r} must be a numeric array: {e}") from None
    if not (
        a.dtype == np.bool_
        or np.issubdtype(a.dtype, np.integer)
        or np.issubdtype(a.dtype, np.floating)
    ):
        raise DataError(f"signal {name!r} must be real numbers, got dtype {a.dtype}")
    a = a.astype(np.float64, copy=False)  # float64 input: the same array, the same bits
    if a.ndim == 0 or a.shape[0] != n:
        raise DataError(
            f"signal {name!r} has shape {a.shape}; expected one row per record ({n}, ...)"
        )
    if not np.all(np.isfinite(a)):
        bad = int(np.sum(~np.isfinite(a).reshape(n, -1).all(axis=1))) if n else 0
        raise DataError(
            f"signal {name!r} has NaN or inf values in {bad} of {n} records "
            "(pad ragged signals with a finite value and give a mask)"
        )
    return _frozen(a)


def _as_mask(name: object, value: object, signal: np.ndarray | None) -> np.ndarray:
    if signal is None:
        raise DataError(f"mask for {name!r}, which is not one of the signals")
    m = np.asarray(value)
    if m.dtype != np.bool_:
        raise DataError(f"mask of signal {name!r} must be boolean, got dtype {m.dtype}")
    if signal.ndim < 2 or m.shape != signal.shape:
        raise DataError(
            f"mask of signal {name!r} has shape {m.shape}; a mask marks the real entries of a "
            f"padded signal of shape (n, k, ...), here {signal.shape}"
        )
    return _frozen(m)


@dataclass(frozen=True, eq=False)
class Signals:
    """Named per-record membership signals of one model on ``n`` records.

    Each signal is a float64 array with one row per record: shape (n,) for one number per
    record (loss, discriminator score, reconstruction distance), (n, k, ...) for several
    (per-token losses, losses at k diffusion timesteps, per-round losses, augmented
    views). Ragged signals (token sequences of different lengths) are padded with a finite
    value, and ``masks[name]`` (bool, the signal's shape) marks their real entries. Row i of
    every signal is record i of the record set the kind was queried on.

    Construction checks names, dtypes, shapes and finiteness, converts to float64 (a float64
    array is kept as it is: same values, same bits) and stores read-only views, so an attack
    can neither receive malformed signals nor change them.

    Attributes:
        n: number of records.
        values: signal name -> float64 array (n, ...).
        masks: signal name -> bool array of that signal's shape, for padded signals only.
    """

    n: int
    values: Mapping[str, np.ndarray]
    masks: Mapping[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = check_int(self.n, "Signals: n", low=0, error=DataError)
        if not isinstance(self.values, Mapping) or not self.values:
            raise DataError("Signals needs at least one named signal, e.g. {'loss': array}")
        values = {name: _as_signal(name, v, n) for name, v in self.values.items()}
        masks = {name: _as_mask(name, m, values.get(name)) for name, m in self.masks.items()}
        object.__setattr__(self, "n", n)
        object.__setattr__(self, "values", MappingProxyType(values))
        object.__setattr__(self, "masks", MappingProxyType(masks))

    @property
    def names(self) -> tuple[str, ...]:
        """The signal names, in the order they were given."""
        return tuple(self.values)

    def __contains__(self, name: object) -> bool:
        return name in self.values

    def __getitem__(self, name: str) -> np.ndarray:
        """The (read-only) signal ``name``; DataError naming the signals there are."""
        try:
            return self.values[name]
        except KeyError:
            close = difflib.get_close_matches(str(name), self.names, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise DataError(
                f"no signal {name!r} here (signals: {', '.join(self.names)}){hint}"
            ) from None

    def mask(self, name: str) -> np.ndarray:
        """Which entries of signal ``name`` are real: its mask, or all True if unpadded."""
        values = self[name]
        if name in self.masks:
            return self.masks[name]
        return _frozen(np.ones(values.shape, dtype=bool))

    def subset(self, index: np.ndarray) -> Signals:
        """The signals of records ``index`` (an integer or boolean index on the records)."""
        index = np.asarray(index)
        kept = {name: v[index] for name, v in self.values.items()}
        n = next(iter(kept.values())).shape[0]
        return Signals(n, kept, {name: m[index] for name, m in self.masks.items()})

    def __repr__(self) -> str:
        shapes = ", ".join(f"{k}{tuple(v.shape[1:]) or ''}" for k, v in self.values.items())
        return f"<Signals of {self.n} records: {shapes}>"
