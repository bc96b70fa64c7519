"""Moving an archive over, and looking one over: ``digestbot db copy`` and ``digestbot db check``.

A copy goes from a SQLite file to a PostgreSQL database (the way a team moves past one machine):
papers (merged as ``ingest`` merges them, so a paper already there is enriched, never wiped),
which day's digest each was in, model summaries, subscriptions, chat-configured channels, the
scheduler's memory and the delivery outbox. It is idempotent: run again, it adds only what is new;
rows the destination already has (a subscription, a channel's settings, an outbox row) are kept
as the destination has them, since the new database may already be in use. Rows go in batches,
each batch one transaction, with progress after each.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from digestbot.errors import StoreDamagedError
from digestbot.records import storable, storable_value
from digestbot.store.postgres import PostgresStore
from digestbot.store.protocol import StoreProtocol
from digestbot.store.sqlite import _PAPER_COLUMNS, Store, paper_from_row

log = logging.getLogger(__name__)

BATCH = 2_000
"""Rows per read and per destination transaction."""

Progress = Callable[[str, int, int], None]
"""Told (table, rows copied so far, rows in the source) after each batch."""

TABLES = (
    "papers",
    "digest_entries",
    "summaries",
    "subscriptions",
    "channels",
    "schedule_state",
    "deliveries",
    "slack_installations",
)
"""What a copy moves, in this order (digest entries and summaries refer to papers)."""


@dataclass(frozen=True)
class _Table:
    """How one table's rows are read from SQLite and written to PostgreSQL (conflicts: keep the destination's)."""

    columns: tuple[str, ...]
    casts: dict[str, str]
    conflict: str = "DO NOTHING"

    def storable(self, row: Sequence[Any]) -> list[Any]:
        """Return ``row`` without NUL, which SQLite holds but PostgreSQL text and JSONB refuse (escaped in JSON too)."""
        return [_without_nul(v, jsonb=self.casts.get(c) == "::jsonb") for c, v in zip(self.columns, row, strict=True)]

    def insert(self, name: str) -> str:
        values = ", ".join("%s" + self.casts.get(c, "") for c in self.columns)
        return f"INSERT INTO {name} ({', '.join(self.columns)}) VALUES ({values}) ON CONFLICT {self.conflict}"


def _without_nul(value: Any, *, jsonb: bool) -> Any:
    """Return a cell without NUL: removed from text, and from the decoded values of a JSON column."""
    if not isinstance(value, str):
        return value
    if jsonb and "\\u0000" in value:
        try:
            return json.dumps(storable_value(json.loads(value)), ensure_ascii=False)
        except ValueError:
            pass  # not JSON after all: PostgreSQL will say so, naming the table
    return storable_value(value)


_TS = "::timestamptz"
_SIMPLE: dict[str, _Table] = {
    "digest_entries": _Table(
        ("digest_date", "arxiv_id", "votes"),
        {"digest_date": "::date"},
        "(digest_date, arxiv_id) DO UPDATE SET votes = coalesce(excluded.votes, digest_entries.votes)",
    ),
    "summaries": _Table(
        (
            "arxiv_id",
            "language",
            "model",
            "prompt_version",
            "sections",
            "prompt_tokens",
            "completion_tokens",
            "created_at",
        ),
        {"sections": "::jsonb", "created_at": _TS},
    ),
    "subscriptions": _Table(
        ("platform", "workspace", "user_id", "topic", "created_at", "display"), {"created_at": _TS}
    ),
    "channels": _Table(
        ("platform", "channel_id", "workspace", "settings", "enabled", "disabled_reason", "updated_at"),
        {"enabled": "::int::boolean", "updated_at": _TS},
    ),
    "schedule_state": _Table(("platform", "channel_id", "last_seen"), {"last_seen": _TS}),
    "deliveries": _Table(
        (
            "platform",
            "workspace",
            "target_kind",
            "target_id",
            "slot",
            "digest_date",
            "kind",
            "part",
            "parts",
            "key",
            "payload",
            "state",
            "attempts",
            "message_id",
            "error",
            "claimed_by",
            "claimed_at",
            "created_at",
            "updated_at",
        ),
        {"digest_date": "::date", "claimed_at": _TS, "created_at": _TS, "updated_at": _TS},
    ),
    "slack_installations": _Table(  # times are ISO text on both backends; OAuth states are not worth copying
        (
            "enterprise_id",
            "team_id",
            "team_name",
            "app_id",
            "bot_id",
            "bot_user_id",
            "bot_scopes",
            "bot_token",
            "bot_refresh_token",
            "bot_token_expires_at",
            "installer_user_id",
            "is_enterprise_install",
            "installed_at",
            "updated_at",
            "removed_at",
            "removed_reason",
        ),
        {},
    ),
}


async def _rows(source: Store, sql: str) -> AsyncIterator[list[Any]]:
    """Yield the rows of ``sql`` on the SQLite source, BATCH at a time."""
    async with source._db.execute(sql) as cur:
        while batch := list(await cur.fetchmany(BATCH)):
            yield batch


async def _count(store: StoreProtocol, table: str) -> int:
    sql = f"SELECT count(*) FROM {table}"  # table names come from TABLES, never from input
    if isinstance(store, PostgresStore):
        return int((await store.fetchall(sql))[0][0])
    assert isinstance(store, Store), "db check knows SQLite and PostgreSQL"
    async with store._db.execute(sql) as cur:
        row = await cur.fetchone()
    return int(row[0]) if row else 0


async def copy_archive(source: Store, dest: PostgresStore, progress: Progress) -> dict[str, int]:
    """Copy every table of TABLES from ``source`` to ``dest``; return the destination's row counts afterwards."""
    total = await _count(source, "papers")
    done = 0
    async for rows in _rows(source, f"SELECT {_PAPER_COLUMNS} FROM papers ORDER BY rowid"):
        # Oldest first, so the destination's rowids keep the source's order (lookup ties go to the newest).
        # Filed under no digest here: the source's digests are copied as they are below.
        await dest.upsert_papers([storable(paper_from_row(r)) for r in rows], file_digest=False)
        done += len(rows)
        progress("papers", done, total)
    for name, table in _SIMPLE.items():
        total = await _count(source, name)
        done = 0
        order = " ORDER BY id" if name == "deliveries" else ""
        async for rows in _rows(source, f"SELECT {', '.join(table.columns)} FROM {name}{order}"):
            async with dest.transaction() as conn, conn.cursor() as cur:
                await cur.executemany(table.insert(name), [table.storable(row) for row in rows])
            done += len(rows)
            progress(name, done, total)
    return {name: await _count(dest, name) for name in TABLES}


