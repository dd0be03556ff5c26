"""``ipdmeta federated plan|fit`` (the coordinator) and ``ipdmeta site summarise`` (each
site): a one-stage fit from sites that share per-study blocks, never patients' rows."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ipdmeta.cli.data_report import print_data_report
from ipdmeta.errors import DataError

__all__ = ["add_federated_commands", "run_federated_command"]


def add_federated_commands(commands: Any) -> None:
    federated = commands.add_parser(
        "federated",
        help="the coordinator of a federated analysis: write the plan, fit the summaries",
        description=(
            "A one-stage linear mixed model from sites that may not share patients: the "
            "coordinator writes a plan, each site runs 'ipdmeta site summarise' on its own "
            "data, and the coordinator fits the summaries, exactly as if the rows had been "
            "pooled. See docs/federated.md."
        ),
    )
    actions = federated.add_subparsers(dest="federated_command", metavar="ACTION", required=True)
    plan = actions.add_parser("plan", help="write the plan every site summarises for")
    plan.add_argument("--formula", required=True, help="the model, random terms by study")
    plan.add_argument(
        "--levels",
        action="append",
        default=[],
        metavar="NAME=L1,L2,...",
        help="a factor's levels, the reference first; repeat for each factor",
    )
    plan.add_argument(
        "--min-cell", type=int, default=5, help="fewest patients in a non-empty cell (5)"
    )
    plan.add_argument("--min-study", type=int, default=10, help="fewest patients in a study (10)")
    plan.add_argument("--weights", metavar="COLUMN", help="a column of prior weights (optional)")
    plan.add_argument("--out", type=Path, required=True, help="the plan file to write")
    fit = actions.add_parser("fit", help="fit the model from the sites' summaries")
    fit.add_argument("plan", type=Path, help="the plan file")
    fit.add_argument("summaries", type=Path, nargs="+", help="the sites' summary files")
    fit.add_argument("--json", action="store_true", help="print the results as JSON")

    site = commands.add_parser(
        "site",
        help="a site of a federated analysis: summarise its own patients for a plan",
        description="Summarise this site's patients for a federated plan; see docs/federated.md.",
    )
    site_actions = site.add_subparsers(dest="site_command", metavar="ACTION", required=True)
    summarise = site_actions.add_parser(
        "summarise",
        help="write the per-study blocks the plan asks for, after its disclosure rules",
    )
    summarise.add_argument("data", type=Path, help="a review folder or a data file")
    summarise.add_argument("--plan", type=Path, required=True, help="the coordinator's plan")
    summarise.add_argument("--out", type=Path, help="the summary file to write")
    summarise.add_argument(
        "--show", action="store_true", help="print what the summary shares before writing it"
    )


def run_federated_command(args: argparse.Namespace) -> int:
    if args.command == "site":
        return _summarise(args)
    if args.federated_command == "plan":
        return _plan(args)
    return _fit(args)


def _refuse_overwriting(out: Path, *inputs: Path) -> None:
    for given in inputs:
        if out.exists() and given.exists() and out.resolve() == given.resolve():
            raise DataError(f"--out {out} is an input file; choose another name")


def _plan(args: argparse.Namespace) -> int:
    from ipdmeta.scale.plan import make_plan, parse_levels

    plan = make_plan(
        args.formula, parse_levels(args.levels), args.min_cell, args.min_study, args.weights
    )
    plan.write(args.out)
    print(f"Plan written to {args.out} ({plan.id[:19]}...). Send it to every site.")
    return 0


def _summarise(args: argparse.Namespace) -> int:
    from ipdmeta.data import load_review
    from ipdmeta.scale.plan import read_plan
    from ipdmeta.scale.signed import write_signed
    from ipdmeta.scale.site import describe, summarise_site

    plan = read_plan(args.plan)
    if args.out is None and not args.show:
        raise DataError("give --out FILE to write the summary, or --show to see it first")
    if args.out is not None:
        _refuse_overwriting(args.out, args.plan, args.data)
    review = load_review(args.data)
    # How the site's data were read (units in cells, percent formats, rows left out),
    # before anything is summarised from them; on stderr, the summary is on stdout.
    print_data_report(review, out=sys.stderr)
    summary = summarise_site(plan, review.patients, source=str(args.data))
    if args.show:
        print(describe(summary))
    if args.out is not None:
        write_signed(args.out, summary)
        print(f"Summary written to {args.out}: {len(summary['studies'])} studies, "
              f"{sum(summary['patients'])} patients. Send it to the coordinator.")  # fmt: skip
    return 0


def _fit(args: argparse.Namespace) -> int:
    from ipdmeta.scale.federated import fit_federated
    from ipdmeta.scale.plan import read_plan

    result = fit_federated(read_plan(args.plan), args.summaries)
    if args.json:
        print(json.dumps(result.to_json(), indent=2, allow_nan=False))
    else:
        print(result.text())
    return 0
