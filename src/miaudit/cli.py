"""Command line: ``miaudit demo | audit CONFIG | tradeoff CONFIG | report RESULTS | attacks |
defenses | datasets``.

Exit status: 0 the run completed and every attack ran; 2 bad input (config, data, output
directory, parameters), refused before any training, one line on stderr; 3 the run completed
and its results were written, but at least one attack (or sweep point) failed (its error is in
the results); 4 the run completed but some output files could not be written (e.g. a full
disk), those written completely are kept; 130 interrupted (Ctrl-C).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from miaudit.errors import IncompleteOutputError, MiauditError, one_line

EXIT_OK = 0
EXIT_BAD_INPUT = 2
EXIT_ATTACK_FAILED = 3
EXIT_OUTPUT_INCOMPLETE = 4
EXIT_INTERRUPTED = 130


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return args.func(args)
    except IncompleteOutputError as exc:
        print(f"miaudit: error: {one_line(exc, MAX_ERROR_CHARS)}", file=sys.stderr)
        return EXIT_OUTPUT_INCOMPLETE
    except MiauditError as exc:
        print(f"miaudit: error: {one_line(exc, MAX_ERROR_CHARS)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("miaudit: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


OVERWRITE_HELP = "replace the results of a different run in the output directory"
NO_CODE_HELP = (
    "refuse to import code the config names (reference.train_fn); "
    "same as MIAUDIT_NO_CONFIG_IMPORTS=1"
)
#: Longest error line printed (issue 9 item 12: an error once printed 2.1 GB).
MAX_ERROR_CHARS = 2000


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="miaudit", description="Audit machine-learning models for membership leakage."
    )
    sub = parser.add_subparsers(dest="command")

    p = sub.add_parser("demo", help="audit a random forest and an MLP on the digits data")
    p.add_argument("--output", default="runs/demo", help="output directory (default runs/demo)")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    p.add_argument("--overwrite", action="store_true", help=OVERWRITE_HELP)
    p.set_defaults(func=_cmd_demo)

    p = sub.add_parser("audit", help="run the audit a YAML config describes")
    p.add_argument("config", help="path to the YAML configuration")
    p.add_argument("--output", help="output directory (overrides the config's 'output')")
    p.add_argument("--data-dir", help="data directory (default: $MIAUDIT_DATA)")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    p.add_argument("--overwrite", action="store_true", help=OVERWRITE_HELP)
    p.add_argument("--no-code", action="store_true", help=NO_CODE_HELP)
    p.set_defaults(func=_cmd_audit)

    p = sub.add_parser("tradeoff", help="sweep defenses: privacy, utility and cost")
    p.add_argument("config", help="audit config with a 'tradeoff:' section")
    p.add_argument("--output", required=True, help="output directory")
    p.add_argument("--data-dir", help="data directory (default: $MIAUDIT_DATA)")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    p.add_argument("--overwrite", action="store_true", help=OVERWRITE_HELP)
    p.add_argument("--no-code", action="store_true", help=NO_CODE_HELP)
    p.set_defaults(func=_cmd_tradeoff)

    p = sub.add_parser("report", help="render the HTML report of a saved results.json again")
    p.add_argument("results", help="results.json of an audit or a tradeoff sweep (or its folder)")
    p.add_argument("--output", required=True, help="where to write the HTML report")
    p.set_defaults(func=_cmd_report)

    p = sub.add_parser("defenses", help="list the defenses")
    p.set_defaults(func=_cmd_defenses)

    p = sub.add_parser("attacks", help="list the attacks and their threat models")
    p.set_defaults(func=_cmd_attacks)

    p = sub.add_parser("datasets", help="list the data sets")
    p.add_argument("--data-dir", help="data directory (default: $MIAUDIT_DATA)")
    p.set_defaults(func=_cmd_datasets)
    return parser


def _cmd_demo(args: argparse.Namespace) -> int:
    from miaudit.demo import run_demo

    results = run_demo(args.output, progress=not args.no_progress, overwrite=args.overwrite)
    for name, result in results.items():
        print(result.summary())
        print(f"report: {args.output}/{name}/report.html\n")
    return _attack_status(*_failed_attacks(list(results.values())))


def _cmd_audit(args: argparse.Namespace) -> int:
    from miaudit.pipeline import load_config, run_config

    config = load_config(args.config)
    output = args.output or config.output
    if output is None:
        raise MiauditError("no output directory: set 'output' in the config or pass --output")
    result = run_config(
        config,
        output=output,
        data_dir=args.data_dir,
        progress=not args.no_progress,
        overwrite=args.overwrite,
        allow_imports=False if args.no_code else None,
    )
    print(result.summary())
    print(f"results: {output}/results.json  report: {output}/report.html")
    return _attack_status(*_failed_attacks([result]))


def _cmd_tradeoff(args: argparse.Namespace) -> int:
    from miaudit.pipeline.tradeoff import run_tradeoff, table

    points = run_tradeoff(
        args.config,
        output=args.output,
        data_dir=args.data_dir,
        progress=not args.no_progress,
        overwrite=args.overwrite,
        allow_imports=False if args.no_code else None,
    )
    print(table(points))
    print(f"results: {args.output}/results.json  report: {args.output}/report.html")
    return _attack_status(*_failed_points(points))


def _cmd_report(args: argparse.Namespace) -> int:
    from miaudit.errors import OutputError
    from miaudit.report import write_html, write_tradeoff_html
    from miaudit.results import load_result, load_tradeoff, read_results_json, results_kind

    kind = results_kind(read_results_json(args.results), repr(args.results))
    try:
        if kind == "tradeoff":
            write_tradeoff_html(load_tradeoff(args.results), args.output)
        else:
            write_html(load_result(args.results), args.output)
    except OSError as exc:  # reading errors are DataErrors already; this is the output
        raise OutputError(f"cannot write {args.output!r}: {exc.strerror or exc}") from None
    print(f"report: {args.output}")
    return EXIT_OK


def _attack_status(failures: list[tuple[str, str]], total: int) -> int:
    """Exit status 3, with one line on stderr naming the failures and the first error, when
    any attack or sweep point failed."""
    if not failures:
        return EXIT_OK
    names = ", ".join(name for name, _ in failures)
    first = one_line(failures[0][1], 300)
    print(
        f"miaudit: {len(failures)} of {total} failed ({names}); first error: {first}; "
        "all errors are in results.json",
        file=sys.stderr,
    )
    return EXIT_ATTACK_FAILED


def _failed_attacks(results: list) -> tuple[list[tuple[str, str]], int]:
    attacks = [a for r in results for a in r.attacks]
    return [(a.name, a.error) for a in attacks if a.error is not None], len(attacks)


def _failed_points(points: list) -> tuple[list[tuple[str, str]], int]:
    failed = []
    for p in points:
        label = p.defense if p.value is None else f"{p.defense}={p.value}"
        if p.error is not None:
            failed.append((label, p.error))
        failed += [(f"{label}:{name}", "see the point's results") for name in p.failed_attacks]
    return failed, len(points)


def _cmd_defenses(args: argparse.Namespace) -> int:
    from miaudit.defenses import DEFENSES

    w = max(len(n) for n in DEFENSES.names()) + 1
    for name in DEFENSES.names():
        cls = DEFENSES.get(name)
        knob = cls.strength_param or "-"
        print(f"{name:<{w}} {cls.kind:<10} {knob:<18} {cls.paper}")
    return 0


def _cmd_attacks(args: argparse.Namespace) -> int:
    from miaudit.attacks import ATTACKS

    w = max(len(n) for n in ATTACKS.names()) + 1
    header = f"{'attack':<{w}} {'knowledge':<25} {'shadow':<7} {'same-dist':<10} {'arch':<5} paper"
    print(header)
    print("-" * len(header))
    yes = {True: "yes", False: "no"}
    for name in ATTACKS.names():
        cls = ATTACKS.get(name)
        tm = cls.threat_model
        print(
            f"{name:<{w}} {tm.knowledge:<25} {yes[tm.needs_shadow_models]:<7} "
            f"{yes[tm.needs_same_distribution_data]:<10} {yes[tm.needs_architecture]:<5} "
            f"{tm.paper}"
        )
        print(f"{'':<{w}} needs: {cls.requires.describe()}")  # its declared Needs
    return 0


def _cmd_datasets(args: argparse.Namespace) -> int:
    from miaudit.data import list_datasets

    for info in list_datasets(data_dir=args.data_dir):
        where = "local" if info.local else "download"
        print(f"{info.name:<14} {where:<9} {info.description}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
