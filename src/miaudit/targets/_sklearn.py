"""Target adapter for a fitted scikit-learn style classifier with ``predict_proba``."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.exceptions import NotFittedError as SklearnNotFittedError
from sklearn.utils.validation import check_is_fitted

from miaudit.data.integrity import check_num_classes
from miaudit.errors import DataError
from miaudit.targets._base import Target
from miaudit.validation import check_int

_SKLEARN_CAPABILITIES = frozenset({"probabilities", "labels", "loss"})


class SklearnTarget(Target):
    """A fitted classifier exposing ``predict_proba`` and integer ``classes_``.

    The estimator's columns (``classes_``) are mapped onto the full label space
    ``0..num_classes-1``: a class absent from its training data gets a probability-0
    column, so outputs always have shape (n, num_classes). Records with more than two axes
    (images) are flattened to (n, features), as :func:`miaudit.models.train_model` does.

    Args:
        estimator: the fitted classifier.
        num_classes: C; defaults to ``max(classes_) + 1``.
    """

    def __init__(self, estimator: Any, *, num_classes: int | None = None) -> None:
        super().__init__(_SKLEARN_CAPABILITIES)
        name = type(estimator).__name__
        if not callable(getattr(estimator, "predict_proba", None)):
            raise DataError(
                f"{name} has no predict_proba; a probability target needs a classifier "
                "with predict_proba (wrap a label-only model in LabelOnlyTarget instead)"
            )
        try:
            check_is_fitted(estimator)
        except SklearnNotFittedError:
            raise DataError(f"{name} is not fitted; call its fit(...) before auditing it") from None
        except TypeError as e:  # not a scikit-learn estimator; rely on classes_ below
            if not hasattr(estimator, "classes_"):
                raise DataError(f"{name} is not a fitted classifier: {e}") from None
        classes = np.asarray(getattr(estimator, "classes_", None))
        if classes.ndim != 1 or classes.size == 0 or not np.issubdtype(classes.dtype, np.integer):
            raise DataError(
                f"{name}.classes_ must be integer class indices 0..C-1 (got {classes!r}); "
                "encode the labels as integers before fitting"
            )
        if classes.min() < 0 or len(np.unique(classes)) != classes.size:
            raise DataError(f"{name}.classes_ must be distinct non-negative integers: {classes}")
        inferred = check_num_classes(
            int(classes.max()) + 1, what=f"{name}.classes_ (largest label {int(classes.max())})"
        )
        if num_classes is None:
            num_classes = max(inferred, 2)
        num_classes = check_int(num_classes, "num_classes", low=2, error=DataError)
        check_num_classes(num_classes, what=f"num_classes={num_classes}")
        if inferred > num_classes:
            raise DataError(
                f"{name} was fitted on class {inferred - 1} but num_classes={num_classes}"
            )
        self.estimator = estimator
        self.classes_ = classes.astype(np.int64)
        self._num_classes = num_classes

    @property
    def num_classes(self) -> int:
        return self._num_classes

    @property
    def description(self) -> str:
        return f"sklearn {type(self.estimator).__name__}"

    def _proba(self, x: np.ndarray) -> np.ndarray:
        n = x.shape[0]
        out = np.zeros((n, self._num_classes), dtype=np.float64)
        if n == 0:
            return out
        flat = x.reshape(n, -1) if x.ndim != 2 else x
        try:
            p = np.asarray(self.estimator.predict_proba(flat), dtype=np.float64)
        except ValueError as e:
            raise DataError(
                f"target {self.description} rejected records of shape {tuple(x.shape)}: {e}"
            ) from None
        if p.shape != (n, self.classes_.size):
            raise DataError(
                f"target {self.description}.predict_proba returned shape {p.shape}, "
                f"expected ({n}, {self.classes_.size}) (one column per classes_ entry)"
            )
        out[:, self.classes_] = p
        return out
