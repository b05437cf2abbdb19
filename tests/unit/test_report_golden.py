"""The report renders byte for byte as it did before issue 10 split it by section, and what it
says about a defense comes from the defense's class, not from a list of names in the report."""

from __future__ import annotations

import base64
import hashlib

import pytest

from miaudit.defenses import DEFENSES
from miaudit.defenses.base import Defense
from miaudit.report import render_html
from tests.unit import report_fixtures as fx


def _sha(html: str) -> str:
    """Digest of the page's text and structure; each figure must be a whole PNG (checked
    here, its pixels are not compared: they depend on the matplotlib/FreeType build)."""
    figures = fx.FIGURE.findall(html)
    for data in figures:
        png = base64.b64decode(data, validate=True)
        assert png.startswith(b"\x89PNG\r\n\x1a\n") and png.endswith(b"IEND\xaeB`\x82")
    return hashlib.sha256(fx.without_figures(html).encode("utf-8")).hexdigest()


@pytest.mark.parametrize("defense", sorted(fx.DEFENSES))
def test_report_is_byte_identical_to_the_original(defense: str) -> None:
    d = fx.DEFENSES[defense]
    html = render_html(fx.result(d, aware=False if d else None))
    assert _sha(html) == fx.GOLDEN[defense]


def test_report_without_metrics_is_byte_identical_to_the_original() -> None:
    # the verdict reads TPR and AUC off the ROC curves, and still picks with pick_strongest
    assert _sha(render_html(fx.bare())) == fx.GOLDEN["bare"]


def _section(html: str) -> str:
    start = html.index('<section id="defense">')
    return html[start : html.index("</section>", start)]


class _Blur(Defense):
    name = "blur_scores"
    kind = "inference"
    paper = "Nobody et al. 2031"
    preserves_labels = True
    output_effect = "blurs the confidence scores"


class _Private(Defense):
    name = "private_sgd"
    kind = "training"
    paper = "Nobody et al. 2032"
    differentially_private = True


@pytest.fixture
def registered(monkeypatch: pytest.MonkeyPatch) -> None:
    """Register the two test defenses for one test only (monkeypatch removes them)."""
    for cls in (_Blur, _Private):
        assert cls.name not in DEFENSES
        monkeypatch.setitem(DEFENSES._items, cls.name, cls)


def test_a_new_label_preserving_defense_gets_the_label_only_note(registered: None) -> None:
    section = _section(render_html(fx.result({"name": "blur_scores", "kind": "inference"})))
    assert "blur_scores blurs the confidence scores and keeps every predicted label" in section
    assert "label-only attacks are not affected by it by design" in section
    assert "Nobody et al. 2031" in section  # the paper from the class, too
    assert "Privacy budget" not in section


def test_a_new_dp_defense_gets_the_privacy_budget_row(registered: None) -> None:
    defense = {"name": "private_sgd", "kind": "training", "params": {"delta": 1e-5}}
    section = _section(render_html(fx.result(defense)))
    assert "<th>Privacy budget</th>" in section  # no epsilon recorded: the row still shows
    assert 'ε = <span class="mono">–</span> at δ = <span class="mono">1e-05</span>' in section
    assert "label-only attacks are not affected" not in section


def test_without_the_attributes_neither_shows(registered: None) -> None:
    section = _section(render_html(fx.result({"name": "l2", "kind": "training"})))
    assert "Privacy budget" not in section and "label-only attacks" not in section
    unknown = _section(render_html(fx.result({"name": "not_registered", "kind": "inference"})))
    assert "label-only attacks" not in unknown


def test_the_test_defenses_do_not_leak() -> None:
    assert "blur_scores" not in DEFENSES and "private_sgd" not in DEFENSES