async def check_lines(store: StoreProtocol, where: str | Path) -> list[str]:
    """Return what ``db check`` prints: the backend, the schema version, and each table's row count.

    An SQLite file is read through first (``PRAGMA quick_check``): counting rows reads only a
    few pages, so a damaged file would otherwise pass the check and fail at the first lookup.
    A damaged one raises StoreDamagedError (exit 1). PostgreSQL checks its own pages.
    """
    backend = "PostgreSQL" if isinstance(store, PostgresStore) else "SQLite"
    if isinstance(store, Store):
        async with store._db.execute("PRAGMA quick_check(5)") as cur:
            found = [str(r[0]) for r in await cur.fetchall()]
        if found != ["ok"]:  # one line: SQLite's report spans lines ("*** in database main ***", "Page 3: …")
            problems = [p.strip() for f in found for p in f.splitlines() if p.strip() and not p.startswith("***")]
            raise StoreDamagedError(
                f"{where}: the database file is damaged ({'; '.join(problems[:3])}): restore a backup,"
                " or try 'sqlite3 FILE .recover'",
                reason=problems[0] if problems else "quick_check failed",
            )
    lines = [f"{where}: {backend}, schema version {await store.schema_version()}"]
    lines += [f"{name}: {await _count(store, name):,}" for name in (*TABLES, "lookup_terms")]
    return lines
