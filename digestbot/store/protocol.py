"""The store seam: what the rest of digestbot asks of a database, and nothing else.

:class:`StoreProtocol` names every method the core, the adapters and the CLI call; the SQLite
store (:class:`~digestbot.store.sqlite.SqliteStore`) implements it, and a second backend
implements the same methods with the same meaning. Core modules type against this protocol, not
against a backend class, so a backend's extras (transactions, bulk loads, raw connections) stay
out of their reach. Every method raises :class:`~digestbot.errors.StoreError` subclasses for
failures of the database (busy, full, damaged), never a driver's own exceptions.

The outbox is a capability of the store (:meth:`StoreProtocol.outbox_storage`): group commit,
claims and the proof that a run is still alive are storage concerns; the lease policy and the
state machine's API stay in :mod:`digestbot.outbox`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from digestbot.ports import Target
from digestbot.records import Digest, Paper
from digestbot.store.records import (
    Delivery,
    Index,
    SearchRow,
    Sections,
    Slot,
    StateChange,
    SubscriptionChange,
    SubscriptionRow,
    SummaryKey,
    UpsertResult,
)

if TYPE_CHECKING:
    from digestbot.store.installations import InstallationRecord

SettingsCheck = Callable[[dict[str, Any]], None]
"""Called with a channel's merged overrides inside the write; whatever it raises aborts the write."""


class InstallationStorage(Protocol):
    """Slack workspaces' installations (one row per workspace) and single-use OAuth states."""

    async def save(self, record: InstallationRecord) -> int:
        """Store a new or refreshed installation; return how many paused channels it resumed."""
        ...

    async def find(self, team_id: str, *, enterprise_id: str = "") -> InstallationRecord | None:
        """Return a workspace's installation (also a removed one, with its tokens cleared)."""
        ...

    async def remove(self, team_id: str, *, reason: str, enterprise_id: str = "", channels: Sequence[str] = ()) -> int:
        """Clear a workspace's tokens and pause its channels; return how many were paused."""
        ...

    async def all(self) -> list[InstallationRecord]:
        """Return every workspace ever installed."""
        ...

    async def issue_state(self, state: str, *, expires_at: datetime) -> None:
        """Remember an OAuth state until ``expires_at``."""
        ...

    async def consume_state(self, state: str) -> bool:
        """Use up an OAuth state: true once, if it was issued and has not expired."""
        ...


class OutboxStorage(Protocol):
    """The ``deliveries`` rows of one run: every write is durable (committed) when its call returns."""

    owner: str
    """Who claims rows in this run: unique per run (host and pid are only for people reading the table)."""

    async def plan(
        self,
        target: Target,
        *,
        slot: Slot,
        day: date,
        kind: str,
        keys: Sequence[str],
        payloads: Sequence[Any],
        claim_first: bool = False,
    ) -> tuple[list[Delivery], bool, int | None]:
        """Write one pending row per (key, payload) unless ``target`` has rows for ``slot`` on ``day``.

        Returns the slot's rows in part order, whether this call wrote them, and, with
        ``claim_first``, the id of the row it claimed in the same write (see :meth:`claim`): the
        first part not sent nor failed, if it is pending (else None, and nothing is claimed).
        """
        ...

    async def rows(self, target: Target, *, slot: Slot, day: date) -> list[Delivery]:
        """Return ``target``'s rows for ``slot`` on ``day``, in part order."""
        ...

    async def claim(self, delivery_ids: Sequence[int]) -> set[int]:
        """Move the pending rows among ``delivery_ids`` to claimed by :attr:`owner` in one write; return those won.

        One attempt more each. A row that is not pending, or that another worker is claiming
        at this moment (PostgreSQL: ``FOR UPDATE SKIP LOCKED``), is not won and not waited for.
        """
        ...

    async def renew(self, delivery_ids: Sequence[int]) -> set[int]:
        """Restart :attr:`owner`'s claims on ``delivery_ids`` in one write; return those still claimed by it."""
        ...

    async def set_states(self, changes: Sequence[StateChange]) -> set[int]:
        """Write each row's new state and error (and message id), dropping its claim, where :attr:`owner` holds it.

        Conditional (``state='claimed' AND claimed_by=owner``), in order; returns the ids written.
        A row missing from the answer was taken over by another run meanwhile (this one was
        frozen past its lease): its result is that run's to write.
        """
        ...

    async def adopt_sent(self, delivery_id: int, message_id: str) -> bool:
        """Record a *pending* row as sent with ``message_id``; False if it is not pending (nothing written).

        For a late copy: this run's send landed after it lost the claim, and nobody holds the row.
        """
        ...

    async def now(self) -> datetime:
        """Return the time on the clock claims are stamped with (lease expiry is judged on it, never another)."""
        ...

    async def fail_pending(self, delivery_ids: Sequence[int], error: str) -> None:
        """Mark the still-pending rows among ``delivery_ids`` failed with ``error``."""
        ...

    async def unsent(self) -> list[Delivery]:
        """Return every pending or claimed row, oldest first."""
        ...

    async def counts(self) -> dict[str, int]:
        """Return how many rows are in each state."""
        ...

    async def take_over(self, delivery_id: int, previous_owner: str | None) -> bool:
        """Make a row still claimed by ``previous_owner`` this run's, its lease restarted; False if it changed.

        One atomic conditional update: of several live runs that find the same stale claim,
        exactly one takes it over (and may then reconcile and re-send it).
        """
        ...

    async def owner_gone(self, owner: str) -> bool:
        """Tell whether the run ``owner`` surely stopped (False when only the lease can tell)."""
        ...

    async def stale_claim(self, delivery_id: int, *, lease: timedelta, now: datetime | None = None) -> Delivery | None:
        """Return row ``delivery_id`` if another run's claim on it is abandoned, else None (also when not claimed).

        Abandoned as for every unsent row: claimed longer than ``lease`` ago on the store's clock
        (:meth:`now`; ``now`` overrides it, for tests only), or its run surely stopped
        (:meth:`owner_gone`). One row by its key: what a late copy asks at every poll, where
        reading every unsent row (:meth:`unsent`) would cost the whole backlog each time.
        """
        ...

    async def close(self) -> None:
        """Finish queued writes and release what the run held."""
        ...


