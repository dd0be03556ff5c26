"""Write the example review's simulated search: three database exports and two reviewers'
screening decisions, with the counts of the example's PRISMA diagram (review.toml).

    python examples/imcs-cnop/search/make_search.py      # rewrites the files beside it

Everything here is simulated (seeded): no record is a real paper. The exports carry the
traps real ones have: PubMed's MEDLINE with continuation lines, records with AU but no FAU
and an erratum link; Embase's RIS with a byte-order mark, Windows line ends, DOIs written
as URLs and in upper case, and its last record without an ER line; Cochrane CENTRAL's
BibTeX with LaTeX accents and two trials exported under one citation key. Embase and
CENTRAL repeat PubMed records as those databases write them (upper case, a dropped letter,
another DOI form): 301 duplicates. Of the 526 unique records two reviewers include 77 at
title and abstract, 3 reports cannot be retrieved, 51 are excluded at full text with
reasons and 23 are included: the example's 23 studies. Each of the two reviewers also
appraises the 23 studies with the JBI checklist for case series; their consensus is the
example's quality.csv.
"""

from __future__ import annotations

import csv
import random
from pathlib import Path

HERE = Path(__file__).resolve().parent
SEED = 2026

INTERVENTIONS = ["Motor cortex stimulation", "Epidural cortical stimulation",
                 "Deep brain stimulation", "Repetitive transcranial magnetic stimulation",
                 "Spinal cord stimulation", "Occipital nerve stimulation",
                 "Trigeminal ganglion stimulation", "Transcranial direct current stimulation",
                 "Peripheral nerve field stimulation",
                 "Sphenopalatine ganglion stimulation"]  # fmt: skip
CONDITIONS = ["trigeminal neuropathic pain", "post-herpetic neuralgia", "anaesthesia dolorosa",
              "atypical facial pain", "central post-stroke pain", "persistent idiopathic "
              "facial pain", "cluster headache", "chronic migraine", "burning mouth syndrome",
              "painful post-traumatic trigeminal neuropathy", "phantom limb pain",
              "thalamic pain syndrome"]  # fmt: skip
DESIGNS = ["a case series", "a retrospective cohort", "a prospective study",
           "long-term follow-up", "a randomised crossover trial", "a single-centre experience",
           "a systematic review", "a pilot study"]  # fmt: skip
PLACES = ["Paris", "Lyon", "Milan", "Osaka", "Toronto", "Leeds", "Bergen", "Porto", "Kyoto",
          "Ghent", "Zurich", "Cleveland", "Sao Paulo", "Seoul", "Madrid", "Aarhus"]  # fmt: skip
JOURNALS = ["Pain", "Neurosurgery", "Cephalalgia", "Neuromodulation", "Acta Neurochirurgica",
            "Journal of Neurosurgery", "Stereotactic and Functional Neurosurgery",
            "European Journal of Pain", "Pain Medicine", "Brain Stimulation"]  # fmt: skip
FT_REASONS = ["no patient-level data"] * 29 + ["not orofacial pain"] * 15 + [
    "overlapping cohort"] * 7  # fmt: skip


def _surnames(rng: random.Random, n: int) -> list[str]:
    syllables = ["ka", "lo", "mer", "vin", "sta", "rou", "bel", "dan", "ti", "gar", "sen",
                 "ho", "mi", "ral", "zu", "fen", "qu", "nor", "pe", "lis"]  # fmt: skip
    names: set[str] = set()
    while len(names) < n:
        names.add("".join(rng.choice(syllables) for _ in range(rng.randint(2, 3))).capitalize())
    return sorted(names)


