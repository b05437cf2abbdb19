"""The page header and the Target model section."""

from __future__ import annotations

from miaudit.report._format import DASH, esc, fmt, get, kv_table, num, params_html
from miaudit.results import AuditResult


def header(result: AuditResult) -> str:
    """The title, creation time, seed, data set and package versions."""
    dataset = result.target.dataset
    versions = (
        ", ".join(f"{esc(k)} {esc(v)}" for k, v in result.versions.items())
        if result.versions
        else DASH
    )
    return (
        f"<header>\n<h1>{esc(result.title)}</h1>\n"
        f'<p class="meta">Created {esc(result.created or DASH)} · seed '
        f'<span class="mono">{esc(result.seed)}</span> · dataset '
        f"<strong>{esc(dataset) if dataset else DASH}</strong></p>\n"
        f'<p class="small">Versions: {versions}</p>\n</header>'
    )


def target_section(result: AuditResult) -> str:
    """The audited model, its accuracy and generalisation gap."""
    t = result.target
    train, test = num(t.train_accuracy), num(t.test_accuracy)
    gap_text = f"{train - test:+.3f}" if train is not None and test is not None else DASH
    rows = [
        ("Model", f"<strong>{esc(t.model)}</strong>"),
        ("Parameters", params_html(t.params)),
        ("Classes", f'<span class="mono">{esc(t.num_classes)}</span>'),
        ("Train accuracy", f'<span class="mono">{fmt(t.train_accuracy)}</span>'),
        ("Test accuracy", f'<span class="mono">{fmt(t.test_accuracy)}</span>'),
        ("Generalisation gap", f'<span class="mono">{gap_text}</span> (train − test)'),
        ("Members (audited)", f'<span class="mono">{esc(t.n_members)}</span>'),
        ("Non-members (audited)", f'<span class="mono">{esc(t.n_nonmembers)}</span>'),
    ]
    lm = getattr(t, "language_model", None)
    if lm:
        rows[2:5] = [
            (
                "Tokenizer",
                f'<span class="mono">{esc(get(lm, "tokenizer"))}</span>, vocabulary '
                f'<span class="mono">{esc(t.num_classes)}</span>, context '
                f'<span class="mono">{esc(get(lm, "context"))}</span> tokens '
                f"(longer records: {esc(get(lm, 'long_records'))})",
            ),
            ("Next-token accuracy (members)", f'<span class="mono">{fmt(t.train_accuracy)}</span>'),
            (
                "Next-token accuracy (non-members)",
                f'<span class="mono">{fmt(t.test_accuracy)}</span>',
            ),
            (
                "Perplexity (members / non-members)",
                f'<span class="mono">{fmt(get(lm, "member_perplexity"))} / '
                f"{fmt(get(lm, 'nonmember_perplexity'))}</span>",
            ),
        ]
    defense = getattr(t, "defense", None)
    if defense:
        rows.insert(
            2,
            (
                "Defense",
                f"<strong>{esc(get(defense, 'name') or DASH)}</strong> "
                f"({esc(get(defense, 'kind') or DASH)}-time); "
                '<a href="#defense">see the Defense section</a>',
            ),
        )
    return (
        "<section>\n<h2>Target model</h2>\n"
        + kv_table(rows)
        + '\n<p class="small">A large generalisation gap (overfitting) usually means more '
        "membership leakage, but a small gap does not rule it out.</p>\n</section>"
    )
