"""The console adapter: the embedded default platform, for ``digestbot demo`` and end-to-end tests.

It prints messages to a stream and, when given a transcript file, appends each post as one JSON
line there (fsynced), so that :meth:`ConsoleAdapter.find_sent` can tell after a crash what was
already "posted" — the same reconciliation question the Discord and Slack adapters answer from
channel history.
"""

from __future__ import annotations

import json
import os
import sys
from datetime import datetime
from pathlib import Path
from typing import TextIO

from adapters.console_render import render_console
from digestbot.blocks import Message
from digestbot.errors import StoppedError
from digestbot.ports import Sent, Target


class ConsoleAdapter:
    """Post to a terminal (and optionally a JSONL transcript)."""

    platform = "console"

    def __init__(self, *, stream: TextIO | None = None, colour: bool | None = None, transcript: Path | None = None):
        self._stream = stream or sys.stdout
        self._colour = self._stream.isatty() if colour is None else colour
        self._transcript = transcript
        self._count = 0

    async def start(self) -> None:
        """Nothing to connect to."""

    def render(self, message: Message) -> list[str]:
        """Render as one terminal text (terminals have no size limit)."""
        return [render_console(message, colour=self._colour)]

    async def send(self, target: Target, payload: str, *, key: str, thread: str | None = None) -> Sent:
        """Append ``payload`` to the transcript, then print it.

        Recorded first: a transcript that cannot be written (permissions, disk full) must not
        leave a message shown but unrecorded, which every retry and the next run would show again.
        """
        self._count += 1
        message_id = f"console-{os.getpid()}-{self._count}"
        self._record({"id": message_id, "target": str(target), "key": key, "thread": thread, "text": payload})
        # Label every message with where it went, as a chat client would: several channels'
        # digests and DMs otherwise run together in one terminal.
        if target.kind == "user":
            self._stream.write(f"── direct message to {target.id} ──\n")
        elif thread is None:
            self._stream.write(f"── #{target.id} ──\n")
        self._stream.write(payload)
        self._stream.flush()
        return Sent(message_id=message_id, channel_id=target.id)

    def _record(self, record: dict[str, str | None]) -> None:
        """Append one JSON line to the transcript (fsynced), if there is one.

        A write that fails is a setting only the operator can fix (a StoppedError, not a refused
        token): the platform stops for the run with one line naming the file, its messages stay
        pending (exit 1).
        """
        if self._transcript is None:
            return
        try:
            with self._transcript.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(record, ensure_ascii=False) + "\n")
                fh.flush()
                os.fsync(fh.fileno())
        except OSError as exc:
            raise StoppedError(
                f"console transcript {self._transcript}: cannot write it ({exc.strerror or type(exc).__name__})"
            ) from None

    async def find_sent(self, target: Target, key: str, *, since: datetime | None = None) -> Sent | None:
        """Return the transcript entry for ``key`` at ``target``, if any (it reads it all: ``since`` is unused)."""
        if self._transcript is None or not self._transcript.exists():
            return None
        found = await self._entries(target, key)
        return Sent(message_id=found[0], channel_id=target.id) if found else None

    async def _entries(self, target: Target, key: str) -> list[str]:
        """Return the ids of the transcript's messages for ``key`` at ``target`` not deleted since, oldest first."""
        if self._transcript is None or not self._transcript.exists():
            return []
        found: list[str] = []
        for line in self._transcript.read_text(encoding="utf-8").splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line torn by a crash mid-write was not a completed post
            if record.get("target") != str(target):
                continue
            if record.get("key") == key:
                found.append(record["id"])
            elif record.get("deleted") in found:
                found.remove(record["deleted"])
        return found

    async def delete(self, target: Target, sent: Sent) -> None:
        """Take back a message: say so on the terminal and mark it deleted in the transcript."""
        self._record({"deleted": sent.message_id, "target": str(target)})
        self._stream.write(f"── message {sent.message_id} to {target} deleted ──\n")
        self._stream.flush()

    async def find_other(self, target: Target, key: str, *, besides: str) -> Sent | None:
        """Return a transcript entry for ``key`` at ``target`` other than ``besides``, not deleted, if any."""
        found = [s for s in await self._entries(target, key) if s != besides]
        return Sent(message_id=found[0], channel_id=target.id) if found else None

    async def close(self) -> None:
        """Flush the stream."""
        self._stream.flush()
