"""The summary cache: model-written three-part summaries per (paper, language, model, prompt version).

A summary is made once and read by every channel, ``preview``, ``post`` and ``/paper``; it
survives restarts because it lives in the archive. Changing the model or the prompt version
makes a new key, so new summaries are made while the old rows stay (and are still shown in the
meantime, see :meth:`SummaryStore.shown`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from digestbot.store.postgres import PostgresStore
from digestbot.store.postgres import summaries as pg
from digestbot.store.sqlite import Store, id_chunks

Sections = tuple[tuple[str, str], ...]


@dataclass(frozen=True, kw_only=True)
class SummaryKey:
    """What a cached summary depends on besides the paper."""

    language: str
    model: str
    prompt_version: int


def _sections(text: str) -> Sections:
    return tuple((str(label), str(body)) for label, body in json.loads(text))


class SummaryStore:
    """Read and write the ``summaries`` table of a :class:`~digestbot.store.sqlite.Store`."""

    def __init__(self, store: Store) -> None:
        self._store = store

    async def cached(self, arxiv_ids: Sequence[str], key: SummaryKey) -> dict[str, Sections]:
        """Return the summaries made under exactly ``key``, by arXiv id (what need not be made again)."""
        found: dict[str, Sections] = {}
        if isinstance(self._store, PostgresStore):
            rows = await pg.cached(self._store, arxiv_ids, key.language, key.model, key.prompt_version)
            return {row[0]: _sections(row[1]) for row in rows}
        for chunk in id_chunks(arxiv_ids):
            sql = (
                "SELECT arxiv_id, sections FROM summaries WHERE language = ? AND model = ? AND prompt_version = ?"
                f" AND arxiv_id IN ({','.join('?' * len(chunk))})"
            )
            params = (key.language, key.model, key.prompt_version, *chunk)
            async with self._store.db.execute(sql, params) as cur:
                found.update({row[0]: _sections(row[1]) for row in await cur.fetchall()})
        return found

    async def shown(self, arxiv_ids: Sequence[str], key: SummaryKey) -> dict[str, Sections]:
        """Return the summary to show per paper in ``key.language``: ``key``'s own, else the newest other.

        After a model or prompt change, the older summary is still better than the abstract
        until the new one is made.
        """
        found: dict[str, Sections] = {}
        if isinstance(self._store, PostgresStore):  # rows come worst first, as below
            rows = await pg.shown(self._store, arxiv_ids, key.language, key.model, key.prompt_version)
            return {row[0]: _sections(row[1]) for row in rows}
        for chunk in id_chunks(arxiv_ids):
            sql = (
                "SELECT arxiv_id, sections FROM summaries WHERE language = ?"
                f" AND arxiv_id IN ({','.join('?' * len(chunk))})"
                " ORDER BY (model = ? AND prompt_version = ?), created_at"
            )
            params = (key.language, *chunk, key.model, key.prompt_version)
            async with self._store.db.execute(sql, params) as cur:
                # Rows come worst first, so the best one per paper is written last.
                found.update({row[0]: _sections(row[1]) for row in await cur.fetchall()})
        return found

    async def save(
        self, arxiv_id: str, key: SummaryKey, sections: Sections, *, prompt_tokens: int = 0, completion_tokens: int = 0
    ) -> None:
        """Store (or replace, after ``--refresh``) one paper's summary under ``key``."""
        if isinstance(self._store, PostgresStore):
            values = (arxiv_id, key.language, key.model, key.prompt_version, sections, prompt_tokens, completion_tokens)
            await pg.save(self._store, values)
            return
        async with self._store.transaction() as db:
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
