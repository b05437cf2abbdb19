"""Run every fuzz case through ``miaudit.cli.main`` in one process; write JSON results.

    python tests/fuzz/runner.py CASES_DIR WORK_DIR RESULTS.jsonl [CASE ...]

miaudit (and torch) are imported once; each case then runs in a few milliseconds to seconds,
with its stdout and stderr captured, its environment variables set and restored, a wall-clock
limit (SIGALRM) and the whole process under an address-space limit (RLIMIT_AS: what it
holds after the imports plus :data:`MEMORY_HEADROOM`), so a case that tries to allocate
gigabytes fails instead of swapping. One JSON line per case is appended as soon as it ends,
so a crash of the process still leaves the finished cases' results.

A case file starts with ``#`` header lines (ASCII; the rest of the file may be any bytes):

    # probe: what it probes (free text)
    # expect: a substring of the single stderr line
    # exit: 2                (optional; default 2)
    # args: --no-code        (optional extra CLI arguments; default --output $OUT)
    # env: NAME=VALUE        (optional, repeatable)
    # generate: NAME         (optional: the file's content is fixtures.CONTENT[NAME]())
    # config: $DIR           (optional: pass this path as the config instead of the file)
    # xfail: depends on item N   (optional: read by the pytest side only)

Tokens replaced in the content and arguments: ``$DATA(NAME)`` (a data file made by
``fixtures.DATA[NAME]``), ``$OUT`` (a fresh output folder path), ``$FILE`` (an existing
regular file), ``$DIR`` (the case's work folder).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import resource
import signal
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
#: Address space allowed beyond what the process holds after importing miaudit.
MEMORY_HEADROOM = 3 << 30
#: Wall-clock limit of one case (seconds).
CASE_SECONDS = 20

_TOKEN = re.compile(rb"\$DATA\(([a-z_0-9]+)\)")


class CaseTimeout(BaseException):
    """Raised by SIGALRM; a BaseException so that ``except Exception`` cannot swallow it."""


def parse_header(data: bytes) -> dict[str, list[str]]:
    """The ``# key: value`` lines at the top of a case file."""
    header: dict[str, list[str]] = {}
    for raw in data.splitlines():
        if not raw.startswith(b"#"):
            break
        line = raw[1:].decode("ascii", "replace").strip()
        key, sep, value = line.partition(":")
        if sep and key.strip().isidentifier():
            header.setdefault(key.strip(), []).append(value.strip())
    return header


def _substitute(data: bytes, work: Path, fixtures) -> bytes:
    def make(match: re.Match) -> bytes:
        name = match.group(1).decode()
        return str(fixtures.DATA[name](work / f"data_{name}")).encode()

    data = _TOKEN.sub(make, data)
    return (
        data.replace(b"$OUT", str(work / "out").encode())
        .replace(b"$FILE", str(work / "a_file.txt").encode())
        .replace(b"$DIR", str(work).encode())
    )


def prepare(case: Path, work: Path, fixtures) -> tuple[list[str], dict[str, str], int]:
    """Write the case's config (and data) into ``work``; return (argv, env, expected exit)."""
    data = case.read_bytes()
    header = parse_header(data)
    work.mkdir(parents=True)
    (work / "a_file.txt").write_text("a regular file\n")
    if "generate" in header:
        data = fixtures.CONTENT[header["generate"][0]]()
    config = work / "config.yaml"
    config.write_bytes(_substitute(data, work, fixtures))
    extra = " ".join(header.get("args", [])) or "--output $OUT"
    args = _substitute(extra.encode(), work, fixtures).decode().split()
    env = dict(item.split("=", 1) for item in header.get("env", []))
    expected = int(header.get("exit", ["2"])[0])
    if "config" in header:
        config = Path(_substitute(header["config"][0].encode(), work, fixtures).decode())
    return ["audit", str(config), "--no-progress", *args], env, expected


def _alarm(signum, frame):
    raise CaseTimeout


def run_case(case: Path, work: Path, fixtures, main) -> dict:
    try:
        argv, env, expected = prepare(case, work, fixtures)
    except Exception:  # noqa: BLE001 -- a broken case file must not stop the others
        return {"case": case.name, "status": "setup error", "stderr": traceback.format_exc()}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    out, err = io.StringIO(), io.StringIO()
    status, code = "done", None
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    signal.setitimer(signal.ITIMER_REAL, CASE_SECONDS)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(argv)
            except SystemExit as exc:  # argparse
                code = exc.code if isinstance(exc.code, int) else 1
    except CaseTimeout:
        status = "timeout"
    except BaseException:  # noqa: BLE001 -- a traceback is a finding, recorded
        status = "traceback"
        err.write(traceback.format_exc())
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    seconds = time.perf_counter() - start
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "case": case.name,
        "status": status,
        "exit": code,
        "expected_exit": expected,
        "stderr": err.getvalue()[:20_000],
        "stderr_chars": len(err.getvalue()),
        "stdout_tail": out.getvalue()[-2000:],
        "seconds": round(seconds, 3),
        "peak_rss_growth_mb": round((rss_after - rss_before) / 1024, 1),
    }


def _vm_size() -> int:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 1 << 30  # unknown (not Linux): assume a 1 GiB process


def main(argv: list[str]) -> int:
    cases_dir, work_dir, results = Path(argv[0]), Path(argv[1]), Path(argv[2])
    only = set(argv[3:])
    sys.path.insert(0, str(HERE))  # fixtures and fuzz_train_fns
    import fixtures

    from miaudit.cli import main as cli_main

    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = _vm_size() + MEMORY_HEADROOM
    if hard == resource.RLIM_INFINITY or limit < hard:
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    signal.signal(signal.SIGALRM, _alarm)
    cases = sorted(p for p in cases_dir.iterdir() if p.is_file() and not p.name.startswith("."))
    with results.open("a") as sink:
        for case in cases:
            if only and case.name not in only:
                continue
            result = run_case(case, work_dir / case.stem, fixtures, cli_main)
            sink.write(json.dumps(result) + "\n")
            sink.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
