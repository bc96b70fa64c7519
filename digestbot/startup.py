"""Start each chat platform on its own, so one that is down or refuses its token never stops the others.

Every adapter the engine posts through is wrapped in a :class:`PlatformGate`. Until its platform
has started, the gate answers every send with :class:`~digestbot.errors.UnavailableError` (the
engine leaves the message pending: ``post`` exits 75, ``run`` retries it); once the platform
refused our credentials, with :class:`~digestbot.errors.AuthError` (the engine stops sending
there and keeps its channels enabled: exit 1). Either way the outbox rows are planned and kept,
so nothing is lost: a later ``post``, or ``run`` once the platform joins, sends them.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import Any

from digestbot.blocks import Message
from digestbot.errors import AuthError, DeliveryError, DigestbotError, UnavailableError
from digestbot.ports import Adapter, DeletesOwnMessages, Sent, Target

log = logging.getLogger(__name__)


class PlatformGate:
    """An :class:`~digestbot.ports.Adapter` that passes sends through only once its platform started."""

    def __init__(self, adapter: Adapter) -> None:
        self.inner = adapter
        self.platform = adapter.platform
        self.problem: DigestbotError | None = UnavailableError(f"{adapter.platform}: not connected yet")
        self.refused = False

    @property
    def up(self) -> bool:
        """Tell whether the platform started and takes messages."""
        return self.problem is None

    async def start(self) -> None:
        """Start the platform once; raise what stopped it (UnavailableError: try again later)."""
        if self.up:
            return
        try:
            await self.inner.start()
        except UnavailableError as exc:
            self.problem = exc
            raise
        except DigestbotError as exc:  # a refused token, a bad setting: waiting cannot fix it
            self.refuse(exc)
            raise
        self.problem = None

    async def try_start(self) -> None:
        """Start the platform, recording instead of raising what stopped it (``post``: one try)."""
        try:
            await self.start()
        except DigestbotError as exc:
            log.info("%s did not start: %s", self.platform, exc)

    def refuse(self, exc: DigestbotError) -> None:
        """Stop the platform for good in this process: its messages stay pending for a fixed configuration."""
        self.problem, self.refused = exc, True

    def render(self, message: Message) -> list[Any]:
        """Render with the platform's renderer (pure: works whether or not the platform is up)."""
        return self.inner.render(message)

    async def send(self, target: Target, payload: Any, *, key: str, thread: str | None = None) -> Sent:
        """Send through the platform if it is up; else raise why not (the engine keeps the message pending)."""
        if self.problem is not None:
            # A fresh error per send: re-raising the stored one would grow its traceback each time.
            raise AuthError(str(self.problem)) if self.refused else UnavailableError(str(self.problem))
        return await self.inner.send(target, payload, key=key, thread=thread)

    async def find_sent(self, target: Target, key: str, *, since: datetime | None = None) -> Sent | None:
        """Look for an already-posted message; a platform that is not up cannot tell yet (transient)."""
        if self.problem is not None:
            raise DeliveryError(str(self.problem))
        return await self.inner.find_sent(target, key, since=since)

    async def forum_tags(self, target: Target) -> list[str] | None:
        """Return the forum's tag names where the platform has forums and is up; else None (no tags applied)."""
        ask = getattr(self.inner, "forum_tags", None)
        if ask is None or self.problem is not None:
            return None
        tags: list[str] | None = await ask(target)
        return tags

    async def delete(self, target: Target, sent: Sent) -> None:
        """Delete a message this bot posted, where the platform can and is up (else DeliveryError: left as it is)."""
        if self.problem is not None or not isinstance(self.inner, DeletesOwnMessages):
            raise DeliveryError(str(self.problem or f"{self.platform} cannot delete messages"))
        await self.inner.delete(target, sent)

    async def find_other(self, target: Target, key: str, *, besides: str) -> Sent | None:
        """Look for a stray copy of ``key`` (see :class:`~digestbot.ports.DeletesOwnMessages`); None where it cannot."""
        if self.problem is not None or not isinstance(self.inner, DeletesOwnMessages):
            return None
        return await self.inner.find_other(target, key, besides=besides)

    async def close(self) -> None:
        """Close the platform's connections (a no-op for one that never started)."""
        await self.inner.close()


def gated(adapters: dict[str, Adapter]) -> dict[str, PlatformGate]:
    """Wrap every adapter in its gate, in the same order."""
    return {name: PlatformGate(adapter) for name, adapter in adapters.items()}


async def start_each(gates: dict[str, PlatformGate]) -> None:
    """Start every platform at once, each on its own: one failing leaves the others up (see ``problem``)."""
    await asyncio.gather(*(gate.try_start() for gate in gates.values()))
