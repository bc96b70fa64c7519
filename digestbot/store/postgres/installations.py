"""Slack OAuth installations and states on PostgreSQL: :mod:`digestbot.store.installations`'s methods, one for one.

The rows and rules are the SQLite store's (one row per workspace kept after an uninstall with
its tokens cleared; channels paused with the workspace and resumed by a reinstall); only the
SQL dialect differs: ``%s`` parameters, a boolean ``enabled`` and a ``timestamptz`` ``updated_at``
on ``channels``. Times in the installation tables are ISO text, as in SQLite, so records read
back identically from either backend.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from digestbot.store.installations import _COLUMNS, PAUSED, PLATFORM, InstallationRecord, _record, save_values

if TYPE_CHECKING:
    from digestbot.store.postgres.store import PostgresStore


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class PgInstallationRecords:
    """Read and write ``slack_installations`` and ``slack_oauth_states`` of a PostgreSQL store."""

    def __init__(self, store: PostgresStore) -> None:
        self._store = store

    async def save(self, record: InstallationRecord) -> int:
        """Store a workspace's (new or refreshed) installation; return how many paused channels it resumed."""
        now = _now()
        async with self._store.transaction() as conn:
            await conn.execute(
                f"INSERT INTO slack_installations({_COLUMNS}, updated_at)"
                " VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,NULL,NULL,%s)"
                " ON CONFLICT (enterprise_id, team_id) DO UPDATE SET team_name=excluded.team_name,"
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
            cur = await conn.execute(
                "UPDATE channels SET enabled=TRUE, disabled_reason=NULL, updated_at=now()"
                " WHERE platform=%s AND workspace=%s AND NOT enabled AND starts_with(disabled_reason, %s)",
                (PLATFORM, record.team_id, PAUSED),
            )
            return int(cur.rowcount)

    async def find(self, team_id: str, *, enterprise_id: str = "") -> InstallationRecord | None:
        """Return the workspace's installation while it is installed; None before, or after a removal."""
        sql = (
            f"SELECT {_COLUMNS} FROM slack_installations WHERE enterprise_id=%s AND team_id=%s"
            " AND removed_at IS NULL AND bot_token IS NOT NULL"
        )
        rows = await self._store.fetchall(sql, (enterprise_id, team_id))
        return _record(rows[0]) if rows else None

    async def remove(self, team_id: str, *, reason: str, enterprise_id: str = "", channels: Sequence[str] = ()) -> int:
        """Forget a workspace's tokens (uninstalled, revoked) and pause its channels; return how many were paused."""
        now = _now()
        why = reason if reason.startswith(PAUSED) else PAUSED + reason
        async with self._store.transaction() as conn:
            await conn.execute(
                "UPDATE slack_installations SET bot_token=NULL, bot_refresh_token=NULL, bot_token_expires_at=NULL,"
                " removed_at=%s, removed_reason=%s, updated_at=%s WHERE enterprise_id=%s AND team_id=%s"
                " AND removed_at IS NULL",
                (now, reason, now, enterprise_id, team_id),
            )
            cur = await conn.execute(
                "UPDATE channels SET enabled=FALSE, disabled_reason=%s, updated_at=now()"
                " WHERE platform=%s AND workspace=%s AND enabled",
                (why, PLATFORM, team_id),
            )
            paused = int(cur.rowcount)
            for channel_id in channels:
                cur = await conn.execute(
                    "INSERT INTO channels(platform, channel_id, workspace, enabled, disabled_reason, updated_at)"
                    " VALUES (%s,%s,%s,FALSE,%s,now()) ON CONFLICT (platform, channel_id) DO NOTHING",
                    (PLATFORM, channel_id, team_id, why),
                )
                paused += int(cur.rowcount)
        return paused

    async def all(self) -> list[InstallationRecord]:
        """Return every workspace that ever installed the app, installed or not, oldest install first."""
        sql = f"SELECT {_COLUMNS} FROM slack_installations ORDER BY installed_at, team_id"
        return [_record(row) for row in await self._store.fetchall(sql)]

    async def issue_state(self, state: str, *, expires_at: datetime) -> None:
        """Remember an OAuth ``state`` handed to an installer's browser until ``expires_at``."""
        async with self._store.transaction() as conn:
            await conn.execute("DELETE FROM slack_oauth_states WHERE expires_at < %s", (_now(),))
            await conn.execute(
                "INSERT INTO slack_oauth_states(state, expires_at) VALUES (%s,%s)",
                (state, expires_at.astimezone(UTC).isoformat(timespec="seconds")),
            )

    async def consume_state(self, state: str) -> bool:
        """Use up an OAuth ``state``: True once if it was issued and has not expired (no replay)."""
        async with self._store.transaction() as conn:
            cur = await conn.execute("DELETE FROM slack_oauth_states WHERE state=%s RETURNING expires_at", (state,))
            row = await cur.fetchone()
        return row is not None and datetime.fromisoformat(row[0]) > datetime.now(UTC)
