"""Benchmark ``/paper`` lookups over a large, realistic synthetic archive: latency and whether it finds the paper.

    python -m bench.lookup [--papers 1000000] [--queries 150] [--runs 3] [--naive-sample 20] [--rebuild]
                           [--db postgresql://… | --backend postgresql]

Builds the archive once through ``Store.bulk_load`` (cached under bench/.cache/; the build is timed
and its peak memory reported when it happens in this run), from ``bench.synthetic.realistic_papers``:
abstracts of 150–250 words with stopwords, a long tail of words and author names, 10% Korean
summaries. Queries are drawn from random stored papers as a person types them, per class:

* ``id`` / ``url``: the id or a link in one of its common forms (no scheme, ``www.``, versions, mirrors);
* ``words``: the method name, or 2–4 title words (a third in shuffled order);
* ``prefix``: the same with the last word half-typed (at least 2 letters), "language mode" style;
* ``typo``: title words with one edit (drop, swap, change or add a letter) in the longest word;
* ``author``: an author's surname with a title word, or an author's full name;
* ``hangul``: 2–3 words of the paper's Korean summary, particles dropped, the last one's first 2 syllables;
* ``nonsense``: made-up words and off-topic phrases, where the right answer is "No paper found".

Every query goes through ``digestbot.lookup.lookup`` (the code path ``/paper`` uses); each class
reports p50/p99 latency (the median over ``--runs`` runs) beside success@1/@3 (the paper in the
top 1/3; for nonsense: nothing answered). A naive LIKE scan answers a sample of word queries in the
same run. Ends with one line per class, ``bench.lookup CLASS: p99_ms=… p50_ms=… success_at_3=…``,
and exits 1 when a goal is missed.

``--db postgresql://…`` runs the same queries on PostgreSQL (an empty database is filled, one
holding this archive reused); ``--backend postgresql`` without a URL starts a server of the
bench's own with its data kept under bench/.cache (see :mod:`bench.pg_archive`). Every result
line names its ``backend=``.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import itertools
import logging
import os
import pickle
import random
import resource
import statistics
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import cast

from bench import pg_archive
from bench.machine import describe_machine
from bench.synthetic import STOP, realistic_papers
from digestbot.lookup import lookup
from digestbot.records import Paper
from digestbot.search_text import words
from digestbot.store import PostgresStore, Store, open_store
from digestbot.store.protocol import StoreProtocol

CACHE = Path(__file__).resolve().parent / ".cache"
BATCH = 5_000
GOALS_P99_MS = {"id": 2.0, "url": 2.0, "words": 50.0, "prefix": 50.0, "typo": 100.0, "author": 50.0, "hangul": 50.0}
GOAL_BUILD_S = 180.0
GOAL_BUILD_MB = 200.0
PARTICLES = ("에서", "는", "을", "의", "로", "과", "이", "를")
NONSENSE = [
    "quantum chromodynamics lattice",
    "chocolate cake recipe",
    "best pizza in seoul",
    "medieval poetry",
    "stock market crash",
    "김치찌개 레시피",
]


def cached_papers(count: int) -> Path:
    """Write ``count`` realistic papers to a cache file once (pickled batches), so a timed build only reads them.

    The build overlaps its own work with reading its input (index workers run meanwhile), so the
    time spent making papers could not be subtracted afterwards: reading them back is part of
    the timed build instead, an honest upper bound.
    """
    path = CACHE / f"papers-realistic-{count}.pickle"
    if not path.exists():
        partial = path.with_suffix(".partial")
        partial.parent.mkdir(parents=True, exist_ok=True)
        names = [f.name for f in dataclasses.fields(Paper)]
        with partial.open("wb") as out:
            it = iter(realistic_papers(count))
            while batch := list(itertools.islice(it, BATCH)):
                rows = [
                    tuple(dict(v) if n == "extra" else v for n, v in ((n, getattr(p, n)) for n in names)) for p in batch
                ]
                pickle.dump(rows, out, protocol=5)
        partial.rename(path)
    return path


def read_papers(path: Path) -> Iterator[Paper]:
    """Yield the papers of a :func:`cached_papers` file."""
    names = [f.name for f in dataclasses.fields(Paper)]
    with path.open("rb") as source:
        while True:
            try:
                batch = pickle.load(source)
            except EOFError:
                return
            for values in batch:
                yield Paper(**dict(zip(names, values, strict=True)))


class WorkerStats(logging.Handler):
    """Collect what the bulk load's index workers report (their CPU is also in RUSAGE_CHILDREN)."""

    def __init__(self) -> None:
        super().__init__()
        self.peak_rss_mb = 0.0

    def emit(self, record: logging.LogRecord) -> None:
        stats = record.args[-1] if isinstance(record.args, tuple) and record.args else None
        if isinstance(stats, dict) and "peak_rss_mb" in stats:
            self.peak_rss_mb += stats["peak_rss_mb"]


