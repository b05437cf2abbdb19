"""Command line: ``miaudit demo | audit CONFIG | check CONFIG | tradeoff CONFIG | owner CONFIG |
user-audit CONFIG | canaries CONFIG | report RESULTS | attacks | defenses | datasets``.

Exit status: 0 the run completed and every attack ran; 2 bad input (config, data, output
directory, parameters), refused before any training, one line on stderr; 3 the run completed
and its results were written, but at least one attack (or sweep point) failed (its error is in
the results); 4 the run completed but some output files could not be written (e.g. a full
disk), those written completely are kept; 5 the results were written but logging them to the
tracking store (``tracking:``) failed, or the store could not be reached before the run;
130 interrupted (Ctrl-C).

``check`` (the privacy gate, :mod:`miaudit.gate`): 0 every threshold holds; 1 a threshold
is exceeded (each named on stderr); 2 bad input, including thresholds the audit cannot
answer; 3 no threshold is exceeded but one could not be checked because an attack it
applies to failed; 5 every threshold holds but tracking failed.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from miaudit.errors import (
    IncompleteOutputError,
    MiauditError,
    ServiceUnavailable,
    TrackingError,
    one_line,
)

EXIT_OK = 0
EXIT_BAD_INPUT = 2
EXIT_ATTACK_FAILED = 3
EXIT_OUTPUT_INCOMPLETE = 4
EXIT_TRACKING_FAILED = 5
EXIT_THRESHOLD_EXCEEDED = 1
EXIT_SERVICE_UNAVAILABLE = 6
EXIT_INTERRUPTED = 130


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return args.func(args)
    except BrokenPipeError:
        # the reader went away (`miaudit attacks | head`): not an error of ours; stdout is
        # pointed at devnull so the interpreter's final flush cannot raise again
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except ServiceUnavailable as exc:
        print(f"miaudit: error: {one_line(exc, MAX_ERROR_CHARS)}", file=sys.stderr)
        return EXIT_SERVICE_UNAVAILABLE
    except IncompleteOutputError as exc:
        print(f"miaudit: error: {one_line(exc, MAX_ERROR_CHARS)}", file=sys.stderr)
        return EXIT_OUTPUT_INCOMPLETE
    except TrackingError as exc:
        print(f"miaudit: error: {one_line(exc, MAX_ERROR_CHARS)}", file=sys.stderr)
        return EXIT_TRACKING_FAILED
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

    p = sub.add_parser(
        "check",
        help="a privacy gate for CI: audit, then exit 1 when a threshold is exceeded",
        description=CHECK_DESCRIPTION,
    )
    p.add_argument(
        "config",
        help="a YAML config (runs the audit), or a saved audit's results.json or its folder",
    )
    p.add_argument("--max-auc", metavar="X", help="largest AUC allowed, in [0, 1]")
    p.add_argument(
        "--max-tpr",
        metavar="FPR:TPR",
        action="append",
        help="largest TPR allowed at an FPR level, fractions (e.g. 0.001:0.01); repeatable",
    )
    p.add_argument(
        "--max-epsilon", metavar="E", help="largest DP accountant epsilon allowed (dp_sgd), > 0"
    )
    p.add_argument(
        "--strict",
        action="store_true",
        help="compare the upper end of each 95%% confidence interval, not the point estimate",
    )
    p.add_argument("--output", help="output directory (overrides the config's 'output')")
    p.add_argument("--data-dir", help="data directory (default: $MIAUDIT_DATA)")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    p.add_argument("--overwrite", action="store_true", help=OVERWRITE_HELP)
    p.add_argument("--no-code", action="store_true", help=NO_CODE_HELP)
    p.set_defaults(func=_cmd_check)

    p = sub.add_parser("tradeoff", help="sweep defenses: privacy, utility and cost")
    p.add_argument("config", help="audit config with a 'tradeoff:' section")
    p.add_argument("--output", required=True, help="output directory")
    p.add_argument("--data-dir", help="data directory (default: $MIAUDIT_DATA)")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    p.add_argument("--overwrite", action="store_true", help=OVERWRITE_HELP)
    p.add_argument("--no-code", action="store_true", help=NO_CODE_HELP)
    p.set_defaults(func=_cmd_tradeoff)

    p = sub.add_parser(
        "canaries",
        help="canary exposure of a language model (Carlini et al. 2019, The Secret Sharer)",
    )
    p.add_argument("config", help="YAML config (text, tokenizer, target, canaries, seed)")
    p.add_argument("--output", help="output directory (overrides the config's 'output')")
    p.add_argument("--data-dir", help="data directory (default: $MIAUDIT_DATA)")
    p.set_defaults(func=_cmd_canaries)

    p = sub.add_parser(
        "owner", help="a data owner's test: were these records used to train the model?"
    )
    p.add_argument(
        "config", help="YAML config (dataset or text, target, owner, reference_nonmembers)"
    )
    p.add_argument("--output", help="output directory (overrides the config's 'output')")
    p.add_argument("--data-dir", help="data directory (default: $MIAUDIT_DATA)")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    p.add_argument("--overwrite", action="store_true", help=OVERWRITE_HELP)
    p.set_defaults(func=_cmd_owner)

    p = sub.add_parser(
        "user-audit", help="user-level audit of a text model: whose texts were used?"
    )
    p.add_argument("config", help="YAML config (text, tokenizer, target, user_audit)")
    p.add_argument("--output", help="output directory (overrides the config's 'output')")
    p.add_argument("--data-dir", help="data directory (default: $MIAUDIT_DATA)")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    p.add_argument("--overwrite", action="store_true", help=OVERWRITE_HELP)
    p.set_defaults(func=_cmd_user_audit)

    p = sub.add_parser(
        "aggregate", help="was a record in the cohort behind released means? p-values"
    )
    p.add_argument("config", help="YAML config (dataset, cohort, release, reference, records)")
    p.add_argument("--output", help="output directory (overrides the config's 'output')")
    p.add_argument("--data-dir", help="data directory (default: $MIAUDIT_DATA)")
    p.set_defaults(func=_cmd_aggregate)

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
    from miaudit.pipeline._yaml import read_yaml
    from miaudit.pipeline.config import parse_config
    from miaudit.pipeline.generative_config import is_generative_config
    from miaudit.pipeline.lm_config import is_lm_config
    from miaudit.pipeline.run import check_tracking_before_work

    raw = read_yaml(args.config)
    if is_lm_config(raw):
        return _audit_lm(args, raw)
    if is_generative_config(raw):
        return _audit_generative(args, raw)
    config = parse_config(
        raw, source=str(args.config), allow_imports=False if args.no_code else None
    )
    output = _output_dir(args, config)
    check_tracking_before_work(config, output)
    result = _run(args, config, output)
    print(result.summary())
    print(f"results: {output}/results.json  report: {output}/report.html")
    status = _attack_status(*_failed_attacks([result]))
    return _track(config.tracking, result, output, status)


def _audit_lm(args: argparse.Namespace, raw: object) -> int:
    """A language-model audit (a config with a ``text:`` section, issue 12)."""
    from miaudit.pipeline.lm_audit import run_lm_config
    from miaudit.pipeline.lm_config import parse_lm_config

    config = parse_lm_config(raw, source=str(args.config))
    output = _output_dir(args, config)
    result = run_lm_config(
        config,
        output=output,
        data_dir=args.data_dir,
        progress=not args.no_progress,
        overwrite=args.overwrite,
    )
    print(result.summary())
    print(f"results: {output}/results.json  report: {output}/report.html")
    return _attack_status(*_failed_attacks([result]))


def _audit_generative(args: argparse.Namespace, raw: object) -> int:
    """A generative-model audit (a config with an ``images:`` section, issue 14)."""
    from miaudit.pipeline.generative_audit import run_generative_config
    from miaudit.pipeline.generative_config import parse_generative_config

    config = parse_generative_config(raw, source=str(args.config))
    output = _output_dir(args, config)
    result = run_generative_config(
        config, output=output, data_dir=args.data_dir, overwrite=args.overwrite
    )
    print(result.summary())
    print(f"results: {output}/results.json  report: {output}/report.html")
    return _attack_status(*_failed_attacks([result]))


CHECK_DESCRIPTION = (
    "Run the audit a config describes (or read a saved one) and compare it with thresholds: "
    "exit 0 when every threshold holds, 1 when one is exceeded, 2 on bad input, 3 when a "
    "threshold could not be checked because an attack failed. Thresholds come from the "
    "options and the config's check: section (options replace the config's audit-wide "
    "ones). Writes check.md and check.junit.xml beside results.json."
)


def _cmd_check(args: argparse.Namespace) -> int:
    from pathlib import Path

    from miaudit.gate import parse_cli_thresholds

    cli = parse_cli_thresholds(
        max_auc=args.max_auc,
        max_tpr=args.max_tpr or (),
        max_epsilon=args.max_epsilon,
        strict=args.strict,
    )
    path = Path(args.config)
    if path.is_dir() or path.suffix.lower() == ".json":
        return _check_saved(args, path, cli)
    return _check_config(args, cli)


def _check_config(args: argparse.Namespace, cli) -> int:
    """``miaudit check CONFIG``: every threshold checked before the audit runs."""
    from miaudit.gate import CHECK_FILES, Thresholds
    from miaudit.pipeline import load_config
    from miaudit.pipeline.config import check_thresholds_apply
    from miaudit.pipeline.output import prepare_output_dir
    from miaudit.pipeline.run import check_tracking_before_work

    config = load_config(args.config, allow_imports=False if args.no_code else None)
    thresholds = (config.check or Thresholds()).merged(cli)
    _require_thresholds(thresholds)
    check_thresholds_apply(config, thresholds, source=args.config)
    output = _output_dir(args, config)
    prepare_output_dir(output, identity=None, files=CHECK_FILES)  # names free for files
    check_tracking_before_work(config, output)
    result = _run(args, config, output)
    print(result.summary())
    status, report = _gate(result, thresholds, output, f"{output}/results.json")
    checked = {v.subject for o in report.outcomes for v in o.values}
    unchecked = [name for name, _ in _failed_attacks([result])[0] if name not in checked]
    if unchecked:  # failed, but no threshold applies to them: say so, the gate stands
        print(
            f"miaudit: note: attacks {', '.join(unchecked)} failed and no threshold applies "
            "to them; their errors are in results.json",
            file=sys.stderr,
        )
    return _track(config.tracking, result, output, status, report=report)


def _check_saved(args: argparse.Namespace, path, cli) -> int:
    """``miaudit check RESULTS``: the saved audit, not rerun (nor logged again)."""
    from miaudit.errors import ConfigError
    from miaudit.gate import Thresholds, parse_check_section
    from miaudit.results import RESULTS_JSON, SCORES_CSV, AuditResult, load_result

    extra = [
        f"--{k.replace('_', '-')}"
        for k in ("output", "data_dir", "overwrite", "no_code")
        if getattr(args, k)
    ]
    if extra:
        raise ConfigError(f"{', '.join(extra)}: only with a CONFIG (a saved audit is not rerun)")
    results = path / RESULTS_JSON if path.is_dir() else path
    audit = AuditResult.from_json(results)
    if (results.parent / SCORES_CSV).is_file():
        audit = load_result(results)  # the scores, for FPR levels results.json lacks
    section = (audit.config or {}).get("check")
    stored = Thresholds() if section is None else parse_check_section(section, str(results))
    thresholds = stored.merged(cli)
    _require_thresholds(thresholds)
    return _gate(audit, thresholds, results.parent, str(results))[0]


def _require_thresholds(thresholds) -> None:
    from miaudit.errors import ConfigError

    if not thresholds.items:
        raise ConfigError(
            "no thresholds: give --max-auc, --max-tpr FPR:TPR or --max-epsilon, or a check: "
            "section in the config"
        )


def _gate(result, thresholds, directory, results_path: str) -> tuple[int, object]:
    """Compare ``result`` with ``thresholds``, write check.md and check.junit.xml into
    ``directory``, print the verdict; the exit status (0, 1 or 3) and the gate's report."""
    from miaudit.gate import CHECK_JUNIT, CHECK_MD, check_junit, check_markdown, evaluate_gate
    from miaudit.pipeline.output import write_outputs

    report = evaluate_gate(result, thresholds)
    md = check_markdown(report, result, results_path)
    xml = check_junit(report, result, results_path)
    write_outputs(
        directory,
        {
            CHECK_MD: lambda p: p.write_text(md, encoding="utf-8"),
            CHECK_JUNIT: lambda p: p.write_text(xml, encoding="utf-8"),
        },
    )
    for o in report.outcomes:
        print(f"check {o.status:<5} {o.threshold.name}: {o.message}")
    n = len(report.outcomes)
    held = n - len(report.failed) - len(report.errors)
    print(
        f"check: {report.verdict.upper()} ({held} of {n} thresholds hold)  "
        f"summary: {directory}/{CHECK_MD}  junit: {directory}/{CHECK_JUNIT}"
    )
    for o in report.failed:
        print(f"miaudit: threshold exceeded: {one_line(o.message, 500)}", file=sys.stderr)
    for o in report.errors:
        print(f"miaudit: threshold not checked: {one_line(o.message, 500)}", file=sys.stderr)
    if report.failed:
        return EXIT_THRESHOLD_EXCEEDED, report
    return (EXIT_ATTACK_FAILED if report.errors else EXIT_OK), report


