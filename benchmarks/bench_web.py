"""The reviewers' web app under load: 10,000 records, 8 clients at once, each taking its
next record from the queue and posting a decision, as fast as the server answers.

    .venv/bin/python benchmarks/bench_web.py            # 10,000 records, 8 x 150 rounds
    .venv/bin/python benchmarks/bench_web.py --quick    # 2,000 records, 8 x 40 rounds

The server is `ipdmeta review serve` (uvicorn, one process) on loopback; the clients are
threads of this process, each with its own keep-alive connection, signed in as its own
reviewer (8 reviewers, blind dual screening of the same records). Latency is measured by
the client from sending the request to reading the whole answer. Every 10 decisions the
relevance ranking is retrained in the server's background. The peers are web services
(Rayyan, Covidence) or ASReview LAB, which is not installed here: no column for them.
Goal (issue 12): p95 of GET /api/queue and POST /api/decisions under 50 ms.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from pathlib import Path

from argon2 import PasswordHasher
from bench_review import simulate

from ipdmeta.review import create_store, import_file
from ipdmeta.web.client import Client, running_server

TEAM = [f"reviewer{i}" for i in range(8)]
PASSWORD = "benchmark-password"


def _review(folder: Path, n: int) -> Path:
    pubmed, embase, _ = simulate(n, folder)
    review = folder / "review"
    password = PasswordHasher().hash(PASSWORD)
    with create_store(review) as store:
        import_file(store, pubmed, source="PubMed")
        import_file(store, embase, source="Embase")
        for name in TEAM:
            store.add_reviewer(name, "reviewer", password)
    return review


def _client(port: int, name: str, rounds: int, times: dict[str, list[float]],
            errors: list[str], lock: threading.Lock) -> None:  # fmt: skip
    client = Client(port)
    client.sign_in(name, PASSWORD)
    mine: dict[str, list[float]] = {"GET /api/queue": [], "POST /api/decisions": []}
    for i in range(rounds):
        start = time.perf_counter()
        status, body = client.request("GET", "/api/queue?stage=title_abstract&limit=50")
        mine["GET /api/queue"].append(time.perf_counter() - start)
        if status != 200 or not body["records"]:
            errors.append(f"{name}: queue {status}")
            break
        record = body["records"][0]["id"]
        decision = "include" if i % 9 == 0 else "exclude"
        start = time.perf_counter()
        status, _ = client.request("POST", "/api/decisions", {"record_id": record,
                                   "stage": "title_abstract", "decision": decision})  # fmt: skip
        mine["POST /api/decisions"].append(time.perf_counter() - start)
        if status != 201:
            errors.append(f"{name}: decision {status}")
    client.close()
    with lock:
        for key, values in mine.items():
            times[key].extend(values)


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2,000 records, 40 rounds")
    args = parser.parse_args(argv)
    n, rounds = (2_000, 40) if args.quick else (10_000, 150)
    print(__doc__.split("\n\n")[0].replace("\n", " "))
    with tempfile.TemporaryDirectory() as tmp:
        review = _review(Path(tmp), n)
        times: dict[str, list[float]] = {"GET /api/queue": [], "POST /api/decisions": []}
        errors: list[str] = []
        lock = threading.Lock()
        with running_server(review) as (_, port):
            warm = Client(port)  # the first queue builds the record catalogue and features
            warm.sign_in(TEAM[0], PASSWORD)
            start = time.perf_counter()
            warm.request("GET", "/api/queue?stage=title_abstract&limit=50")
            first = time.perf_counter() - start
            warm.close()
            threads = [threading.Thread(target=_client,
                                        args=(port, name, rounds, times, errors, lock))
                       for name in TEAM]  # fmt: skip
            began = time.perf_counter()
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            wall = time.perf_counter() - began
    print(f"\n{n:,} records, {len(TEAM)} clients x {rounds} rounds; first queue (catalogue "
          f"built) {first * 1e3:,.0f} ms; {sum(map(len, times.values())):,} requests in "
          f"{wall:.1f} s")  # fmt: skip
    header = f"{'request':<20} | {'n':>6} | {'p50':>8} | {'p95':>8} | {'p99':>8} | {'max':>8}"
    print(header)
    print("-" * len(header))
    met = True
    for key, values in times.items():
        p95 = _quantile(values, 0.95)
        met &= p95 < 0.050
        print(f"{key:<20} | {len(values):>6,} | {statistics.median(values) * 1e3:>5.1f} ms | "
              f"{p95 * 1e3:>5.1f} ms | {_quantile(values, 0.99) * 1e3:>5.1f} ms | "
              f"{max(values) * 1e3:>5.1f} ms")  # fmt: skip
    if errors:
        print(f"errors: {len(errors)}; first: {errors[0]}")
    print(
        f"Goal (issue 12): p95 under 50 ms for both -> {'met' if met and not errors else 'NOT met'}"
    )
    return 0 if not errors else 1


if __name__ == "__main__":
    raise SystemExit(main())
