"""Adding an attack is adding one module (issue 10's constraint), shown end to end.

A copy of the package gets one new file, ``attacks/zz_example.py``, and nothing else; in a
subprocess that imports the copy, the attack is registered (the other attacks keep their
order, the order ``attacks: all`` runs them in), the contract tests pick it up, and an
audit's rendered report shows it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from miaudit.attacks import ATTACKS
from tests.contract.package_copy import copy_with_module, run_in_copy

NAME = "zz_true_class_confidence"
MODULE = f'''"""A test-only attack (no paper): score = the target's confidence in the true class."""

import numpy as np

from miaudit.attacks.base import Attack, Needs, ThreatModel, register_attack
from miaudit.outputs import ModelOutputs
from miaudit.signals import true_class_confidence


@register_attack
class TrueClassConfidence(Attack):
    name = "{NAME}"
    requires = Needs()
    threat_model = ThreatModel(
        knowledge="black-box probabilities",
        needs_shadow_models=False,
        needs_same_distribution_data=False,
        needs_architecture=False,
        paper="test-only example",
    )

    def _score(self, outputs: ModelOutputs) -> np.ndarray:
        return true_class_confidence(outputs)
'''

AUDIT = f"""
import json, sys
import numpy as np
from sklearn.linear_model import LogisticRegression
import miaudit
from miaudit.attacks import ATTACKS
from miaudit.report import render_html

rng = np.random.default_rng(0)
x = rng.normal(size=(300, 5)).astype(np.float32)
y = rng.integers(0, 3, 300)
model = LogisticRegression(max_iter=300).fit(x[:100], y[:100])
result = miaudit.audit(model, members=(x[:100], y[:100]), nonmembers=(x[100:200], y[100:200]),
                       population=(x[200:], y[200:]), attacks="all", bootstrap=0,
                       random_queries=20, progress=False)
html = render_html(result)
print(json.dumps({{"file": miaudit.__file__, "names": ATTACKS.names(),
                  "ran": [a.name for a in result.attacks if a.error is None],
                  "in_report": "{NAME}" in html}}))
"""


@pytest.fixture(scope="module")
def package_copy(tmp_path_factory) -> Path:
    """A copy of the package with one new attack module in attacks/, nothing else changed."""
    return copy_with_module(tmp_path_factory, "attacks/zz_example.py", MODULE)


def test_a_new_module_is_registered_and_reported(package_copy):
    proc = run_in_copy(["-c", AUDIT], package_copy)
    assert proc.returncode == 0, proc.stderr
    seen = json.loads(proc.stdout.strip().splitlines()[-1])
    assert Path(seen["file"]).is_relative_to(package_copy)
    before = ATTACKS.names()
    assert NAME not in before
    assert seen["names"] == sorted([*before, NAME])
    assert [n for n in seen["names"] if n != NAME] == before  # "all" keeps its order
    assert NAME in seen["ran"] and seen["in_report"]


def test_the_contract_tests_pick_a_new_module_up(package_copy):
    tests = ["tests/contract/test_attack_contract.py", "tests/contract/test_uses_population.py"]
    proc = run_in_copy(
        ["-m", "pytest", "-q", "-p", "no:cacheprovider", *tests, "-k", NAME], package_copy
    )
    assert proc.returncode == 0, proc.stdout[-3000:]
    summary = proc.stdout.strip().splitlines()[-1]
    assert " passed" in summary and "failed" not in summary
    assert int(summary.split(" passed")[0].split()[-1]) >= 8, summary