def _track(tracking, result, output, status: int, *, report=None) -> int:
    """Log the saved audit (and the gate's files and verdict) when the config asks; a
    failure is reported on stderr and turns a success into exit status 5."""
    if tracking is None:
        return status
    from miaudit.pipeline.output import OUTPUT_FILES
    from miaudit.tracking import log_audit

    files, metrics, tags = list(OUTPUT_FILES), {}, {}
    if report is not None:
        from miaudit.gate import CHECK_FILES

        files += list(CHECK_FILES)
        metrics = {
            "check/passed": float(report.passed),
            "check/thresholds": float(len(report.outcomes)),
            "check/exceeded": float(len(report.failed)),
            "check/not_checked": float(len(report.errors)),
        }
        tags = {"miaudit.check": report.verdict}
    try:
        run_id = log_audit(tracking, result, output, files=files, metrics=metrics, tags=tags)
    except TrackingError as exc:
        print(f"miaudit: error: {one_line(exc, MAX_ERROR_CHARS)}", file=sys.stderr)
        return status or EXIT_TRACKING_FAILED
    print(f"tracking: MLflow run {run_id} in experiment {tracking.experiment!r}")
    return status


def _output_dir(args: argparse.Namespace, config) -> str:
    output = args.output or config.output
    if output is None:
        raise MiauditError("no output directory: set 'output' in the config or pass --output")
    return output


