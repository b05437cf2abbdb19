"""Adding a defense is adding one module (issue 10's constraint), shown end to end.

A copy of the package gets one new file, ``defenses/zz_example.py``, and nothing else; in a
subprocess that imports the copy, the defense is registered, the defense contract tests pick
it up, a config audit applies it, and the report's Defense section describes it from the
class's own attributes (``preserves_labels``, ``output_effect``), with no report edit.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from miaudit.defenses import DEFENSES
from tests.contract.package_copy import copy_with_module, run_in_copy

NAME = "zz_sharpen"
EFFECT = "sharpens the confidence scores"
MODULE = f'''"""A test-only inference-time defense (no paper): square and renormalise each
probability vector, which keeps every predicted label."""

import numpy as np

from miaudit.defenses.base import Defense, DefenseData, register_defense
from miaudit.defenses.output import TransformedTarget
from miaudit.targets import Target


def _sharpen(probs: np.ndarray) -> np.ndarray:
    squared = np.square(probs)
    return squared / squared.sum(axis=1, keepdims=True)


@register_defense
class Sharpen(Defense):
    name = "{NAME}"
    kind = "inference"
    paper = "test-only example"
    preserves_labels = True
    output_effect = "{EFFECT}"

    def wrap(self, target: Target, *, train, seed: int, data: DefenseData = DefenseData()):
        self.check_params()
        return TransformedTarget(target, _sharpen, "sharpened")
'''

AUDIT = f"""
import json
from miaudit.defenses import DEFENSES
from miaudit.pipeline import run_config
from miaudit.report import render_html

result = run_config({{
    "seed": 0,
    "dataset": {{"name": "digits"}},
    "split": {{"members": 200, "nonmembers": 200}},
    "target": {{"model": "logistic_regression", "defense": {{"name": "{NAME}"}}}},
    "attacks": ["loss", "gap"],
    "evaluation": {{"bootstrap": 0, "random_queries": 20}},
}}, progress=False)
html = render_html(result)
start = html.index('<section id="defense">')
print(json.dumps({{"names": DEFENSES.names(), "defense": result.target.defense["name"],
                  "errors": [a.error for a in result.attacks],
                  "section": html[start:html.index("</section>", start)]}}))
"""


@pytest.fixture(scope="module")
def package_copy(tmp_path_factory) -> Path:
    """A copy of the package with one new defense module in defenses/, nothing else changed."""
    return copy_with_module(tmp_path_factory, "defenses/zz_example.py", MODULE)


def test_a_new_defense_module_is_applied_and_reported(package_copy):
    proc = run_in_copy(["-c", AUDIT], package_copy)
    assert proc.returncode == 0, proc.stderr
    seen = json.loads(proc.stdout.strip().splitlines()[-1])
    assert NAME not in DEFENSES.names()
    assert seen["names"] == sorted([*DEFENSES.names(), NAME])
    assert seen["defense"] == NAME and seen["errors"] == [None, None]
    section = seen["section"]
    assert NAME in section and "test-only example" in section
    # the label-only note, worded from the class attributes alone
    assert f"{EFFECT} and keeps every predicted label" in section
    assert "label-only attack <strong>gap</strong>" in section


def test_the_defense_contract_tests_pick_a_new_module_up(package_copy):
    tests = ["tests/contract/test_defense_contract.py"]
    proc = run_in_copy(
        ["-m", "pytest", "-q", "-p", "no:cacheprovider", *tests, "-k", NAME], package_copy
    )
    assert proc.returncode == 0, proc.stdout[-3000:]
    summary = proc.stdout.strip().splitlines()[-1]
    assert " passed" in summary and "failed" not in summary
    assert int(summary.split(" passed")[0].split()[-1]) >= 2, summary
