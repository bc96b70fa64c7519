"""A worker process that builds one full-text index for a fresh bulk build, in a side file of its own.

    python -m digestbot.store.fts_build SIDE_FILE TABLE COLUMN[,COLUMN…] [--count-words]

Building the FTS5 indexes is most of a big build's CPU, and SQLite lets one process write one
file at a time: so each index is built by a process of its own, into its own side file, while
the parent writes the papers (see :mod:`digestbot.store.sqlite_bulk`). The parent creates
``TABLE`` in the side file with the archive's own definition and copies the finished shadow
tables back. Input on stdin: frames of an 8-byte little-endian length and a pickled list of
``(op, rowid, value, …)`` with op ``"i"`` (index these values) or ``"d"`` (unindex them, as
FTS5's ``'delete'`` command needs). With ``--count-words`` it also counts, per word, the papers
whose title, authors or keywords have it (the lookup vocabulary) into the side file's ``terms``.
At the end one JSON line on stdout says what the worker cost (CPU seconds, peak memory).
"""

from __future__ import annotations

import itertools
import json
import pickle
import sqlite3
import sys
import time
from collections.abc import Iterator
from typing import Any, BinaryIO

from digestbot.store.sqlite import _lookup_words

FRAME_HEADER = 8
"""Bytes of the little-endian length in front of each pickled frame."""

HASH_BYTES = 8 * 2**20
"""FTS5 pending-postings size while building: fewer, larger segments to merge than the 1 MiB default."""


def frames(stream: BinaryIO) -> Iterator[list[tuple[Any, ...]]]:
    """Yield the pickled lists the parent writes, until it closes the pipe."""
    while header := stream.read(FRAME_HEADER):
        size = int.from_bytes(header, "little")
        payload = stream.read(size)
        if len(header) != FRAME_HEADER or len(payload) != size:
            raise EOFError("the parent closed the pipe in the middle of a frame")
        yield pickle.loads(payload)


def build(side: str, table: str, columns: list[str], *, count_words: bool, stream: BinaryIO) -> None:
    """Index every frame of ``stream`` into ``table`` of the side file, then store the word counts."""
    db = sqlite3.connect(side, isolation_level=None)
    try:
        for pragma in ("journal_mode=OFF", "synchronous=OFF", "cache_size=-16384"):
            db.execute(f"PRAGMA {pragma}")  # a scratch file: the parent deletes it whatever happens
        db.execute(f'INSERT INTO "{table}"("{table}", rank) VALUES (\'hashsize\', ?)', (HASH_BYTES,))
        names = ", ".join(f'"{c}"' for c in columns)
        marks = ", ".join("?" * len(columns))
        insert = f'INSERT INTO "{table}"(rowid, {names}) VALUES (?, {marks})'
        delete = f'INSERT INTO "{table}"("{table}", rowid, {names}) VALUES (\'delete\', ?, {marks})'
        at = {name: i + 1 for i, name in enumerate(columns)}  # value positions in (rowid, *values)
        counted = (at["title"], at["authors_text"], at["keywords_text"]) if count_words else None
        counts: dict[str, int] = {}
        db.execute("BEGIN")
        for frame in frames(stream):
            for op, group in itertools.groupby(frame, key=lambda row: row[0]):
                rows = [row[1:] for row in group]
                db.executemany(insert if op == "i" else delete, rows)
                if counted is not None:
                    step = 1 if op == "i" else -1
                    t, a, k = counted
                    for row in rows:
                        for word in _lookup_words(row[t], row[a], row[k]):
                            counts[word] = counts.get(word, 0) + step
        db.execute(f'INSERT INTO "{table}"("{table}", rank) VALUES (\'hashsize\', ?)', (2**20,))
        if count_words:
            db.executemany("INSERT INTO terms(term, docs) VALUES (?, ?)", sorted(kv for kv in counts.items() if kv[1]))
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
