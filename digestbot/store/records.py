"""The records the store hands back besides papers and digests: outbox rows, search rows, summary keys.

They live in the store package (not next to the SQLite code) because every backend returns the
same ones: :mod:`digestbot.store.protocol` is written in their terms.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal

from digestbot.ports import Target

State = Literal["pending", "claimed", "sent", "failed"]
"""Where an outbox row stands (see :mod:`digestbot.outbox` for its life)."""
Slot = Literal["post", "matches", "post-week", "post-month", "matches-week", "matches-month"]
"""What an outbox plan is for: a channel's post, or a subscriber's daily DM."""
Index = Literal["lookup_fts", "body_fts"]
"""``lookup_fts``: title, authors, keywords, unspaced-script grams; ``body_fts``: abstracts and summaries."""
Sections = tuple[tuple[str, str], ...]
"""A summary's parts: (label, text) pairs."""
SubscriptionRow = tuple[str, str, str, str]
"""One subscription: platform, workspace, user id, topic (canonical text)."""
SubscriptionChange = tuple[int, str, str, str, str, str]
"""One logged change: position, ``+`` or ``-``, platform, workspace, user id, topic."""


@dataclass(frozen=True, kw_only=True)
class UpsertResult:
    """How many papers a write added, changed, or found already identical."""

    added: int = 0
    updated: int = 0
    unchanged: int = 0


@dataclass(frozen=True, kw_only=True)
class Delivery:
    """One outbox row: a message to one target, its payload and where it stands."""

    id: int
    target: Target
    slot: Slot
    day: date
    kind: str
    part: int
    parts: int
    key: str
    payload: Any
    state: State
    attempts: int = 0
    message_id: str | None = None
    error: str | None = None
    claimed_by: str | None = None
    claimed_at: datetime | None = None
    created_at: datetime | None = None


def first_unsent(rows: Sequence[Delivery]) -> Delivery | None:
    """Return a plan's next part to send: the first row, in part order, neither sent nor failed (None: done)."""
    return next((r for r in rows if r.state not in ("sent", "failed")), None)


@dataclass(frozen=True)
class StateChange:
    """A row's new state after a send (sent, back to pending, failed), written with others in one batch."""

    id: int
    state: State
    message_id: str | None = None
    error: str | None = None


@dataclass(frozen=True, kw_only=True)
class SearchRow:
    """The fields a search candidate is scored on (short ones; the abstract is only matched by the index)."""

    rowid: int
    arxiv_id: str
    title: str
    authors_text: str
    keywords_text: str
    grams_text: str
    votes: int


@dataclass(frozen=True, kw_only=True)
class SummaryKey:
    """What a cached summary depends on besides the paper."""

    language: str
    model: str
    prompt_version: int