class StoreProtocol(Protocol):
    """Everything digestbot asks of its database (see the module docstring)."""

    @property
    def path(self) -> Path | str:
        """Where the data lives: the SQLite file, or the PostgreSQL URL with its password hidden (``status``)."""
        ...

    async def __aenter__(self) -> StoreProtocol:
        """Use the store as ``async with``: it is closed on the way out."""
        ...

    async def __aexit__(self, *exc: object) -> None:
        """Close the store."""
        ...

    async def schema_version(self) -> int:
        """Return the database's schema version (0 for an empty database)."""
        ...

    async def close(self) -> None:
        """Release the connection."""
        ...

    # -- papers and digests

    async def upsert_papers(
        self, papers: Iterable[Paper], *, digest_date: date | None = None, file_digest: bool = True
    ) -> UpsertResult:
        """Store ``papers`` in one transaction, enriching known ones; ``digest_date`` files them under a day.

        Without ``digest_date`` each paper is filed under its own; ``file_digest=False`` files none
        (``db copy``, which brings the source's digests as they are).
        """
        ...

    async def bulk_load(
        self, papers: Iterable[Paper], *, batch: int = 5_000, digest_date: date | None = None
    ) -> UpsertResult:
        """Store many papers at once (a backfill, a new archive): the same result as ``upsert_papers``, faster."""
        ...

    async def get_paper(self, arxiv_id: str) -> Paper | None:
        """Return the stored paper with this arXiv id, or None."""
        ...

    async def get_papers(self, arxiv_ids: Sequence[str]) -> dict[str, Paper]:
        """Return the stored papers among ``arxiv_ids``, by id."""
        ...

    async def get_papers_by_rowid(self, rowids: Sequence[int]) -> list[Paper]:
        """Return papers for search row ids, in the given order (missing ones skipped)."""
        ...

    async def papers_missing_arxiv_data(self, *, day: date | None = None, limit: int = 500) -> list[Paper]:
        """Return papers with no abstract or no arXiv categories, newest first."""
        ...

    async def count_papers(self) -> int:
        """Return how many papers the archive holds."""
        ...

    async def digest(self, day: date) -> Digest | None:
        """Return the digest of ``day`` ranked by votes, withdrawn papers left out, or None if empty."""
        ...

    async def digest_dates(self, *, limit: int = 30, since: date = date.min, until: date = date.max) -> list[date]:
        """Return the newest dates that have a digest, newest first."""
        ...

    async def latest_digest_date(self, *, on_or_before: date | None = None) -> date | None:
        """Return the newest digest date (optionally not after ``on_or_before``)."""
        ...

    # -- search (/paper, autocomplete)

    async def search_candidates(self, index: Index, match: str, *, limit: int) -> list[int]:
        """Return the row ids of the newest ``limit`` papers matching ``match`` in ``index``."""
        ...

    async def search_rows(self, rowids: list[int]) -> list[SearchRow]:
        """Return the scoring fields of ``rowids`` (any order)."""
        ...

    async def term_docs(self, terms: list[str]) -> dict[str, int]:
        """Return how many papers have each vocabulary term (absent terms left out)."""
        ...

    async def terms_starting(self, prefix: str, *, min_len: int, max_len: int, limit: int) -> list[tuple[str, int]]:
        """Return (term, docs) of vocabulary words starting with ``prefix``, most frequent first."""
        ...

    async def near_terms(self, word: str, *, edits: int, limit: int) -> list[tuple[str, int]]:
        """Return (term, docs) of vocabulary words that may be ``word`` with a typo, most frequent first."""
        ...

    async def popular_topics(self, *, limit: int) -> list[str]:
        """Return the topics people follow, most followed first."""
        ...

    async def keyword_vocabulary(self, *, limit: int) -> list[str]:
        """Return distinct lower-cased paper keywords, newest papers first."""
        ...

    # -- summaries cache

    async def cached_summaries(self, arxiv_ids: Sequence[str], key: SummaryKey) -> dict[str, Sections]:
        """Return the summaries made under exactly ``key``, by arXiv id."""
        ...

    async def shown_summaries(self, arxiv_ids: Sequence[str], key: SummaryKey) -> dict[str, Sections]:
        """Return per paper ``key``'s summary, else the newest other one in ``key.language``."""
        ...

    async def save_summary(
        self, arxiv_id: str, key: SummaryKey, sections: Sections, *, prompt_tokens: int, completion_tokens: int
    ) -> None:
        """Store (or replace) one paper's summary under ``key``."""
        ...

    # -- subscriptions

    async def add_subscription(
        self, *, platform: str, workspace: str, user: str, topic: str, max_topics: int, display: str = ""
    ) -> bool:
        """Subscribe ``user`` to ``topic``; False if already subscribed; TopicLimitError past ``max_topics``."""
        ...

    async def remove_subscription(self, *, platform: str, workspace: str, user: str, topic: str) -> bool:
        """Unsubscribe ``user`` from ``topic``; False if they were not subscribed."""
        ...

    async def list_subscriptions(self, *, platform: str, workspace: str, user: str) -> list[str]:
        """Return ``user``'s topics, oldest first."""
        ...

    async def shown_subscriptions(self, *, platform: str, workspace: str, user: str) -> list[tuple[str, str]]:
        """Return ``user``'s topics as (canonical key, text to show), oldest first."""
        ...

    async def topic_displays(
        self, *, platform: str, users: Sequence[tuple[str, str]]
    ) -> dict[tuple[str, str], dict[str, str]]:
        """Return how each (workspace, user)'s topics were typed, by canonical topic (only those that differ).

        Users with no such topic are left out. Many users per call: a fan-out asks for the users
        of its DMs in flight together, one query instead of one per DM.
        """
        ...

    def read_subscriptions(
        self,
        topics: Callable[[Iterator[str]], None],
        rows: Callable[[Iterator[SubscriptionRow]], None],
        *,
        keep_changes: int,
    ) -> int:
        """Stream the distinct topics, then every subscription, from one snapshot; return its change position.

        Blocking: called from a worker thread.
        """
        ...

    async def subscription_changes(self, after: int, *, limit: int) -> tuple[bool, list[SubscriptionChange]]:
        """Return whether the change log reaches back to ``after``, and up to ``limit`` changes since."""
        ...

    # -- channels and the scheduler

    async def channel_rows(self) -> list[dict[str, Any]]:
        """Return every chat-configured channel as a dict (see :mod:`digestbot.channels`)."""
        ...

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
        """Merge checked ``settings`` into a channel's overrides (None removes one); return the result.

        ``check`` sees the merged overrides before they are written (see :data:`SettingsCheck`).
        """
        ...

    async def disable_channel(self, *, platform: str, channel_id: str, reason: str, workspace: str = "") -> bool:
        """Stop posting to a channel; False if it was already off."""
        ...

    async def enable_channel(self, *, platform: str, channel_id: str, workspace: str = "") -> None:
        """Turn a channel (back) on, keeping its chat settings."""
        ...

    async def schedule_last_seen(self) -> dict[tuple[str, str], datetime]:
        """Return, per (platform, channel id), the newest occurrence the scheduler has handled."""
        ...

    async def set_schedule_last_seen(self, items: Iterable[tuple[str, str, datetime]]) -> None:
        """Record that the scheduler handled each channel's occurrences up to the given instant."""
        ...

    # -- the outbox and the operator's view of it

    def outbox_storage(self) -> OutboxStorage:
        """Return a new outbox writer for one run (its own group commit and run identity)."""
        ...

    async def outbox_backlog(self) -> tuple[int, datetime | None]:
        """Return how many outbox rows are not sent yet and when the oldest was planned (``/metrics``)."""
        ...

    async def ping(self) -> None:
        """Raise StoreError unless the database still answers (``/healthz``)."""
        ...

    # -- Slack installations (OAuth mode)

    def installations(self) -> InstallationStorage:
        """Return the Slack installations and OAuth states kept in this database."""
        ...

    async def last_channel_posts(self) -> dict[tuple[str, str], dict[str, Any]]:
        """Return each channel's newest post slot: day, kind, parts by state, last update and error."""
        ...

    async def delivery_counts(self) -> dict[str, int]:
        """Return how many outbox rows are in each state."""
        ...

    async def recent_failures(self, limit: int = 5) -> list[tuple[str, str, str, str]]:
        """Return the newest failed outbox rows as (target, key, error, when), newest first."""
        ...
