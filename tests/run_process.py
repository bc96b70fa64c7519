"""The digestbot CLI as a real subprocess, for tests that go through ``python -m digestbot``.

Tests of start-up, secrets, the ops port and several workers all start the real CLI (the behaviour
under test is the process's: its exit status, its stderr, its signal handling), and they used to
each carry a copy of the same environment, config blocks and "start ``run``, wait for a line,
SIGTERM it" loop. This module is that one copy.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path
from types import TracebackType
from typing import Any

from tests.conftest import ROOT
from tests.fakes.discord_server import FakeDiscord
from tests.fakes.slack_server import FakeSlack


def cli_env(**extra: str) -> dict[str, str]:
    """Return this process's environment for the CLI: the checkout importable, no stray config, ``extra`` set."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), **extra}
    env.pop("DIGESTBOT_CONFIG", None)
    return env


async def run_cli(*args: str, cwd: Path, env: dict[str, str] | None = None, within: float = 60) -> tuple[int, str]:
    """Run ``python -m digestbot ARGS`` to its end; return its exit status and stdout+stderr together."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "digestbot", *args, cwd=cwd, env=env or cli_env(),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(proc.communicate(), within)
    return proc.returncode or 0, out.decode()


def platform_blocks(discord: FakeDiscord | None = None, slack: FakeSlack | None = None) -> dict[str, Any]:
    """Return the ``discord``/``slack`` config blocks pointing at the fakes, tokens from the environment."""
    blocks: dict[str, Any] = {}
    if discord is not None:
        blocks["discord"] = {
            "enabled": True,
            "token": "${DISCORD_TOKEN}",
            "application_id": str(discord.application_id),
            "api_base_url": discord.base_url,
        }
    if slack is not None:
        blocks["slack"] = {
            "enabled": True,
            "bot_token": "${SLACK_BOT_TOKEN}",
            "app_token": "${SLACK_APP_TOKEN}",
            "api_base_url": slack.base_url,
        }
    return blocks


class RunningBot:
    """``digestbot --config C [flags] run`` as an async context manager that never outlives its test.

    Its output (stderr, or stdout and stderr together with ``merged``) is read line by line into
    :attr:`seen`, so a test waits for what the process says rather than sleeping; leaving the block
    kills the process if the test did not stop it.
    """

    def __init__(
        self, config: Path, *flags: str, env: dict[str, str] | None = None, merged: bool = False, command: str = "run"
    ) -> None:
        self.args = ("--config", str(config), *flags, command)
        self.cwd = config.parent
        self.env = env or cli_env()
        self.merged = merged
        self.seen: list[str] = []
        self._proc: asyncio.subprocess.Process | None = None

    async def __aenter__(self) -> RunningBot:
        err = asyncio.subprocess.STDOUT if self.merged else asyncio.subprocess.PIPE
        out = asyncio.subprocess.PIPE if self.merged else asyncio.subprocess.DEVNULL
        self._proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "digestbot", *self.args, cwd=self.cwd, env=self.env, stdout=out, stderr=err
        )
        return self

    async def __aexit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        proc = self.proc
        if proc.returncode is None:
            proc.kill()
            await proc.wait()

    @property
    def proc(self) -> asyncio.subprocess.Process:
        assert self._proc is not None, "use RunningBot in an `async with`"
        return self._proc

    @property
    def output(self) -> str:
        """Return everything read so far."""
        return "".join(self.seen)

    async def wait_for(self, *needles: str, within: float = 60) -> None:
        """Read lines until every needle has appeared (in any order); fail if the output ends first."""
        stream = self.proc.stdout if self.merged else self.proc.stderr
        assert stream is not None
        async with asyncio.timeout(within):
            while not all(needle in self.output for needle in needles):
                line = (await stream.readline()).decode()
                if not line:
                    raise AssertionError(f"no {needles!r} before the output ended:\n{self.output}")
                self.seen.append(line)

    async def stop(self, within: float = 60) -> tuple[int, float]:
        """SIGTERM it and read the rest; return its exit status and the seconds it took to stop."""
        stream = self.proc.stdout if self.merged else self.proc.stderr
        assert stream is not None
        loop = asyncio.get_running_loop()
        signalled = loop.time()
        self.proc.send_signal(signal.SIGTERM)
        async with asyncio.timeout(within):
            self.seen.extend((await stream.read()).decode().splitlines(keepends=True))
            code = await self.proc.wait()
        return code, loop.time() - signalled
