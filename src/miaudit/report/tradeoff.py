"""The trade-off report: a table and a privacy-utility plot (test accuracy against the
strongest attack's TPR at 1% FPR, one curve per defense), in one self-contained HTML file."""

from __future__ import annotations

from html import escape
from pathlib import Path

from matplotlib.figure import Figure

from miaudit.report._plots import _png_uri, attack_colors, plain_text
from miaudit.report._style import CSS
from miaudit.results import TradeoffPoint


def tradeoff_figure(points: list[TradeoffPoint]) -> str:
    """Test accuracy against the strongest attack's TPR at 1% FPR and AUC, per defense."""
    fig = Figure(figsize=(10, 4.2), dpi=100)
    axes = fig.subplots(1, 2)
    points = [p for p in points if p.error is None]
    names = list(dict.fromkeys(p.label for p in points))
    colors = dict(zip(names, attack_colors(len(names)), strict=True))
    for ax, key, label in (
        (axes[0], "tpr_at_0_01", "strongest attack: TPR at 1% FPR"),
        (axes[1], "auc", "strongest attack: AUC"),
    ):
        for name in names:
            pts = [p for p in points if p.label == name]
            xs = [getattr(p, key) for p in pts]
            ys = [p.test_accuracy for p in pts]
            baseline = name.startswith("none")
            style = "*" if baseline else "o-"
            ax.plot(
                xs,
                ys,
                style,
                color=colors[name],
                label=plain_text(name),
                ms=8 if baseline else 4,
            )
        ax.set_xlabel(label)
        ax.set_ylabel("test accuracy")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    return _png_uri(fig)


def _ci(ci: tuple[float, float] | None) -> str:
    if ci is None:
        return ""
    return f'<br><span class="small">[{ci[0]:.3f}, {ci[1]:.3f}]</span>'


def render_tradeoff_html(points: list[TradeoffPoint]) -> str:
    """The sweep's table and privacy-utility plot as one self-contained HTML page."""
    rows = []
    for p in points:
        if p.error is not None:
            rows.append(
                f"<tr><td>{escape(p.label)}</td><td>{escape(f'{p.param} = {p.value}')}</td>"
                f'<td colspan="8">failed: {escape(p.error)}</td></tr>'
            )
            continue
        eps = "–" if p.epsilon is None else f"{p.epsilon:.2f}"
        value = "–" if p.value is None else escape(f"{p.param} = {p.value}")
        rows.append(
            f"<tr><td>{escape(p.label)}</td><td>{value}</td>"
            f'<td class="num">{p.test_accuracy:.3f}</td><td class="num">{p.gap:+.3f}</td>'
            f'<td class="num">{p.train_seconds:.1f}</td>'
            f'<td class="num">{p.auc:.3f}{_ci(p.auc_ci)}</td>'
            f'<td class="num">{p.tpr_at_0_001:.3f}</td>'
            f'<td class="num">{p.tpr_at_0_01:.3f}{_ci(p.tpr_at_0_01_ci)}</td>'
            f'<td>{escape(p.strongest_attack)}</td><td class="num">{eps}</td></tr>'
        )
    table = (
        '<div class="table-wrap"><table><thead><tr><th>Defense</th><th>Strength</th>'
        '<th class="num">Test acc.</th><th class="num">Gap</th><th class="num">Train s</th>'
        '<th class="num">AUC</th><th class="num">TPR@0.1%</th><th class="num">TPR@1%</th>'
        '<th>Strongest attack (1% FPR)</th><th class="num">ε (DP)</th></tr></thead><tbody>'
        + "".join(rows)
        + "</tbody></table></div>"
    )
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>Privacy-utility trade-off</title>\n<style>{CSS}</style>\n</head>\n<body>\n"
        "<h1>Privacy-utility trade-off of defenses</h1>\n"
        "<p>Each row is one audit: the same data, split, target recipe and attacks, with the "
        "defense at one strength (the first row has none). The attack columns are the "
        "maximum over the audit's attacks; a good defense moves left (weaker attacks) "
        "without moving down (lower accuracy). Brackets: 95% bootstrap intervals of the "
        "strongest attack's TPR at 1% FPR and of the highest AUC. A defense listed with a "
        "target recipe in square brackets was trained with that recipe, and is compared with "
        "the undefended model of the same recipe (the row 'none [same recipe]').</p>\n"
        f'<figure><img alt="privacy-utility plot" src="{tradeoff_figure(points)}">'
        "<figcaption>Test accuracy against the strongest attack's TPR at 1% FPR (left) and "
        "AUC (right), one curve per defense; the star is the undefended model."
        "</figcaption></figure>\n" + table + "\n</body>\n</html>\n"
    )


def write_tradeoff_html(points: list[TradeoffPoint], path: str | Path) -> Path:
    """Write :func:`render_tradeoff_html` of ``points`` to ``path`` (UTF-8)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_tradeoff_html(points), encoding="utf-8")
    return path
