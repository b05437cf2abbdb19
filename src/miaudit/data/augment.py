"""Image augmentations for augmented queries (LiRA, Carlini et al. 2022, sec. VI-B; the
label-only attack of Choquette-Choo et al. 2021): horizontal flips and pixel shifts."""

from __future__ import annotations

import numpy as np

from miaudit.errors import DataError


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
