"""Run ``digestbot`` with a console adapter that SIGKILLs its own process around its Nth send.

``CRASH_AFTER_SENDS=N`` picks the send; ``CRASH_WHEN=before`` dies after the claim but before the
transcript line is written, ``after`` dies once the line is on disk but before the outbox marks
it sent: the two windows exactly-once delivery has to survive.

For several processes racing on one database: ``START_AT`` (epoch seconds) holds ``main`` until
then, so processes started one after another post at the same time, and ``SEND_DELAY`` (seconds)
slows each platform send down, as a slow network would, so their sends interleave.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time

from adapters.console import ConsoleAdapter
from digestbot.cli import main

_send = ConsoleAdapter.send
_count = 0


async def _crashing_send(self, target, payload, *, key, thread=None):  # type: ignore[no-untyped-def]
    global _count
    _count += 1
    die = _count == int(os.environ.get("CRASH_AFTER_SENDS", "0"))
    if die and os.environ.get("CRASH_WHEN") == "before":
        os.kill(os.getpid(), signal.SIGKILL)
    sent = await _send(self, target, payload, key=key, thread=thread)
    if die:
        os.kill(os.getpid(), signal.SIGKILL)
    return sent


ConsoleAdapter.send = _crashing_send  # type: ignore[method-assign]


def _crashing(original):  # type: ignore[no-untyped-def]
    """Wrap a platform adapter's send like the console's (``CRASH_PLATFORM=discord|slack``)."""

    async def send(self, target, payload, *, key, thread=None):  # type: ignore[no-untyped-def]
        global _count
        await asyncio.sleep(float(os.environ.get("SEND_DELAY", "0")))
        _count += 1
        die = _count == int(os.environ.get("CRASH_AFTER_SENDS", "0"))
        if die and os.environ.get("CRASH_WHEN") == "before":
            os.kill(os.getpid(), signal.SIGKILL)
        sent = await original(self, target, payload, key=key, thread=thread)
        if die:
            os.kill(os.getpid(), signal.SIGKILL)
        return sent

    return send


_platforms = os.environ.get("CRASH_PLATFORM", "").split(",")  # one, or both: "discord,slack"
if "discord" in _platforms:
    from adapters.discord_poster import DiscordAdapter

    DiscordAdapter.send = _crashing(DiscordAdapter.send)  # type: ignore[method-assign]
if "slack" in _platforms:
    from adapters.slack_poster import SlackAdapter

    SlackAdapter.send = _crashing(SlackAdapter.send)  # type: ignore[method-assign]

if __name__ == "__main__":
    time.sleep(max(0.0, float(os.environ.get("START_AT", "0")) - time.time()))
    sys.exit(main(sys.argv[1:]))
