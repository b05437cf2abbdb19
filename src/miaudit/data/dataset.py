"""The `Dataset` value: records ``x``, integer labels ``y``, and the number of classes."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from miaudit.data.integrity import check_features, check_num_classes
from miaudit.errors import DataError
from miaudit.validation import check_int


@dataclass(frozen=True, eq=False, repr=False)
class Dataset:
    """A labelled data set, validated on construction.

    ``x`` is float32: tabular data has shape (n, d), images (n, C, H, W) scaled to [0, 1].
    ``y`` is int64 of shape (n,) with labels in 0..num_classes-1. Arrays given in other
    real numeric dtypes are converted; complex, object and string records are refused
    (a float conversion would drop the imaginary part or guess), floating labels are
    rejected, never rounded, and more than ``MAX_CLASSES`` classes are refused.
    ``classes``, when set, holds the original label of each class 0..num_classes-1 (the data
    set's labels were encoded as 0..C-1, e.g. {3, 7, 100} -> {0, 1, 2}: see
    :func:`~miaudit.data.load_dataset`); None means the labels are the original ones.
    """

    name: str
    x: np.ndarray
    y: np.ndarray
    num_classes: int
    description: str = ""
    classes: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        try:
            x = np.asarray(self.x)
        except (TypeError, ValueError) as err:
            raise DataError(f"dataset {self.name!r}: x is not numeric ({err})") from None
        check_features(x, what=f"dataset {self.name!r}: records x")
        x = x.astype(np.float32, copy=False)
        y = np.asarray(self.y)
        if y.dtype == np.bool_ or not np.issubdtype(y.dtype, np.integer):
            raise DataError(
                f"dataset {self.name!r}: labels y must be integers 0..num_classes-1, "
                f"got dtype {y.dtype}; cast them with y.astype(np.int64)"
            )
        y = y.astype(np.int64, copy=False)
        if y.ndim != 1:
            raise DataError(f"dataset {self.name!r}: y must have shape (n,), got {y.shape}")
        if x.ndim < 2:
            raise DataError(
                f"dataset {self.name!r}: x must have shape (n, ...) with one row per record, "
                f"got {x.shape}; reshape 1-d features with x.reshape(-1, 1)"
            )
        if len(x) != len(y):
            raise DataError(
                f"dataset {self.name!r}: mismatched lengths: x has {len(x)} records, "
                f"y has {len(y)} labels"
            )
        if len(y) == 0:
            raise DataError(f"dataset {self.name!r}: empty dataset (no records)")
        num_classes = self.num_classes
        check_int(num_classes, f"dataset {self.name!r}: num_classes", low=1, error=DataError)
        check_num_classes(num_classes, what=f"dataset {self.name!r}: num_classes={num_classes}")
        if self.classes is not None:
            classes = tuple(int(c) for c in self.classes)
            if len(classes) != num_classes or len(set(classes)) != num_classes:
                raise DataError(
                    f"dataset {self.name!r}: classes must name {num_classes} distinct "
                    f"original labels, got {len(classes)}"
                )
            object.__setattr__(self, "classes", classes)
        lo, hi = int(y.min()), int(y.max())
        if lo < 0 or hi >= num_classes:
            raise DataError(
                f"dataset {self.name!r}: labels outside 0..{num_classes - 1} "
                f"(found min {lo}, max {hi})"
            )
        bad = int(x.size - np.count_nonzero(np.isfinite(x)))
        if bad:
            raise DataError(f"dataset {self.name!r}: x contains {bad} NaN or infinite values")
        object.__setattr__(self, "x", x)
        object.__setattr__(self, "y", y)
        object.__setattr__(self, "num_classes", int(num_classes))

    def __len__(self) -> int:
        return len(self.y)

    def __repr__(self) -> str:
        return (
            f"Dataset(name={self.name!r}, n={len(self)}, input_shape={self.input_shape}, "
            f"num_classes={self.num_classes})"
        )

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one record, ``x.shape[1:]``."""
        return tuple(self.x.shape[1:])

    @property
    def is_image(self) -> bool:
        """True for image data of shape (n, C, H, W)."""
        return self.x.ndim == 4

    def subset(self, index: np.ndarray) -> Dataset:
        """The records at ``index`` (integer indices or a boolean mask), as a new Dataset."""
        index = np.asarray(index)
        if index.dtype == np.bool_:
            if index.shape != (len(self),):
                raise DataError(
                    f"dataset {self.name!r}: boolean mask has shape {index.shape}, "
                    f"expected ({len(self)},)"
                )
        elif np.issubdtype(index.dtype, np.integer):
            if index.ndim != 1:
                raise DataError(f"dataset {self.name!r}: index must be 1-d, got {index.shape}")
            if index.size and (index.min() < -len(self) or index.max() >= len(self)):
                raise DataError(
                    f"dataset {self.name!r}: index out of range for {len(self)} records"
                )
        else:
            raise DataError(
                f"dataset {self.name!r}: index must be integers or a boolean mask, "
                f"got dtype {index.dtype}"
            )
        return Dataset(
            name=self.name,
            x=self.x[index],
            y=self.y[index],
            num_classes=self.num_classes,
            description=self.description,
            classes=self.classes,
        )
