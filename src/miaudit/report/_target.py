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
    gen = getattr(t, "generative", None)
    if gen:
        rows[2:6] = _generative_rows(gen)
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


def _cost(name: str, c: dict) -> str:
    """One attack's cost: generated samples, discriminator queries (white-box), seconds."""
    parts = [f'<span class="mono">{esc(get(c, "samples"))}</span> samples']
    if get(c, "discriminator_queries"):
        queries = esc(get(c, "discriminator_queries"))
        parts.append(f'<span class="mono">{queries}</span> discriminator queries')
    parts.append(f'<span class="mono">{fmt(get(c, "seconds"), 1)}</span> s')
    return f"{esc(name)}: " + ", ".join(parts)


def _generative_rows(gen: dict) -> list[tuple[str, str]]:
    """A generator's rows in place of a classifier's classes and accuracies: its family,
    images, last training losses and what each attack cost (generated samples, seconds)."""
    shape = get(gen, "record_shape") or []
    costs = get(gen, "attack_costs") or {}
    cost_text = "; ".join(_cost(name, c) for name, c in costs.items()) or DASH
    ref = get(gen, "reference_generator_seconds")
    if ref is not None:
        cost_text += (
            f'; the reference generator (trained once): <span class="mono">{fmt(ref, 1)}</span> s'
        )
    return [
        (
            "Generative model",
            f"{esc(get(gen, 'family'))}, images "
            f'<span class="mono">{esc("x".join(str(s) for s in shape))}</span>, latent '
            f'<span class="mono">{esc(get(gen, "latent_dim"))}</span>',
        ),
        (
            "Training losses (last epoch, D / G)",
            f'<span class="mono">{fmt(get(gen, "d_loss"))} / {fmt(get(gen, "g_loss"))}</span>'
            f' after <span class="mono">{fmt(get(gen, "train_seconds"), 1)}</span> s',
        ),
        ("Attack cost", cost_text),
        (
            "Generalisation",
            "a generator has no accuracy; the attacks below measure what it memorised",
        ),
    ]
