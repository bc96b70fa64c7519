"""Benchmark ``/paper`` lookups over a large synthetic archive, against a naive LIKE scan.

    python -m bench.lookup [--papers 1000000] [--queries 1000] [--naive-sample 40] [--rebuild]

Builds the archive once through the store's own ingest path (cached under bench/.cache/), then
times 1,000 mixed lookups (ids, URLs, 1–4 word queries, typos) through ``digestbot.lookup.lookup``
— the code path ``/paper`` uses — and a sample of the same queries through a naive ``LIKE`` scan
on the same data, in the same run. Reports p50/p99 per query class, the ratio, DB size, peak RSS
and the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import random
import resource
import statistics
import time
from pathlib import Path

from bench.machine import describe_machine
from bench.synthetic import WORDS, synthetic_papers
from digestbot.lookup import lookup, query_terms
from digestbot.records import normalize_arxiv_id
from digestbot.sources.markdown import arxiv_id_from_url
from digestbot.store import Store

CACHE = Path(__file__).resolve().parent / ".cache"
BATCH = 20_000


async def build(path: Path, count: int) -> tuple[float, float]:
    """Ingest ``count`` synthetic papers through Store.upsert_papers; return (ingest s, total s).

    Ingest time counts only the store's own work (what `digestbot ingest` does); total adds the
    time this harness spends making up the papers.
    """
    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    started = time.perf_counter()
    ingest = 0.0
    store = await Store.open(path)
    papers = synthetic_papers(count)
    done = 0
    while batch := list(itertools.islice(papers, BATCH)):
        t0 = time.perf_counter()
        await store.upsert_papers(batch)
        ingest += time.perf_counter() - t0
        done += len(batch)
        print(f"\r  building: {done:,}/{count:,}", end="", flush=True)
    t0 = time.perf_counter()
    await store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    await store.close()
    ingest += time.perf_counter() - t0
    print()
    return ingest, time.perf_counter() - started


async def sample_papers(store: Store, n: int, rng: random.Random) -> list[tuple[str, str]]:
    """Return (arxiv_id, title) of ``n`` random stored papers."""
    total = await store.count_papers()
    out = []
    for rowid in rng.sample(range(1, total + 1), n):
        async with store.db.execute("SELECT arxiv_id, title FROM papers WHERE rowid = ?", (rowid,)) as cur:
            row = await cur.fetchone()
        if row:
            out.append((row[0], row[1]))
    return out


def make_queries(papers: list[tuple[str, str]], rng: random.Random) -> list[tuple[str, str]]:
    """Return (class, query) pairs: ids, URLs, title words (1–4), common words, typos."""
    queries = []
    for i, (arxiv_id, title) in enumerate(papers):
        words = title.lower().split()
        kind = ("id", "url", "words", "words", "common", "typo")[i % 6]
        if kind == "id":
            queries.append(("id", arxiv_id))
        elif kind == "url":
            queries.append(("url", rng.choice(("https://arxiv.org/abs/", "https://huggingface.co/papers/")) + arxiv_id))
        elif kind == "words":
            n = rng.randint(1, min(4, len(words)))
            start = rng.randint(0, len(words) - n)
            queries.append(("words", " ".join(words[start : start + n])))
        elif kind == "common":
            queries.append(("common", rng.choice(WORDS[:5])))
        else:
            word = max(words, key=len)
            cut = rng.randint(1, len(word) - 2) if len(word) > 3 else 1
            queries.append(("typo", word[:cut] + word[cut + 1 :]))
    return queries


async def naive(store: Store, query: str) -> list[str]:
    """The baseline: what a first version without an index would do — LIKE over every row."""
    arxiv_id = normalize_arxiv_id(query) or (arxiv_id_from_url(query) if query.startswith("http") else None)
    if arxiv_id:
        sql, args = "SELECT arxiv_id FROM papers WHERE arxiv_id LIKE ? LIMIT 5", (arxiv_id,)
    else:
        terms = query_terms(query)
        where = " AND ".join("(title LIKE ? OR abstract LIKE ? OR authors_text LIKE ?)" for _ in terms)
        sql = f"SELECT arxiv_id FROM papers WHERE {where} ORDER BY votes DESC LIMIT 5"
        args = tuple(f"%{t}%" for t in terms for _ in range(3))
    async with store.db.execute(sql, args) as cur:
        return [r[0] for r in await cur.fetchall()]


def pct(values: list[float], q: float) -> float:
    """Return the q-quantile of ``values`` in milliseconds."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--papers", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--naive-sample", type=int, default=40, help="queries timed on the naive scan")
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    print(describe_machine())
    CACHE.mkdir(exist_ok=True)
    path = CACHE / f"archive-{args.papers}.sqlite3"
    if args.rebuild or not path.exists():
        print(f"building archive of {args.papers:,} papers at {path}")
        ingest, total = await build(path, args.papers)
        print(
            f"  ingest: {ingest:.1f} s ({args.papers / ingest:,.0f} papers/s through Store.upsert_papers);"
            f" {total:.1f} s including generating the papers"
        )
    else:
        print(f"using cached archive {path} (--rebuild to rebuild)")
    rng = random.Random(args.seed)
    store = await Store.open(path)
    try:
        queries = make_queries(await sample_papers(store, args.queries, rng), rng)
        timings: dict[str, list[float]] = {}
        found = 0
        for kind, query in queries:
            started = time.perf_counter()
            result = await lookup(store, query)
            timings.setdefault(kind, []).append(time.perf_counter() - started)
            found += result.best is not None
        naive_times: dict[str, list[float]] = {}
        for kind, query in rng.sample(queries, min(args.naive_sample, len(queries))):
            started = time.perf_counter()
            await naive(store, query)
            naive_times.setdefault(kind, []).append(time.perf_counter() - started)
    finally:
        await store.close()
    size = sum(Path(str(path) + s).stat().st_size for s in ("", "-wal") if Path(str(path) + s).exists())
    print(f"\n{args.papers:,} papers; DB {size / 2**20:,.0f} MiB; {len(queries)} queries, {found} answered")
    print(f"{'class':8} {'n':>5} {'p50 ms':>9} {'p99 ms':>9} {'max ms':>9} | {'naive n':>7} {'naive p50':>10} {'ratio p50':>10}")
    every = [t for ts in timings.values() for t in ts]
    naive_all = [t for ts in naive_times.values() for t in ts]
    for kind, ts in [*sorted(timings.items()), ("all", every)]:
        nts = naive_all if kind == "all" else naive_times.get(kind, [])
        naive_p50 = pct(nts, 0.5) if nts else float("nan")
        ratio = naive_p50 / pct(ts, 0.5) if nts else float("nan")
        print(
            f"{kind:8} {len(ts):5} {pct(ts, 0.5):9.2f} {pct(ts, 0.99):9.2f} {max(ts) * 1000:9.2f} |"
            f" {len(nts):7} {naive_p50:10.1f} {ratio:9.0f}x"
        )
    print(f"mean lookup {statistics.mean(every) * 1000:.2f} ms; peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    asyncio.run(main())
