"""Relevance ranking: it learns from decisions, its features are cached, and the
simulation reports the work it saves."""

from __future__ import annotations

import json

import numpy as np

from ipdmeta.review import open_store
from ipdmeta.review.ranking import FEATURES_NAME, Ranker, rank_records, simulate_ranking

RELEVANT = "Motor cortex stimulation for trigeminal neuropathic facial pain"
OTHER = "Knee replacement outcomes in elderly patients with osteoarthritis"


def _records(n: int) -> list[dict]:
    rows = []
    for i in range(n):
        base = RELEVANT if i % 5 == 0 else OTHER
        rows.append({"title": f"{base}: cohort {i}", "author": f"W{i}, A.", "year": 1990 + i % 30,
                     "abstract": f"{base.split()[0].lower()} study number {i}"})  # fmt: skip
    return rows


def _decide(run_cli, folder, record, decision):
    assert run_cli("review", "decide", folder, "--reviewer", "ann", "--stage",
                   "title_abstract", str(record), decision).code == 0  # fmt: skip


def test_ranking_learns_from_the_first_decisions(team_review, run_cli):
    folder = team_review(_records(60))
    with open_store(folder) as store:
        undecided = [r["id"] for r in store.records()]
        assert rank_records(store, undecided) == undecided  # nothing to learn from yet
    _decide(run_cli, folder, 1, "include")  # a relevant record (i = 0)
    _decide(run_cli, folder, 2, "exclude")
    with open_store(folder) as store:
        rest = [r["id"] for r in store.records() if r["id"] > 2]
        order = rank_records(store, rest)
    relevant = {r for r in rest if (r - 1) % 5 == 0}
    assert set(order[: len(relevant)]) == relevant  # every relevant record comes first
    shown = run_cli("review", "rank", folder, "--top", "3").out
    assert shown.startswith("Most likely inclusions first:") and "Motor cortex" in shown


def test_features_are_cached_and_rebuilt_when_the_records_change(team_review, tmp_path, run_cli):
    folder = team_review(_records(30))
    with open_store(folder) as store:
        first = Ranker.for_store(store)
        stamp = (folder / FEATURES_NAME).stat().st_mtime_ns
        again = Ranker.for_store(store)
        assert (folder / FEATURES_NAME).stat().st_mtime_ns == stamp  # read, not rebuilt
        assert (first.matrix != again.matrix).nnz == 0
    more = tmp_path / "more.ris"
    more.write_text("TY  - JOUR\nTI  - A new record on motor cortex\nER  - \n", encoding="utf-8")
    run_cli("review", "import", folder, more, "--source", "Other")
    with open_store(folder) as store:
        assert Ranker.for_store(store).matrix.shape[0] == 31
    (folder / FEATURES_NAME).write_bytes(b"damaged")
    with open_store(folder) as store:
        assert Ranker.for_store(store).matrix.shape[0] == 31  # a damaged cache is rebuilt


def test_simulation_on_a_separable_set(team_review, run_cli):
    folder = team_review(_records(200))
    with open_store(folder) as store:
        ranker = Ranker.for_store(store)
        labels = {int(i): int((int(i) - 1) % 5 == 0) for i in ranker.ids}
        result = simulate_ranking(ranker, labels, step=10)
    assert result.includes == 40 and result.n == 200
    assert result.screened_at_95 <= 60 and result.wss_95 > 0.6
    assert list(result.recall_at.values())[-1] == 1.0
    assert np.all(np.diff(list(result.recall_at.values())) >= 0)


def test_simulation_needs_decisions(team_review, run_cli):
    folder = team_review(_records(10))
    result = run_cli("review", "rank", folder, "--simulate")
    assert result.code == 2 and "decide some records first" in result.err
    _decide(run_cli, folder, 1, "include")
    _decide(run_cli, folder, 2, "exclude")
    _decide(run_cli, folder, 6, "include")
    _decide(run_cli, folder, 3, "exclude")
    out = run_cli("review", "rank", folder, "--simulate").out
    assert "WSS@95" in out and "4 decided records (2 included)" in out
    status = json.loads(run_cli("review", "status", folder, "--json").out)
    assert status["stages"]["title_abstract"]["screened"] == 4
