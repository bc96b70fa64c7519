"""Slack OAuth glue: slack_sdk's installation and state stores over digestbot's database, tokens per workspace.

bolt's :class:`~slack_bolt.oauth.async_oauth_settings.AsyncOAuthSettings` runs ``/slack/install`` and
``/slack/oauth_redirect`` and authorizes every incoming request through these stores, so an
installation is saved where the rest of digestbot's data lives (no second database). Posting
asks :class:`WorkspaceTokens` for the bot token of the target's workspace, refreshing a rotating
token first with slack_sdk's :class:`~slack_sdk.oauth.token_rotation.async_rotator.AsyncTokenRotator`.
The SQL is in :mod:`digestbot.store.installations`; this module only translates records.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
from slack_sdk.errors import SlackTokenRotationError
from slack_sdk.oauth.installation_store import Bot, Installation
from slack_sdk.oauth.installation_store.async_installation_store import AsyncInstallationStore
from slack_sdk.oauth.state_store.async_state_store import AsyncOAuthStateStore
from slack_sdk.oauth.token_rotation.async_rotator import AsyncTokenRotator
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack_commands import REFUSED_TOKEN
from digestbot.config import Config, SlackOAuthConfig
from digestbot.errors import DeliveryError, PausedError
from digestbot.store.installations import InstallationRecord
from digestbot.store.protocol import StoreProtocol
from digestbot.workspaces import REVOKED, pause_workspace

log = logging.getLogger(__name__)

STATE_EXPIRATION = timedelta(minutes=10)
"""How long an installer has between "Add to Slack" and coming back (bolt's default)."""

_GONE = frozenset({*REFUSED_TOKEN, "invalid_refresh_token", "invalid_grant"})


def _stamp(value: datetime | None) -> float:
    return (value or datetime.now(UTC)).timestamp()


def record_of(bot: Bot, *, installer: str = "") -> InstallationRecord:
    """Turn slack_sdk's :class:`Bot` into the record digestbot stores."""
    expires = bot.bot_token_expires_at
    return InstallationRecord(
        enterprise_id=bot.enterprise_id or "",
        team_id=bot.team_id or "",
        team_name=bot.team_name or "",
        app_id=bot.app_id or "",
        bot_id=bot.bot_id or "",
        bot_user_id=bot.bot_user_id or "",
        bot_scopes=",".join(bot.bot_scopes or []),
        bot_token=bot.bot_token,
        bot_refresh_token=bot.bot_refresh_token,
        bot_token_expires_at=datetime.fromtimestamp(expires, UTC) if expires else None,
        installer_user_id=installer,
        is_enterprise_install=bool(bot.is_enterprise_install),
    )


def bot_of(record: InstallationRecord) -> Bot:
    """Turn a stored record into slack_sdk's :class:`Bot` (what bolt's authorize and the rotator take)."""
    expires = record.bot_token_expires_at
    return Bot(
        app_id=record.app_id or None,
        enterprise_id=record.enterprise_id or None,
        team_id=record.team_id,
        team_name=record.team_name,
        bot_token=record.bot_token or "",
        bot_id=record.bot_id,
        bot_user_id=record.bot_user_id,
        bot_scopes=record.bot_scopes,
        bot_refresh_token=record.bot_refresh_token,
        bot_token_expires_at=int(expires.timestamp()) if expires else None,
        is_enterprise_install=record.is_enterprise_install,
        installed_at=_stamp(record.installed_at),
    )


class DigestbotInstallationStore(AsyncInstallationStore):
    """slack_sdk's installation store interface over :class:`InstallationRecords` (bot tokens only)."""

    def __init__(self, store: StoreProtocol, *, on_change: Callable[[], None] | None = None) -> None:
        self._records = store.installations()
        self._on_change = on_change

    @property
    def logger(self) -> logging.Logger:
        """The logger slack_sdk's callers use."""
        return log

    async def async_save(self, installation: Installation) -> None:
        """Store a completed install (the bot part; user tokens are not asked for)."""
        resumed = await self._records.save(record_of(installation.to_bot(), installer=installation.user_id or ""))
        log.info(
            "slack workspace %s (%s) installed the app; %d paused channel(s) resumed",
            installation.team_id, installation.team_name, resumed,
        )  # fmt: skip
        if resumed and self._on_change is not None:
            self._on_change()  # the scheduler sees the resumed channels

    async def async_save_bot(self, bot: Bot) -> None:
        """Store a bot token (bolt saves here after refreshing a rotating one)."""
        await self._records.save(record_of(bot))

    async def async_find_bot(
        self, *, enterprise_id: str | None, team_id: str | None, is_enterprise_install: bool | None = False
    ) -> Bot | None:
        """Return the workspace's bot while it has the app installed."""
        record = await self._records.find(team_id or "", enterprise_id=enterprise_id or "")
        return bot_of(record) if record is not None else None

    async def async_find_installation(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None = None,
        is_enterprise_install: bool | None = False,
    ) -> Installation | None:
        """Return the installation (bot token only: digestbot asks for no user token)."""
        record = await self._records.find(team_id or "", enterprise_id=enterprise_id or "")
        if record is None or (user_id is not None and user_id != record.installer_user_id):
            return None
        bot = bot_of(record)
        return Installation(
            app_id=bot.app_id,
            enterprise_id=bot.enterprise_id,
            team_id=bot.team_id,
            team_name=bot.team_name,
            bot_token=bot.bot_token,
            bot_id=bot.bot_id,
            bot_user_id=bot.bot_user_id,
            bot_scopes=bot.bot_scopes,
            bot_refresh_token=bot.bot_refresh_token,
            bot_token_expires_at=bot.bot_token_expires_at,
            user_id=record.installer_user_id,
            is_enterprise_install=record.is_enterprise_install,
            installed_at=bot.installed_at,
        )


class DigestbotStateStore(AsyncOAuthStateStore):
    """slack_sdk's OAuth state store interface over digestbot's database: a state works once, for 10 minutes."""

    def __init__(self, store: StoreProtocol) -> None:
        self._records = store.installations()

    @property
    def logger(self) -> logging.Logger:
        """The logger slack_sdk's callers use."""
        return log

    async def async_issue(self, *args: Any, **kwargs: Any) -> str:
        """Make and remember a new random state for one installer's browser."""
        state = secrets.token_urlsafe(24)
        await self._records.issue_state(state, expires_at=datetime.now(UTC) + STATE_EXPIRATION)
        return state

    async def async_consume(self, state: str) -> bool:
        """Accept a state once, if it was issued here and is still fresh."""
        return await self._records.consume_state(state)


def oauth_settings(
    oauth: SlackOAuthConfig, store: StoreProtocol, *, on_change: Callable[[], None] | None = None
) -> AsyncOAuthSettings:
    """Return bolt's OAuth settings: installs and states in digestbot's database, bot tokens only."""
    return AsyncOAuthSettings(
        client_id=oauth.client_id,
        client_secret=oauth.client_secret,
        scopes=list(oauth.scopes),
        user_scopes=[],
        redirect_uri=oauth.redirect_uri or None,
        installation_store=DigestbotInstallationStore(store, on_change=on_change),
        installation_store_bot_only=True,
        token_rotation_expiration_minutes=oauth.token_refresh_minutes,
        state_store=DigestbotStateStore(store),
        state_expiration_seconds=int(STATE_EXPIRATION.total_seconds()),
        logger=logging.getLogger("adapters.slack_app.bolt"),
    )


class WorkspaceTokens:
    """The bot token of each workspace, from the installation store, refreshed before use when it rotates."""

    def __init__(self, store: StoreProtocol, config: Config, *, client: AsyncWebClient) -> None:
        oauth = config.slack.oauth
        if oauth is None:
            raise ValueError("WorkspaceTokens needs slack.oauth")
        self._store = store
        self._config = config
        self._installs = DigestbotInstallationStore(store)
        self._minutes = oauth.token_refresh_minutes
        self._locks: dict[str, asyncio.Lock] = {}
        self._stale: set[str] = set()  # workspaces whose token Slack called expired: refresh whatever it says
        # The rotator's client is the caller's: slack.api_base_url, like every other Slack call.
        self._rotator = AsyncTokenRotator(client_id=oauth.client_id, client_secret=oauth.client_secret, client=client)

    async def token(self, workspace: str) -> str:
        """Return ``workspace``'s bot token, refreshed first if it expires within the configured minutes.

        Raises :class:`~digestbot.errors.PausedError` when the workspace has no installation (never
        installed, uninstalled, or its refresh token was refused: that pauses it).
        """
        # One refresh per workspace at a time: concurrent sends would spend the same refresh token twice.
        async with self._locks.setdefault(workspace, asyncio.Lock()):
            bot = await self._installs.async_find_bot(enterprise_id=None, team_id=workspace)
            if bot is None:
                raise PausedError(f"slack workspace {workspace or '(none)'}: the app is not installed there")
            if bot.bot_refresh_token:
                bot = await self._refreshed(workspace, bot)
            return bot.bot_token

    async def _refreshed(self, workspace: str, bot: Bot) -> Bot:
        minutes = 10**6 if workspace in self._stale else self._minutes
        try:
            refreshed = await self._rotator.perform_bot_token_rotation(bot=bot, minutes_before_expiration=minutes)
        except SlackTokenRotationError as exc:
            error = str(exc.api_error.response.get("error", ""))
            again = await self._installs.async_find_bot(enterprise_id=None, team_id=workspace)
            if again is not None and again.bot_token != bot.bot_token:
                return again  # bolt refreshed it meanwhile (an incoming request) and spent the refresh token
            if error in _GONE:
                await self.pause(workspace, reason=f"{REVOKED} (refreshing it: {error})")
                raise PausedError(f"slack workspace {workspace}: its token cannot be refreshed ({error})") from None
            raise DeliveryError(f"slack oauth.v2.access (token refresh for {workspace}): {error}") from None
        self._stale.discard(workspace)
        if refreshed is None:
            return bot
        await self._installs.async_save_bot(refreshed)
        log.info("slack workspace %s: bot token refreshed before sending", workspace)
        return refreshed

    def expired(self, workspace: str) -> None:
        """Note that Slack called ``workspace``'s token expired: the next :meth:`token` refreshes it."""
        self._stale.add(workspace)

    async def pause(self, workspace: str, *, reason: str) -> None:
        """Pause ``workspace`` (Slack refused its token while posting); see :mod:`digestbot.workspaces`."""
        await pause_workspace(self._store, self._config, workspace, reason=reason)
