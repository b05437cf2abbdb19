"""scikit-learn models saved with skops (``skops.io.dump``), read with its trusted-types
check: skops rebuilds only the types it trusts by default (scikit-learn estimators, NumPy
and SciPy values), and a file naming any other type is refused unless the caller lists that
type in ``trusted``: building an arbitrary type may run its code. No parameters (white-box
attacks need a torch module)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from miaudit.errors import ConfigError, DataError, one_line, short_repr
from miaudit.targets._sklearn import SklearnTarget

SKOPS_NO_PARAMETERS = (
    "a skops file holds a scikit-learn model, and the white-box attacks need a torch module "
    "(TorchScript, or a safetensors state dict with its model recipe)"
)


def check_trusted(trusted: object) -> list[str]:
    """``trusted`` as a list of type names (None: none beyond skops' defaults)."""
    if trusted is None:
        return []
    if isinstance(trusted, str) or not isinstance(trusted, Sequence):
        raise ConfigError(
            f"trusted must be a list of type names (e.g. [sklearn.tree._tree.Tree]), got "
            f"{short_repr(trusted)}"
        )
    names = list(trusted)
    for name in names:
        if not isinstance(name, str) or not name:
            raise ConfigError(f"each entry of trusted must be a type name, got {short_repr(name)}")
    return names


def untrusted_types(path: Path, trusted: Sequence[str]) -> list[str]:
    """The types in the skops file ``path`` that neither skops nor ``trusted`` trusts."""
    import skops.io as sio

    try:
        found = sio.get_untrusted_types(file=path)
    except Exception as e:  # noqa: BLE001 -- zipfile, json and skops errors alike
        raise DataError(f"{path.name} is not a readable skops file: {one_line(e)}") from None
    return [t for t in found if t not in set(trusted)]


def refuse_untrusted(path: Path, trusted: Sequence[str]) -> None:
    """ConfigError naming the untrusted types of ``path`` and how to trust them."""
    left = untrusted_types(path, trusted)
    if left:
        listed = ", ".join(left)
        raise ConfigError(
            f"{path.name} holds types skops does not trust by default ({listed}); building them "
            f"may run their code. If you trust the file, list them: trusted: [{listed}] "
            "(Python: trusted=[...])"
        )


def load_skops(path: Path, trusted: Sequence[str]) -> Any:
    """The estimator in ``path``, after :func:`refuse_untrusted`."""
    import skops.io as sio

    refuse_untrusted(path, trusted)
    try:
        return sio.load(path, trusted=list(trusted) or None)
    except Exception as e:  # noqa: BLE001 -- skops' own errors
        raise DataError(f"skops cannot load {path.name}: {one_line(e)}") from None


class SkopsTarget(SklearnTarget):
    """A scikit-learn classifier read from a skops file (probabilities, labels, loss)."""

    parameters_note = SKOPS_NO_PARAMETERS

    def __init__(self, estimator: Any, *, path: Path, num_classes: int | None = None) -> None:
        super().__init__(estimator, num_classes=num_classes)
        self.path = path

    @property
    def description(self) -> str:
        return f"skops {self.path.name} ({type(self.estimator).__name__})"