def _records(rng: random.Random) -> list[dict]:
    """526 unique records; the first 23 are the example's included studies."""
    studies = list(csv.DictReader((HERE.parent / "studies.csv").open(encoding="utf-8")))
    surnames = _surnames(rng, 600)
    rng.shuffle(surnames)
    records = []
    for i, study in enumerate(studies):
        records.append({
            "title": f"Motor cortex stimulation for chronic neuropathic orofacial pain in "
                     f"{study['n_patients']} patients: {study['study_id']} simulated series",
            "author": f"{study['first_author']}, {chr(65 + i % 26)}.",
            "year": int(study["year"]), "journal": rng.choice(JOURNALS), "study": study["study_id"],
        })  # fmt: skip
    used = {r["title"] for r in records}
    while len(records) < 526:
        title = (f"{rng.choice(INTERVENTIONS)} for {rng.choice(CONDITIONS)}: "
                 f"{rng.choice(DESIGNS)} of {rng.randint(3, 60)} patients in "
                 f"{rng.choice(PLACES)}")  # fmt: skip
        if title in used:
            continue
        used.add(title)
        records.append({"title": title, "author": f"{surnames[len(records)]}, "
                        f"{rng.choice('ABCDEFGHJKLMNPRST')}.", "year": rng.randint(1991, 2024),
                        "journal": rng.choice(JOURNALS), "study": None})  # fmt: skip
    for i, record in enumerate(records):
        record["doi"] = f"10.5555/imcs.{record['year']}.{i:04d}" if rng.random() < 0.8 else ""
        record["pmid"] = str(30_000_000 + i * 37)
        record["volume"] = str(rng.randint(10, 180))
        first = rng.randint(1, 900)
        record["pages"] = f"{first}-{first + rng.randint(3, 15)}"
    return records


def _on_topic(title: str) -> bool:
    cortical = title.startswith(("Motor cortex", "Epidural cortical"))
    facial = any(word in title for word in ("trigeminal", "facial", "dolorosa", "herpetic"))
    return cortical and facial


def _typo(rng: random.Random, title: str) -> str:
    cut = rng.randint(10, len(title) - 3)
    while not title[cut].isalpha():
        cut += 1
    return title[:cut] + title[cut + 1 :]


def _repeat(rng: random.Random, record: dict) -> dict:
    """The record as another database writes it."""
    copy = dict(record)
    kind = rng.randrange(3)
    if kind == 0:
        copy["title"] = record["title"].upper()
    elif kind == 1:
        copy["title"] = _typo(rng, record["title"])
        copy["doi"] = ""
    if copy["doi"] and rng.random() < 0.5:
        copy["doi"] = f"https://doi.org/{copy['doi'].upper()}"
    return copy


def write_medline(path: Path, records: list[dict]) -> None:
    lines = []
    for i, r in enumerate(records):
        title = r["title"]
        cut = title.rfind(" ", 0, 70)
        lines += [f"PMID- {r['pmid']}", "OWN - NLM", "STAT- MEDLINE"]
        if cut > 0 and len(title) > 70:  # MEDLINE wraps long fields on 6-space lines
            lines += [f"TI  - {title[:cut]}", f"      {title[cut + 1 :]}"]
        else:
            lines.append(f"TI  - {title}")
        surname, initial = r["author"].split(", ")
        if i % 5:
            lines.append(f"FAU - {surname}, {initial.rstrip('.')}")
        lines.append(f"AU  - {surname} {initial.rstrip('.')}")
        lines += [f"DP  - {r['year']} Mar", f"TA  - {r['journal']}", f"JT  - {r['journal']}",
                  f"VI  - {r['volume']}", f"PG  - {r['pages']}"]  # fmt: skip
        if r["doi"]:
            lines.append(f"LID - {r['doi']} [doi]")
        if i == 7:
            lines.append(f"EIN - {r['journal']}. {r['year'] + 1};1:1. PMID: 39999999")
        lines.append("")
    path.write_text("\n".join(lines), encoding="utf-8")


def write_ris(path: Path, records: list[dict]) -> None:
    lines = []
    for i, r in enumerate(records):
        first, last = r["pages"].split("-")
        lines += ["TY  - JOUR", f"TI  - {r['title']}", f"AU  - {r['author']}",
                  f"PY  - {r['year']}///", f"JO  - {r['journal']}", f"VL  - {r['volume']}",
                  f"SP  - {first}", f"EP  - {last}"]  # fmt: skip
        if r["doi"]:
            lines.append(f"DO  - {r['doi']}")
        if i < len(records) - 1:  # Embase's last record ends without its ER line
            lines += ["ER  - ", ""]
    path.write_bytes(("\ufeff" + "\r\n".join(lines) + "\r\n").encode("utf-8"))


def write_bibtex(path: Path, records: list[dict]) -> None:
    entries = []
    for i, r in enumerate(records):
        surname = r["author"].split(",")[0]
        key = "Kalo2009" if i in (3, 4) else f"{surname}{r['year']}{i}"  # one key, two trials
        author = r["author"].replace("e", "{\\'e}", 1) if i == 2 else r["author"]
        doi = f",\n  doi = {{{r['doi']}}}" if r["doi"] else ""
        entries.append(
            f"@article{{{key},\n  title = {{{r['title']}}},\n  author = {{{author}}},\n"
            f"  year = {{{r['year']}}},\n  journal = {{{r['journal']}}},\n"
            f"  pages = {{{r['pages'].replace('-', '--')}}}{doi}\n}}\n"
        )
    path.write_text("% Cochrane CENTRAL export (simulated)\n\n" + "\n".join(entries),
                    encoding="utf-8")  # fmt: skip


