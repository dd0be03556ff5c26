"""The ``ipdmeta`` command. Thin: parses arguments, calls the library, prints.

User errors (:class:`~ipdmeta.errors.IpdmetaError`) become a message on stderr and exit
code 2; a traceback is shown only with ``--debug``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from ipdmeta import __version__
from ipdmeta.cli.data_report import print_data_report
from ipdmeta.cli.federated import add_federated_commands, run_federated_command
from ipdmeta.cli.fit import add_fit_command, run_fit_command
from ipdmeta.cli.review import add_review_commands, run_review_command
from ipdmeta.errors import IpdmetaError

__all__ = ["main"]

EXIT_USER_ERROR = 2


def _thresholds(text: str) -> tuple[float, ...]:
    try:
        values = tuple(float(t) for t in text.split(",") if t.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected numbers separated by commas, e.g. 30,40,50; got {text!r}"
        ) from None
    if not values:
        raise argparse.ArgumentTypeError("give at least one threshold")
    return values


def _outcome_options(command: argparse.ArgumentParser) -> None:
    """The options both validate and run take; each overrides review.toml's [outcome]."""
    command.add_argument(
        "--worsening",
        choices=["keep", "floor"],
        help="keep negative relief or floor it at 0 (default: review.toml's, else keep)",
    )
    command.add_argument(
        "--thresholds",
        type=_thresholds,
        help="responder thresholds in %% relief (default: review.toml's, else 30,40,50)",
    )
    command.add_argument(
        "--strict", action="store_true", help="treat data warnings as problems (exit code 2)"
    )


