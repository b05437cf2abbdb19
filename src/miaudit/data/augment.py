"""Image augmentations for augmented queries (LiRA, Carlini et al. 2022, sec. VI-B; the
label-only attack of Choquette-Choo et al. 2021): horizontal flips and pixel shifts."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from miaudit.errors import ConfigError, DataError
from miaudit.validation import check_int


def shift_images(x: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """Shift (n, C, H, W) images by (dy, dx) pixels, filling the uncovered border with zeros."""
    out = np.zeros_like(x)
    h, w = x.shape[2], x.shape[3]
    ys, yd = (slice(0, h - dy), slice(dy, h)) if dy >= 0 else (slice(-dy, h), slice(0, h + dy))
    xs, xd = (slice(0, w - dx), slice(dx, w)) if dx >= 0 else (slice(-dx, w), slice(0, w + dx))
    out[:, :, yd, xd] = x[:, :, ys, xs]
    return out


def image_views(x: np.ndarray, *, flip: bool = True, shift: int = 1) -> list[np.ndarray]:
    """The identity, its horizontal flip (if ``flip``), and the four +/-``shift`` pixel shifts
    of the identity (and of the flip). The first view is always the identity."""
    if x.ndim != 4:
        raise DataError(f"image augmentations need (n, C, H, W) images, got shape {x.shape}")
    bases = [x, x[:, :, :, ::-1].copy()] if flip else [x]
    views = list(bases)
    if shift > 0:
        for base in bases:
            for dy, dx in ((shift, 0), (-shift, 0), (0, shift), (0, -shift)):
                views.append(shift_images(base, dy, dx))
    return views


#: Data sets whose images keep their label when mirrored left to right. A horizontal flip
#: keeps the class of a photograph (CIFAR-10: a mirrored car is a car) or of a garment
#: (Fashion-MNIST), not of a digit or a letter (a mirrored 2 or 7 is no digit; MNIST, the
#: 8x8 digits). LiRA queries the views the model could have been trained on (Carlini et
#: al. 2022, sec. VI-B), so a flip that changes the label is no such view.
LABEL_PRESERVING_FLIP: dict[str, bool] = {
    "cifar10": True,
    "fashion_mnist": True,
    "mnist": False,
    "digits": False,
}

#: the default pixel shift of the augmented views (LiRA's authors shift by up to 4 pixels
#: on 32x32 CIFAR-10 in training; one pixel in each direction is the default query here)
DEFAULT_SHIFT = 1


@dataclass(frozen=True)
class Augmentation:
    """The augmented views every audited image is queried on (LiRA, RMIA's x).

    The views are the identity, its horizontal flip (``flip``), and the four one-
    ``shift``-pixel shifts of each (:func:`image_views`): ``(1 + flip) * (1 + 4 * (shift >
    0))`` views, 10 with a flip and a 1-pixel shift, 5 without the flip.
    """

    flip: bool
    shift: int = DEFAULT_SHIFT

    def __post_init__(self) -> None:
        if not isinstance(self.flip, bool):
            raise ConfigError(f"augment.flip must be true or false, got {self.flip!r}")
        check_int(self.shift, "augment.shift", low=0)
        if not self.flip and self.shift == 0:
            raise ConfigError(
                "augment {flip: false, shift: 0} leaves only the identity; use augment: false"
            )

    @property
    def num_views(self) -> int:
        return (2 if self.flip else 1) * (5 if self.shift > 0 else 1)

    def views(self, x: np.ndarray) -> list[np.ndarray]:
        """The views of ``x`` (n, C, H, W); the first is the identity."""
        return image_views(x, flip=self.flip, shift=self.shift)

    def to_dict(self) -> dict[str, Any]:
        return {"flip": self.flip, "shift": self.shift, "views": self.num_views}


#: what ``reference.augment`` may be: None (the data kind's default), True (on, with the
#: data kind's flip), False (off), or the views ``{flip: ..., shift: ...}``
AugmentSetting = bool | Augmentation | Mapping[str, Any] | None


def resolve_augmentation(
    setting: AugmentSetting, record_shape: tuple[int, ...], dataset: str | None
) -> tuple[Augmentation | None, str]:
    """The audit's augmented views, and how they were chosen (for results.json).

    Tabular records get none. Images (C, H, W) get, by default, the one-pixel shifts, and
    a horizontal flip only for a data set in :data:`LABEL_PRESERVING_FLIP` that keeps its
    labels mirrored (an image data set miaudit does not know gets no flip: say
    ``augment: {flip: true}`` if it does). ``setting`` overrides: False turns them off,
    True turns them on with the default flip, a mapping ``{flip, shift}`` sets either
    (the other keeps its default).

    Raises:
        ConfigError: augmentation asked for on records that are not images; a bad flip or
            shift; an unknown key.
    """
    image = len(record_shape) == 3
    if setting is False:
        return None, "off (reference.augment: false)"
    if setting is None and not image:
        return None, "off (records are not images)"
    if not image:
        raise ConfigError(
            f"reference.augment needs image data (n, C, H, W); the records have shape "
            f"{record_shape}"
        )
    known = dataset is not None and dataset in LABEL_PRESERVING_FLIP
    flip = bool(LABEL_PRESERVING_FLIP.get(dataset or "", False))
    why = (
        f"{dataset}: {'mirrored images keep their labels' if flip else 'no label-preserving flip'}"
        if known
        else "an image data set miaudit does not know: no flip"
    )
    if setting is None or setting is True:
        source = "default" if setting is None else "reference.augment: true"
        return Augmentation(flip=flip, shift=DEFAULT_SHIFT), f"{source} ({why})"
    if isinstance(setting, Augmentation):
        aug, source = setting, "given"
    else:
        checked = check_augment_setting(setting)
        assert isinstance(checked, Mapping)
        aug = Augmentation(
            flip=checked.get("flip", flip), shift=checked.get("shift", DEFAULT_SHIFT)
        )
        source = f"reference.augment {dict(checked)} ({why})"
    if aug.shift >= min(record_shape[1], record_shape[2]):
        raise ConfigError(
            f"reference.augment.shift={aug.shift} is not smaller than the images "
            f"({record_shape[1]}x{record_shape[2]})"
        )
    return aug, source


def check_augment_setting(setting: Any) -> AugmentSetting:
    """``setting`` (a config's ``reference.augment``) as a value :func:`resolve_augmentation`
    takes: None, True, False or ``{flip: bool, shift: int >= 0}`` (ConfigError otherwise).
    Whether the records are images is checked once the data are loaded."""
    if setting is None or isinstance(setting, bool | Augmentation):
        return setting
    if not isinstance(setting, Mapping):
        raise ConfigError(
            "reference.augment must be true, false or {flip: true/false, shift: pixels}, "
            f"got {setting!r}"
        )
    unknown = sorted(set(map(str, setting)) - {"flip", "shift"})
    if unknown:
        raise ConfigError(
            f"reference.augment: unknown key(s) {', '.join(unknown)}; valid: flip, shift"
        )
    if "flip" in setting and not isinstance(setting["flip"], bool):
        raise ConfigError(f"reference.augment.flip must be true or false, got {setting['flip']!r}")
    if "shift" in setting:
        check_int(setting["shift"], "reference.augment.shift", low=0)
    return dict(setting)
