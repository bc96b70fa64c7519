"""Slack OAuth installations and OAuth states, kept in digestbot's own database (migration 9).

One row per workspace (``enterprise_id``, ``team_id``) holding its bot token. An uninstall or a
revoked token clears the tokens but keeps the row (``removed_at``, ``removed_reason``), so
``digestbot slack installs`` still shows the workspace, and pauses its channels in the same
transaction; a reinstall stores the new token and resumes exactly the channels that were paused
that way (their ``disabled_reason`` starts with :data:`PAUSED`), not the ones an admin turned off.

The methods are narrow on purpose (save, find, remove, list; issue and consume a state) so a
second database backend can mirror them one for one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from digestbot.store.sqlite import SqliteStore

PLATFORM = "slack"
PAUSED = "paused: "
"""Prefix of the ``disabled_reason`` of a channel paused with its workspace (uninstall, revoked token)."""

_COLUMNS = (
    "enterprise_id, team_id, team_name, app_id, bot_id, bot_user_id, bot_scopes, bot_token, bot_refresh_token,"
    " bot_token_expires_at, installer_user_id, is_enterprise_install, installed_at, removed_at, removed_reason"
)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _when(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


@dataclass(frozen=True, kw_only=True)
class InstallationRecord:
    """One workspace's installation of the app: who installed it and the bot token to post with."""

    team_id: str
    enterprise_id: str = ""
    team_name: str = ""
    app_id: str = ""
    bot_id: str = ""
    bot_user_id: str = ""
    bot_scopes: str = ""
    bot_token: str | None = None
    bot_refresh_token: str | None = None
    bot_token_expires_at: datetime | None = None
    installer_user_id: str = ""
    is_enterprise_install: bool = False
    installed_at: datetime | None = None
    removed_at: datetime | None = None
    removed_reason: str | None = None

    @property
    def active(self) -> bool:
        """True while the workspace has the app installed (a token to post with)."""
        return self.removed_at is None and bool(self.bot_token)


def _record(row: Sequence[Any]) -> InstallationRecord:
    return InstallationRecord(
        enterprise_id=row[0],
        team_id=row[1],
        team_name=row[2],
        app_id=row[3],
        bot_id=row[4],
        bot_user_id=row[5],
        bot_scopes=row[6],
        bot_token=row[7],
        bot_refresh_token=row[8],
        bot_token_expires_at=_when(row[9]),
        installer_user_id=row[10],
        is_enterprise_install=bool(row[11]),
        installed_at=_when(row[12]),
        removed_at=_when(row[13]),
        removed_reason=row[14],
    )


def save_values(record: InstallationRecord, now: str) -> tuple[object, ...]:
    """Return an installation upsert's parameters: ``_COLUMNS`` up to ``installed_at``, then ``updated_at``.

    Shared by both backends' ``save`` so a new column cannot be written by one and forgotten by the other.
    """
    expires = record.bot_token_expires_at.astimezone(UTC).isoformat() if record.bot_token_expires_at else None
    return (
        record.enterprise_id,
        record.team_id,
        record.team_name,
        record.app_id,
        record.bot_id,
        record.bot_user_id,
        record.bot_scopes,
        record.bot_token,
        record.bot_refresh_token,
        expires,
        record.installer_user_id,
        int(record.is_enterprise_install),
        now,
        now,
    )


