"""A copy of the miaudit package with one module added, run in a subprocess: how the
contract tests show that a new attack or defense is one new module (issue 10)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import miaudit

ROOT = Path(__file__).resolve().parents[2]


def copy_with_module(factory: pytest.TempPathFactory, relative: str, text: str) -> Path:
    """A copy of the installed package with ``text`` written to ``miaudit/<relative>`` and
    nothing else changed; returns the folder to put on PYTHONPATH."""
    src = factory.mktemp("src")
    shutil.copytree(
        Path(miaudit.__file__).parent, src / "miaudit", ignore=shutil.ignore_patterns("__pycache__")
    )
    (src / "miaudit" / relative).write_text(text)
    return src


def run_in_copy(args: list[str], src: Path) -> subprocess.CompletedProcess:
    """``python <args>`` from the project root with the copy first on the import path."""
    env = {**os.environ, "PYTHONPATH": str(src)}
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, env=env, cwd=ROOT, timeout=600
    )
