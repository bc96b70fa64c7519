"""The PostgreSQL store: the public methods of the SQLite :class:`~digestbot.store.sqlite.Store`, on psycopg 3.

For several bot processes on several machines sharing one database. One async connection per
store (``autocommit``; writes in explicit transactions), the session in UTC. Migrations run under
``pg_advisory_xact_lock``, so of several processes starting at once exactly one migrates and the
others then find the schema current. Papers' JSON fields are ``jsonb``; rows are read back as
JSON text so :func:`~digestbot.store.sqlite.paper_from_row` builds the same :class:`Paper` as SQLite.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime
from typing import Any

import psycopg

from digestbot.errors import NoArchiveError, StoreError, TopicLimitError, UnavailableError
from digestbot.records import Digest, Paper
from digestbot.redact import scrub_quoted
from digestbot.store.chunks import id_chunks
from digestbot.store.migrations import LATEST
from digestbot.store.postgres import search as pg_search
from digestbot.store.postgres import summaries as pg_summaries
from digestbot.store.postgres.bulk import paper_rows
from digestbot.store.postgres.errors import translating
from digestbot.store.postgres.migrations import PG_MIGRATIONS
from digestbot.store.postgres.outbox import PgOutboxStorage
from digestbot.store.postgres.url import connect_args, libpq_reason, malformed_userinfo, redact_url
from digestbot.store.protocol import InstallationStorage, OutboxStorage, SettingsCheck
from digestbot.store.records import (
    Index,
    SearchRow,
    Sections,
    SubscriptionChange,
    SubscriptionRow,
    SummaryKey,
    UpsertResult,
)
from digestbot.store.sqlite import _last_wins, _lookup_words, paper_from_row

log = logging.getLogger(__name__)

MIGRATION_LOCK = 0x6469_6765_7374  # "digest": the advisory lock key every migrating process takes
PAPERS_LOCK = 0x7061_7065_7273  # "papers": held by a transaction that adds or merges papers (see _write_chunk)
_CHUNK = 500

_SELECT_PAPER = (
    "arxiv_id, title, authors::text, abstract, sections::text, ai_summary, keywords::text, votes, thumbnail,"
    " github_url, digest_date::text, source, extra::text"
)
_SELECT_PAPER_P = ", ".join("p." + c.strip() for c in _SELECT_PAPER.split(","))
_INSERT = (
    "INSERT INTO papers (arxiv_id, title, authors, abstract, sections, ai_summary, keywords, votes, thumbnail,"
    " github_url, digest_date, source, extra, authors_text, summary_text, keywords_text, grams_text, updated_at,"
    " search_vec) VALUES (%s, %s, %s::jsonb, %s, %s::jsonb, %s, %s::jsonb, %s, %s, %s, %s::date, %s, %s::jsonb,"
    " %s, %s, %s, %s, %s::timestamptz, %s::tsvector)"
)
_UPDATE = (
    "UPDATE papers SET title=%s, authors=%s::jsonb, abstract=%s, sections=%s::jsonb, ai_summary=%s,"
    " keywords=%s::jsonb, votes=%s, thumbnail=%s, github_url=%s, digest_date=%s::date, source=%s, extra=%s::jsonb,"
    " authors_text=%s, summary_text=%s, keywords_text=%s, grams_text=%s, updated_at=%s::timestamptz,"
    " search_vec=%s::tsvector WHERE arxiv_id=%s"
)
_ENTRY = (
    "INSERT INTO digest_entries(digest_date, arxiv_id, votes) VALUES (%s::date, %s, %s)"
    " ON CONFLICT (digest_date, arxiv_id) DO UPDATE SET votes = coalesce(excluded.votes, digest_entries.votes)"
)
_COUNT_TERMS = (
    "INSERT INTO lookup_terms(term, docs) VALUES (%s, %s)"
    " ON CONFLICT (term) DO UPDATE SET docs = lookup_terms.docs + excluded.docs"
)


def _now() -> datetime:
    return datetime.now(UTC)


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat(timespec="microseconds") if value else None


@translating
class PostgresStore:
    """Async access to a PostgreSQL database; open with :meth:`open`, close with :meth:`close`."""

    def __init__(self, conn: psycopg.AsyncConnection[Any], url: str) -> None:
        self._conn = conn
        self.url = url
        self.path = redact_url(url)
        """What the store is called in messages and ``status``: the URL without its password."""
        self._tx_lock = asyncio.Lock()
        self.lexeme_shares: tuple[dict[str, float], float] | None = None
        """The planner's statistics of ``lookup_segments``, read once (see ``search.lexeme_shares``)."""

    @classmethod
    async def open(cls, url: str, *, create: bool = True) -> PostgresStore:
        """Connect to ``url`` and migrate the database; failures are one line without the password.

        An unreachable server is an UnavailableError (exit 1: the command failed, the input may be
        fine); a malformed URL or a database that is not digestbot's is a StoreError (exit 2).
        ``create=False`` (commands that only read) refuses a database holding no digestbot schema
        yet instead of writing one into it: a mistyped database name must not gain twenty tables.
        """
        where = redact_url(url)
        if refused := malformed_userinfo(url):
            raise StoreError(refused)
        try:
            conninfo, timeout = connect_args(url)  # psycopg drops a None keyword
            conn = await psycopg.AsyncConnection.connect(conninfo, autocommit=True, connect_timeout=timeout)
        except psycopg.OperationalError as exc:  # server down, refused, timed out, unknown database, bad password
            raise UnavailableError(f"{where}: cannot connect: {libpq_reason(exc, url)}") from None
        except Exception as exc:  # a malformed URL (ProgrammingError from the conninfo parser, ValueError)
            # libpq's own reason ('invalid URI query parameter: "foo"') says what to fix; the class name does not.
            raise StoreError(f"{where}: cannot connect: {libpq_reason(exc, url)}") from None
        store = cls(conn, conninfo)  # the scheme as libpq reads it, for any later connection
        try:
            # jit off: the store's queries are small lookups and writes. A plan the planner costs
            # above jit_above_cost (a common word's GIN scan at a million papers) would otherwise
            # spend tens of milliseconds compiling before it runs: the whole /paper budget.
            await conn.execute("SET TIME ZONE 'UTC'; SET jit = off")
            if not create and await store.schema_version() == 0:
                why = f"no digestbot archive in {where} yet"
                raise NoArchiveError(f"{why}: run 'digestbot ingest FILE' first, or fix --db", reason=why)
            await store._migrate()
        except psycopg.Error as exc:
            await conn.close()
            first = str(exc).strip().splitlines()[0]
            raise StoreError(f"{where}: not a usable digestbot database: {scrub_quoted(first, url)}") from None
        except BaseException:
            await conn.close()
            raise
        return store

    async def close(self) -> None:
        """Close the connection."""
        await self._conn.close()

    async def __aenter__(self) -> PostgresStore:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def schema_version(self) -> int:
        """Return the database's schema version (0 for an empty database)."""
        cur = await self._conn.execute("SELECT to_regclass('schema_version') IS NOT NULL")
        row = await cur.fetchone()
        if not row or not row[0]:
            return 0
        cur = await self._conn.execute("SELECT version FROM schema_version")
        row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def _migrate(self) -> None:
        """Bring the database to :data:`LATEST` in one transaction under an advisory lock.

        The lock is transaction-scoped: released at COMMIT or ROLLBACK, even if this process dies.
        """
        if await self.schema_version() == LATEST:
            return
        async with self.transaction() as conn:
            cur = await conn.execute("SELECT pg_try_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
            if not (await cur.fetchone() or (False,))[0]:  # said, so a start that waits is not a silent hang
                log.warning("%s: another process is migrating this database; waiting for it to finish", self.path)
                await conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
            await conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            current = await self.schema_version()
            if current > LATEST:
                raise StoreError(
                    f"{self.path}: schema version {current} is newer than this digestbot ({LATEST}); upgrade"
                )
            for version in range(current + 1, LATEST + 1):
                log.info("migrating %s to schema version %d", self.path, version)
                if PG_MIGRATIONS[version - 1].strip():
                    await conn.execute(PG_MIGRATIONS[version - 1].encode())  # several statements: no parameters
            if current < LATEST:
                await conn.execute("DELETE FROM schema_version")
                await conn.execute("INSERT INTO schema_version(version) VALUES (%s)", (LATEST,))

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        """Run a block in one transaction: it commits whole or rolls back whole."""
        async with self._tx_lock, self._conn.transaction():
            yield self._conn

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run one query and return its rows: for the store's own modules (search, summaries), as SQLite's ``db``."""
        cur = await self._conn.execute(sql, params)
        return await cur.fetchall()

    # -- papers ---------------------------------------------------------------------------------

    async def upsert_papers(
        self, papers: Iterable[Paper], *, digest_date: date | None = None, file_digest: bool = True
    ) -> UpsertResult:
        """Store ``papers`` in one transaction; a paper already known is enriched, never wiped.

        ``digest_date`` (else each paper's own) files it in that day's digest; ``file_digest=False`` in none.
        """
        batch = list(papers)
        async with self.transaction() as conn:
            return await self._write_chunk(conn, batch, digest_date, count_terms=True, file_digest=file_digest)

    async def _write_chunk(
        self,
        conn: psycopg.AsyncConnection[Any],
        batch: list[Paper],
        digest_date: date | None,
        *,
        count_terms: bool,
        file_digest: bool = True,
    ) -> UpsertResult:
        """Insert or merge ``batch`` inside the caller's transaction, _CHUNK ids per round trip.

        Which papers are new is read first, so two processes storing the same new papers at once
        (two ``run``s fetching the same day's list) would both insert them, and one would fail on
        the unique id. The transaction first takes the papers lock: the second writer waits, then
        reads the first one's papers as known and merges into them. Readers never wait for it.
        """
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (PAPERS_LOCK,))
        added = updated = unchanged = 0
        for start in range(0, len(batch), _CHUNK):
            chunk = _last_wins(batch[start : start + _CHUNK])
            known = await self._known(conn, [p.arxiv_id for p in chunk])
            inserts, updates, entries = [], [], []
            for paper in chunk:
                merged, insert, update = paper_rows(paper, known.get(paper.arxiv_id))
                if insert is not None:
                    inserts.append(insert)
                elif update is not None:
                    updates.append(update)
                else:
                    unchanged += 1
                day = (digest_date or paper.digest_date) if file_digest else None
                if day is not None:
                    entries.append((day.isoformat(), paper.arxiv_id, merged.votes))
            async with conn.cursor() as cur:
                for sql, rows in ((_INSERT, inserts), (_UPDATE, updates), (_ENTRY, entries)):
                    if rows:
                        await cur.executemany(sql, rows)
                if count_terms:
                    counts = _term_counts(inserts, updates, known)
                    if counts:
                        await cur.executemany(_COUNT_TERMS, sorted(counts.items()))
            added += len(inserts)
            updated += len(updates)
        return UpsertResult(added=added, updated=updated, unchanged=unchanged)

    async def bulk_load(
        self, papers: Iterable[Paper], *, batch: int = 5_000, digest_date: date | None = None
    ) -> UpsertResult:
        """Store many papers at once (a new archive, a backfill): the same result as upsert_papers, by COPY.

        One transaction; the search indexes are built once after the rows are in and the vocabulary
        recounted (see :mod:`digestbot.store.postgres.bulk`, also for the lock it holds meanwhile).
        ``digest_date`` files the papers as that day's list, in order, as :meth:`upsert_papers` does.
        """
        from digestbot.store.postgres import bulk  # it builds on this module's queries

        async with self.transaction() as conn:
            return await bulk.bulk_load(
                conn, papers, batch=batch, digest_date=digest_date, known=self._known, update_sql=_UPDATE
            )

    @staticmethod
    async def _known(conn: psycopg.AsyncConnection[Any], ids: list[str]) -> dict[str, Paper]:
        cur = await conn.execute(f"SELECT {_SELECT_PAPER} FROM papers WHERE arxiv_id = ANY(%s)", (ids,))
        return {row[0]: paper_from_row(row) for row in await cur.fetchall()}

    async def get_paper(self, arxiv_id: str) -> Paper | None:
        """Return the stored paper with this (normalised) arXiv id, or None."""
        rows = await self.fetchall(f"SELECT {_SELECT_PAPER} FROM papers WHERE arxiv_id = %s", (arxiv_id,))
        return paper_from_row(rows[0]) if rows else None

    async def get_papers(self, arxiv_ids: Sequence[str]) -> dict[str, Paper]:
        """Return the stored papers among ``arxiv_ids``, by id; unknown ids are left out."""
        found: dict[str, Paper] = {}
        for chunk in id_chunks(arxiv_ids):
            found.update(await self._known(self._conn, chunk))
        return found

    async def papers_missing_arxiv_data(self, *, day: date | None = None, limit: int = 500) -> list[Paper]:
        """Return papers with no abstract or no arXiv categories, newest first: what enrichment fills."""
        where = "(p.abstract = '' OR coalesce(jsonb_typeof(p.extra -> 'categories'), 'null') = 'null')"
        params: tuple[Any, ...] = (limit,)
        join = ""
        if day is not None:
            join = " JOIN digest_entries e ON e.arxiv_id = p.arxiv_id AND e.digest_date = %s::date"
            params = (day.isoformat(), limit)
        sql = (
            f"SELECT {_SELECT_PAPER_P} FROM papers p{join} WHERE {where}"
            " ORDER BY p.digest_date IS NULL, p.digest_date DESC, p.rowid DESC LIMIT %s"
        )
        return [paper_from_row(row) for row in await self.fetchall(sql, params)]

    async def get_papers_by_rowid(self, rowids: Sequence[int]) -> list[Paper]:
        """Return papers for search rowids, in the given order (missing ones skipped)."""
        if not rowids:
            return []
        sql = f"SELECT rowid, {_SELECT_PAPER} FROM papers WHERE rowid = ANY(%s)"
        rows = {row[0]: paper_from_row(row[1:]) for row in await self.fetchall(sql, (list(rowids),))}
        return [rows[r] for r in rowids if r in rows]

    async def count_papers(self) -> int:
        """Return how many papers the archive holds."""
        rows = await self.fetchall("SELECT count(*) FROM papers")
        return int(rows[0][0])

    async def digest(self, day: date) -> Digest | None:
        """Return the digest of ``day`` ranked by votes (most first, then by id), or None if empty.

        Withdrawn papers (``extra["withdrawnAt"]``) are left out.
        """
        sql = (
            f"SELECT {_SELECT_PAPER_P} FROM digest_entries e JOIN papers p ON p.arxiv_id = e.arxiv_id"
            " WHERE e.digest_date = %s::date"
            " AND coalesce(jsonb_typeof(p.extra -> 'withdrawnAt'), 'null') = 'null'"
            ' ORDER BY coalesce(e.votes, p.votes, 0) DESC, p.arxiv_id COLLATE "C"'
        )
        rows = await self.fetchall(sql, (day.isoformat(),))
        if not rows:
            return None
        return Digest(date=day, papers=tuple(paper_from_row(r) for r in rows))

    async def digest_dates(self, *, limit: int = 30, since: date = date.min, until: date = date.max) -> list[date]:
        """Return the newest dates that have a digest (optionally within [since, until]), newest first."""
        sql = (
            "SELECT DISTINCT digest_date FROM digest_entries WHERE digest_date BETWEEN %s AND %s"
            " ORDER BY digest_date DESC LIMIT %s"
        )
        return [r[0] for r in await self.fetchall(sql, (since, until, limit))]

    async def latest_digest_date(self, *, on_or_before: date | None = None) -> date | None:
        """Return the newest digest date (optionally not after ``on_or_before``)."""
        rows = await self.fetchall(
            "SELECT max(digest_date) FROM digest_entries WHERE digest_date <= %s", (on_or_before or date.max,)
        )
        return rows[0][0] if rows and rows[0][0] else None

    # -- subscriptions --------------------------------------------------------------------------

    async def add_subscription(
        self, *, platform: str, workspace: str, user: str, topic: str, max_topics: int, display: str = ""
    ) -> bool:
        """Subscribe ``user`` to ``topic`` (shown as ``display``); False if already subscribed.

        Raises TopicLimitError past ``max_topics`` (counted over every workspace of the platform). A
        per-user advisory lock keeps two processes from both passing the limit check at once.
        """
        async with self.transaction() as conn:
            await conn.execute(
                "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
                (json.dumps(["subscriptions", platform, user]),),
            )
            cur = await conn.execute(
                "SELECT workspace, topic FROM subscriptions WHERE platform=%s AND user_id=%s", (platform, user)
            )
            rows = [(str(r[0]), str(r[1])) for r in await cur.fetchall()]
            if (workspace, topic) in rows:
                return False
            if len(rows) >= max_topics:
                raise TopicLimitError(count=len(rows), limit=max_topics)
            await conn.execute(
                "INSERT INTO subscriptions(platform, workspace, user_id, topic, created_at, display)"
                " VALUES (%s,%s,%s,%s,%s,%s)",
                (platform, workspace, user, topic, _now(), display),
            )
        return True

    async def remove_subscription(self, *, platform: str, workspace: str, user: str, topic: str) -> bool:
        """Unsubscribe ``user`` from ``topic``; False if they were not subscribed."""
        async with self.transaction() as conn:
            cur = await conn.execute(
                "DELETE FROM subscriptions WHERE platform=%s AND workspace=%s AND user_id=%s AND topic=%s",
                (platform, workspace, user, topic),
            )
            return cur.rowcount > 0

    async def list_subscriptions(self, *, platform: str, workspace: str, user: str) -> list[str]:
        """Return ``user``'s topics, oldest first."""
        return [topic for topic, _ in await self.shown_subscriptions(platform=platform, workspace=workspace, user=user)]

    async def shown_subscriptions(self, *, platform: str, workspace: str, user: str) -> list[tuple[str, str]]:
        """Return ``user``'s topics as (canonical key, text to show: as typed, else the key), oldest first."""
        sql = (
            "SELECT topic, display FROM subscriptions WHERE platform=%s AND workspace=%s AND user_id=%s"
            ' ORDER BY created_at, topic COLLATE "C"'
        )
        return [(r[0], r[1] or r[0]) for r in await self.fetchall(sql, (platform, workspace, user))]

    async def topic_displays(
        self, *, platform: str, users: Sequence[tuple[str, str]]
    ) -> dict[tuple[str, str], dict[str, str]]:
        """Return how each (workspace, user)'s topics were typed, by canonical topic (only those that differ)."""
        by_workspace: dict[str, list[str]] = {}
        for workspace, user in dict.fromkeys(users):
            by_workspace.setdefault(workspace, []).append(user)
        out: dict[tuple[str, str], dict[str, str]] = {}
        sql = (
            "SELECT user_id, topic, display FROM subscriptions"
            " WHERE platform=%s AND workspace=%s AND user_id = ANY(%s) AND display != ''"
        )
        for workspace, ids in by_workspace.items():
            for user, topic, display in await self.fetchall(sql, (platform, workspace, ids)):
                out.setdefault((workspace, user), {})[topic] = display
        return out

    async def all_subscriptions(self, *, platform: str | None = None) -> list[tuple[str, str, str, str]]:
        """Return every (platform, workspace, user, topic), optionally for one platform."""
        sql = "SELECT platform, workspace, user_id, topic FROM subscriptions"
        args: tuple[str, ...] = ()
        if platform:
            sql += " WHERE platform = %s"
            args = (platform,)
        order = ' ORDER BY platform COLLATE "C", workspace COLLATE "C", user_id COLLATE "C", created_at'
        return [(r[0], r[1], r[2], r[3]) for r in await self.fetchall(sql + order, args)]

    def read_subscriptions(
        self,
        topics: Callable[[Iterator[str]], None],
        rows: Callable[[Iterator[SubscriptionRow]], None],
        *,
        keep_changes: int,
    ) -> int:
        """Stream the distinct topics, then every subscription, from one snapshot; return its change-log position.

        Blocking, on a connection of its own (call it from a worker thread), in one REPEATABLE READ
        transaction so the rows and the position agree; named cursors stream the rows from the
        server. Afterwards the log is pruned to its newest ``keep_changes`` entries.
        """
        conninfo, timeout = connect_args(self.url)
        with psycopg.connect(conninfo, connect_timeout=timeout) as conn:
            with conn.transaction():
                conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                row = conn.execute("SELECT coalesce(max(id), 0) FROM subscription_changes").fetchone()
                position = int(row[0]) if row else 0
                with conn.cursor(name="digestbot_topics") as cur:
                    cur.execute("SELECT DISTINCT topic FROM subscriptions")
                    topics(r[0] for r in cur)
                with conn.cursor(name="digestbot_subscriptions") as cur:
                    cur.execute("SELECT platform, workspace, user_id, topic FROM subscriptions")
                    rows((r[0], r[1], r[2], r[3]) for r in cur)
            conn.execute("DELETE FROM subscription_changes WHERE id <= %s", (position - keep_changes,))
            conn.commit()
        return position

    async def subscription_changes(self, after: int, *, limit: int) -> tuple[bool, list[SubscriptionChange]]:
        """Return whether the log still reaches back to ``after``, and up to ``limit`` changes made since."""
        rows = await self.fetchall("SELECT min(id) FROM subscription_changes")
        oldest = rows[0][0] if rows else None
        if oldest is not None and oldest > after + 1:
            return False, []
        sql = (
            "SELECT id, op, platform, workspace, user_id, topic FROM subscription_changes"
            " WHERE id > %s ORDER BY id LIMIT %s"
        )
        return True, [(int(r[0]), r[1], r[2], r[3], r[4], r[5]) for r in await self.fetchall(sql, (after, limit))]

    async def prune_subscription_changes(self, *, keep: int) -> None:
        """Drop all but the newest ``keep`` logged changes (a process further behind reloads everything)."""
        async with self.transaction() as conn:
            await conn.execute(
                "DELETE FROM subscription_changes WHERE id <= (SELECT max(id) FROM subscription_changes) - %s",
                (keep,),
            )

    # -- operator views (digestbot status) --------------------------------------------------------

    async def last_channel_posts(self) -> dict[tuple[str, str], dict[str, Any]]:
        """Return each channel's newest post slot: its day, kind, parts by state, last update and error."""
        sql = (
            "SELECT platform, target_id, digest_date, min(kind), string_agg(state, ','), max(updated_at), max(error)"
            " FROM deliveries AS d WHERE target_kind='channel' AND slot='post' AND digest_date = ("
            "  SELECT max(digest_date) FROM deliveries WHERE platform=d.platform AND target_kind='channel'"
            "  AND target_id=d.target_id AND slot='post')"
            " GROUP BY platform, target_id, digest_date"
        )
        return {
            (r[0], r[1]): {
                "day": r[2],
                "kind": r[3],
                "states": sorted(str(r[4]).split(",")),
                "updated_at": _iso(r[5]),
                "error": r[6],
            }
            for r in await self.fetchall(sql)
        }

    async def delivery_counts(self) -> dict[str, int]:
        """Return how many outbox rows are in each state (pending, claimed, sent, failed)."""
        return {r[0]: int(r[1]) for r in await self.fetchall("SELECT state, count(*) FROM deliveries GROUP BY state")}

    async def recent_failures(self, limit: int = 5) -> list[tuple[str, str, str, str]]:
        """Return the newest failed outbox rows as (target, key, error, when), newest first."""
        sql = (
            "SELECT platform || ':' || target_kind || ':' || target_id, key, coalesce(error, ''), updated_at"
            " FROM deliveries WHERE state='failed' ORDER BY updated_at DESC LIMIT %s"
        )
        return [(r[0], r[1], r[2], _iso(r[3]) or "") for r in await self.fetchall(sql, (limit,))]

    # -- channels (chat-configured) -------------------------------------------------------------

    async def channel_rows(self) -> list[dict[str, Any]]:
        """Return every row of the ``channels`` table as a dict, shaped as SQLite's (see :mod:`digestbot.channels`)."""
        sql = "SELECT platform, channel_id, workspace, settings, enabled, disabled_reason, updated_at FROM channels"
        return [
            {
                "platform": r[0],
                "channel_id": r[1],
                "workspace": r[2],
                "settings": r[3],
                "enabled": int(r[4]),
                "disabled_reason": r[5],
                "updated_at": _iso(r[6]),
            }
            for r in await self.fetchall(sql)
        ]

    async def set_channel_settings(
        self,
        *,
        platform: str,
        channel_id: str,
        workspace: str = "",
        settings: dict[str, Any],
        enable: bool = True,
        check: SettingsCheck | None = None,
    ) -> dict[str, Any]:
        """Merge ``settings`` into a channel's chat overrides (creating it); return the stored overrides.

        As the SQLite store: the caller checked the values (:func:`digestbot.channels.save_settings`),
        ``check`` sees the merged overrides inside the write, ``enable`` turns the channel on.
        """
        changes = dict(settings)
        async with self.transaction() as conn:
            cur = await conn.execute(
                "SELECT settings, enabled FROM channels WHERE platform=%s AND channel_id=%s FOR UPDATE",
                (platform, channel_id),
            )
            row = await cur.fetchone()
            current: dict[str, Any] = json.loads(row[0]) if row else {}
            current.update(changes)
            current = {k: v for k, v in current.items() if v is not None}
            if check is not None:
                check(current)
            enabled = True if enable or row is None else bool(row[1])
            await conn.execute(
                "INSERT INTO channels(platform, channel_id, workspace, settings, enabled, disabled_reason, updated_at)"
                " VALUES (%s,%s,%s,%s,%s,NULL,%s) ON CONFLICT (platform, channel_id) DO UPDATE SET"
                " workspace=excluded.workspace, settings=excluded.settings, enabled=excluded.enabled,"
                " disabled_reason=CASE WHEN excluded.enabled THEN NULL ELSE channels.disabled_reason END,"
                " updated_at=excluded.updated_at",
                (platform, channel_id, workspace, json.dumps(current, sort_keys=True), enabled, _now()),
            )
        return current

    async def disable_channel(self, *, platform: str, channel_id: str, reason: str, workspace: str = "") -> bool:
        """Stop posting to a channel (chat command or permanent delivery failure); False if already off."""
        async with self.transaction() as conn:
            cur = await conn.execute(
                "SELECT enabled FROM channels WHERE platform=%s AND channel_id=%s FOR UPDATE", (platform, channel_id)
            )
            row = await cur.fetchone()
            await conn.execute(
                "INSERT INTO channels(platform, channel_id, workspace, enabled, disabled_reason, updated_at)"
                " VALUES (%s,%s,%s,FALSE,%s,%s) ON CONFLICT (platform, channel_id) DO UPDATE SET enabled=FALSE,"
                " disabled_reason=excluded.disabled_reason, updated_at=excluded.updated_at",
                (platform, channel_id, workspace, reason, _now()),
            )
        return row is None or bool(row[0])

    async def enable_channel(self, *, platform: str, channel_id: str, workspace: str = "") -> None:
        """Turn a channel (back) on, keeping its chat settings."""
        await self.set_channel_settings(platform=platform, channel_id=channel_id, workspace=workspace, settings={})

    # -- scheduler memory -----------------------------------------------------------------------

    async def schedule_last_seen(self) -> dict[tuple[str, str], datetime]:
        """Return, per (platform, channel id), the newest occurrence the scheduler has handled."""
        rows = await self.fetchall("SELECT platform, channel_id, last_seen FROM schedule_state")
        return {(r[0], r[1]): r[2].astimezone(UTC) for r in rows}

    async def set_schedule_last_seen(self, items: Iterable[tuple[str, str, datetime]]) -> None:
        """Record that the scheduler handled each channel's occurrences up to the given instant."""
        rows = [(p, c, when.astimezone(UTC)) for p, c, when in items]
        if not rows:
            return
        async with self.transaction() as conn, conn.cursor() as cur:
            await cur.executemany(
                "INSERT INTO schedule_state(platform, channel_id, last_seen) VALUES (%s,%s,%s)"
                " ON CONFLICT (platform, channel_id) DO UPDATE SET last_seen=excluded.last_seen",
                rows,
            )

    # -- /paper search (the queries are in digestbot.store.postgres.search) -----------------------

    async def search_candidates(self, index: Index, match: str, *, limit: int) -> list[int]:
        """Return the rowids of the newest ``limit`` papers matching ``match`` in ``index``."""
        return await pg_search.candidates(self, index, match, limit=limit)

    async def search_rows(self, rowids: list[int]) -> list[SearchRow]:
        """Return the scoring fields of ``rowids`` (any order)."""
        if not rowids:
            return []
        rows = await pg_search.search_rows(self, rowids)
        return [
            SearchRow(
                rowid=r[0],
                arxiv_id=r[1],
                title=r[2],
                authors_text=r[3],
                keywords_text=r[4],
                grams_text=r[5],
                votes=r[6],
            )
            for r in rows
        ]

    async def term_docs(self, terms: list[str]) -> dict[str, int]:
        """Return how many papers have each of ``terms`` in a title, author name or keyword."""
        return await pg_search.term_docs(self, terms) if terms else {}

    async def terms_starting(self, prefix: str, *, min_len: int, max_len: int, limit: int) -> list[tuple[str, int]]:
        """Return (term, docs) of vocabulary words starting with ``prefix``, lengths in [min_len, max_len]."""
        return await pg_search.terms_starting(self, prefix, min_len=min_len, max_len=max_len, limit=limit)

    async def near_terms(self, word: str, *, edits: int, limit: int) -> list[tuple[str, int]]:
        """Return (term, docs) of vocabulary words that may be ``word`` with a typo, most frequent first."""
        return await pg_search.near_terms(self, word, edits=edits, limit=limit)

    async def popular_topics(self, *, limit: int) -> list[str]:
        """Return the topics people follow, most followed first (ties by name)."""
        sql = "SELECT topic, count(*) AS n FROM subscriptions GROUP BY topic ORDER BY n DESC, topic LIMIT %s"
        return [str(r[0]) for r in await self.fetchall(sql, (limit,))]

    async def keyword_vocabulary(self, *, limit: int) -> list[str]:
        """Return distinct lower-cased paper keywords, the newest papers' first."""
        sql = (
            "SELECT k FROM (SELECT lower(j.value) AS k, max(papers.rowid) AS newest"
            " FROM papers, jsonb_array_elements_text(papers.keywords) AS j(value) GROUP BY 1) AS t"
            " ORDER BY newest DESC LIMIT %s"
        )
        return [str(r[0]) for r in await self.fetchall(sql, (limit,))]

    # -- the summary cache (queries in digestbot.store.postgres.summaries) ------------------------

    async def cached_summaries(self, arxiv_ids: Sequence[str], key: SummaryKey) -> dict[str, Sections]:
        """Return the summaries made under exactly ``key``, by arXiv id."""
        rows = await pg_summaries.cached(self, arxiv_ids, key.language, key.model, key.prompt_version)
        return {row[0]: _sections(row[1]) for row in rows}

    async def shown_summaries(self, arxiv_ids: Sequence[str], key: SummaryKey) -> dict[str, Sections]:
        """Return per paper ``key``'s summary, else the newest other one in ``key.language``."""
        rows = await pg_summaries.shown(self, arxiv_ids, key.language, key.model, key.prompt_version)
        return {row[0]: _sections(row[1]) for row in rows}  # worst first: the best one wins

    async def save_summary(
        self, arxiv_id: str, key: SummaryKey, sections: Sections, *, prompt_tokens: int = 0, completion_tokens: int = 0
    ) -> None:
        """Store (or replace) one paper's summary under ``key``."""
        values = (arxiv_id, key.language, key.model, key.prompt_version, sections, prompt_tokens, completion_tokens)
        await pg_summaries.save(self, values)

    # -- the outbox and operations ----------------------------------------------------------------

    def outbox_storage(self) -> OutboxStorage:
        """Return a new outbox writer for one run: its own connection, holding the run's advisory lock."""
        return PgOutboxStorage(self.url)

    def installations(self) -> InstallationStorage:
        """Return the Slack installations and OAuth states kept in this database."""
        from digestbot.store.postgres.installations import PgInstallationRecords

        return PgInstallationRecords(self)

    async def outbox_backlog(self) -> tuple[int, datetime | None]:
        """Return how many outbox rows are not sent yet and when the oldest was planned."""
        sql = "SELECT count(*), min(created_at) FROM deliveries WHERE state IN ('pending', 'claimed')"
        rows = await self.fetchall(sql)
        count, oldest = (rows[0][0], rows[0][1]) if rows else (0, None)
        return int(count), oldest

    async def ping(self) -> None:
        """Raise StoreError unless the server still answers (``/healthz``)."""
        try:
            await self.fetchall("SELECT 1")
        except psycopg.Error as exc:
            raise StoreError(f"{self.path}: the database does not answer: {str(exc).strip()[:200]}") from None


def _term_counts(
    inserts: list[tuple[Any, ...]], updates: list[tuple[Any, ...]], known: dict[str, Paper]
) -> dict[str, int]:
    """Count the vocabulary words new and changed papers add (as the SQLite store's ``_count_terms``)."""
    counts: dict[str, int] = {}
    for values in inserts:  # _row_values order: title 1, authors_text 13, keywords_text 15
        for word in _lookup_words(values[1], values[13], values[15]):
            counts[word] = counts.get(word, 0) + 1
    for values in updates:  # shifted by one (arxiv_id moved to the end, after the search vector)
        old = known[values[-1]]
        before = _lookup_words(old.title, ", ".join(old.authors), ", ".join(old.keywords))
        for word in _lookup_words(values[0], values[12], values[14]) - before:
            counts[word] = counts.get(word, 0) + 1
    return counts


def _sections(text: str) -> Sections:
    return tuple((str(label), str(body)) for label, body in json.loads(text))
