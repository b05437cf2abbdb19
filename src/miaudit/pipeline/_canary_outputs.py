"""The files of ``miaudit canaries``: canaries.json, exposure.png and the stdout table.

exposure.png plots each canary's exposure against its repetitions (log x axis; controls,
never inserted, at the left), the mean per repetition count, the most exposure possible
(log2 |R|, rank 1) and the no-memorisation expectation: a uniformly random rank gives
E[exposure] = log2|R| - log2(|R|!)/|R| ~ 1/ln 2 = 1.44 bits
(:func:`miaudit.text.canaries.random_exposure`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from miaudit.pipeline.output import write_outputs
from miaudit.text.canaries import random_exposure

if TYPE_CHECKING:
    from miaudit.pipeline.canaries import CanaryRun

CANARIES_JSON = "canaries.json"
EXPOSURE_PNG = "exposure.png"
FILES = (CANARIES_JSON, EXPOSURE_PNG)


def by_repetitions(run: CanaryRun) -> list[dict[str, Any]]:
    """Exposure summary (n, mean, min, max) per repetition count, controls (0) first."""
    rows = []
    for r in sorted({c.repetitions for c in run.exposure.canaries}):
        e = np.array([c.exposure for c in run.exposure.canaries if c.repetitions == r])
        rows.append(
            {
                "repetitions": r,
                "canaries": int(e.size),
                "mean": float(e.mean()),
                "min": float(e.min()),
                "max": float(e.max()),
            }
        )
    return rows


def canaries_dict(run: CanaryRun) -> dict[str, Any]:
    """The content of canaries.json."""
    ex = run.exposure
    return {
        "kind": "canary_exposure",
        "paper": "Carlini et al. 2019, The Secret Sharer (USENIX Security)",
        "config": run.config.to_dict(),
        "format": run.config.format,
        "candidates": ex.size,
        "log2_candidates": ex.log2_size,
        "method": ex.method,
        "candidates_scored": ex.scored,
        "skew_normal": None if ex.fit is None else vars(ex.fit),
        "no_memorisation_exposure": random_exposure(ex.size),
        "units": "log_perplexity: -log2 p(canary) in bits; exposure in bits",
        "ties": "rank = 1 + candidates with strictly lower log-perplexity",
        "ranking": (
            "exact ranks leave out the other inserted canaries (one canary per model, as "
            "the Secret Sharer)"
        ),
        "canaries": [{**c.to_dict(), "method": ex.method} for c in ex.canaries],
        "by_repetitions": by_repetitions(run),
        "training": run.training,
        "scoring_seconds": ex.seconds,
        "wall_seconds": run.wall_seconds,
        "peak_rss_mb": run.peak_rss_mb,
    }


def table(run: CanaryRun) -> str:
    """A short human-readable summary: exposure per repetition count."""
    ex = run.exposure
    head = (
        f"canary exposure ({ex.method}, |R| = {ex.size:,}, max {ex.log2_size:.2f} bits, "
        f"no memorisation ~{random_exposure(ex.size):.2f} bits)"
    )
    lines = [head, f"{'repetitions':>12} {'canaries':>8} {'mean':>7} {'min':>7} {'max':>7}"]
    for row in by_repetitions(run):
        label = "0 (control)" if row["repetitions"] == 0 else str(row["repetitions"])
        lines.append(
            f"{label:>12} {row['canaries']:>8} {row['mean']:>7.2f} {row['min']:>7.2f} "
            f"{row['max']:>7.2f}"
        )
    t = run.training
    lines.append(
        f"trained on {t['records']:,} records + {t['canary_records']:,} canary records in "
        f"{t['seconds']:.1f} s (loss {t['loss']:.3f}); scored in {ex.seconds:.1f} s; "
        f"peak RSS {run.peak_rss_mb:,.0f} MB"
    )
    return "\n".join(lines)


def write_png(run: CanaryRun, path: Path) -> None:
    """exposure.png (see the module docstring); Agg canvas, no pyplot."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    ex = run.exposure
    inserted = sorted({c.repetitions for c in ex.canaries if c.repetitions > 0})
    control_x = (min(inserted) / 2) if inserted else 1.0
    fig = Figure(figsize=(5.5, 3.6), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    xs = [c.repetitions or control_x for c in ex.canaries]
    ax.scatter(
        xs, [c.exposure for c in ex.canaries], s=14, alpha=0.6, color="#30638e", label="canaries"
    )
    rows = by_repetitions(run)
    ax.plot(
        [r["repetitions"] or control_x for r in rows],
        [r["mean"] for r in rows],
        color="#d1495b",
        marker="o",
        label="mean",
    )
    ax.axhline(
        random_exposure(ex.size),
        color="grey",
        ls="--",
        label=f"no memorisation ({random_exposure(ex.size):.2f} bits)",
    )
    ax.axhline(ex.log2_size, color="grey", ls=":", label=f"log2 |R| = {ex.log2_size:.1f}")
    ax.set_xscale("log")
    ticks = ([control_x] if any(c.repetitions == 0 for c in ex.canaries) else []) + inserted
    ax.set_xticks(ticks)
    ax.set_xticklabels(["0 (control)" if t == control_x else str(t) for t in ticks])
    ax.minorticks_off()
    ax.set_xlabel("insertions into the training records")
    ax.set_ylabel("exposure (bits)")
    ax.set_title(f"Canary exposure, {ex.method} ({run.config.format})", fontsize=9)
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    fig.savefig(path, format="png", metadata={"Software": None})


def write_canary_outputs(run: CanaryRun, directory: str | Path) -> Path:
    """canaries.json and exposure.png, written atomically into ``directory``."""
    payload = json.dumps(canaries_dict(run), indent=2) + "\n"
    return write_outputs(
        directory,
        {
            CANARIES_JSON: lambda p: p.write_text(payload, encoding="utf-8"),
            EXPOSURE_PNG: lambda p: write_png(run, p),
        },
    )
