"""The fuzz corpus (issue 9, "the suite that keeps it fixed"): malformed configs and data.

Every file in ``cases/`` is one probe (see ``runner.py`` for its header). Each must end with
exit status 2 (or the ``# exit:`` its header names), exactly one line on stderr containing
its ``# expect:`` text, no traceback, within :data:`runner.CASE_SECONDS` and under the
runner's address-space limit. All cases run in one subprocess that imports miaudit once
(about 10 s of imports, then milliseconds to seconds per case). To add a case, add a file.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fuzz.runner import CASE_SECONDS, parse_header

HERE = Path(__file__).resolve().parent
CASES = sorted(p for p in (HERE / "cases").iterdir() if p.is_file() and not p.name.startswith("."))
#: Longest stderr line accepted (the CLI cuts messages at 2000 characters).
MAX_LINE = 2000
#: Peak resident memory a case may add to the runner's (MB); the address-space limit is the
#: hard bound, this catches a case that allocates a lot and then fails.
MAX_RSS_GROWTH_MB = 1500


def _param(case: Path):
    header = parse_header(case.read_bytes())
    marks = []
    if "xfail" in header:
        marks.append(pytest.mark.xfail(reason=header["xfail"][0], strict=False))
    return pytest.param(case, header, id=case.stem, marks=marks)


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> dict[str, dict]:
    """Run the whole corpus once (one subprocess) and read its JSON lines."""
    work = tmp_path_factory.mktemp("fuzz")
    sink = work / "results.jsonl"
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "MALLOC_ARENA_MAX": "2",  # each glibc arena reserves 64 MB of address space
    }
    env.pop("MIAUDIT_NO_CONFIG_IMPORTS", None)
    proc = subprocess.run(
        [sys.executable, str(HERE / "runner.py"), str(HERE / "cases"), str(work / "w"), str(sink)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        cwd=HERE.parents[1],
    )
    found = {}
    if sink.exists():
        for line in sink.read_text().splitlines():
            record = json.loads(line)
            found[record["case"]] = record
    if proc.returncode != 0 and len(found) < len(CASES):
        pytest.fail(f"the fuzz runner died (status {proc.returncode}): {proc.stderr[-3000:]}")
    return found


@pytest.mark.timeout(900)
@pytest.mark.parametrize(("case", "header"), [_param(c) for c in CASES])
def test_case(results, case: Path, header: dict[str, list[str]]) -> None:
    assert case.name in results, "the runner recorded no result (it crashed on this case?)"
    r = results[case.name]
    probe = header.get("probe", ["?"])[0]
    assert r["status"] == "done", f"{probe}: {r['status']}\n{r['stderr']}"
    assert "Traceback" not in r["stderr"], f"{probe}: traceback\n{r['stderr']}"
    assert r["exit"] == r["expected_exit"], f"{probe}: exit {r['exit']}\n{r['stderr']}"
    assert r["seconds"] < CASE_SECONDS
    assert r["peak_rss_growth_mb"] < MAX_RSS_GROWTH_MB
    if r["expected_exit"] == 0:
        return
    lines = r["stderr"].splitlines()
    assert len(lines) == 1, f"{probe}: {len(lines)} stderr lines\n{r['stderr'][:3000]}"
    assert len(lines[0]) <= MAX_LINE + 100
    assert lines[0].startswith("miaudit: error: ")
    expect = header["expect"][0]
    assert expect in lines[0], f"{probe}: {expect!r} not in {lines[0]!r}"


def test_corpus_is_large_and_every_case_is_described():
    assert len(CASES) >= 60
    for case in CASES:
        header = parse_header(case.read_bytes())
        assert "probe" in header, case.name
        assert "expect" in header or header.get("exit") == ["0"], case.name
