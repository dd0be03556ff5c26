"""Build the example review's store from its search exports and screening decisions, as a
review team would with `ipdmeta review` (``make demo`` runs it before ``ipdmeta run``).

    python examples/imcs-cnop/search/build_store.py [REVIEW_FOLDER]

REVIEW_FOLDER defaults to the example (examples/imcs-cnop); an existing review.sqlite
there is replaced. Each step is one `ipdmeta review` command, printed as it runs.
"""

from __future__ import annotations

import csv
import json
import re
import sys
from contextlib import redirect_stdout
from io import StringIO
from pathlib import Path

from ipdmeta.cli import main as ipdmeta
from ipdmeta.review.dedup import normal_title
from ipdmeta.review.store import STORE_NAME

HERE = Path(__file__).resolve().parent
SEARCHED = "2024-02-15"
QUERIES = {
    "PubMed": '("motor cortex stimulation"[tiab] OR "MCS"[tiab]) AND (facial pain[mh] OR '
    "trigeminal[tiab] OR orofacial[tiab])",
    "Embase": "'motor cortex stimulation'/exp AND ('face pain'/exp OR trigeminal:ti,ab)",
    "Cochrane": '"motor cortex stimulation" in Title Abstract Keyword',
}


def run(*args: str | Path, quiet: bool = False) -> str:
    words = [str(a) for a in args]
    print("$ ipdmeta " + " ".join(w if " " not in w else repr(w) for w in words))
    out = StringIO()
    with redirect_stdout(out):
        code = ipdmeta(words)
    if not quiet:
        print(out.getvalue(), end="")
    if code not in (0, 1):
        raise SystemExit(f"ipdmeta {' '.join(words)} failed with exit code {code}")
    return out.getvalue()


def resolve_all(folder: Path, stage: str, path: Path) -> None:
    records = json.loads(run("review", "records", folder, "--json", quiet=True))
    by_title = {normal_title(r["title"]): r["id"] for r in records if r["duplicate_of"] is None}
    with path.open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            record = by_title[normal_title(row["title"])]
            run("review", "resolve", folder, "--stage", stage, str(record), row["decision"],
                "--reason", row["reason"], "--reviewer", "ann", quiet=True)  # fmt: skip


def main(argv: list[str]) -> int:
    folder = Path(argv[0]) if argv else HERE.parent
    (folder / STORE_NAME).unlink(missing_ok=True)
    for suffix in ("-wal", "-shm"):
        (folder / f"{STORE_NAME}{suffix}").unlink(missing_ok=True)
    run("review", "init", folder)
    run("review", "user", "add", folder, "ann", "--role", "owner")
    run("review", "user", "add", folder, "ben")
    for file, source, platform in (("pubmed.nbib", "PubMed", "NCBI"),
                                   ("embase.ris", "Embase", "Embase.com"),
                                   ("central.bib", "Cochrane", "Cochrane Library")):  # fmt: skip
        run("review", "import", folder, HERE / file, "--source", source, "--searched", SEARCHED,
            "--query", QUERIES[source], "--platform", platform)  # fmt: skip
    run("review", "dedup", folder)
    # The pairs dedup was unsure of are different papers with similar titles: ann says so.
    for pair in json.loads(run("review", "duplicates", folder, "--json", quiet=True)):
        run("review", "duplicates", folder, "--reject", str(pair["record"]), str(pair["of"]),
            "--reviewer", "ann")  # fmt: skip
    run("review", "import-decisions", folder, HERE / "title_abstract_decisions.csv", "--stage",
        "title_abstract")  # fmt: skip
    resolve_all(folder, "title_abstract", HERE / "title_abstract_resolutions.csv")
    run("review", "import-decisions", folder, HERE / "full_text_decisions.csv", "--stage",
        "full_text")  # fmt: skip
    resolve_all(folder, "full_text", HERE / "full_text_resolutions.csv")
    # Each included report is linked to its study: the study_id the patients table uses.
    for record in json.loads(run("review", "records", folder, "--json", quiet=True)):
        found = re.search(r"\b(S\d{2}) simulated series", record["title"] or "")
        if found and record["duplicate_of"] is None:
            run("review", "link", folder, str(record["id"]), found.group(1), "--reviewer",
                "ann", quiet=True)  # fmt: skip
    for rater in ("ann", "ben"):
        run("review", "import-appraisals", folder, HERE / f"appraisal_{rater}.csv", "--tool",
            "jbi_case_series", "--reviewer", rater)  # fmt: skip
    run("review", "import-appraisals", folder, HERE.parent / "quality.csv", "--tool",
        "jbi_case_series", "--consensus")  # fmt: skip
    run("review", "status", folder)
    run("review", "appraisal", folder)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
