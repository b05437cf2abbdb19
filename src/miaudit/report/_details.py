"""The closing sections: optional extra text sections and the reproducibility details."""

from __future__ import annotations

import json
from collections.abc import Mapping

from miaudit.report._format import esc, json_default, kv_table, params_html
from miaudit.results import AuditResult


def extra_sections(result: AuditResult) -> str:
    """Optional ``result.extra_sections``: a mapping or pairs of (title, plain text)."""
    extra = getattr(result, "extra_sections", None)
    if not extra:
        return ""
    items = extra.items() if isinstance(extra, Mapping) else extra
    parts = []
    try:
        for title, text in items:
            paragraphs = "".join(f"<p>{esc(p)}</p>" for p in str(text).split("\n\n") if p.strip())
            parts.append(f"<section>\n<h2>{esc(title)}</h2>\n{paragraphs}\n</section>")
    except (TypeError, ValueError):
        return ""
    return "\n".join(parts)


_ROLES = {"target": "target model", "reference": "reference models"}


def _devices(result: AuditResult) -> str:
    """Where the run's torch models trained ("target model: cuda (auto)"), or ""."""
    devices = getattr(result, "devices", None)
    if not isinstance(devices, Mapping):
        return ""
    items = []
    for role, choice in devices.items():
        if not isinstance(choice, Mapping):
            continue
        resolved, requested = choice.get("resolved"), choice.get("requested")
        asked = f" (asked: {esc(requested)})" if requested not in (None, resolved) else ""
        items.append(f"{esc(_ROLES.get(role, role))}: <strong>{esc(resolved)}</strong>{asked}")
    return "; ".join(items)


def details_section(result: AuditResult) -> str:
    """Attack parameters and the configuration, folded away for reproducibility."""
    parts = ["<section>\n<h2>Reproducibility</h2>"]
    devices = _devices(result)
    if devices:
        parts.append(kv_table([("Devices", devices)]))
    if result.attacks:
        rows = [(a.name, params_html(a.params)) for a in result.attacks]
        parts.append("<h3>Attack parameters</h3>" + kv_table(rows))
    if result.config is not None:
        text = json.dumps(result.config, indent=2, default=json_default)
        parts.append(f"<details><summary>Configuration</summary><pre>{esc(text)}</pre></details>")
    if len(parts) == 1:
        return ""
    return "\n".join(parts) + "\n</section>"
