"""The output directory (issue 9 item 7) and the command line's exit statuses (item 8).

An unusable output is refused before any data is loaded or model trained; outputs are
written atomically (``results.json`` last, as the commit marker); a full disk keeps the
files written completely and names the missing ones; another config's results are not
overwritten without ``--overwrite``.
"""

import errno
import json

import numpy as np
import pytest
import yaml

import miaudit.pipeline.run as run_module
from miaudit.attacks.yeom import LossAttack
from miaudit.cli import main
from miaudit.errors import IncompleteOutputError, OutputError
from miaudit.pipeline import run_config
from miaudit.pipeline.output import OUTPUT_FILES, prepare_output_dir, write_outputs
from tests.integration.conftest import fill_disk

TINY = {
    "seed": 1,
    "dataset": {"name": "digits"},
    "split": {"members": 100, "nonmembers": 100},
    "target": {"model": "logistic_regression"},
    "attacks": ["gap", "loss"],
    "evaluation": {"bootstrap": 10, "random_queries": 50},
}


@pytest.fixture
def no_work(monkeypatch):
    """Make loading the data set fail loudly: an output check must come before it."""

    def boom(*args, **kwargs):
        raise AssertionError("the data set was loaded before the output directory was checked")

    monkeypatch.setattr(run_module, "load_dataset", boom)


def run_cli(tmp_path, config, *extra, capsys):
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    code = main(["audit", str(path), "--no-progress", *extra])
    return code, capsys.readouterr()


def test_output_that_is_a_file_is_refused_before_any_work(tmp_path, no_work, capsys):
    target = tmp_path / "out"
    target.write_text("not a directory")
    code, captured = run_cli(tmp_path, {**TINY, "output": str(target)}, capsys=capsys)
    assert code == 2
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and "exists and is not a directory" in lines[0]
    assert target.read_text() == "not a directory"


def test_output_file_name_taken_by_a_directory_is_refused(tmp_path, no_work):
    (tmp_path / "out" / "scores.csv").mkdir(parents=True)
    with pytest.raises(OutputError, match="scores.csv' exists and is not a file"):
        run_config(TINY, output=tmp_path / "out", progress=False)


def test_unwritable_output_is_refused_before_any_work(no_work):
    # /proc refuses new directories even to root (file permissions would not stop root)
    with pytest.raises(OutputError, match="cannot create output directory"):
        run_config(TINY, output="/proc/miaudit-test-output", progress=False)


def test_another_configs_results_are_not_overwritten(tmp_path, capsys):
    out = tmp_path / "out"
    first = run_config(TINY, output=out, progress=False)
    # the same config may rewrite its own results
    again = run_config(TINY, output=out, progress=False)
    assert again.attack("loss").metrics == first.attack("loss").metrics
    other = {**TINY, "seed": 2, "output": str(out)}
    code, captured = run_cli(tmp_path, other, capsys=capsys)
    assert code == 2 and "holds the results of another run" in captured.err
    assert "--overwrite" in captured.err
    assert json.loads((out / "results.json").read_bytes())["seed"] == 1
    code, captured = run_cli(tmp_path, other, "--overwrite", capsys=capsys)
    assert code == 0, captured.err
    assert json.loads((out / "results.json").read_bytes())["seed"] == 2


def test_unreadable_results_count_as_another_run(tmp_path):
    (tmp_path / "results.json").write_text("{truncated")
    with pytest.raises(OutputError, match="another run"):
        prepare_output_dir(tmp_path, identity={"kind": "audit"}, files=OUTPUT_FILES)
    prepare_output_dir(tmp_path, identity={"kind": "audit"}, files=OUTPUT_FILES, overwrite=True)


def _writer(text):
    def write(path):
        path.write_text(text)

    return write


def _full_disk(path):
    raise OSError(errno.ENOSPC, "No space left on device", str(path))