async def build(path: Path, count: int) -> dict[str, float]:
    """Bulk-load ``count`` realistic papers from the cache file; return wall/CPU seconds (workers' CPU included)."""
    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    source = cached_papers(count)
    workers = WorkerStats()
    bulk_log = logging.getLogger("digestbot.store.sqlite_bulk")
    bulk_log.addHandler(workers)
    bulk_log.setLevel(logging.INFO)
    load = os.getloadavg()[0]
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall, cpu = time.perf_counter(), time.process_time()
    store = await Store.open(path)
    await store.bulk_load(read_papers(source), batch=BATCH)
    await store.close()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    bulk_log.removeHandler(workers)
    child_cpu = after.ru_utime + after.ru_stime - children.ru_utime - children.ru_stime
    return {
        "wall_s": time.perf_counter() - wall,
        "cpu_s": time.process_time() - cpu + child_cpu,
        "workers_cpu_s": child_cpu,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "workers_peak_rss_mb": workers.peak_rss_mb,
        "load_before": load,
        "load_after": os.getloadavg()[0],
    }


def _typo(word: str, rng: random.Random) -> str:
    """Return ``word`` with one edit a hurried typist makes (never the first letter)."""
    i = rng.randint(1, len(word) - 2)
    kind = rng.choice(("drop", "swap", "change", "add"))
    letter = rng.choice("aeiounrst")
    if kind == "drop":
        return word[:i] + word[i + 1 :]
    if kind == "swap":
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    if kind == "change":
        return word[:i] + (letter if letter != word[i] else "x") + word[i + 1 :]
    return word[:i] + letter + word[i:]


KOREAN_DF: dict[str, int] = {}
"""How many sampled papers' summaries have each Korean word (filled by main before drawing queries)."""


def _korean_words(paper: Paper) -> list[str]:
    """Return the words of the paper's Korean summary without their particles (as a person types them)."""
    ko = paper.sections[0][1].split() if paper.sections else []
    return [next((w[: -len(p)] for p in PARTICLES if w.endswith(p) and len(w) > len(p)), w) for w in ko]


def make_query(kind: str, paper: Paper, rng: random.Random) -> str | None:
    """Return a query of ``kind`` a person looking for ``paper`` would type, or None if the paper has none."""
    title = words(paper.title)
    method = paper.title.split(":", 1)[0] if ":" in paper.title else None
    content = [w for w in title if w not in STOP]
    if kind == "id":
        return rng.choice((paper.arxiv_id, f"arXiv:{paper.arxiv_id}v2", f"{paper.arxiv_id}v1"))
    if kind == "url":
        form = rng.choice(
            ("https://arxiv.org/abs/{}", "arxiv.org/abs/{}v2", "https://arxiv.org/pdf/{}v1", "huggingface.co/papers/{}",
             "www.alphaxiv.org/abs/{}", "https://ar5iv.labs.arxiv.org/html/{}")
        )  # fmt: skip
        return form.format(paper.arxiv_id)
    if kind in ("words", "prefix", "typo"):
        if method and rng.random() < 0.4:
            picked = words(method) + ([rng.choice(content)] if rng.random() < 0.5 else [])
        else:
            n = rng.randint(2, min(4, len(title)))
            start = rng.randint(0, len(title) - n)
            picked = title[start : start + n]
            if rng.random() < 0.33:
                rng.shuffle(picked)
        if kind == "prefix":
            last = picked[-1]
            if len(last) < 3:
                return None
            picked[-1] = last[: rng.randint(2, len(last) - 1)]
        if kind == "typo":
            longest = max(range(len(picked)), key=lambda i: len(picked[i]))
            if len(picked[longest]) < 5:
                return None
            picked[longest] = _typo(picked[longest], rng)
        return " ".join(picked)
    if kind == "author":
        name = rng.choice(paper.authors)
        if rng.random() < 0.5:
            return name
        return f"{name.split()[-1]} {max(content, key=len)}"
    if kind == "hangul":
        if not paper.sections:
            return None
        ko = list(dict.fromkeys(_korean_words(paper)))
        # People remember a summary's distinctive words: 2-3 of its 5 rarest (in the sampled papers).
        rare = sorted(ko, key=lambda w: KOREAN_DF.get(w, 0))[:5]
        chosen = set(rng.sample(rare, k=min(len(rare), rng.randint(2, 3))))
        picked = [w for w in ko if w in chosen]
        picked[-1] = picked[-1][:2]
        return " ".join(picked)
    raise ValueError(kind)