def _run(args: argparse.Namespace, config, output: str):
    from miaudit.pipeline import run_config

    return run_config(
        config,
        output=output,
        data_dir=args.data_dir,
        progress=not args.no_progress,
        overwrite=args.overwrite,
        allow_imports=False if args.no_code else None,
        track=False,  # logged by _track, after the outputs (and the gate's files)
    )


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


def _cmd_canaries(args: argparse.Namespace) -> int:
    from miaudit.pipeline._canary_outputs import (
        CANARIES_JSON,
        EXPOSURE_PNG,
        FILES,
        table,
        write_canary_outputs,
    )
    from miaudit.pipeline.canaries import load_canary_config, run_canaries
    from miaudit.pipeline.output import prepare_output_dir

    config = load_canary_config(args.config)
    output = _output_dir(args, config)
    prepare_output_dir(output, identity=None, files=FILES)  # before any training
    run = run_canaries(config, data_dir=args.data_dir)
    write_canary_outputs(run, output)
    print(table(run))
    print(f"results: {output}/{CANARIES_JSON}  plot: {output}/{EXPOSURE_PNG}")
    return EXIT_OK


def _cmd_owner(args: argparse.Namespace) -> int:
    """The data owner's audit (issue 13): were these records used? A p-value."""
    from miaudit.pipeline.owner_run import run_owner_config

    doc = run_owner_config(
        args.config,
        output=args.output,
        data_dir=args.data_dir,
        progress=not args.no_progress,
        overwrite=args.overwrite,
    )
    print(doc["answer"])
    print(
        f"test: {doc['test']} ({doc['method']}), p = {doc['p_value']:.4g}, AUC = {doc['auc']:.3f}, "
        f"{doc['n_owner']} owner / {doc['n_reference']} reference records, attack {doc['attack']}"
    )
    out = args.output or doc["config"].get("output")
    print(f"results: {out}/owner.json  report: {out}/owner.html")
    return EXIT_OK


