"""A new archive built without a journal by index workers: the same data as upserts, and never silently half-built."""

from __future__ import annotations

import asyncio
import dataclasses
import io
import json
import logging
import os
import pickle
import sqlite3
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from digestbot.errors import StoreError, StoreFailedError
from digestbot.records import Paper
from digestbot.search_text import lookup_words
from digestbot.sources.files import load_file
from digestbot.store import Store, fts_build
from digestbot.store.sqlite import BUILDING, _json_sections, _json_strings
from tests.conftest import SEED
from tests.raw_sqlite import raw_connection


def _papers() -> list[Paper]:
    """The seed digest twice over, the second time enriched (votes, a summary): later batches update earlier rows."""
    loaded = load_file(SEED)
    papers = list(loaded.papers)
    again = [dataclasses.replace(p, votes=(p.votes or 0) + 7, ai_summary=f"{p.title} 요약") for p in papers[::3]]
    return [*papers, Paper(arxiv_id="2410.99999", title="Börje's kernel tricks"), *again]


async def _state(store: Store) -> tuple[object, ...]:
    """Everything a reader sees: rows (without their timestamps), digest entries, vocabulary, index answers."""
    db = raw_connection(store)
    async with db.execute("SELECT * FROM papers ORDER BY rowid") as cur:
        papers = [row[:-2] + row[-1:] for row in await cur.fetchall()]  # updated_at is second to last
    async with db.execute("SELECT * FROM digest_entries ORDER BY 1, 2") as cur:
        entries = await cur.fetchall()
    async with db.execute("SELECT * FROM lookup_terms ORDER BY term") as cur:
        terms = await cur.fetchall()
    answers = []
    for index, words in (
        ("lookup_fts", ["kernel", "양자", "borje", "lee"]),
        ("body_fts", ["model", "요약", "training"]),
    ):
        for word in words:
            async with db.execute(
                f"SELECT rowid FROM {index} WHERE {index} MATCH ? ORDER BY rowid", (f'"{word}"',)
            ) as cur:
                answers.append((index, word, [r[0] for r in await cur.fetchall()]))
    return papers, entries, terms, answers


