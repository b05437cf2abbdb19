"""The output directory of a run: checked before any work, written atomically at the end.

Issue 9 item 7: an output path that was a file, an unwritable directory or a ``scores.csv``
that was a directory failed only after the audit had run, with a traceback; a rerun could
leave one run's ``results.json`` beside another's ``report.html``; a full disk lost
everything. The rules here:

* :func:`prepare_output_dir` runs before any data is loaded or model trained: the path must
  be (or become) a writable directory whose output names are free for files, and it must not
  hold the results of a *different* run (another config) unless ``overwrite`` is set. The
  same run (same config apart from ``output``) may rewrite its own directory.
* :func:`write_outputs` writes every file into a staging folder inside the directory, then
  moves them into place with ``results.json`` last, after first removing the old
  ``results.json``: ``results.json`` is the commit marker, so whenever it exists the files
  beside it belong to the same run. When a file cannot be written (disk full), the files that
  were written completely are kept, stale files of the previous run are removed, and
  :class:`~miaudit.errors.IncompleteOutputError` names what is missing.
* :func:`save_result` writes an audit's results.json, scores.csv and report.html this way
  (it lives here, not on :class:`~miaudit.results.AuditResult`, so that the result types
  import neither the pipeline nor the report).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from miaudit.errors import IncompleteOutputError, OutputError

if TYPE_CHECKING:
    from miaudit.results import AuditResult

RESULTS = "results.json"
#: config sections that do not change what an audit computes (see :func:`run_identity`)
_NOT_IDENTITY = ("output", "check", "tracking")
#: the files :func:`save_result` writes, in the order it writes them
OUTPUT_FILES = ("results.json", "scores.csv", "report.html")


def save_result(result: AuditResult, directory: str | Path, *, overwrite: bool = False) -> Path:
    """Write ``result``'s results.json, scores.csv and report.html into ``directory``,
    atomically (:func:`write_outputs`).

    Refuses (:class:`~miaudit.errors.OutputError`) a directory holding the results of a
    different run unless ``overwrite``; raises
    :class:`~miaudit.errors.IncompleteOutputError` naming the files it could not write
    (e.g. a full disk), keeping those it wrote completely.
    """
    from miaudit.report import write_html

    prepare_output_dir(
        directory,
        identity=run_identity(result.to_dict()),
        files=OUTPUT_FILES,
        overwrite=overwrite,
    )
    writers = {
        "results.json": result.to_json,
        "scores.csv": result.write_scores_csv,
        "report.html": lambda path: write_html(result, path),
    }
    return write_outputs(directory, writers)


def run_identity(results: Mapping[str, Any]) -> dict[str, Any]:
    """What makes two ``results.json`` "the same run": the kind of run and its config
    (without ``output``, which a command line may override, nor the ``check`` thresholds
    and ``tracking`` destination, which change nothing the audit computes), or, for API
    audits without a config, the title, seed, dataset and target description."""
    kind = "tradeoff" if "points" in results else "audit"
    config = results.get("config")
    if isinstance(config, Mapping):
        kept = {k: v for k, v in config.items() if k not in _NOT_IDENTITY}
        return {"kind": kind, "config": kept}
    target = results.get("target")
    target = target if isinstance(target, Mapping) else {}
    return {
        "kind": kind,
        "title": results.get("title"),
        "seed": results.get("seed"),
        "target": {k: target.get(k) for k in ("model", "params", "dataset", "num_classes")},
    }


def prepare_output_dir(
    directory: str | Path,
    *,
    identity: Mapping[str, Any] | None,
    files: tuple[str, ...],
    overwrite: bool = False,
) -> Path:
    """Check (and create) the output directory before any work is done.

    Args:
        directory: where the run writes its files.
        identity: :func:`run_identity` of the coming run's results (JSON-like values), or
            None to skip the "another run's results" check.
        files: the names the run will write (each must not be a directory).
        overwrite: allow replacing the results of a different run.

    Raises:
        OutputError: the path is a file, cannot be created or written, one of ``files`` is a
            directory, or it holds another run's results and ``overwrite`` is False.
    """
    path = Path(directory)
    if path.exists() and not path.is_dir():
        raise OutputError(f"output {str(path)!r} exists and is not a directory")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create output directory {str(path)!r}: {_reason(exc)}") from None
    for name in files:
        target = path / name
        if target.exists() and not target.is_file():
            raise OutputError(
                f"output {str(target)!r} exists and is not a file; remove it or choose another "
                "output directory"
            )
    _probe_writable(path)
    if identity is not None and not overwrite:
        _refuse_other_run(path, json.loads(json.dumps(identity, default=str)))
    return path


def write_outputs(directory: str | Path, writers: Mapping[str, Callable[[Path], Any]]) -> Path:
    """Write ``writers`` (file name -> function writing that file) atomically into
    ``directory``; ``results.json``, when present, is committed last (see the module doc).

    Raises:
        IncompleteOutputError: some files could not be written; those written completely
            are in place and the message names the missing ones.
    """
    path = Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    staging = path / f".tmp-{uuid.uuid4().hex}"
    written: list[str] = []
    failed: dict[str, str] = {}
    try:
        staging.mkdir()
        for name, write in writers.items():
            try:
                write(staging / name)
                written.append(name)
            except OSError as exc:
                failed[name] = _reason(exc)
                with contextlib.suppress(OSError):
                    (staging / name).unlink(missing_ok=True)
        if RESULTS in writers:  # the old run's marker goes first
            with contextlib.suppress(FileNotFoundError):
                (path / RESULTS).unlink()
        for name in writers:
            if name == RESULTS:
                continue
            if name in written:
                os.replace(staging / name, path / name)
            else:  # a stale file of the previous run must not sit beside the new results
                with contextlib.suppress(FileNotFoundError):
                    (path / name).unlink()
        if RESULTS in written:
            os.replace(staging / RESULTS, path / RESULTS)
    except OSError as exc:
        if staging.exists() or not failed:
            failed.setdefault("(staging)", _reason(exc))
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    if failed:
        missing = ", ".join(n for n in writers if n not in written) or "none"
        done = ", ".join(written) or "nothing"
        reason = next(iter(failed.values()))
        raise IncompleteOutputError(
            f"output {str(path)!r} is incomplete: wrote {done}; could not write {missing} "
            f"({reason}); free space and rerun (finished reference models are cached)"
        )
    return path


def _probe_writable(path: Path) -> None:
    probe = path / f".write-test-{uuid.uuid4().hex}"
    try:
        probe.write_bytes(b"")
    except OSError as exc:
        raise OutputError(
            f"output directory {str(path)!r} is not writable: {_reason(exc)}"
        ) from None
    finally:
        with contextlib.suppress(OSError):
            probe.unlink()


def _refuse_other_run(path: Path, identity: Any) -> None:
    existing = path / RESULTS
    if not existing.is_file():
        return
    try:
        old = json.loads(existing.read_text(encoding="utf-8"))
        same = isinstance(old, dict) and run_identity(old) == identity
    except (OSError, ValueError):
        same = False
    if not same:
        raise OutputError(
            f"output directory {str(path)!r} holds the results of another run; pass "
            "--overwrite (API: overwrite=True) to replace them, or choose another directory"
        )


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc)
