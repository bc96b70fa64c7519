"""Discord forum channels (type 15): one post per paper, found again after a crash.

A forum post is a thread created together with its starter message in one call
(``POST /channels/{forum}/threads`` with ``name``, ``message`` and up to 5 ``applied_tags``
from the forum's ``available_tags``); the starter message has the thread's id. The starter
message carries no nonce (the forum call takes none), so a post is recognised by the
``ref <nonce>`` tag in its footer (:func:`~adapters.discord_commands.marked_body`): after a
crash the forum's active threads (``GET /guilds/{guild}/threads/active``) and newest archived
ones (``GET /channels/{forum}/threads/archived/public``) are searched, newest first.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

import discord

from adapters.discord_commands import carries_marker, marked_body
from adapters.discord_render import FORUM_POST
from digestbot.errors import DeliveryError

log = logging.getLogger(__name__)

T = TypeVar("T")
Call = Callable[[str, Awaitable[Any]], Awaitable[Any]]

GUILD_FORUM = 15
MAX_TAGS = 5
ARCHIVE_MINUTES = 10080
"""Forum posts stay active for a week of quiet (one of 60, 1440, 4320, 10080)."""
POSTS_TO_SCAN = 50
"""Newest forum posts (active, then archived) whose starter messages are read when looking for a post."""


class Forums:
    """Forum facts per channel (type, tags, guild), asked once per run, and posting into forums."""

    def __init__(self, http: Callable[[], discord.http.HTTPClient], call: Call) -> None:
        self._http = http
        self._call = call
        self._channels: dict[int, Mapping[str, Any]] = {}

    async def channel(self, channel_id: int) -> Mapping[str, Any]:
        """Return the channel object (cached for the adapter's life: a channel's type does not change)."""
        if channel_id not in self._channels:
            self._channels[channel_id] = await self._call(
                f"discord:channel:{channel_id} read", self._http().get_channel(channel_id)
            )
        return self._channels[channel_id]

    async def is_forum(self, channel_id: int) -> bool:
        """Tell whether the channel is a forum (type 15)."""
        return int((await self.channel(channel_id)).get("type", -1)) == GUILD_FORUM

    async def tag_names(self, channel_id: int) -> list[str] | None:
        """Return the forum's tag names, or None when the channel is no forum."""
        data = await self.channel(channel_id)
        if int(data.get("type", -1)) != GUILD_FORUM:
            return None
        return [str(t.get("name", "")) for t in data.get("available_tags") or [] if t.get("name")]

    async def post(self, channel_id: int, payload: Mapping[str, Any], nonce: str, where: str) -> Mapping[str, Any]:
        """Start the forum post ``payload`` describes; return the thread object (its id is the starter's)."""
        data = await self.channel(channel_id)
        if int(data.get("type", -1)) != GUILD_FORUM:
            raise DeliveryError(f"{where}: the channel is not a forum (layout: forum needs one)", permanent=True)
        spec = payload[FORUM_POST]
        ids = {str(t.get("name")): str(t["id"]) for t in data.get("available_tags") or [] if t.get("id")}
        tags = [ids[name] for name in spec.get("tags", ()) if name in ids][:MAX_TAGS]
        message = marked_body({k: v for k, v in payload.items() if k != FORUM_POST}, nonce)
        message.pop("nonce", None)  # the forum call takes no nonce: the footer tag identifies the post
        message.pop("enforce_nonce", None)
        body = {"name": spec["name"], "auto_archive_duration": ARCHIVE_MINUTES, "applied_tags": tags}
        body["message"] = message
        params = discord.http.MultipartParameters(payload=body, multipart=None, files=None)
        request = self._http().start_thread_in_forum(channel_id, params=params)
        result: Mapping[str, Any] = await self._call(where, request)
        return result

    async def find(self, channel_id: int, nonce: str, me: str, where: str) -> Mapping[str, Any] | None:
        """Return the forum post whose starter message carries ``nonce``, among the newest posts; else None."""
        data = await self.channel(channel_id)
        guild = int(data.get("guild_id") or 0)
        active = await self._call(f"{where} active threads", self._http().get_active_threads(guild))
        archived = await self._call(
            f"{where} archived threads", self._http().get_public_archived_threads(channel_id, limit=POSTS_TO_SCAN)
        )
        threads = [t for t in active.get("threads") or [] if str(t.get("parent_id")) == str(channel_id)]
        threads.sort(key=lambda t: int(t["id"]), reverse=True)
        threads += list(archived.get("threads") or [])
        for thread in threads[:POSTS_TO_SCAN]:
            if me and str(thread.get("owner_id", me)) != me:
                continue
            tid = int(thread["id"])
            try:
                starter = await self._call(f"{where} starter", self._http().get_message(tid, tid))
            except DeliveryError as exc:
                if exc.permanent:  # the starter message was deleted: not ours to find
                    continue
                raise
            if carries_marker(starter, nonce):
                return dict(thread)
        return None
