"""A worker process that builds one full-text index for a fresh bulk build, in a side file of its own.

    python -P .../digestbot/store/fts_build.py SIDE_FILE TABLE COLUMN[,COLUMN…] [--count-words]

Building the FTS5 indexes is most of a big build's CPU, and SQLite lets one process write one
file at a time: so each index is built by a process of its own, into its own side file, while
the parent writes the papers (see :mod:`digestbot.store.sqlite_bulk`). The parent creates
``TABLE`` in the side file with the archive's own definition and copies the finished shadow
tables back. Input on stdin: frames of an 8-byte little-endian length and a pickled list of
``(op, rowid, value, …)`` with op ``"i"`` (index these values) or ``"d"`` (unindex them, as
FTS5's ``'delete'`` command needs). With ``--count-words`` it also counts, per word, the papers
whose title, authors or keywords have it (the lookup vocabulary) into the side file's ``terms``.
At the end one JSON line on stdout says what the worker cost (CPU seconds, peak memory).

The parent runs this file as a script (``-P``: its folder is not put on ``sys.path``), not as
``-m digestbot.store.fts_build``: that would import the ``digestbot.store`` package and with it
both store backends, about 25 MiB of memory per worker that indexing never uses. So this module
imports nothing of digestbot but :mod:`digestbot.search_text`.
"""

from __future__ import annotations

import itertools
import json
import pickle
import sqlite3
import sys
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any, BinaryIO

from digestbot.search_text import lookup_words

FRAME_HEADER = 8
"""Bytes of the little-endian length in front of each pickled frame."""

HASH_BYTES = 8 * 2**20
"""FTS5 pending-postings size while building: fewer, larger segments to merge than the 1 MiB default.

Measured on 100k abstracts: 1 MiB costs 40% more CPU (more segments, more merging); 32 MiB saves
only 3% more and costs 20 MiB of memory.
"""

CACHE_KIB = 2 * 1024
"""The worker's page cache: FTS5 appends segments and merges them sequentially, so SQLite's 2 MiB
default costs no measurable CPU, where a bigger one was memory for nothing."""

TERMS_SPILL = 50_000
"""Distinct words the vocabulary count holds in memory before adding them into the side file's ``terms``.

At a million papers the vocabulary (a long tail of author names) is hundreds of thousands of
words, tens of MiB as a Python dict; spilled, memory stays bounded and most rare words are
written once.
"""


def frames(stream: BinaryIO) -> Iterator[list[tuple[Any, ...]]]:
    """Yield the pickled lists the parent writes, until it closes the pipe."""
    while header := stream.read(FRAME_HEADER):
        size = int.from_bytes(header, "little")
        payload = stream.read(size)
        if len(header) != FRAME_HEADER or len(payload) != size:
            raise EOFError("the parent closed the pipe in the middle of a frame")
        yield pickle.loads(payload)


class _Vocabulary:
    """Per-word paper counts, added into the side file's ``terms`` table whenever they grow large."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db
        self.counts: Counter[str] = Counter()

    def add(self, rows: list[tuple[Any, ...]], at: tuple[int, int, int], step: int) -> None:
        """Count (step 1) or uncount (step -1) the title, author and keyword words of ``rows``."""
        t, a, k = at
        found = itertools.chain.from_iterable(lookup_words(row[t], row[a], row[k]) for row in rows)
        if step > 0:
            self.counts.update(found)  # Counter counts an iterable in C
        else:
            self.counts.subtract(found)
        if len(self.counts) >= TERMS_SPILL:
            self.spill()

    def spill(self) -> None:
        """Add the counts held in memory into ``terms`` and forget them."""
        self.db.executemany(
            "INSERT INTO terms(term, docs) VALUES (?, ?) ON CONFLICT(term) DO UPDATE SET docs = docs + excluded.docs",
            sorted(self.counts.items()),
        )
        self.counts = Counter()

    def finish(self) -> None:
        """Spill the rest; drop words whose count came back to zero (a word only an update removed)."""
        self.spill()
        self.db.execute("DELETE FROM terms WHERE docs = 0")


def build(side: str, table: str, columns: list[str], *, count_words: bool, stream: BinaryIO) -> None:
    """Index every frame of ``stream`` into ``table`` of the side file, then store the word counts."""
    db = sqlite3.connect(side, isolation_level=None)
    try:
        for pragma in ("journal_mode=OFF", "synchronous=OFF", f"cache_size=-{CACHE_KIB}"):
            db.execute(f"PRAGMA {pragma}")  # a scratch file: the parent deletes it whatever happens
        db.execute(f'INSERT INTO "{table}"("{table}", rank) VALUES (\'hashsize\', ?)', (HASH_BYTES,))
        names = ", ".join(f'"{c}"' for c in columns)
        marks = ", ".join("?" * len(columns))
        insert = f'INSERT INTO "{table}"(rowid, {names}) VALUES (?, {marks})'
        delete = f'INSERT INTO "{table}"("{table}", rowid, {names}) VALUES (\'delete\', ?, {marks})'
        at = {name: i + 1 for i, name in enumerate(columns)}  # value positions in (rowid, *values)
        counted = (at["title"], at["authors_text"], at["keywords_text"]) if count_words else None
        vocabulary = _Vocabulary(db)
        db.execute("BEGIN")
        for frame in frames(stream):
            for op, group in itertools.groupby(frame, key=lambda row: row[0]):
                rows = [row[1:] for row in group]
                db.executemany(insert if op == "i" else delete, rows)
                if counted is not None:
                    vocabulary.add(rows, counted, 1 if op == "i" else -1)
        db.execute(f'INSERT INTO "{table}"("{table}", rank) VALUES (\'hashsize\', ?)', (2**20,))
        if count_words:
            vocabulary.finish()
        db.execute("COMMIT")
    finally:
        db.close()


def peak_rss_mb() -> int:
    """Return this process's own peak resident memory in MiB.

    Not ``ru_maxrss``: Linux carries the parent's peak across ``exec`` into it.
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) // 1024
    except OSError:  # not Linux: unknown
        pass
    return 0


def main(argv: list[str]) -> int:
    """Run the worker (see the module docstring); exit 0 once the side file holds the whole index."""
    started = time.process_time()
    side, table, columns = argv[0], argv[1], argv[2].split(",")
    build(side, table, columns, count_words="--count-words" in argv[3:], stream=sys.stdin.buffer)
    stats = {"table": table, "cpu_s": round(time.process_time() - started, 2), "peak_rss_mb": peak_rss_mb()}
    print(json.dumps(stats), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
