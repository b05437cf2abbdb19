"""report.html in a real browser: headless Chromium (Debian's ``chromium``, which
``make test`` installs) opens the page at 1280 px wide and checks that it logs no console
error, makes no network request besides the file itself, and shows the attack table without
horizontal scrolling; a screenshot is kept for a person to look at (issue 11 part 5).

Screenshots go to the test's temporary folder and to ``$MIAUDIT_SCREENSHOT_DIR`` (default
``runs/report-screenshots/`` in the repository). Without Chromium the tests skip, except
where ``CI`` is set: there a missing browser fails them, so that they cannot skip silently.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from miaudit.attacks import ATTACKS
from miaudit.metrics import evaluate_scores
from miaudit.pipeline import run_config
from miaudit.report import render_html
from miaudit.results import AttackResult
from tests.integration.cdp import Browser, find_chromium
from tests.unit import report_fixtures as fx

WIDTH, HEIGHT = 1280, 900
REPO = Path(__file__).resolve().parents[2]

#: measured in the page: each table's wrapper (scrollWidth > clientWidth means a
#: horizontal scroll bar) and the document's own width
_MEASURE = """(() => {
  const wrap = (sel) => {
    const t = document.querySelector(sel);
    if (!t) return null;
    const w = t.closest('.table-wrap');
    const r = t.getBoundingClientRect();
    return {scroll: w.scrollWidth, client: w.clientWidth, table: Math.round(r.width),
            x: r.left, y: r.top + window.scrollY, height: r.height,
            columns: [...t.querySelectorAll('thead tr:last-child th')].map(
              th => Math.round(th.getBoundingClientRect().width))};
  };
  const fold = document.querySelector('details.threat');
  const attacks = wrap('table.attacks');
  if (fold) fold.open = true;
  return {attacks, threat: wrap('table.threat'),
          document: document.documentElement.scrollWidth,
          viewport: document.documentElement.clientWidth};
})()"""


def _chromium() -> str:
    found = find_chromium()
    if found is None:
        reason = (
            "Chromium is not installed (/usr/bin/chromium; `make test` installs Debian's "
            "chromium package, or set $CHROMIUM)"
        )
        if os.environ.get("CI"):
            pytest.fail(f"{reason}; CI must run the browser tests")
        pytest.skip(reason)
    return found


@dataclass
class Page:
    """What the browser saw of one page."""

    url: str
    measures: dict[str, Any]
    console_errors: list[str]
    requests: list[str]
    screenshots: list[Path]


def _open(html: Path, work: Path, name: str) -> Page:
    """Load ``html`` at WIDTH px in headless Chromium; measure it and take screenshots."""
    url = html.resolve().as_uri()
    with Browser(_chromium(), work / f"profile-{name}", width=WIDTH, height=HEIGHT) as b:
        for domain in ("Runtime", "Log", "Network", "Page"):
            b.call(f"{domain}.enable")
        b.call(
            "Emulation.setDeviceMetricsOverride",
            {"width": WIDTH, "height": HEIGHT, "deviceScaleFactor": 1, "mobile": False},
        )
        b.call("Page.navigate", {"url": url})
        b.wait_for("Page.loadEventFired")
        measures = b.evaluate(_MEASURE)  # opens the threat-model fold, then measures
        shots = [b.screenshot(work / f"{name}.png")]
        for table in ("attacks", "threat"):  # each table alone, the fold open
            box = measures[table]
            if box is not None:
                clip = {"x": 0, "y": max(0, box["y"] - 40), "width": WIDTH}
                clip["height"] = 80 + box["height"]
                shots.append(b.screenshot(work / f"{name}-{table}.png", clip))
        events = list(b.events)
    errors = []
    for method, params in events:
        if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            args = params["args"]
            errors.append(" ".join(str(a.get("value", a.get("description"))) for a in args))
        elif method == "Runtime.exceptionThrown":
            errors.append(str(params["exceptionDetails"].get("text")))
        elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
            errors.append(str(params["entry"].get("text")))
    requests = [p["request"]["url"] for m, p in events if m == "Network.requestWillBeSent"]
    return Page(url, measures, errors, requests, shots)


def _keep(page: Page) -> None:
    """Copy the screenshots where a person can find them."""
    folder = Path(os.environ.get("MIAUDIT_SCREENSHOT_DIR") or REPO / "runs" / "report-screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    for shot in page.screenshots:
        (folder / shot.name).write_bytes(shot.read_bytes())


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and data[12:16] == b"IHDR", path
    return struct.unpack(">II", data[16:24])


def _check(page: Page) -> None:
    assert page.console_errors == []
    # inline figures are data: URIs (no request leaves the page); anything else would be
    # a fetch from the network or the disk
    assert [u for u in page.requests if u != page.url and not u.startswith("data:")] == []
    assert page.url in page.requests
    m = page.measures
    for table in ("attacks", "threat"):
        t = m[table]
        assert t is not None, f"no {table} table"
        assert t["scroll"] <= t["client"], f"the {table} table scrolls sideways: {t}"
    assert m["document"] <= m["viewport"] == WIDTH
    for shot in page.screenshots:
        width, height = _png_size(shot)
        assert width == WIDTH and height > 100


@pytest.fixture(scope="module")
def audit_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """report.html of a small audit of an MLP on digits, written by the config pipeline."""
    out = tmp_path_factory.mktemp("audit")
    config = {
        "seed": 0,
        "dataset": {"name": "digits"},
        "split": {"members": 300, "nonmembers": 300},
        "target": {"model": "mlp", "hidden": [64], "epochs": 15},
        "attacks": [
            "gap",
            "loss",
            "modified_entropy",
            {"name": "lira", "label": "lira_offline", "online": False},
            "rmia",
            "calibrated_modified_entropy",
        ],
        "reference": {"num_models": 4},
        "evaluation": {"bootstrap": 50},
        "output": str(out / "run"),
    }
    run_config(config, progress=False)
    return out / "run" / "report.html"


def test_audit_report_in_chromium(audit_report: Path, tmp_path: Path) -> None:
    page = _open(audit_report, tmp_path, "report")
    _keep(page)
    _check(page)


def test_every_attack_fits_1280px(tmp_path: Path) -> None:
    """The widest table miaudit writes: every registered attack (its real name, threat
    model and paper), a failed one, a differentially private defense."""
    result = fx.result(fx.DEFENSES["dp_sgd"], aware=True)
    n = result.membership.size
    rng = np.random.default_rng(0)
    attacks = []
    for name in ATTACKS.names():
        scores = rng.normal(size=n) + 0.5 * result.membership
        attacks.append(
            AttackResult(
                name,
                ATTACKS.get(name).threat_model.to_dict(),
                {},
                scores,
                metrics=evaluate_scores(result.membership, scores, n_resamples=50, seed=0),
                seconds=12.5,
                attack=name,
            )
        )
    attacks[-1].scores, attacks[-1].metrics = None, None
    attacks[-1].error = "a long reason for the failure, " * 6
    result.attacks = attacks
    html = tmp_path / "every-attack.html"
    html.write_text(render_html(result), encoding="utf-8")
    page = _open(html, tmp_path, "every-attack")
    _keep(page)
    _check(page)


def test_the_checks_catch_errors_requests_and_overflow(tmp_path: Path) -> None:
    """The checks can fail: a console error, a request for an outside image and a table
    wider than the page are each seen."""
    html = tmp_path / "bad.html"
    cells = "".join(f"<td>column{i}-with-a-long-unbreakable-value</td>" for i in range(30))
    html.write_text(
        "<!DOCTYPE html><html><head><meta charset='utf-8'><style>.table-wrap{overflow-x:auto}"
        "</style></head><body><img src='http://192.0.2.1/pixel.png'>"
        f"<div class='table-wrap'><table class='attacks'><tr>{cells}</tr></table></div>"
        "<details class='threat'><div class='table-wrap'><table class='threat'><tr><td>x</td>"
        "</tr></table></div></details><script>console.error('boom')</script></body></html>",
        encoding="utf-8",
    )
    page = _open(html, tmp_path, "bad")
    assert any("boom" in e for e in page.console_errors)
    assert "http://192.0.2.1/pixel.png" in page.requests
    t = page.measures["attacks"]
    assert t["scroll"] > t["client"]
    with pytest.raises(AssertionError):
        _check(page)
