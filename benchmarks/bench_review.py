"""Importing and deduplicating search exports: ipdmeta's review store at 10,000 and 100,000
records, beside rispy (the field's RIS parser, parsing only) when it is installed.

    .venv/bin/python benchmarks/bench_review.py            # 10,000 and 100,000 records
    .venv/bin/python benchmarks/bench_review.py --quick    # 10,000 only

The records are simulated (seeded): titles of 8 to 14 words from a 3,000-word vocabulary,
1990-2025, 3,000 first-author surnames, split over two RIS exports ("PubMed" and
"Embase"); 10 % of the second export repeats records of the first as another database
writes them (upper-case title, a DOI as a URL, a typo in the title), so the deduplication
has work to do. ASySD (R, the published reference: "up to an hour" for large searches) is
not in Debian's R packages and is not run here.
Goal (issue 11): 100,000 records imported and deduplicated in under 60 s on this machine.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import available, fmt

from ipdmeta.review import create_store, import_file
from ipdmeta.review.dedup import find_duplicates


def _words(rng: random.Random, n: int) -> list[str]:
    letters = "abcdefghijklmnopqrstuvwxyz"
    return ["".join(rng.choice(letters) for _ in range(rng.randint(3, 10))) for _ in range(n)]


def simulate(n: int, folder: Path, seed: int = 11) -> tuple[Path, Path, int]:
    """Two RIS files with ``n`` records in all; returns them and the planted duplicates."""
    rng = random.Random(seed)
    vocabulary = _words(rng, 3000)
    surnames = [w.capitalize() for w in _words(rng, 3000)]
    journals = [" ".join(w.capitalize() for w in _words(rng, 2)) for _ in range(300)]
    first_n = n // 2
    records = []
    for i in range(first_n):
        title = " ".join(rng.choice(vocabulary) for _ in range(rng.randint(8, 14))).capitalize()
        records.append(
            (title, rng.choice(surnames), rng.randint(1990, 2025), f"10.{1000 + i % 9000}/x{i}",
             rng.choice(journals))
        )  # fmt: skip
    second, planted = [], 0
    for i in range(n - first_n):
        if rng.random() < 0.10:
            title, author, year, doi, journal = rng.choice(records)
            kind = rng.randint(0, 2)
            if kind == 0:
                title = title.upper()
            elif kind == 1:
                doi = f"https://doi.org/{doi.upper()}"
            else:
                cut = rng.randint(5, len(title) - 2)
                title = title[:cut] + title[cut + 1 :]  # a dropped letter
                doi = ""
            second.append((title, author, year, doi, journal))
            planted += 1
        else:
            title = " ".join(rng.choice(vocabulary) for _ in range(rng.randint(8, 14)))
            second.append((title.capitalize(), rng.choice(surnames), rng.randint(1990, 2025),
                           f"10.9999/y{i}", rng.choice(journals)))  # fmt: skip
    paths = []
    for name, rows in (("pubmed.ris", records), ("embase.ris", second)):
        lines = []
        for title, author, year, doi, journal in rows:
            lines += ["TY  - JOUR", f"TI  - {title}", f"AU  - {author}, A.", f"PY  - {year}",
                      f"JO  - {journal}"]  # fmt: skip
            lines += [f"DO  - {doi}"] if doi else []
            lines += ["ER  - ", ""]
        path = folder / name
        path.write_text("\n".join(lines), encoding="utf-8")
        paths.append(path)
    return paths[0], paths[1], planted


def run(n: int) -> dict[str, float | int]:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        pubmed, embase, planted = simulate(n, folder)
        with create_store(folder / "review") as store:
            start = time.perf_counter()
            import_file(store, pubmed, source="PubMed")
            import_file(store, embase, source="Embase")
            imported = time.perf_counter()
            matches = find_duplicates(store.records())
            store.add_duplicate_verdicts(
                [(m.record, m.of, m.rule, m.score, "duplicate" if m.sure else "pending")
                 for m in matches]
            )  # fmt: skip
            done = time.perf_counter()
            sure = sum(m.sure for m in matches)
            # Relevance ranking: TF-IDF of every record once, then one retrain on 2,000
            # decided records and the scores of all of them.
            from ipdmeta.review.ranking import Ranker

            start_f = time.perf_counter()
            ranker = Ranker.for_store(store)
            featured = time.perf_counter()
            rng = np.random.default_rng(1)
            decided = rng.choice(ranker.ids, size=min(2000, len(ranker.ids)), replace=False)
            labels = {int(i): int(k % 7 == 0) for k, i in enumerate(decided)}
            ranker.scores(labels)
            retrained = time.perf_counter()
        rispy_seconds = float("nan")
        if available("rispy"):
            import rispy

            start_r = time.perf_counter()
            for path in (pubmed, embase):
                with path.open(encoding="utf-8") as handle:
                    rispy.load(handle)
            rispy_seconds = time.perf_counter() - start_r
    return {
        "n": n,
        "import": imported - start,
        "dedup": done - imported,
        "total": done - start,
        "planted": planted,
        "found": sure,
        "pending": len(matches) - sure,
        "rispy": rispy_seconds,
        "features": featured - start_f,
        "retrain": retrained - featured,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10,000 records only")
    args = parser.parse_args(argv)
    sizes = [10_000] if args.quick else [10_000, 100_000]
    print(__doc__.split("\n\n")[0].replace("\n", " "))
    header = (f"{'records':>9} | {'import':>9} | {'dedup':>9} | {'total':>9} | "
              f"{'planted':>7} | {'merged':>7} | {'to ask':>6} | {'rispy parse':>11} | "
              f"{'features':>9} | {'retrain':>9}")  # fmt: skip
    print(header)
    print("-" * len(header))
    rows = []
    for n in sizes:
        row = run(n)
        rows.append(row)
        rispy_text = "not installed" if row["rispy"] != row["rispy"] else fmt(float(row["rispy"]))
        print(f"{n:>9,} | {fmt(float(row['import'])):>9} | {fmt(float(row['dedup'])):>9} | "
              f"{fmt(float(row['total'])):>9} | {row['planted']:>7,} | {row['found']:>7,} | "
              f"{row['pending']:>6,} | {rispy_text:>11} | {fmt(float(row['features'])):>9} | "
              f"{fmt(float(row['retrain'])):>9}")  # fmt: skip
    print(
        "\nimport: reading both RIS files and storing every record (SQLite, one transaction "
        "per file). dedup: finding duplicates and storing the verdicts. planted: duplicates "
        "simulated; merged: found by the automatic rules; to ask: pairs left for a person. "
        "rispy parse: rispy.load on the same files (parsing only, nothing stored). "
        "features: TF-IDF of every record's title and abstract (once per import, cached). "
        "retrain: the relevance model fitted on 2,000 decided records and every record scored."
    )
    big = rows[-1]
    if big["n"] == 100_000:
        verdict = "met" if float(big["total"]) < 60 else "NOT met"
        print(f"Goal (issue 11): 100,000 records imported and deduplicated in under 60 s: "
              f"{fmt(float(big['total']))} -> {verdict}")  # fmt: skip
        verdict = "met" if float(big["retrain"]) < 1 else "NOT met"
        print(f"Goal (issue 11): a ranking retrain at 100,000 records under 1 s: "
              f"{fmt(float(big['retrain']))} -> {verdict}")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