async def sample_papers(store: StoreProtocol, n: int, rng: random.Random, *, korean: bool = False) -> list[Paper]:
    """Return ``n`` random stored papers (only ones with a Korean summary when ``korean``)."""
    total = await store.count_papers()
    out: list[Paper] = []
    while len(out) < n:
        batch = await store.get_papers_by_rowid(rng.sample(range(1, total + 1), min(total, 4 * n)))
        out.extend(p for p in batch if not korean or p.sections)
    return out[:n]


async def naive(store: Store, query: str) -> list[str]:
    """The baseline: what a first version without an index would do, LIKE over every row, most voted first."""
    terms = words(query)
    where = " AND ".join("(title LIKE ? OR authors_text LIKE ? OR abstract LIKE ?)" for _ in terms)
    sql = f"SELECT arxiv_id FROM papers WHERE {where} ORDER BY votes DESC LIMIT 3"
    # Raw SQL has no place in the store seam; the bench reaches the SQLite file through a transaction.
    async with store.transaction() as db, db.execute(sql, tuple(f"%{t}%" for t in terms for _ in range(3))) as cur:
        return [r[0] for r in await cur.fetchall()]


def pct(values: list[float], q: float) -> float:
    """Return the q-quantile of ``values`` (seconds) in milliseconds."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--papers", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=150, help="queries per class")
    parser.add_argument("--runs", type=int, default=3, help="timed runs over the queries (medians are reported)")
    parser.add_argument("--naive-sample", type=int, default=20, help="word queries also run on the naive scan")
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--db", help="a postgresql:// URL: bench PostgreSQL there (empty, or holding this archive)")
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), help="postgresql: on a server of its own")
    args = parser.parse_args()
    print(describe_machine())
    CACHE.mkdir(exist_ok=True)
    if args.db or args.backend == "postgresql":
        url, built_pg, server = await pg_archive.prepare(
            args.db,
            args.papers,
            rebuild=args.rebuild,
            batch=BATCH,
            cache=CACHE,
            source=lambda: read_papers(cached_papers(args.papers)),
        )
        try:
            return await measure(args, url, built_pg, "postgresql")
        finally:
            pg_archive.stop(server)
    path = CACHE / f"archive-realistic-{args.papers}.sqlite3"
    built: dict[str, float] | None = None
    if args.rebuild or not path.exists():
        print(f"building archive of {args.papers:,} papers at {path} (Store.bulk_load)")
        built = await build(path, args.papers)
        print(
            f"  build: {built['wall_s']:.1f} s wall, {built['cpu_s']:.1f} s CPU ({built['workers_cpu_s']:.1f} s of it"
            f" in index workers), reading the papers from the cache file included; peak RSS"
            f" {built['peak_rss_mb']:.0f} MiB + workers {built['workers_peak_rss_mb']:.0f} MiB"
        )
    else:
        print(f"using cached archive {path} (--rebuild to rebuild and time the build)")
    return await measure(args, path, built, "sqlite")


async def measure(args: argparse.Namespace, target: Path | str, built: dict[str, float] | None, backend: str) -> int:
    """Run the query classes on the archive at ``target``; print the result lines; return 1 if a goal is missed."""
    rng = random.Random(args.seed)
    store = await open_store(target)
    try:
        papers = await sample_papers(store, args.queries, rng)
        korean = await sample_papers(store, args.queries, rng, korean=True)
        for paper in korean:
            for word in set(_korean_words(paper)):
                KOREAN_DF[word] = KOREAN_DF.get(word, 0) + 1
        queries: list[tuple[str, str, str | None]] = []
        for kind in ("id", "url", "words", "prefix", "typo", "author"):
            for paper in papers:
                if (q := make_query(kind, paper, rng)) is not None:
                    queries.append((kind, q, paper.arxiv_id))
        queries += [("hangul", q, p.arxiv_id) for p in korean if (q := make_query("hangul", p, rng))]
        made_up = ["".join(rng.choices("bcdfghjklmnpqrstvwxz", k=rng.randint(5, 9))) for _ in range(args.queries)]
        queries += [("nonsense", q, None) for q in NONSENSE + made_up]
        rng.shuffle(queries)
        runs: list[dict[str, list[float]]] = []
        hits: dict[str, list[tuple[bool, bool]]] = {}
        for run in range(args.runs):
            timings: dict[str, list[float]] = {}
            for kind, query, expected in queries:
                started = time.perf_counter()
                result = await lookup(store, query)
                timings.setdefault(kind, []).append(time.perf_counter() - started)
                if backend == "postgresql" and kind == "id":  # the floor under an id lookup, timed beside it
                    started = time.perf_counter()
                    await cast(PostgresStore, store).fetchall("SELECT 1")
                    timings.setdefault("round_trip", []).append(time.perf_counter() - started)
                if run == 0:
                    top = [p.arxiv_id for p in (result.best, *result.others) if p is not None]
                    ok = (
                        (result.best is None, result.best is None)
                        if expected is None
                        else (top[:1] == [expected], expected in top[:3])
                    )
                    hits.setdefault(kind, []).append(ok)
            runs.append(timings)
        naive_times, naive_hits = [], []
        for _, query, expected in rng.sample([q for q in queries if q[0] == "words"], args.naive_sample):
            started = time.perf_counter()
            top = await (naive(cast(Store, store), query) if backend == "sqlite" else pg_archive.naive(store, query))
            naive_times.append(time.perf_counter() - started)
            naive_hits.append(expected in top)
        total = await store.count_papers()
        if isinstance(target, str):
            size = await pg_archive.size_mb(store) * 2**20
    finally:
        await store.close()
    if isinstance(target, Path):
        size = sum(Path(str(target) + s).stat().st_size for s in ("", "-wal") if Path(str(target) + s).exists())
    print(f"\n{total:,} papers; DB {size / 2**20:,.0f} MiB; {len(queries)} queries x {args.runs} runs")
    lines, failed = [], []
    for kind in ("id", "url", "words", "prefix", "typo", "author", "hangul", "nonsense"):
        if kind not in runs[0]:
            continue
        p50 = statistics.median(pct(r[kind], 0.5) for r in runs)
        p99 = statistics.median(pct(r[kind], 0.99) for r in runs)
        s1 = sum(h[0] for h in hits[kind]) / len(hits[kind])
        s3 = sum(h[1] for h in hits[kind]) / len(hits[kind])
        goal = GOALS_P99_MS.get(kind)
        if goal is not None and p99 >= goal:
            failed.append(f"{kind} p99 {p99:.1f} ms >= {goal:g} ms")
        lines.append(
            f"bench.lookup {kind}: p99_ms={p99:.2f} p50_ms={p50:.2f} success_at_1={s1:.2f} success_at_3={s3:.2f}"
            f" n={len(hits[kind])}" + (f" goal_p99_ms={goal:g}" if goal else "") + f" backend={backend}"
        )
    if "round_trip" in runs[0]:  # PostgreSQL: one bare `SELECT 1` through psycopg, beside each id lookup
        p50 = statistics.median(pct(r["round_trip"], 0.5) for r in runs)
        p99 = statistics.median(pct(r["round_trip"], 0.99) for r in runs)
        lines.append(
            f"bench.lookup round_trip: p99_ms={p99:.2f} p50_ms={p50:.2f} n={len(runs[0]['round_trip'])}"
            f" query=select_1 backend={backend}"
        )
    if naive_times:  # (--naive-sample 0: no baseline line)
        naive_p50 = pct(naive_times, 0.5)
        words_p50 = statistics.median(pct(r["words"], 0.5) for r in runs)
        lines.append(
            f"bench.lookup naive_words: p50_ms={naive_p50:.1f} p99_ms={pct(naive_times, 0.99):.1f}"
            f" success_at_3={sum(naive_hits) / len(naive_hits):.2f} n={len(naive_times)}"
            f" ratio_p50={naive_p50 / words_p50:.0f}x backend={backend}"
        )
    if built is not None and backend == "postgresql":  # the build goals are SQLite's; PostgreSQL's is reported
        lines.append(pg_archive.build_line(args.papers, built, size))
    elif built is not None:
        if built["wall_s"] >= GOAL_BUILD_S:
            failed.append(f"build {built['wall_s']:.0f} s >= {GOAL_BUILD_S:g} s")
        memory = built["peak_rss_mb"] + built["workers_peak_rss_mb"]  # the workers run at the same time
        if memory >= GOAL_BUILD_MB:
            failed.append(f"build memory {memory:.0f} MiB (with the workers) >= {GOAL_BUILD_MB:g} MiB")
        lines.append(
            f"bench.lookup build: papers={args.papers} wall_s={built['wall_s']:.1f} cpu_s={built['cpu_s']:.1f}"
            f" workers_cpu_s={built['workers_cpu_s']:.1f} peak_rss_mb={built['peak_rss_mb']:.0f}"
            f" workers_peak_rss_mb={built['workers_peak_rss_mb']:.0f} db_mb={size / 2**20:.0f}"
            f" load={built['load_before']:.1f}-{built['load_after']:.1f}"
        )
    print("\n".join(lines))
    if failed:
        print("bench.lookup: goals missed: " + "; ".join(failed))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
