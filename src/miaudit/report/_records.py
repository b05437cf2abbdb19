"""The per-record sections: the records most at risk and Song & Mittal's privacy risk score."""

from __future__ import annotations

import numpy as np

from miaudit.report._data import AtRisk, usable
from miaudit.report._format import esc
from miaudit.results import AuditResult

N_AT_RISK = 20
#: characters of a text record shown in the table (the rest elided)
SNIPPET_CHARS = 160


def snippet(text: str, limit: int = SNIPPET_CHARS) -> str:
    """The start of a text record, escaped, line breaks shown as the return symbol."""
    short = text if len(text) <= limit else text[:limit] + "\u2026"
    return esc(short).replace("\n", " \u23ce ")


def at_risk_section(at_risk: AtRisk | None) -> str:
    head = "<section>\n<h2>Records most at risk</h2>\n"
    if at_risk is None:
        return head + "<p>No attack produced scores, so no record can be ranked.</p>\n</section>"
    k = len(at_risk.record_ids)
    n_members = int(at_risk.members.sum())
    explain = (
        f"<p>The {k} records with the highest mean rank percentile over the "
        f"{len(at_risk.attack_names)} completed attack(s). Each attack's scores are turned "
        "into percentile ranks among all audited records (100 = most member-like), because "
        "scores of different attacks are on different scales; ties are broken by record id. "
        f"{n_members} of these {k} are true members.</p>"
    )
    head_cells = "".join(f'<th class="num">{esc(name)}</th>' for name in at_risk.attack_names)
    text_head = "<th>Text</th>" if at_risk.texts is not None else ""
    thead = (
        '<thead><tr><th class="num">#</th><th class="num">Record id</th>'
        f"{text_head}<th>Member?</th>"
        f'<th class="num">Mean percentile</th>{head_cells}</tr></thead>'
    )
    rows = []
    for i in range(k):
        member = '<span class="member">member</span>' if at_risk.members[i] else "non-member"
        pct = "".join(f'<td class="num">{p:.1f}</td>' for p in at_risk.percentiles[i])
        text = (
            f'<td class="mono">{snippet(at_risk.texts[i])}</td>'
            if at_risk.texts is not None
            else ""
        )
        rows.append(
            f'<tr><td class="num">{i + 1}</td><td class="num">{esc(at_risk.record_ids[i])}</td>'
            f"{text}<td>{member}</td>"
            f'<td class="num">{at_risk.mean_percentile[i]:.1f}</td>{pct}</tr>'
        )
    table = f'<div class="table-wrap"><table>{thead}<tbody>{"".join(rows)}</tbody></table></div>'
    return head + explain + "\n" + table + "\n</section>"


def privacy_risk_section(result: AuditResult, n: int) -> str:
    """Song & Mittal's per-record privacy risk score, when the audit computed it."""
    risk_results = [
        a for a in result.attacks if (a.attack or a.name) == "privacy_risk" and usable(a, n)
    ]
    if not risk_results:
        return ""
    a = risk_results[0]
    risk = np.asarray(a.scores, dtype=float)
    members = np.asarray(result.membership, dtype=bool)
    rows = []
    for level in (0.5, 0.7, 0.9):
        high = risk >= level
        rows.append(
            f'<tr><td class="num">&ge; {level:.1f}</td><td class="num">{int(high.sum())}</td>'
            f'<td class="num">{int((high & members).sum())}</td>'
            f'<td class="num">{int((high & ~members).sum())}</td></tr>'
        )
    order = np.lexsort((np.asarray(result.record_ids), -risk))[:N_AT_RISK]
    member_cell = {True: '<span class="member">member</span>', False: "non-member"}
    top = "".join(
        f'<tr><td class="num">{esc(result.record_ids[i])}</td>'
        f"<td>{member_cell[bool(members[i])]}</td>"
        f'<td class="num">{risk[i]:.3f}</td></tr>'
        for i in order
    )
    return (
        "<section>\n<h2>Privacy risk score</h2>\n"
        "<p>Song &amp; Mittal (2021, sec. 5): the posterior probability that a record is a "
        "member given its modified-entropy signal, with class-conditional densities learned "
        "on shadow models' members and non-members (equal priors). A well-calibrated score "
        "of 0.9 means that about 9 in 10 records with that score are members. Every "
        "record's score is in <code>scores.csv</code> (column "
        f"<code>{esc(a.name)}</code>).</p>"
        '<div class="table-wrap"><table><thead><tr><th class="num">Risk</th>'
        '<th class="num">Records</th><th class="num">Members</th>'
        '<th class="num">Non-members</th></tr></thead><tbody>'
        + "".join(rows)
        + "</tbody></table></div><h3>Highest risk</h3>"
        '<div class="table-wrap"><table><thead><tr><th class="num">Record id</th>'
        '<th>Member?</th><th class="num">Risk</th></tr></thead><tbody>'
        + top
        + "</tbody></table></div>\n</section>"
    )