def _overrides(args: argparse.Namespace) -> dict[str, object]:
    out: dict[str, object] = {}
    if args.worsening is not None:
        out["worsening"] = args.worsening
    if args.thresholds is not None:
        out["responder_thresholds"] = args.thresholds
    return out


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ipdmeta",
        description="Systematic reviews with individual-patient-data meta-analysis.",
    )
    parser.add_argument("--version", action="version", version=f"ipdmeta {__version__}")
    parser.add_argument(
        "--debug", action="store_true", help="show the full traceback when something fails"
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    validate = commands.add_parser(
        "validate",
        help="check a review's data and summarise it",
        description=(
            "Read a review folder (patients.csv/.xlsx/.parquet, optional studies and quality "
            "tables, optional categories.csv) or a single file, report every problem, or "
            "summarise the data. Exit code 0 when the data can be analysed, 2 otherwise."
        ),
    )
    validate.add_argument("path", type=Path, help="a review folder or a data file")
    validate.add_argument("--studies", type=Path, help="the studies table, if not in the folder")
    validate.add_argument("--quality", type=Path, help="the quality table, if not in the folder")
    validate.add_argument(
        "--categories",
        type=Path,
        action="append",
        default=[],
        help="a category map CSV (column,label,category); may be repeated",
    )
    validate.add_argument(
        "--vocabulary",
        action="append",
        choices=["general", "cnop", "none"],
        help="built-in vocabularies to start from (default: general and cnop)",
    )
    _outcome_options(validate)
    validate.add_argument(
        "--json", action="store_true", help="print the summary and problems as JSON"
    )

    run = commands.add_parser(
        "run",
        help="analyse a review folder and write the report",
        description=(
            "Analyse the review folder DIR as its review.toml says (defaults without one) and "
            "write report.html, results.json, tables/ and figures/ to OUT (default DIR/out). "
            "The previous output is replaced only when the new one is complete."
        ),
    )
    run.add_argument("folder", type=Path, metavar="DIR", help="the review folder")
    run.add_argument("--out", type=Path, help="the output folder (default DIR/out)")
    run.add_argument("--quiet", action="store_true", help="print nothing but errors")
    _outcome_options(run)

    simulate = commands.add_parser(
        "simulate",
        help="write a simulated review from a parameter file",
        description="Simulate patients, studies and quality tables from a TOML design file.",
    )
    simulate.add_argument("design", type=Path, help="the TOML design file")
    simulate.add_argument("--out", type=Path, required=True, help="folder to write the tables to")
    simulate.add_argument("--seed", type=int, help="override the seed in the design file")
    add_review_commands(commands)
    add_fit_command(commands)
    add_federated_commands(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "validate":
            return _validate(args)
        if args.command == "run":
            return _run(args)
        if args.command == "review":
            return run_review_command(args)
        if args.command in ("federated", "site"):
            return run_federated_command(args)
        if args.command == "fit":
            return run_fit_command(args)
        return _simulate(args)
    except IpdmetaError as exc:
        if args.debug:
            raise
        print(f"ipdmeta: error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader of our output went away (``ipdmeta validate x | head``): not an error.
        sys.stderr.close()
        return 0
    except Exception as exc:
        if args.debug:
            raise
        print(
            f"ipdmeta: internal error ({type(exc).__name__}: {exc}). This is a bug in ipdmeta; "
            "rerun with --debug to see the traceback and please report it",
            file=sys.stderr,
        )
        return 1


def _validate(args: argparse.Namespace) -> int:
    from ipdmeta.data import load_review, summarise
    from ipdmeta.errors import ValidationError

    vocabularies = [v for v in (args.vocabulary or ["general", "cnop"]) if v != "none"]
    try:
        review = load_review(
            args.path,
            studies=args.studies,
            quality=args.quality,
            outcome_overrides=_overrides(args),
            vocabularies=vocabularies if args.vocabulary else None,
            category_files=args.categories or None,
            strict=args.strict,
        )
    except ValidationError as exc:
        if args.json:
            payload = {"ok": False, "problems": [_problem_dict(p) for p in exc.problems]}
            print(json.dumps(payload, indent=2))
        else:
            print(f"ipdmeta: error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    summary = summarise(review)
    if args.json:
        payload = {
            "ok": True,
            "summary": summary.to_dict(),
            "warnings": [p.to_dict() for p in review.warnings],
            "notes": [p.to_dict() for p in review.notes],
            "excluded": review.excluded.to_dict(orient="records"),
            "label_map": review.label_map.to_dict(orient="records"),
        }
        print(json.dumps(payload, indent=2, default=float))
        return 0
    print(f"Data: {', '.join(f'{k} {v}' for k, v in review.sources.items())}")
    print(summary.text())
    relabelled = review.label_map[review.label_map["raw_label"] != review.label_map["category"]]
    if not relabelled.empty:
        print("\nCategory labels mapped:")
        relabelled = relabelled.sort_values(
            ["column", "category", "n_rows"], ascending=[True, True, False]
        )
        for row in relabelled.itertuples():
            print(
                f"  {row.column}: {row.raw_label!r} -> {row.category} "
                f"({row.n_rows} row{'s' if row.n_rows != 1 else ''}; {row.source})"
            )
    print_data_report(review)
    print("\nThe data can be analysed.")
    return 0


def _run(args: argparse.Namespace) -> int:
    if "numpy" not in sys.modules:
        # One BLAS thread, unless the user's environment says otherwise: OpenBLAS reads
        # this when NumPy and SciPy load it. Its threads spin after starting and after
        # each product; with a review's small matrices that only took the cores the
        # worker processes use (about 15 % of the run's CPU time on the example).
        os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    from ipdmeta.report.build import STAGE_COUNT, prisma_notes, run
    from ipdmeta.report.progress import StageReporter

    reporter = None if args.quiet else StageReporter(STAGE_COUNT)
    result = run(
        args.folder,
        args.out,
        progress=reporter or False,
        outcome=_overrides(args),
        strict=args.strict,
    )
    output = result.output or args.folder / "out"
    if reporter is not None:
        reporter.done()
        for key, (before, after) in result.overrides.items():
            print(
                f"{key}: {_shown(after)} (from the command line; review.toml says {_shown(before)})"
            )
        print_data_report(result.data)
        if result.spec.prisma.given:
            for note in prisma_notes(result):
                print(f"  - {note}")
        print()
        print(result.headlines())
        print(f"Numbers: {output / 'results.json'}; tables and figures beside them")
        if result.spec.source is None:
            print(
                "No review.toml in the folder: the default analysis was run (docs/review-toml.md)"
            )
    return 0


def _shown(value: object) -> str:
    if isinstance(value, tuple):
        return ",".join(f"{v:g}" for v in value)
    return str(value)


def _problem_dict(problem: object) -> dict[str, object]:
    to_dict = getattr(problem, "to_dict", None)
    return to_dict() if callable(to_dict) else {"message": str(problem)}


def _simulate(args: argparse.Namespace) -> int:
    from ipdmeta.simulate import design_from_toml, simulate_review

    design, extras, seed = design_from_toml(args.design)
    review = simulate_review(design, extras, seed=args.seed if args.seed is not None else seed)
    for path in review.write(args.out):
        print(f"wrote {path}")
    return 0
