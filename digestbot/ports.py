"""The contract between the core and a chat platform adapter.

The delivery engine and the command handlers only ever talk to an :class:`Adapter`; Discord,
Slack and the console each implement it in ``adapters/``. Payloads are whatever the adapter's
renderer produced (a Discord message body, Slack ``chat.postMessage`` arguments, console text):
the core never looks inside them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol, runtime_checkable

from digestbot.blocks import Message


@dataclass(frozen=True, kw_only=True)
class Target:
    """Where a message goes: a channel, or a user's direct messages."""

    platform: str
    kind: Literal["channel", "user"]
    id: str
    workspace: str = ""

    def __str__(self) -> str:
        return f"{self.platform}:{self.kind}:{self.id}"


@dataclass(frozen=True, kw_only=True)
class Sent:
    """What the platform said about a posted message: its id (for threads and reconciliation)."""

    message_id: str
    channel_id: str = ""


class Adapter(Protocol):
    """A chat platform as the core sees it: render, send, check what is already there, close."""

    platform: str

    async def start(self) -> None:
        """Connect (log in, verify the token); called once before any send."""

    def render(self, message: Message) -> list[Any]:
        """Turn a neutral message into this platform's payloads, one per part, in order."""

    async def send(self, target: Target, payload: Any, *, key: str, thread: str | None = None) -> Sent:
        """Post one payload; ``key`` marks it so :meth:`find_sent` can recognise it after a crash.

        Raises :class:`~digestbot.errors.DeliveryError` (``permanent`` when retrying cannot help).
        """

    async def find_sent(self, target: Target, key: str, *, since: datetime | None = None) -> Sent | None:
        """Return the already-posted message marked ``key`` at ``target``, if the platform has it.

        ``since`` is when the message was planned (it cannot have been posted before): adapters
        whose history is paged search from there instead of only the newest messages.
        """

    async def close(self) -> None:
        """Release connections."""


@runtime_checkable
class DeletesOwnMessages(Protocol):
    """An adapter that can take back a message it posted (Slack ``chat.delete``, Discord delete message).

    Used only to remove a late second copy of a part (see :mod:`digestbot.late_copies`): a bot
    may always delete its own messages on both platforms, never anyone else's through this.
    """

    async def delete(self, target: Target, sent: Sent) -> None:
        """Delete the message ``sent`` that this bot posted at ``target``; one already gone is no error.

        Raises :class:`~digestbot.errors.DeliveryError` when the platform refuses or cannot be reached.
        """

    async def find_other(self, target: Target, key: str, *, besides: str) -> Sent | None:
        """Return a message of this bot marked ``key`` at ``target`` other than the message ``besides``, if any.

        Once the outbox records ``besides`` as the part, any other copy is a stray (a send whose
        sender lost its claim and never learnt its message id): safe to delete.
        """