def test_full_disk_keeps_complete_files_and_names_the_missing(tmp_path):
    # an earlier run's complete set
    write_outputs(
        tmp_path, {n: _writer(f"old {n}") for n in ("results.json", "scores.csv", "report.html")}
    )
    writers = {
        "results.json": _writer("new results"),
        "scores.csv": _writer("new scores"),
        "report.html": _full_disk,
    }
    with pytest.raises(IncompleteOutputError) as info:
        write_outputs(tmp_path, writers)
    message = str(info.value)
    assert "wrote results.json, scores.csv" in message
    assert "could not write report.html" in message and "No space left" in message
    assert (tmp_path / "results.json").read_text() == "new results"
    assert (tmp_path / "scores.csv").read_text() == "new scores"
    # the old run's report must not sit beside the new results
    assert not (tmp_path / "report.html").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.json", "scores.csv"]


def test_results_json_is_committed_last(tmp_path, monkeypatch):
    """A kill between two renames leaves either no results.json or a complete new set."""
    import miaudit.pipeline.output as output

    write_outputs(tmp_path, {n: _writer(f"old {n}") for n in OUTPUT_FILES})
    order = []
    real_replace = output.os.replace

    def spy(src, dst):
        order.append((src.name, (tmp_path / "results.json").exists()))
        real_replace(src, dst)

    monkeypatch.setattr(output.os, "replace", spy)
    write_outputs(tmp_path, {n: _writer(f"new {n}") for n in OUTPUT_FILES})
    assert [name for name, _ in order] == ["scores.csv", "report.html", "results.json"]
    # while the other files were replaced, no results.json claimed them
    assert not any(exists for _, exists in order)
    assert {p.name: p.read_text() for p in tmp_path.iterdir()} == {
        n: f"new {n}" for n in OUTPUT_FILES
    }


def test_full_disk_in_an_audit_exits_4_with_results_kept(tmp_path, monkeypatch, capsys):
    import miaudit.report

    monkeypatch.setattr(miaudit.report, "write_html", lambda result, path: _full_disk(path))
    out = tmp_path / "out"
    code, captured = run_cli(tmp_path, {**TINY, "output": str(out)}, capsys=capsys)
    assert code == 4
    assert "could not write report.html" in captured.err
    assert "Traceback" not in captured.err
    results = json.loads((out / "results.json").read_text())
    assert [a["name"] for a in results["attacks"]] == ["gap", "loss"]
    assert (out / "scores.csv").read_text().count("\n") == 201


def test_attack_failing_at_run_time_exits_3(tmp_path, monkeypatch, capsys):
    def broken(self, outputs):
        raise RuntimeError("simulated attack bug")

    monkeypatch.setattr(LossAttack, "_score", broken)
    out = tmp_path / "out"
    code, captured = run_cli(tmp_path, {**TINY, "output": str(out)}, capsys=capsys)
    assert code == 3
    assert "1 of 2 failed (loss); first error: " in captured.err
    assert "simulated attack bug" in captured.err and len(captured.err.splitlines()) == 1
    results = json.loads((out / "results.json").read_text())
    assert results["attacks"][1]["error"].endswith("simulated attack bug")
    assert results["attacks"][0]["error"] is None
    assert np.isfinite(results["attacks"][0]["auc"])


def test_real_full_disk_keeps_results_and_a_rerun_completes_them(small_disk, capsys):
    out = small_disk / "out"
    fill_disk(small_disk, 48 * 1024)  # room for results.json and scores.csv, not the report
    config = {**TINY, "output": str(out)}
    code, captured = run_cli(small_disk.parent, config, capsys=capsys)
    assert code == 4, captured.err
    err = captured.err.strip().splitlines()
    assert len(err) == 1 and "could not write report.html" in err[0], err
    partial = json.loads((out / "results.json").read_text())  # complete, valid JSON
    assert (out / "scores.csv").read_text().count("\n") == 201
    assert not (out / "report.html").exists()
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no staging left behind
    (small_disk / "filler").unlink()
    code, captured = run_cli(small_disk.parent, config, capsys=capsys)
    assert code == 0, captured.err
    full = json.loads((out / "results.json").read_text())
    volatile = ("created", "timings")
    assert {k: v for k, v in full.items() if k not in volatile} == {
        k: v for k, v in partial.items() if k not in volatile
    }
    assert (out / "report.html").stat().st_size > 0
