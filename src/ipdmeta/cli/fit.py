"""``ipdmeta fit DATA --formula F``: one linear mixed model from the command line, on a
review's patients (any folder or file ``ipdmeta validate`` reads) or on Parquet files
larger than memory (through Dask; ``--scheduler`` names a running cluster)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ipdmeta.cli.data_report import print_data_report
from ipdmeta.errors import DataError

__all__ = ["add_fit_command", "run_fit_command"]


def add_fit_command(commands: Any) -> None:
    fit = commands.add_parser(
        "fit",
        help="fit one linear mixed model and print its tables",
        description=(
            "Fit FORMULA to DATA as mixed.lmm does: a review folder or data file (read and "
            "checked as 'ipdmeta validate' reads it), or Parquet files, a path or a quoted "
            "glob, summarised study by study on a Dask cluster (see docs/scale.md)."
        ),
    )
    fit.add_argument("data", help="a review folder, a data file, or Parquet files (a glob)")
    fit.add_argument("--formula", required=True, help="the model, as lme4 writes it")
    fit.add_argument("--ml", action="store_true", help="maximum likelihood (default REML)")
    fit.add_argument(
        "--ddf",
        choices=["satterthwaite", "kenward-roger", "asymptotic", "residual"],
        default="satterthwaite",
        help="degrees of freedom of the t-tests (satterthwaite)",
    )
    fit.add_argument(
        "--scheduler",
        help="for Parquet data: a Dask scheduler address (default: a LocalCluster here)",
    )
    fit.add_argument("--anova", action="store_true", help="also the type III F-tests of each term")
    fit.add_argument(
        "--emmeans",
        metavar="FACTOR",
        help="also the marginal means of FACTOR and their pairwise differences",
    )
    fit.add_argument(
        "--adjust",
        choices=["tukey", "holm", "bonferroni", "fdr", "none"],
        default="tukey",
        help="p-value adjustment of the pairwise differences (tukey, as emmeans)",
    )
    fit.add_argument("--json", action="store_true", help="print the tables as JSON")
    fit.add_argument(
        "--quiet", action="store_true", help="print no progress and no account of the data"
    )


def _is_parquet(data: str) -> bool:
    return data.endswith(".parquet") or any(c in data for c in "*?[")


def run_fit_command(args: argparse.Namespace) -> int:
    from ipdmeta import mixed
    from ipdmeta._json import clean, records
    from ipdmeta.mixed._summary import anova_text, means_text
    from ipdmeta.scale.federated import fit_tables

    if _is_parquet(args.data):
        model = mixed.lmm(args.formula, args.data, reml=not args.ml,
                          scheduler=args.scheduler, progress=not args.quiet)  # fmt: skip
    else:
        if args.scheduler is not None:
            raise DataError("--scheduler applies to Parquet data (a .parquet path or a glob)")
        from ipdmeta.data import load_review

        review = load_review(Path(args.data))
        if not args.quiet:  # on stderr: with --json, stdout holds the JSON alone
            print_data_report(review, out=sys.stderr)
        model = mixed.lmm(args.formula, review.patients, reml=not args.ml)
    # Every table's t- and F-tests use --ddf, the summary's too.
    anova = model.anova(ddf=args.ddf) if args.anova else None
    means = pairs = None
    if args.emmeans is not None:
        means = model.emmeans(args.emmeans, ddf=args.ddf)
        pairs = model.pairwise(args.emmeans, adjust=args.adjust, ddf=args.ddf)
    if args.json:
        payload = {**fit_tables(model, args.ddf), "nobs": model.nobs, "n_dropped": model.n_dropped}
        if anova is not None:
            payload["anova"] = records(anova, ["term", "num_df", "den_df", "F", "pvalue"])
        if means is not None and pairs is not None:
            payload["emmeans"] = records(means)
            payload["pairwise"] = records(pairs)
        print(json.dumps(clean(payload), indent=2, allow_nan=False))
        return 0
    print(model.summary(ddf=args.ddf))
    if anova is not None:
        print(f"\nType III F-tests ({args.ddf} df):")
        print(anova_text(anova))
    if means is not None and pairs is not None:
        print(f"\nMarginal means of {args.emmeans} ({args.ddf} df), then their differences "
              f"({args.adjust} adjustment):")  # fmt: skip
        print(means_text(means, pairs))
    return 0
