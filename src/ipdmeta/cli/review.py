"""``ipdmeta review ...``: the review store from the terminal (init, users, import,
dedup and the pairs it was unsure of, screening decisions and conflicts, records, status)."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any

__all__ = ["add_review_commands", "run_review_command"]

EXIT_SOME_REPORTED = 1
STAGE_CHOICES = ["title_abstract", "full_text"]


def _date(text: str) -> str:
    try:
        return dt.date.fromisoformat(text).isoformat()
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a date as YYYY-MM-DD, e.g. 2026-03-14; got {text!r}"
        ) from None


def add_review_commands(commands: Any) -> None:
    review = commands.add_parser(
        "review",
        help="the review before extraction: search records, screening, PRISMA, appraisal",
        description=(
            "The review before extraction, kept in one SQLite file in the review folder "
            "(review.sqlite): search exports imported with what PRISMA-S asks, duplicates, "
            "blind dual screening with conflicts and agreement, relevance ranking, the PRISMA "
            "2020 counts from the recorded decisions, and quality appraisal. See "
            "docs/review-store.md."
        ),
    )
    actions = review.add_subparsers(dest="review_command", metavar="ACTION", required=True)

    def action(name: str, **kwargs: Any) -> argparse.ArgumentParser:
        """A ``review`` action; every one takes the review folder first."""
        parser: argparse.ArgumentParser = actions.add_parser(name, **kwargs)
        parser.add_argument("folder", type=Path, metavar="DIR")
        return parser

    action("init", help="create the store in a review folder")

    user = actions.add_parser("user", help="the review team")
    user_actions = user.add_subparsers(dest="user_command", metavar="ACTION", required=True)
    add = user_actions.add_parser("add", help="register a team member")
    add.add_argument("folder", type=Path, metavar="DIR")
    add.add_argument("name", metavar="NAME")
    add.add_argument("--role", choices=["owner", "reviewer"], default="reviewer")
    add.add_argument(
        "--password-stdin",
        action="store_true",
        help="read a password for the web app from standard input (stored hashed, argon2)",
    )
    password = user_actions.add_parser(
        "password", help="set a team member's password for the web app (ends their sessions)"
    )
    password.add_argument("folder", type=Path, metavar="DIR")
    password.add_argument("name", metavar="NAME")
    password.add_argument("--password-stdin", action="store_true",
                          help="read it from standard input instead of asking")  # fmt: skip

    serve = action(
        "serve",
        help="the reviewers' web app over the review store (screening, conflicts, progress)",
        description=(
            "Serve the review's web app with uvicorn. It listens on 127.0.0.1 (this machine "
            "only) unless --host names another address, which also needs --allow-remote: "
            "then put a TLS proxy in front of it. See docs/web-app.md."
        ),
    )
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--allow-remote", action="store_true",
                       help="allow a --host other than this machine's loopback")  # fmt: skip
    serve.add_argument("--secure-cookies", action="store_true",
                       help="mark the session cookie Secure (behind a TLS proxy)")  # fmt: skip

    imp = action(
        "import",
        help="import a search export (RIS, MEDLINE/.nbib, BibTeX, CSV)",
        description=(
            "Import FILE's records. Exit code 0 when every record was imported, 1 when some "
            "were reported instead (each named with its line), 2 with nothing written when "
            "the file cannot be read. The same file imported again adds nothing."
        ),
    )
    imp.add_argument("file", type=Path, metavar="FILE")
    imp.add_argument("--source", required=True, help="the database or source: PubMed, Embase, ...")
    imp.add_argument(
        "--kind",
        choices=["database", "register", "other"],
        default="database",
        help="a bibliographic database, a trial register, or another method (citation "
        "search, website, hand search)",
    )
    imp.add_argument("--searched", type=_date, help="the date of the search, YYYY-MM-DD")
    imp.add_argument("--query", help="the search string, as run")
    imp.add_argument("--platform", help="the interface searched (Ovid, EBSCOhost, ...)")

    action(
        "dedup",
        help="find duplicate records",
        description=(
            "Mark duplicates: the same DOI or PMID, or a title differing by a character or "
            "two with the same year and first author. Pairs the rules are unsure of wait for "
            "a person (ipdmeta review duplicates) and count as unique until confirmed."
        ),
    )

    pairs = action(
        "duplicates",
        help="list, confirm or reject the pairs dedup was unsure of",
    )
    pairs.add_argument("--json", action="store_true", help="print JSON")
    verdict = pairs.add_mutually_exclusive_group()
    verdict.add_argument("--confirm", nargs=2, type=int, metavar=("RECORD", "OF"),
                         help="RECORD is a duplicate of OF")  # fmt: skip
    verdict.add_argument("--reject", nargs=2, type=int, metavar=("RECORD", "OF"),
                         help="RECORD and OF are different records")  # fmt: skip
    pairs.add_argument("--reviewer", help="who decides (a registered reviewer)")

    decide = action(
        "decide",
        help="record one screening decision",
        description=(
            "One reviewer's decision on one record. Full-text screening takes the records "
            "included at title and abstract; a full-text exclusion needs its reason."
        ),
    )
    decide.add_argument("--reviewer", required=True, help="a registered reviewer")
    decide.add_argument("--stage", required=True, choices=STAGE_CHOICES)
    decide.add_argument("record", type=int, metavar="RECORD_ID")
    decide.add_argument("decision", choices=["include", "exclude", "maybe", "not_retrieved"])
    decide.add_argument("--reason", help="why (required for a full-text exclusion)")

    imported = action(
        "import-decisions",
        help="import screening decisions made in Rayyan, Covidence or a spreadsheet",
        description=(
            "Read a CSV of decisions (columns reviewer, decision, reason and the record's "
            "record_id, doi, pmid or title; or Rayyan's articles.csv export) and store them "
            "at --stage. Nothing is stored unless every row can be."
        ),
    )
    imported.add_argument("file", type=Path, metavar="FILE")
    imported.add_argument("--stage", required=True, choices=STAGE_CHOICES)

    screen = action(
        "screen",
        help="screen records one at a time in the terminal",
        description=(
            "Show this reviewer the records they have not decided, keywords highlighted, "
            "and store each decision at once: i include, e exclude (with a reason), m maybe, "
            "n not retrieved (full text), s skip, u undo, q quit."
        ),
    )
    screen.add_argument("--reviewer", required=True, help="a registered reviewer")
    screen.add_argument("--stage", choices=STAGE_CHOICES,
                        default="title_abstract")  # fmt: skip
    screen.add_argument("--check-sample", action="store_true",
                        help="screen only the review's check sample")  # fmt: skip

    stopping = action("stopping", help="the review's stopping rule for screening ranked records")
    stopping.add_argument(
        "--excluded-in-a-row",
        type=int,
        metavar="N",
        help="a reviewer may stop after excluding N records in a row",
    )
    halt = stopping.add_mutually_exclusive_group()
    halt.add_argument(
        "--stop",
        action="store_true",
        help="the team stops screening titles and abstracts: the records nobody decided "
        "count as marked ineligible by the ranking (PRISMA's automation tools box)",
    )
    halt.add_argument("--resume", action="store_true", help="take a --stop back")
    stopping.add_argument("--reason", help="why screening stopped (kept with the stop)")

    sample = action(
        "check-sample",
        help="draw a random sample of the records nobody has screened, to check them",
    )
    sample.add_argument("--percent", type=float, required=True)
    sample.add_argument("--seed", type=int, default=1)

    rank = action(
        "rank",
        help="relevance ranking: the undecided records most likely to be included, or a "
        "simulation of the work it saves",
    )
    rank.add_argument("--simulate", action="store_true",
                      help="replay screening of the decided records in ranked order")  # fmt: skip
    rank.add_argument("--top", type=int, default=10, help="how many records to list")

    terms = action(
        "keywords", help="the review's inclusion and exclusion terms, highlighted in screening"
    )
    terms.add_argument("--include", nargs="+", default=[], metavar="TERM")
    terms.add_argument("--exclude", nargs="+", default=[], metavar="TERM")

    reasons = action("reasons", help="the review's list of exclusion reasons")
    reasons.add_argument("--stage", choices=STAGE_CHOICES, default="full_text")
    reasons.add_argument("--add", nargs="+", default=[], metavar="TEXT")

    resolve = action("resolve", help="settle a conflict between two reviewers")
    resolve.add_argument("--stage", required=True, choices=STAGE_CHOICES)
    resolve.add_argument("record", type=int, metavar="RECORD_ID")
    resolve.add_argument("decision", choices=["include", "exclude"])
    resolve.add_argument("--reason", help="why (required for a full-text exclusion)")
    resolve.add_argument("--reviewer", help="who resolves (a registered reviewer)")

    conflicts = action("conflicts", help="records where the reviewers disagree")
    conflicts.add_argument("--stage", choices=STAGE_CHOICES,
                           default="title_abstract")  # fmt: skip
    conflicts.add_argument("--json", action="store_true", help="print JSON")

    prisma = action(
        "prisma",
        help="the PRISMA 2020 flow diagram from the recorded decisions",
        description=(
            "Count every box of the PRISMA 2020 diagram from the store (the PRISMA2020 R "
            "package's variable names) and write prisma.svg, prisma.png and prisma.json to "
            "OUT (default DIR/prisma), or print the counts with --json."
        ),
    )
    prisma.add_argument("--json", action="store_true", help="print the counts as JSON")
    prisma.add_argument("--out", type=Path, help="folder for the files (default DIR/prisma)")

    link = action(
        "link",
        help="link a report to its study (preprint and article, abstract and paper, "
        "follow-up of a cohort)",
        description=(
            "Record that RECORD_ID reports STUDY_ID, the study_id the patients table uses; "
            "reports linked to one study count as one study in PRISMA. An empty STUDY_ID "
            "('') unlinks. Without arguments after DIR, lists the links."
        ),
    )
    link.add_argument("record", type=int, nargs="?", metavar="RECORD_ID")
    link.add_argument("study", nargs="?", metavar="STUDY_ID")
    link.add_argument("--reviewer", help="who links (a registered reviewer)")

    tools = ["jbi_case_series", "murad_2018", "nih_case_series"]
    appraise = action(
        "appraise",
        help="record a quality-appraisal judgement (a rater's, or the consensus)",
        description=(
            "One judgement on one item of one study's checklist (ITEM as Q4, 4 or its "
            "text). Checklists: jbi_case_series, murad_2018, nih_case_series."
        ),
    )
    appraise.add_argument("study", metavar="STUDY_ID")
    appraise.add_argument("item", metavar="ITEM")
    appraise.add_argument("judgement", metavar="JUDGEMENT")
    appraise.add_argument("--tool", required=True, choices=tools)
    who = appraise.add_mutually_exclusive_group(required=True)
    who.add_argument("--reviewer", help="the rater (a registered reviewer)")
    who.add_argument("--consensus", action="store_true", help="the raters' consensus")
    appraise.add_argument("--note", help="why, or where in the paper")

    imported_appraisal = action(
        "import-appraisals",
        help="a rater's (or the consensus) judgements from a CSV",
        description="Columns study_id, item, judgement and optionally note; all or none.",
    )
    imported_appraisal.add_argument("file", type=Path, metavar="FILE")
    imported_appraisal.add_argument("--tool", required=True, choices=tools)
    who = imported_appraisal.add_mutually_exclusive_group(required=True)
    who.add_argument("--reviewer", help="the rater (a registered reviewer)")
    who.add_argument("--consensus", action="store_true", help="the raters' consensus")

    appraisal = action(
        "appraisal", help="the appraisal so far: raters' agreement and the consensus"
    )
    appraisal.add_argument("--json", action="store_true", help="print JSON")

    export = action("export", help="the included records as RIS or CSV, or the audit trail as CSV")
    export.add_argument("out", type=Path, metavar="FILE", help="a .ris or .csv file")
    export.add_argument(
        "--stage",
        choices=STAGE_CHOICES,
        default="full_text",
        help="the records included at this stage (default: full_text)",
    )
    export.add_argument(
        "--audit",
        action="store_true",
        help="write the audit trail (every decision, who, when) instead",
    )

    records = action("records", help="list the records")
    records.add_argument("--json", action="store_true", help="print JSON")

    status = action("status", help="counts: records, sources, duplicates, screening and agreement")
    status.add_argument("--json", action="store_true", help="print JSON")


def run_review_command(args: argparse.Namespace) -> int:
    from ipdmeta.review import create_store, open_store

    if args.review_command == "serve":
        from ipdmeta.cli.serve import serve

        return serve(args)
    if args.review_command == "init":
        existed = (args.folder / "review.sqlite").exists()
        with create_store(args.folder) as store:
            print(
                f"{'opened the existing' if existed else 'created the'} review store {store.path}"
            )
        return 0
    with open_store(args.folder) as store:
        if args.review_command == "user":
            return _add_user(store, args)
        if args.review_command == "import":
            return _import(store, args)
        if args.review_command == "records":
            return _records(store, args)
        if args.review_command == "dedup":
            return _dedup(store)
        if args.review_command == "duplicates":
            return _duplicates(store, args)
        if args.review_command == "decide":
            return _decide(store, args)
        if args.review_command == "resolve":
            return _resolve(store, args)
        if args.review_command == "screen":
            from ipdmeta.review.terminal import screen

            made = screen(store, args.reviewer, args.stage, sample_only=args.check_sample)
            print(", ".join(f"{n} {kind}" for kind, n in made.items() if n) or "no decisions")
            return 0
        if args.review_command == "rank":
            return _rank(store, args)
        if args.review_command == "stopping":
            return _stopping(store, args)
        if args.review_command == "check-sample":
            from ipdmeta.review.stopping import draw_check_sample

            drawn = draw_check_sample(store, args.percent, args.seed)
            print(f"check sample: {len(drawn)} records (seed {args.seed}); screen them with "
                  "ipdmeta review screen DIR --reviewer NAME --check-sample")  # fmt: skip
            return 0
        if args.review_command == "keywords":
            rows = [("include", t) for t in args.include] + [("exclude", t) for t in args.exclude]
            store.add_terms("keywords", [(k, t.strip()) for k, t in rows if t.strip()])
            for kind, listed in store.keywords().items():
                print(f"{kind}: {', '.join(listed) or '(none)'}")
            return 0
        if args.review_command == "reasons":
            store.add_terms("reasons", [(args.stage, t.strip()) for t in args.add if t.strip()])
            for number, text in enumerate(store.reasons(args.stage), start=1):
                print(f"{number}. {text}")
            return 0
        if args.review_command == "import-decisions":
            from ipdmeta.review.decisions_csv import import_decisions

            n = import_decisions(store, args.file, args.stage)
            print(f"{args.file}: {n} decisions imported at {args.stage}")
            return 0
        if args.review_command == "conflicts":
            return _conflicts(store, args)
        if args.review_command == "prisma":
            return _prisma(store, args)
        if args.review_command in ("appraise", "import-appraisals"):
            return _appraise(store, args)
        if args.review_command == "appraisal":
            return _appraisal(store, args)
        if args.review_command == "link":
            return _link(store, args)
        if args.review_command == "export":
            from ipdmeta.review.export import audit_trail, export_records

            if args.audit:
                print(f"wrote {args.out}: {audit_trail(store, args.out)} events")
            else:
                n = export_records(store, args.out, args.stage)
                print(f"wrote {args.out}: {n} records included at {args.stage}")
            return 0
        return _status(store, args)


def _read_password(from_stdin: bool) -> str:
    """A new password, hashed (argon2): from standard input, or asked twice."""
    from argon2 import PasswordHasher

    from ipdmeta.review.store import StoreError

    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        import getpass

        if not sys.stdin.isatty():
            raise StoreError("give the password on standard input with --password-stdin")
        password = getpass.getpass("New password: ")
        if getpass.getpass("Again: ") != password:
            raise StoreError("the two passwords differ: nothing changed")
    if len(password) < 8:
        raise StoreError("the password must have at least 8 characters")
    return PasswordHasher().hash(password)


def _add_user(store: Any, args: argparse.Namespace) -> int:
    if args.user_command == "password":
        store.set_password(args.name.strip(), _read_password(args.password_stdin))
        print(f"password set for {args.name.strip()!r}")
        return 0
    password_hash = _read_password(True) if args.password_stdin else None
    store.add_reviewer(args.name, args.role, password_hash)
    print(f"added {args.role} {args.name.strip()!r}")
    return 0


def _import(store: Any, args: argparse.Namespace) -> int:
    from ipdmeta.review import import_file

    result = import_file(
        store, args.file, source=args.source, kind=args.kind, searched=args.searched,
        query=args.query, platform=args.platform,
    )  # fmt: skip
    if result.already:
        print(
            f"{args.file} was already imported for {args.source}: nothing added "
            f"({result.starts} records in the file)"
        )
        return 0
    print(
        f"{args.file} ({result.format}, {result.encoding}): {result.starts} records; "
        f"{result.imported} imported from {args.source}, {len(result.reported)} reported"
    )
    for note in result.notes:
        print(f"  note: {note}")
    for problem in result.reported:
        print(f"  {args.file}: {problem}")
    return EXIT_SOME_REPORTED if result.reported else 0


def _dedup(store: Any) -> int:
    from ipdmeta.review.dedup import find_duplicates

    matches = find_duplicates(store.records())
    added = store.add_duplicate_verdicts(
        [(m.record, m.of, m.rule, m.score, "duplicate" if m.sure else "pending")
         for m in matches]
    )  # fmt: skip
    duplicates = len(store.duplicate_of())
    pending = len(store.pending_duplicates())
    total = len(store.records())
    print(
        f"{total} records: {duplicates} duplicates, {total - duplicates} unique; {pending} "
        f"pairs wait for a person (ipdmeta review duplicates); {added} new verdicts"
    )
    return 0


def _duplicates(store: Any, args: argparse.Namespace) -> int:
    from ipdmeta.review.store import StoreError

    if args.confirm or args.reject:
        if not args.reviewer:
            raise StoreError("say who decides: --reviewer NAME")
        record, of = args.confirm or args.reject
        store.decide_duplicate(record, of, confirm=bool(args.confirm), reviewer=args.reviewer)
        print(f"records {record} and {of}: {'duplicates' if args.confirm else 'different'}")
        return 0
    by_id = {r["id"]: r for r in store.records()}
    pending = [
        {
            "record": p["record_id"],
            "of": p["duplicate_of"],
            "rule": p["rule"],
            "score": p["score"],
            "titles": [by_id[p["record_id"]]["title"], by_id[p["duplicate_of"]]["title"]],
        }
        for p in store.pending_duplicates()
    ]
    if args.json:
        print(json.dumps(pending, indent=2, ensure_ascii=False))
        return 0
    for p in pending:
        print(f"{p['record']} ~ {p['of']} ({p['rule']}, {p['score']:.1f}):")
        for title in p["titles"]:
            print(f"    {title}")
    print(f"{len(pending)} pairs wait for a decision")
    return 0


def _decide(store: Any, args: argparse.Namespace) -> int:
    from ipdmeta.review.screening import decide

    decide(store, args.reviewer, args.stage, args.record, args.decision, args.reason)
    # Only this reviewer's own decision is echoed: screening is blind.
    print(f"{args.reviewer}: record {args.record} {args.decision} ({args.stage})")
    return 0


def _resolve(store: Any, args: argparse.Namespace) -> int:
    from ipdmeta.review.screening import resolve

    resolve(store, args.stage, args.record, args.decision, args.reason, args.reviewer)
    print(f"record {args.record}: {args.decision} at {args.stage} (conflict resolved)")
    return 0


def _conflicts(store: Any, args: argparse.Namespace) -> int:
    from ipdmeta.review.screening import stage_outcomes

    titles = {r["id"]: r["title"] for r in store.records()}
    rows = [
        {
            "record": record,
            "title": titles[record],
            "decisions": {
                d["reviewer"]: {"decision": d["decision"], "reason": d["reason"]}
                for d in state["decisions"].values()
            },
            "resolved": state["resolution"] is not None,
            "outcome": state["outcome"],
        }
        for record, state in sorted(stage_outcomes(store, args.stage).items())
        if state["conflict"]
    ]
    if args.json:
        print(json.dumps(rows, indent=2, ensure_ascii=False))
        return 0
    for row in rows:
        said = "; ".join(f"{name}: {d['decision']}" for name, d in row["decisions"].items())
        state = f"resolved: {row['outcome']}" if row["resolved"] else "unresolved"
        print(f"{row['record']:>6}  {row['title']}")
        print(f"        {said} ({state})")
    unresolved = sum(not r["resolved"] for r in rows)
    print(f"{len(rows)} conflicts at {args.stage}, {unresolved} unresolved")
    return 0


def _prisma(store: Any, args: argparse.Namespace) -> int:
    from ipdmeta.data.writers import write_text
    from ipdmeta.report import figures
    from ipdmeta.review.prisma import prisma_counts, prisma_spec_fields

    counts = prisma_counts(store)
    if args.json:
        print(json.dumps(counts, indent=2, ensure_ascii=False))
        return 0
    out = args.out or args.folder / "prisma"
    out.mkdir(parents=True, exist_ok=True)
    diagram = figures.prisma_diagram(prisma_spec_fields(counts))
    figures.save_figure(diagram, out, "prisma", ("svg", "png"))
    write_text(out / "prisma.json", json.dumps(counts, indent=2, ensure_ascii=False) + "\n")
    print(f"wrote {out / 'prisma.svg'}, {out / 'prisma.png'} and {out / 'prisma.json'}")
    if counts["records_pending"] or counts["reports_pending"]:
        print(
            f"screening is not finished: {counts['records_pending']} records and "
            f"{counts['reports_pending']} reports still wait for a decision"
        )
    return 0


def _stopping(store: Any, args: argparse.Namespace) -> int:
    from ipdmeta.review.stopping import RULE, record_stop, stopping_status
    from ipdmeta.review.store import StoreError

    if args.excluded_in_a_row is not None:
        if args.excluded_in_a_row < 1:
            raise StoreError("--excluded-in-a-row takes a whole number of 1 or more")
        store.set_setting(RULE, args.excluded_in_a_row)
    if args.stop or args.resume:
        record_stop(store, stop=args.stop, reason=args.reason)
    status = stopping_status(store)
    rule = status["rule_excluded_in_a_row"]
    print(f"stopping rule: {'none' if rule is None else f'{rule} excluded in a row'}")
    for name, run in status["excluded_in_a_row"].items():
        print(f"  {name}: {run} excluded in a row")
    halted = status["stopped"]
    if halted:
        print(
            f"title-and-abstract screening stopped on {halted['time'][:10]} after "
            f"{halted['screened']} records; {halted['left']} left unscreened count as marked "
            "ineligible by the ranking (resume with --resume)"
        )
    return 0


def _rank(store: Any, args: argparse.Namespace) -> int:
    from ipdmeta.review.ranking import (
        Ranker,
        rank_records,
        simulate_ranking,
        title_abstract_labels,
    )

    if args.simulate:
        result = simulate_ranking(Ranker.for_store(store), title_abstract_labels(store))
        print(
            f"Simulated screening of {result.n} decided records ({result.includes} included) "
            "in ranked order, retraining every 10:"
        )
        for screened, recall in result.recall_at.items():
            print(f"  after {screened:>6,} records: recall {100 * recall:5.1f} %")
        print(
            f"95 % of inclusions found after {result.screened_at_95:,} records; work saved "
            f"over random order at 95 % recall (WSS@95): {100 * result.wss_95:.1f} %"
        )
        return 0
    duplicates = store.duplicate_of()
    decided = store.latest_decisions("title_abstract")
    open_ids = [r["id"] for r in store.records() if r["id"] not in duplicates
                and r["id"] not in decided]  # fmt: skip
    titles = {r["id"]: r["title"] for r in store.records()}
    order = rank_records(store, open_ids)
    learned = order != open_ids or len(set(title_abstract_labels(store).values())) == 2
    print("Most likely inclusions first:" if learned else
          "Not enough decisions to learn from yet (an inclusion and an exclusion): "
          "import order.")  # fmt: skip
    for record in order[: args.top]:
        print(f"{record:>6}  {titles[record]}")
    return 0


def _appraise(store: Any, args: argparse.Namespace) -> int:
    from ipdmeta.review.appraisal import appraise, import_appraisals

    who = "consensus" if args.consensus else args.reviewer
    if args.review_command == "import-appraisals":
        n = import_appraisals(store, args.file, args.tool, args.reviewer, args.consensus)
        print(f"{args.file}: {n} judgements imported ({who})")
        return 0
    appraise(store, args.tool, args.study, args.item, args.judgement, args.note,
             args.reviewer, args.consensus)  # fmt: skip
    print(f"{args.study} {args.item}: {args.judgement} ({who})")
    return 0


def _appraisal(store: Any, args: argparse.Namespace) -> int:
    from ipdmeta.review.appraisal import CHECKLISTS, checklist, rater_agreement

    stored = store.latest_appraisals()
    payload: dict[str, dict[str, Any]] = {}
    for tool in CHECKLISTS:
        mine = [a for a in stored if a["tool"] == tool]
        if not mine:
            continue
        found = rater_agreement(store, tool)
        ratings: dict[tuple[str, str], set[str]] = {}
        consensus = set()
        for a in mine:
            if a["consensus"]:
                consensus.add((a["study_id"], a["item"]))
            else:
                ratings.setdefault((a["study_id"], a["item"]), set()).add(a["judgement"])
        open_ = sorted(k for k, said in ratings.items() if len(said) > 1 and k not in consensus)
        payload[tool] = {
            "checklist": checklist(tool).name,
            "studies": len({a["study_id"] for a in mine}),
            "raters": sorted({a["reviewer"] for a in mine if not a["consensus"]}),
            "kappa": None if found is None else found.kappa,
            "ac1": None if found is None else found.ac1,
            "agreement_judgements": 0 if found is None else found.n,
            "consensus_studies": len({s for s, _ in consensus}),
            "disagreements_without_consensus": [f"{s} {i}" for s, i in open_],
        }
    if args.json:
        print(json.dumps(payload, indent=2, ensure_ascii=False))
        return 0
    if not payload:
        print("No appraisal yet (ipdmeta review appraise)")
    for numbers in payload.values():
        kappa = "n/a" if numbers["kappa"] is None else f"{numbers['kappa']:.2f}"
        ac1 = "n/a" if numbers["ac1"] is None else f"{numbers['ac1']:.2f}"
        print(
            f"{numbers['checklist']}: {numbers['studies']} studies, raters "
            f"{', '.join(numbers['raters']) or 'none'}; kappa {kappa}, AC1 {ac1}; consensus "
            f"for {numbers['consensus_studies']} studies, "
            f"{len(numbers['disagreements_without_consensus'])} disagreements waiting"
        )
    return 0


def _link(store: Any, args: argparse.Namespace) -> int:
    from ipdmeta.review.store import StoreError

    if args.record is not None:
        if args.study is None:
            raise StoreError("give the study: ipdmeta review link DIR RECORD_ID STUDY_ID")
        if not store.record_exists(args.record):
            raise StoreError(f"there is no record {args.record}")
        study = args.study.strip()
        if any(ch in study for ch in "\n\r\t"):
            raise StoreError(f"a study id is one line of text; got {study!r}")
        reviewer = store.reviewer_id(args.reviewer) if args.reviewer else None
        store.link(args.record, study, reviewer)
        print(f"record {args.record} " + (f"reports study {study}" if study else "unlinked"))
        return 0
    by_study: dict[str, list[int]] = {}
    for record, study in sorted(store.study_of().items()):
        by_study.setdefault(study, []).append(record)
    if not by_study:
        print("No reports are linked to studies yet (ipdmeta review link DIR RECORD_ID "
              "STUDY_ID)")  # fmt: skip
    for study, records in sorted(by_study.items()):
        print(f"{study}: records {', '.join(map(str, records))}")
    return 0


def _records(store: Any, args: argparse.Namespace) -> int:
    duplicate_of = store.duplicate_of()
    study_of = store.study_of()
    rows = [
        {
            "id": r["id"],
            "title": r["title"],
            "year": r["year"],
            "doi": r["doi"],
            "pmid": r["pmid"],
            "authors": r["authors"],
            "journal": r["journal"],
            "source": r["source"],
            "file": r["file_name"],
            "line": r["line"],
            "links": r["links"],
            "duplicate_of": duplicate_of.get(r["id"]),
            "study_id": study_of.get(r["id"]),
        }
        for r in store.records()
    ]
    if args.json:
        print(json.dumps(rows, indent=2, ensure_ascii=False))
        return 0
    for row in rows:
        first = row["authors"][0] if row["authors"] else "(no author)"
        print(f"{row['id']:>6}  {first}, {row['year'] or 'n.d.'}: {row['title']} [{row['source']}]")
    return 0


def _count(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def _status(store: Any, args: argparse.Namespace) -> int:
    from ipdmeta.review.status import review_status

    payload = review_status(store)
    sources, total = payload["sources"], payload["records"]
    duplicates = payload["duplicates"]
    if args.json:
        print(json.dumps(payload, indent=2, ensure_ascii=False))
        return 0
    print(
        f"{_count(total, 'record')} from {_count(len(sources), 'source')}; "
        f"{_count(duplicates, 'duplicate')}, {total - duplicates} unique, "
        f"{_count(payload['pending_duplicates'], 'pair')} to decide"
    )
    for source, n in sources.items():
        print(f"  {source}: {n}")
    print(_count(len(payload["reviewers"]), "reviewer"))
    for stage, numbers in payload["stages"].items():
        kappa = "n/a" if numbers["kappa"] is None else f"{numbers['kappa']:.2f}"
        ac1 = "n/a" if numbers["ac1"] is None else f"{numbers['ac1']:.2f}"
        print(
            f"{stage}: {numbers['screened']} screened, {numbers['included']} included, "
            f"{numbers['excluded']} excluded, {numbers['conflicts']} conflicts "
            f"({numbers['unresolved']} unresolved); kappa {kappa}, AC1 {ac1}"
        )
    return 0
