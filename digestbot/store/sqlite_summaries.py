"""The SQLite store's ``summaries`` table: read in id chunks, written one summary per transaction."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime

import aiosqlite

from digestbot.store.chunks import id_chunks
from digestbot.store.records import Sections, SummaryKey


def _sections(text: str) -> Sections:
    return tuple((str(label), str(body)) for label, body in json.loads(text))


async def cached(db: aiosqlite.Connection, arxiv_ids: Sequence[str], key: SummaryKey) -> dict[str, Sections]:
    """Return the summaries made under exactly ``key``, by arXiv id (what need not be made again)."""
    found: dict[str, Sections] = {}
    for chunk in id_chunks(arxiv_ids):
        sql = (
            "SELECT arxiv_id, sections FROM summaries WHERE language = ? AND model = ? AND prompt_version = ?"
            f" AND arxiv_id IN ({','.join('?' * len(chunk))})"
        )
        params = (key.language, key.model, key.prompt_version, *chunk)
        async with db.execute(sql, params) as cur:
            found.update({row[0]: _sections(row[1]) for row in await cur.fetchall()})
    return found


async def shown(db: aiosqlite.Connection, arxiv_ids: Sequence[str], key: SummaryKey) -> dict[str, Sections]:
    """Return the summary to show per paper in ``key.language``: ``key``'s own, else the newest other."""
    found: dict[str, Sections] = {}
    for chunk in id_chunks(arxiv_ids):
        sql = (
            "SELECT arxiv_id, sections FROM summaries WHERE language = ?"
            f" AND arxiv_id IN ({','.join('?' * len(chunk))})"
            " ORDER BY (model = ? AND prompt_version = ?), created_at"
        )
        params = (key.language, *chunk, key.model, key.prompt_version)
        async with db.execute(sql, params) as cur:
            # Rows come worst first, so the best one per paper is written last.
            found.update({row[0]: _sections(row[1]) for row in await cur.fetchall()})
    return found


async def save(
    db: aiosqlite.Connection,
    arxiv_id: str,
    key: SummaryKey,
    sections: Sections,
    *,
    prompt_tokens: int,
    completion_tokens: int,
) -> None:
    """Store (or replace, after ``--refresh``) one paper's summary under ``key``, inside the caller's transaction."""
    await db.execute(
        "INSERT INTO summaries(arxiv_id, language, model, prompt_version, sections, prompt_tokens,"
        " completion_tokens, created_at) VALUES (?,?,?,?,?,?,?,?)"
        " ON CONFLICT(arxiv_id, language, model, prompt_version) DO UPDATE SET sections=excluded.sections,"
        " prompt_tokens=excluded.prompt_tokens, completion_tokens=excluded.completion_tokens,"
        " created_at=excluded.created_at",
        (
            arxiv_id,
            key.language,
            key.model,
            key.prompt_version,
            json.dumps(sections, ensure_ascii=False),
            prompt_tokens,
            completion_tokens,
            datetime.now(UTC).isoformat(timespec="microseconds"),
        ),
    )