async def test_a_new_archive_built_by_workers_holds_what_upserts_give(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    papers = _papers()
    upserted = await Store.open(tmp_path / "upsert.sqlite3")
    for paper in papers:
        await upserted.upsert_papers([paper])
    built = await Store.open(tmp_path / "bulk.sqlite3")
    try:
        with caplog.at_level(logging.INFO, logger="digestbot.store.sqlite_bulk"):
            result = await built.bulk_load(papers, batch=10)
        assert "two index workers" in caplog.text
        assert (result.added, result.updated) == (26, 9)
        assert await _state(built) == await _state(upserted)
        db = raw_connection(built)
        for index in ("lookup_fts", "body_fts"):  # the copied index agrees with the table, posting by posting
            await db.execute(f"INSERT INTO {index}({index}, rank) VALUES ('integrity-check', 1)")
        for pragma, value in (("journal_mode", "wal"), ("synchronous", 2), ("user_version", 0), ("cache_size", -2000)):
            async with db.execute(f"PRAGMA {pragma}") as cur:
                assert (await cur.fetchone())[0] == value, pragma
        assert not await asyncio.to_thread(lambda: list(tmp_path.glob("*.building*")))  # the side files are gone
        # The triggers are back: an upsert after the build keeps the indexes in step.
        count = "SELECT count(*) FROM lookup_fts WHERE lookup_fts MATCH 'kernel'"
        async with db.execute(count) as cur:
            before = (await cur.fetchone())[0]
        await built.upsert_papers([Paper(arxiv_id="2410.88888", title="Kernel methods")])
        async with db.execute(count) as cur:
            assert (await cur.fetchone())[0] == before + 1
    finally:
        await built.close()
        await upserted.close()


async def test_an_archive_with_data_takes_the_journaled_path(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    async with await Store.open(tmp_path / "db.sqlite3") as store:
        await store.add_subscription(platform="discord", workspace="", user="u1", topic="kernel", max_topics=5)
        with caplog.at_level(logging.INFO, logger="digestbot.store.sqlite_bulk"):
            await store.bulk_load(_papers())
        assert "two index workers" not in caplog.text  # a crash must not cost the subscriptions
        assert await store.count_papers() == 26


async def test_a_failed_build_says_so_and_the_file_is_refused_afterwards(tmp_path: Path) -> None:
    def papers() -> Iterator[Paper]:
        yield from _papers()[:20]
        raise OSError("input file truncated")

    path = tmp_path / "db.sqlite3"
    store = await Store.open(path)
    with pytest.raises(StoreFailedError, match=r"input file truncated.*delete it and load again") as failed:
        await store.bulk_load(papers(), batch=5)
    assert "\n" not in str(failed.value)
    await store.close()
    with pytest.raises(StoreError, match="interrupted, so it is incomplete: delete it"):
        await Store.open(path)


KILLED_MID_BUILD = """
import asyncio, os, signal, sys
from pathlib import Path
from digestbot.records import Paper
from digestbot.store import Store

def papers():
    for i in range(3000):
        if i == 2500:
            os.kill(os.getpid(), signal.SIGKILL)  # a crash while pages are being written without a journal
        yield Paper(arxiv_id=f"2410.{i:05d}", title=f"Paper number {i} on kernels", abstract="word " * 200)

async def main():
    store = await Store.open(Path(sys.argv[1]))
    await store.bulk_load(papers(), batch=500)

asyncio.run(main())
"""


async def test_a_crash_mid_build_leaves_a_file_that_is_refused_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    run = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        KILLED_MID_BUILD,
        str(path),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(run.communicate(), timeout=120)
    assert run.returncode == -9, err.decode()
    with pytest.raises(StoreError) as refused:
        await Store.open(path)
    assert str(refused.value) == (
        f"{path}: a bulk load into this new archive was interrupted, so it is incomplete: delete it and load again"
    )
    assert BUILDING != 0


@settings(deadline=None, max_examples=200)
@given(
    st.lists(st.text(), max_size=4),
    st.lists(st.tuples(st.text(), st.text()), max_size=3),
)
def test_the_fast_json_of_names_and_sections_is_the_encoders(names: list[str], sections: list[tuple[str, str]]) -> None:
    assert _json_strings(tuple(names)) == json.dumps(names, ensure_ascii=False)
    assert _json_sections(tuple(sections)) == json.dumps(sections, ensure_ascii=False)


def test_the_fast_json_falls_back_to_the_encoder_for_other_values() -> None:
    assert _json_strings((1, "a")) == '[1, "a"]'  # type: ignore[arg-type]
    assert _json_sections((("a", "b", "c"),)) == '[["a", "b", "c"]]'  # type: ignore[arg-type]


def _frames(*frames: Sequence[tuple[object, ...]]) -> io.BytesIO:
    out = io.BytesIO()
    for frame in frames:
        payload = pickle.dumps(frame)
        out.write(len(payload).to_bytes(fts_build.FRAME_HEADER, "little") + payload)
    out.seek(0)
    return out


def test_the_vocabulary_counted_in_spills_is_the_whole_count(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Counts added into ``terms`` a few words at a time (bounded memory) add up to one count over everything."""
    rows = [
        ("i", 1, "Kernel tricks", "Ann Lee, Bo Kim", "kernels"),
        ("i", 2, "Quantum kernel models", "Ann Lee, Zed Ox", ""),
        ("i", 3, "Börje's models", "Cy Dee", "quantum, tricks"),
        ("d", 2, "Quantum kernel models", "Ann Lee, Zed Ox", ""),
        ("i", 2, "Quantum models", "Ann Lee", "양자화"),
    ]
    expected: dict[str, int] = {}
    for op, _, *values in rows:
        for word in lookup_words(*values):
            expected[word] = expected.get(word, 0) + (1 if op == "i" else -1)
    got = {}
    for spill in (2, 1_000):
        side = tmp_path / f"side-{spill}.sqlite3"
        with sqlite3.connect(side) as db:
            db.execute(
                "CREATE VIRTUAL TABLE lookup_fts USING fts5(title, authors_text, keywords_text, content='papers', detail='none')"
            )
            db.execute("CREATE TABLE terms (term TEXT PRIMARY KEY, docs INTEGER NOT NULL) WITHOUT ROWID")
        db.close()
        monkeypatch.setattr(fts_build, "TERMS_SPILL", spill)
        columns = ["title", "authors_text", "keywords_text"]
        fts_build.build(str(side), "lookup_fts", columns, count_words=True, stream=_frames(rows[:2], rows[2:]))
        with sqlite3.connect(side) as db:
            got[spill] = dict(db.execute("SELECT term, docs FROM terms").fetchall())
        db.close()
    assert got[2] == got[1_000] == {word: n for word, n in expected.items() if n}
    assert got[2]["kernel"] == 1 and "zed" not in got[2]  # the update took them out of paper 2


def test_an_index_worker_imports_no_store_backend() -> None:
    """The worker runs as a script so that neither store package (25 MiB a process) is imported into it."""
    probe = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('worker', {fts_build.__file__!r})\n"
        "spec.loader.exec_module(importlib.util.module_from_spec(spec))\n"
        "print(' '.join(sorted(m for m in sys.modules if m.split('.')[0] in ('digestbot', 'aiosqlite', 'asyncpg'))))\n"
    )
    root = str(Path(fts_build.__file__).parents[2])
    env = {**os.environ, "PYTHONPATH": root}
    out = subprocess.run([sys.executable, "-P", "-c", probe], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.split() == ["digestbot", "digestbot.search_text"]
