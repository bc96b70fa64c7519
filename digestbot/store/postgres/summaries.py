"""The summary cache's queries on PostgreSQL (see :class:`digestbot.store.summaries.SummaryStore`)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from digestbot.store.chunks import id_chunks

if TYPE_CHECKING:
    from digestbot.store.postgres.store import PostgresStore


async def cached(store: PostgresStore, arxiv_ids: Sequence[str], language: str, model: str, version: int) -> list[Any]:
    """Return (arxiv id, sections JSON text) of the summaries made under exactly this key."""
    rows: list[Any] = []
    for chunk in id_chunks(arxiv_ids):
        sql = (
            "SELECT arxiv_id, sections::text FROM summaries WHERE language = %s AND model = %s"
            " AND prompt_version = %s AND arxiv_id = ANY(%s)"
        )
        rows += await store.fetchall(sql, (language, model, version, chunk))
    return rows


async def shown(store: PostgresStore, arxiv_ids: Sequence[str], language: str, model: str, version: int) -> list[Any]:
    """Return (arxiv id, sections JSON text) in ``language``, worst first: the key's own last, then newest."""
    rows: list[Any] = []
    for chunk in id_chunks(arxiv_ids):
        sql = (
            "SELECT arxiv_id, sections::text FROM summaries WHERE language = %s AND arxiv_id = ANY(%s)"
            " ORDER BY (model = %s AND prompt_version = %s), created_at"
        )
        rows += await store.fetchall(sql, (language, chunk, model, version))
    return rows


async def save(store: PostgresStore, values: tuple[Any, ...]) -> None:
    """Store (or replace) one summary: (arxiv id, language, model, version, sections, prompt and completion tokens)."""
    arxiv_id, language, model, version, sections, prompt_tokens, completion_tokens = values
    async with store.transaction() as conn:
        await conn.execute(
            "INSERT INTO summaries(arxiv_id, language, model, prompt_version, sections, prompt_tokens,"
            " completion_tokens, created_at) VALUES (%s,%s,%s,%s,%s::jsonb,%s,%s,%s)"
            " ON CONFLICT (arxiv_id, language, model, prompt_version) DO UPDATE SET sections=excluded.sections,"
            " prompt_tokens=excluded.prompt_tokens, completion_tokens=excluded.completion_tokens,"
            " created_at=excluded.created_at",
            (
                arxiv_id,
                language,
                model,
                version,
                json.dumps(sections, ensure_ascii=False),
                prompt_tokens,
                completion_tokens,
                datetime.now(UTC),
            ),
        )