class InstallationRecords:
    """Read and write ``slack_installations`` and ``slack_oauth_states`` of the SQLite store (``installations()``)."""

    def __init__(self, store: SqliteStore) -> None:
        self._store = store

    async def save(self, record: InstallationRecord) -> int:
        """Store a workspace's (new or refreshed) installation; return how many paused channels it resumed.

        ``installed_at`` is kept while the workspace stays installed (a token refresh saves too) and
        set anew after a removal: that is a reinstall.
        """
        now = _now()
        async with self._store.transaction() as db:
            await db.execute(
                f"INSERT INTO slack_installations({_COLUMNS}, updated_at)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,NULL,NULL,?)"
                " ON CONFLICT(enterprise_id, team_id) DO UPDATE SET team_name=excluded.team_name,"
                " app_id=excluded.app_id, bot_id=excluded.bot_id, bot_user_id=excluded.bot_user_id,"
                " bot_scopes=excluded.bot_scopes, bot_token=excluded.bot_token,"
                " bot_refresh_token=excluded.bot_refresh_token, bot_token_expires_at=excluded.bot_token_expires_at,"
                " installer_user_id=CASE WHEN excluded.installer_user_id != '' THEN excluded.installer_user_id"
                " ELSE slack_installations.installer_user_id END,"
                " is_enterprise_install=excluded.is_enterprise_install,"
                " installed_at=CASE WHEN slack_installations.removed_at IS NULL THEN slack_installations.installed_at"
                " ELSE excluded.installed_at END,"
                " removed_at=NULL, removed_reason=NULL, updated_at=excluded.updated_at",
                save_values(record, now),
            )
            cur = await db.execute(
                "UPDATE channels SET enabled=1, disabled_reason=NULL, updated_at=?"
                " WHERE platform=? AND workspace=? AND enabled=0 AND substr(disabled_reason, 1, ?) = ?",
                (now, PLATFORM, record.team_id, len(PAUSED), PAUSED),
            )
            return int(cur.rowcount)

    async def find(self, team_id: str, *, enterprise_id: str = "") -> InstallationRecord | None:
        """Return the workspace's installation while it is installed; None before, or after a removal."""
        sql = (
            f"SELECT {_COLUMNS} FROM slack_installations WHERE enterprise_id=? AND team_id=?"
            " AND removed_at IS NULL AND bot_token IS NOT NULL"
        )
        async with self._store._db.execute(sql, (enterprise_id, team_id)) as cur:
            row = await cur.fetchone()
        return _record(row) if row else None

    async def remove(self, team_id: str, *, reason: str, enterprise_id: str = "", channels: Sequence[str] = ()) -> int:
        """Forget a workspace's tokens (uninstalled, revoked) and pause its channels; return how many were paused.

        Every enabled stored channel of the workspace is paused, plus ``channels`` (ids of channels
        the config file names in it, which may have no row yet). ``reason`` is shown by ``status``.
        """
        now = _now()
        why = reason if reason.startswith(PAUSED) else PAUSED + reason
        async with self._store.transaction() as db:
            await db.execute(
                "UPDATE slack_installations SET bot_token=NULL, bot_refresh_token=NULL, bot_token_expires_at=NULL,"
                " removed_at=?, removed_reason=?, updated_at=? WHERE enterprise_id=? AND team_id=?"
                " AND removed_at IS NULL",
                (now, reason, now, enterprise_id, team_id),
            )
            cur = await db.execute(
                "UPDATE channels SET enabled=0, disabled_reason=?, updated_at=?"
                " WHERE platform=? AND workspace=? AND enabled=1",
                (why, now, PLATFORM, team_id),
            )
            paused = int(cur.rowcount)
            for channel_id in channels:
                cur = await db.execute(
                    "INSERT INTO channels(platform, channel_id, workspace, enabled, disabled_reason, updated_at)"
                    " VALUES (?,?,?,0,?,?) ON CONFLICT(platform, channel_id) DO NOTHING",
                    (PLATFORM, channel_id, team_id, why, now),
                )
                paused += int(cur.rowcount)
        return paused

    async def all(self) -> list[InstallationRecord]:
        """Return every workspace that ever installed the app, installed or not, oldest install first."""
        sql = f"SELECT {_COLUMNS} FROM slack_installations ORDER BY installed_at, team_id"
        async with self._store._db.execute(sql) as cur:
            return [_record(row) for row in await cur.fetchall()]

    async def issue_state(self, state: str, *, expires_at: datetime) -> None:
        """Remember an OAuth ``state`` handed to an installer's browser until ``expires_at``."""
        async with self._store.transaction() as db:
            await db.execute("DELETE FROM slack_oauth_states WHERE expires_at < ?", (_now(),))
            await db.execute(
                "INSERT INTO slack_oauth_states(state, expires_at) VALUES (?,?)",
                (state, expires_at.astimezone(UTC).isoformat(timespec="seconds")),
            )

    async def consume_state(self, state: str) -> bool:
        """Use up an OAuth ``state``: True once if it was issued and has not expired (no replay)."""
        sql = "DELETE FROM slack_oauth_states WHERE state=? RETURNING expires_at"
        async with self._store.transaction() as db, db.execute(sql, (state,)) as cur:
            row = await cur.fetchone()
        return row is not None and datetime.fromisoformat(row[0]) > datetime.now(UTC)
