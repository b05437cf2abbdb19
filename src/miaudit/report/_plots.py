"""Report figures drawn with matplotlib's Agg canvas (no pyplot, no GUI, no global figures).

Every figure is returned as a ``data:image/png;base64,...`` URI. PNGs are written without
the Software metadata, so identical inputs give identical bytes.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Sequence

import matplotlib as mpl
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_hex
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from miaudit.report._data import Curve, finite_scores

DPI = 100
MEMBER_COLOR = "#d1495b"
NONMEMBER_COLOR = "#30638e"
_RC = {
    "font.size": 9,
    "axes.titlesize": 9,
    "axes.labelsize": 9,
    "legend.fontsize": 8,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "text.usetex": False,
    "path.simplify": True,
}


def attack_colors(n: int) -> list[str]:
    """Distinct colours for ``n`` attacks (tab10, then tab20 for more)."""
    cmap = mpl.colormaps["tab10" if n <= 10 else "tab20"]
    return [to_hex(cmap(i % cmap.N)) for i in range(n)]


def plain_text(text: str, limit: int = 40) -> str:
    """User text safe for matplotlib: no mathtext, shortened to ``limit`` characters."""
    text = text if len(text) <= limit else text[: limit - 1] + "…"
    return text.replace("$", r"\$")


def _png_uri(fig: Figure) -> str:
    canvas = FigureCanvasAgg(fig)
    buf = io.BytesIO()
    canvas.print_png(buf, metadata={"Software": None})
    fig.clear()
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def roc_figure(curves: Sequence[Curve], n_nonmembers: int) -> str:
    """ROC curves of all attacks: linear axes (left) and log-log axes (right)."""
    colors = attack_colors(len(curves))
    low = min(1e-3, 1.0 / max(n_nonmembers, 1))
    with mpl.rc_context(_RC):
        fig = Figure(figsize=(10, 4.4), dpi=DPI, layout="constrained")
        lin, log = fig.subplots(1, 2)
        lin.plot([0, 1], [0, 1], color="0.55", lw=1, ls="--")
        log.plot([low, 1], [low, 1], color="0.55", lw=1, ls="--")
        handles: list[Line2D] = []
        labels: list[str] = []
        for curve, color in zip(curves, colors, strict=True):
            (line,) = lin.plot(curve.fpr, curve.tpr, color=color, lw=1.4)
            fpr = np.clip(curve.fpr, low, 1.0)
            tpr = np.clip(curve.tpr, low, 1.0)
            log.plot(fpr, tpr, color=color, lw=1.4)
            handles.append(line)
            labels.append(f"{plain_text(curve.name)} (AUC {curve.auc:.3f})")
        handles.append(Line2D([], [], color="0.55", lw=1, ls="--"))
        labels.append("chance")
        lin.set(xlim=(0, 1), ylim=(0, 1), xlabel="False-positive rate", ylabel="True-positive rate")
        lin.set_title("ROC, linear axes")
        lin.set_aspect("equal")
        log.set_xscale("log")
        log.set_yscale("log")
        log.set(
            xlim=(low, 1), ylim=(low, 1), xlabel="False-positive rate", ylabel="True-positive rate"
        )
        log.set_title("ROC, log-log axes (low-FPR regime)")
        log.set_aspect("equal")
        for level in (1e-3, 1e-2, 1e-1):
            if level >= low:
                log.axvline(level, color="0.75", lw=0.8, ls=":")
        lin.legend(handles, labels, loc="lower right", frameon=True)
        return _png_uri(fig)


def histogram_figure(
    names: Sequence[str], scores: Sequence[np.ndarray], membership: np.ndarray
) -> str:
    """Score histograms of members vs non-members, one panel per attack."""
    y = np.asarray(membership, dtype=bool)
    n = len(names)
    ncols = min(3, n)
    nrows = math.ceil(n / ncols)
    with mpl.rc_context(_RC):
        fig = Figure(figsize=(3.4 * ncols, 2.5 * nrows + 0.35), dpi=DPI, layout="constrained")
        axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
        for ax, name, raw in zip(axes, names, scores, strict=False):
            s = finite_scores(raw)
            finite = s[np.isfinite(s)]
            if finite.size == 0:
                ax.text(
                    0.5, 0.5, "no finite scores", ha="center", va="center", transform=ax.transAxes
                )
                ax.set_title(plain_text(name))
                continue
            lo, hi = np.percentile(finite, [0.5, 99.5])
            if not hi > lo:
                lo, hi = lo - 0.5, hi + 0.5
            edges = np.linspace(lo, hi, 41)
            clipped = np.clip(s, lo, hi)  # -inf / outliers land in the edge bins
            for mask, color, label in (
                (~y, NONMEMBER_COLOR, "non-members"),
                (y, MEMBER_COLOR, "members"),
            ):
                if mask.any():
                    ax.hist(
                        clipped[mask],
                        bins=edges,
                        density=True,
                        histtype="stepfilled",
                        alpha=0.35,
                        color=color,
                        label=label,
                    )
                    ax.hist(
                        clipped[mask],
                        bins=edges,
                        density=True,
                        histtype="step",
                        color=color,
                        lw=1.2,
                    )
            ax.set_title(plain_text(name))
            ax.set_xlabel("score (higher = more likely member)")
            ax.set_yscale("log")  # tails matter: members pile up at the top, outliers are rare
            ax.set_ylabel("density (log)")
            ax.grid(False)
        for ax in axes[n:]:
            ax.set_visible(False)
        handles = [
            Patch(color=MEMBER_COLOR, alpha=0.6, label="members"),
            Patch(color=NONMEMBER_COLOR, alpha=0.6, label="non-members"),
        ]
        fig.legend(handles=handles, loc="outside upper center", ncols=2, frameon=False)
        return _png_uri(fig)