def _cmd_user_audit(args: argparse.Namespace) -> int:
    """The user-level audit (issue 13, Song & Shmatikov 2019): a p-value per user."""
    from miaudit.pipeline.user_run import run_user_config

    doc = run_user_config(
        args.config,
        output=args.output,
        data_dir=args.data_dir,
        progress=not args.no_progress,
        overwrite=args.overwrite,
    )
    print(doc["answer"])
    auc = "" if doc["auc"] is None else f", AUC = {doc['auc']:.3f}"
    print(f"null: {doc['null']} ({doc['n_null']} scores), alpha = {doc['alpha']:g}{auc}")
    out = args.output or doc["config"].get("output")
    print(f"results: {out}/user_audit.json  report: {out}/user_audit.html")
    return EXIT_OK


def _cmd_aggregate(args: argparse.Namespace) -> int:
    """Membership in aggregate statistics (issue 13 part 3): a p-value per tested record."""
    from miaudit.pipeline.aggregate_run import run_aggregate_config

    doc = run_aggregate_config(args.config, output=args.output, data_dir=args.data_dir)
    print(doc["answer"])
    print(doc["first_record"])
    out = doc["output"]
    print(f"results: {out}/aggregate.json  report: {out}/aggregate.html")
    return EXIT_OK


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
    _print_lm_attacks(w, yes)
    return 0


def _print_lm_attacks(w: int, yes: dict[bool, str]) -> None:
    """The language-model attacks (configs with a ``text:`` section)."""
    from miaudit.attacks.lm import LM_ATTACKS

    print("\nlanguage-model attacks (configs with a text: section):")
    for name in LM_ATTACKS.names():
        cls = LM_ATTACKS.get(name)
        tm, needs = cls.threat_model, cls.requires
        refs = f"{needs.reference} reference LMs" if needs.reference else "no reference LMs"
        print(
            f"{name:<{w}} {tm.knowledge:<25} {yes[tm.needs_shadow_models]:<7} "
            f"{yes[tm.needs_same_distribution_data]:<10} {yes[tm.needs_architecture]:<5} "
            f"{tm.paper}"
        )
        print(f"{'':<{w}} needs: signals {', '.join(needs.signals)}; {refs}")


def _cmd_datasets(args: argparse.Namespace) -> int:
    from miaudit.data import list_datasets

    for info in list_datasets(data_dir=args.data_dir):
        where = "local" if info.local else "download"
        print(f"{info.name:<14} {where:<9} {info.description}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