def main() -> None:
    rng = random.Random(SEED)
    records = _records(rng)
    order = list(range(len(records)))
    rng.shuffle(order)
    pubmed = [records[i] for i in order[:412]]
    embase_own = [records[i] for i in order[412:520]]
    central_own = [records[i] for i in order[520:526]]
    embase = embase_own + [_repeat(rng, r) for r in rng.sample(pubmed, 280)]
    central = central_own + [_repeat(rng, r) for r in rng.sample(pubmed, 21)]
    rng.shuffle(embase)
    rng.shuffle(central)
    write_medline(HERE / "pubmed.nbib", pubmed)
    write_ris(HERE / "embase.ris", embase)
    write_bibtex(HERE / "central.bib", central)

    # Screening: 77 records included at title and abstract (the 23 studies among them),
    # then 3 not retrieved, 51 excluded with reasons, 23 included. The two reviewers
    # disagree on 24 records at title and abstract and on 6 at full text; the
    # resolutions settle each as the other reviewer decided.
    studies = [r for r in records if r["study"]]
    others = [r for r in records if not r["study"]]
    rng.shuffle(others)
    # The reviewers include what the question asks for (cortical stimulation for facial
    # pain), so that titles carry the signal the relevance ranking learns from.
    on_topic = [r for r in others if _on_topic(r["title"])]
    others = on_topic + [r for r in others if r not in on_topic]
    sought = studies + others[:54]
    excluded_ta = others[54:]
    ta_rows, ta_resolved = [], []
    for r in excluded_ta + sought:
        final = "include" if r in sought else "exclude"
        other = "exclude" if final == "include" else "include"
        ben = other if rng.random() < 0.05 else final
        ta_rows += [(r["title"], "ann", final, ""), (r["title"], "ben", ben, "")]
        if ben != final:
            ta_resolved.append((r["title"], final, "agreed on discussion"))
    not_retrieved = others[:3]
    ft_excluded = others[3:54]
    ft_rows, ft_resolved = [], []
    for i, r in enumerate(sought):
        if r in not_retrieved:
            ft_rows += [(r["title"], who, "not_retrieved", "") for who in ("ann", "ben")]
            continue
        reason = FT_REASONS[ft_excluded.index(r)] if r in ft_excluded else ""
        final = "exclude" if reason else "include"
        ft_rows.append((r["title"], "ann", final, reason))
        if i % 13 == 5:  # a disagreement, resolved as ann decided
            other = "include" if final == "exclude" else "exclude"
            ft_rows.append((r["title"], "ben", other, "" if other == "include" else reason
                            or "not orofacial pain"))  # fmt: skip
            ft_resolved.append((r["title"], final, reason or "agreed on discussion"))
        else:
            ft_rows.append((r["title"], "ben", final, reason))
    for name, rows, header in (
        ("title_abstract_decisions.csv", ta_rows, ("title", "reviewer", "decision", "reason")),
        ("title_abstract_resolutions.csv", ta_resolved, ("title", "decision", "reason")),
        ("full_text_decisions.csv", ft_rows, ("title", "reviewer", "decision", "reason")),
        ("full_text_resolutions.csv", ft_resolved, ("title", "decision", "reason")),
    ):
        with (HERE / name).open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(header)
            writer.writerows(rows)
    # Appraisal: the consensus is the example's quality.csv; each rater departs from it on
    # about one item in eight (the consensus meeting settled those).
    quality = list(csv.DictReader((HERE.parent / "quality.csv").open(encoding="utf-8")))
    judgements = ["yes", "no", "unclear", "not applicable"]
    for rater in ("ann", "ben"):
        with (HERE / f"appraisal_{rater}.csv").open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(("study_id", "item", "judgement", "note"))
            for row in quality:
                said = row["judgement"]
                if rng.random() < 0.125:
                    said = rng.choice([j for j in judgements if j != said])
                writer.writerow((row["study_id"], row["item"], said, ""))
    print(f"wrote {len(pubmed)} + {len(embase)} + {len(central)} records, the decisions and "
          "the appraisals")  # fmt: skip


if __name__ == "__main__":
    main()
