"""Start docker-compose.yml's PostgreSQL + bot-a + bot-b for real and prove they are a working pair.

Run from the repository root with the project's venv (it uses ``tests/fakes``)::

    .venv/bin/python docker/offline/try_pair.py            # exit 0: the pair works; 1: a check failed

What it does, against a Discord and a Hugging Face that are the test suite's fakes, served on the
Docker host's bridge address (docker/compose.fakes.yml points the bots there as host.docker.internal):

1. builds the images (on the local bases of docker/compose.offline.yml when ``make-bases.sh`` made
   them, else on the official images from the registry) and starts PostgreSQL;
2. turns two Discord channels on in the shared database, as ``/digest time HH:MM`` would, due one
   after the other a few minutes ahead (``digestbot.channels.save_settings``, run inside a bot container);
3. starts bot-a and bot-b (Discord shards 0 and 1 of 2) and waits until Docker calls both healthy;
4. checks the first channel's digest arrives exactly once (every message once, no nonce twice);
5. ``docker kill``s bot-a and checks bot-b alone posts the second channel's digest, exactly once.

The compose project (``digestbot-try``) and its volume are removed at the end (``--keep`` leaves
them running). Times and results are printed as ``try: …`` lines.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from aiohttp import web  # noqa: E402

from tests.fakes.discord_gateway import GATEWAY_PATH  # noqa: E402
from tests.fakes.discord_server import FakeDiscord  # noqa: E402

PROJECT = "digestbot-try"
TOKEN = "fake-bot-token"
LOCAL_BASES = ("local/python:3.11-bookworm", "local/postgres:15-bookworm")
HF_FIXTURE = ROOT / "tests" / "fixtures" / "hf" / "daily_papers_2024-10-11.json"
HEALTH_PORTS = {"bot-a": 9091, "bot-b": 9092}  # docker-compose.yml publishes /healthz there


class Failed(Exception):
    """A check of the pair failed: the message says which."""


def say(text: str) -> None:
    """Print one progress line (flushed: the test shows it when the run fails)."""
    print(f"try: {text}", flush=True)


class HostedDiscord(FakeDiscord):
    """The fake Discord, telling clients a gateway URL the containers can reach (not its loopback one)."""

    public_url = ""  # http://host.docker.internal:PORT, set before start()

    @property
    def gateway_url(self) -> str:
        """The gateway websocket as seen from a container."""
        return self.public_url.replace("http://", "ws://", 1) + GATEWAY_PATH


async def forward(host: str, target_port: int) -> asyncio.Server:
    """Relay TCP connections made to ``host`` (a free port) to 127.0.0.1:``target_port``, where the fake listens."""

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        finally:
            writer.close()

    async def relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            target_reader, target_writer = await asyncio.open_connection("127.0.0.1", target_port)
        except OSError:
            writer.close()
            return
        await asyncio.gather(pipe(reader, target_writer), pipe(target_reader, writer), return_exceptions=True)

    return await asyncio.start_server(relay, host, 0)


@contextlib.asynccontextmanager
async def hugging_face(host: str) -> AsyncIterator[int]:
    """Serve ``/api/daily_papers``: the fixture's seven papers, put on whichever day is asked (today by default)."""
    template = HF_FIXTURE.read_text(encoding="utf-8")

    async def daily_papers(request: web.Request) -> web.Response:
        if request.query.get("p", "0") != "0" or "week" in request.query or "month" in request.query:
            return web.json_response([])
        day = request.query.get("date") or datetime.now(UTC).date().isoformat()
        return web.Response(text=template.replace("2024-10-11", day), content_type="application/json")

    app = web.Application()
    app.router.add_get("/api/daily_papers", daily_papers)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, 0)
    await site.start()
    try:
        yield runner.addresses[0][1]
    finally:
        await runner.cleanup()


async def run(cmd: Sequence[str], *, env: dict[str, str], check: bool = True, quiet: bool = False) -> str:
    """Run a command without blocking the fakes' event loop; return its output (stdout and stderr)."""
    proc = await asyncio.create_subprocess_exec(
        *cmd, cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    out, _ = await proc.communicate()
    text = out.decode(errors="replace")
    if check and proc.returncode != 0:
        raise Failed(f"{' '.join(cmd)}: exit {proc.returncode}\n{text[-4000:]}")
    if not quiet and text.strip():
        print(text.rstrip(), flush=True)
    return text


def bridge_gateway() -> str:
    """Return the Docker host's address on the default bridge: what host-gateway resolves to in a container.

    The daemon's bridge network names it as its IPAM gateway when one was configured; otherwise it is
    the address of the bridge interface (docker0).
    """
    fmt = '{{range .IPAM.Config}}{{.Gateway}} {{end}}|{{index .Options "com.docker.network.bridge.name"}}'
    out = subprocess.run(["docker", "network", "inspect", "bridge", "--format", fmt], capture_output=True, text=True)
    gateways, _, interface = out.stdout.strip().partition("|")
    if gateways.split():
        return gateways.split()[0]
    show = ["ip", "-4", "-o", "addr", "show", "dev", interface or "docker0"]
    addr = subprocess.run(show, capture_output=True, text=True)
    if found := re.search(r"inet (\d+\.\d+\.\d+\.\d+)/", addr.stdout):
        return found[1]
    raise Failed(f"cannot tell the Docker host's bridge address ({out.stdout.strip()!r}, {addr.stdout.strip()!r})")


def have_image(tag: str, *, pull: bool = False) -> bool:
    """Tell whether the daemon has an image (pulling it first when asked and missing)."""
    if subprocess.run(["docker", "image", "inspect", tag], capture_output=True).returncode == 0:
        return True
    return pull and subprocess.run(["docker", "pull", "-q", tag], capture_output=True).returncode == 0


def official_bases() -> list[str]:
    """Return the images the compose file builds on without the offline override (Dockerfile, postgres)."""
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    compose = (ROOT / "docker-compose.yml").read_text(encoding="utf-8")
    python = re.search(r"^ARG PYTHON_IMAGE=(\S+)", dockerfile, re.MULTILINE)
    postgres = re.search(r"^\s+image: (postgres:\S+)", compose, re.MULTILINE)
    return [m[1] for m in (python, postgres) if m]


SEED = """
import asyncio, sys
from digestbot.channels import save_settings
from digestbot.store import open_store

async def main(url, guild, channels):
    store = await open_store(url)
    try:
        for item in channels:
            cid, at = item.split("@")
            await save_settings(store, platform="discord", channel_id=cid, workspace=guild,
                                settings={"time": at, "timezone": "UTC"})
            print("channel", cid, "on at", at, "UTC")
    finally:
        await store.close()

asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3:]))
"""


class Pair:
    """The compose project and the fakes it talks to."""

    def __init__(self, discord: HostedDiscord, env: dict[str, str], files: list[str]) -> None:
        self.discord = discord
        self.env = env
        self.compose = ["docker-compose", "-p", PROJECT, *(a for f in files for a in ("-f", f))]

    async def dc(self, *args: str, check: bool = True, quiet: bool = False) -> str:
        """Run one docker-compose command on the project."""
        return await run([*self.compose, *args], env=self.env, check=check, quiet=quiet)

    async def container(self, service: str) -> str:
        """Return a service's container id."""
        cid = (await self.dc("ps", "-q", service, quiet=True)).strip()
        if not cid:
            raise Failed(f"{service}: no container")
        return cid

    async def health(self, service: str) -> str:
        """Return Docker's health status of a service's container (starting, healthy, unhealthy)."""
        cid = await self.container(service)
        out = await run(["docker", "inspect", "--format", "{{.State.Health.Status}}", cid], env=self.env, quiet=True)
        return out.strip()

    async def wait_healthy(self, services: Sequence[str], limit: float) -> float:
        """Wait until Docker calls every service healthy (at most ``limit`` seconds); return the seconds it took."""
        start = time.monotonic()
        while True:
            states = {s: await self.health(s) for s in services}
            if all(v == "healthy" for v in states.values()):
                return time.monotonic() - start
            if time.monotonic() - start > limit:
                raise Failed(f"not healthy after {limit:.0f} s: {states}")
            await asyncio.sleep(2)

    async def wait_messages(self, channel: int, until: datetime, *, settle: float = 8.0) -> list[dict[str, Any]]:
        """Wait for a channel's digest: messages arrived, then none new for ``settle`` seconds."""
        last, quiet_since = -1, time.monotonic()
        while True:
            messages = self.discord.messages(channel)
            if len(messages) != last:
                last, quiet_since = len(messages), time.monotonic()
            elif messages and time.monotonic() - quiet_since >= settle:
                return messages
            if datetime.now(UTC) > until:
                raise Failed(f"channel {channel}: {len(messages)} messages by {until:%H:%M:%S} UTC")
            await asyncio.sleep(1)


def exactly_once(channel: int, messages: list[dict[str, Any]]) -> str:
    """Check no message of a digest was sent twice (by nonce and by content); describe what came."""
    nonces = Counter(m.get("nonce") for m in messages)
    twice = {n: c for n, c in nonces.items() if c > 1}
    if twice or None in nonces:
        raise Failed(f"channel {channel}: nonces sent more than once or missing: {twice or nonces}")
    bodies = Counter(json.dumps([m.get("content"), m.get("embeds")], sort_keys=True) for m in messages)
    if max(bodies.values()) > 1:
        raise Failed(f"channel {channel}: the same message twice")
    titles = sum(len(m.get("embeds") or []) for m in messages)
    return f"{len(messages)} messages, {titles} embeds, every nonce once"


def healthz(port: int) -> dict[str, Any]:
    """GET /healthz on a bot's published ops port from the host."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10) as reply:
        data: dict[str, Any] = json.loads(reply.read())
        return data


def due_at(moment: datetime) -> datetime:
    """Return the first whole minute at or after ``moment`` (a channel's time is HH:MM)."""
    return (moment + timedelta(seconds=59)).replace(second=0, microsecond=0)


async def try_pair(keep: bool, lead: float, gap: float) -> None:
    """Run the whole try-out (see the module docstring); raise Failed naming the check that failed."""
    host = bridge_gateway()
    files = ["docker-compose.yml"]
    if all(have_image(tag) for tag in LOCAL_BASES):
        files.append("docker/compose.offline.yml")
    files.append("docker/compose.fakes.yml")
    discord = HostedDiscord(token=TOKEN)
    async with hugging_face(host) as hf_port:
        await discord.start()
        relay = await forward(host, int(discord.base_url.split(":")[2].split("/")[0]))
        try:
            relay_port = relay.sockets[0].getsockname()[1]
            discord.public_url = f"http://host.docker.internal:{relay_port}"
            discord.gateway.url = discord.gateway_url  # READY's resume_gateway_url
            env = {
                **os.environ,
                "POSTGRES_PASSWORD": secrets.token_hex(12),
                "DISCORD_TOKEN": TOKEN,
                "DISCORD_APPLICATION_ID": str(discord.application_id),
                "DISCORD_API_BASE_URL": f"{discord.public_url}/api/v10",
                "HF_BASE_URL": f"http://host.docker.internal:{hf_port}",
            }
            pair = Pair(discord, env, files)
            say(f"compose files: {' '.join(files)}; fakes on {host} (Discord {relay_port}, Hugging Face {hf_port})")
            await pair.dc("down", "-v", "--remove-orphans", quiet=True)
            try:
                await exercise(pair, lead=lead, gap=gap)
            except Failed:
                logs = await pair.dc("logs", "--no-color", "--tail", "60", check=False, quiet=True)
                print(logs, flush=True)
                raise
            finally:
                if keep:
                    say(f"left running: docker-compose -p {PROJECT} {' '.join('-f ' + f for f in files)} ps")
                else:
                    await pair.dc("down", "-v", "--remove-orphans", check=False, quiet=True)
        finally:
            relay.close()
            await discord.close()


async def exercise(pair: Pair, *, lead: float, gap: float) -> None:
    """Build, start, seed, and check the pair (the numbered steps of the module docstring)."""
    started = time.monotonic()
    await pair.dc("build", quiet=True)
    say(f"images built in {time.monotonic() - started:.0f} s")
    await pair.dc("up", "-d", "postgres", quiet=True)
    say(f"postgres healthy after {await pair.wait_healthy(['postgres'], 120):.0f} s")

    first, second = pair.discord.add_channel(name="papers-a"), pair.discord.add_channel(name="papers-b")
    slot1 = due_at(datetime.now(UTC) + timedelta(seconds=lead))
    slot2 = due_at(slot1 + timedelta(seconds=gap))
    t1, t2 = f"{slot1:%H:%M}", f"{slot2:%H:%M}"
    url = f"postgresql://digestbot:{pair.env['POSTGRES_PASSWORD']}@postgres:5432/digestbot"
    await pair.dc(
        "run",
        "--rm",
        "--no-deps",
        "--entrypoint",
        "python",
        "bot-a",
        "-c",
        SEED,
        url,
        str(pair.discord.guild_id),
        f"{first}@{t1}",
        f"{second}@{t2}",
    )

    started = time.monotonic()
    await pair.dc("up", "-d", "bot-a", "bot-b", quiet=True)
    say(f"bot-a and bot-b healthy after {await pair.wait_healthy(['bot-a', 'bot-b'], 180):.0f} s")
    for service, port in HEALTH_PORTS.items():
        say(f"{service} /healthz from the host: {json.dumps(healthz(port), sort_keys=True)}")
    shards = sorted(tuple(s.identify.get("shard") or ()) for s in pair.discord.gateway.sessions if s.identify)
    if shards != [(0, 2), (1, 2)]:
        raise Failed(f"gateway shards identified: {shards}, expected (0, 2) and (1, 2)")
    say(f"gateway: shards {shards} identified, one per bot")

    messages = await pair.wait_messages(first, until=slot1 + timedelta(seconds=150))
    say(f"channel {first} (due {t1} UTC): {exactly_once(first, messages)}")
    first_count = len(messages)
    await say_posts(pair, "bot-a")

    killed = await pair.container("bot-a")
    await run(["docker", "kill", killed], env=pair.env, quiet=True)
    state = await run(["docker", "inspect", "--format", "{{.State.Status}}", killed], env=pair.env, quiet=True)
    say(f"docker kill bot-a: {state.strip()}")
    if datetime.now(UTC) >= slot2:
        raise Failed(f"bot-a was killed only after the second channel fell due ({t2} UTC): raise --gap")

    messages = await pair.wait_messages(second, until=slot2 + timedelta(seconds=150))
    say(f"channel {second} (due {t2} UTC, bot-a dead): {exactly_once(second, messages)}")
    running = await run(["docker", "inspect", "--format", "{{.State.Running}}", killed], env=pair.env, quiet=True)
    if running.strip() != "false":
        raise Failed(f"bot-a came back (running={running.strip()}) before the second post: not a failover test")
    if (count := len(pair.discord.messages(first))) != first_count:
        raise Failed(f"channel {first}: {count} messages after the failover, {first_count} before")
    say(f"channel {first} still has {count} messages after the failover (nothing re-sent)")
    await say_posts(pair, "bot-b")


async def say_posts(pair: Pair, service: str) -> None:
    """Print a bot's log lines about posts (which process sent, which found it already sent)."""
    logs = await pair.dc("logs", "--no-color", service, quiet=True)
    for line in logs.splitlines():
        if "post due" in line:
            say(f"{service} log: {line.split('|', 1)[-1].strip()}")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the try-out; exit 0 when the pair works, 1 when not, 75 without Docker or base images."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--keep", action="store_true", help="leave the project running at the end")
    parser.add_argument("--lead", type=float, default=60, help="seconds from seeding to the first due post")
    parser.add_argument("--gap", type=float, default=60, help="seconds between the two channels' posts")
    args = parser.parse_args(argv)
    if shutil.which("docker-compose") is None or subprocess.run(["docker", "info"], capture_output=True).returncode:
        print("try: no Docker daemon or docker-compose here", file=sys.stderr)
        return 75
    if not all(have_image(tag) for tag in LOCAL_BASES) and not all(
        have_image(tag, pull=True) for tag in official_bases()
    ):
        print(
            f"try: no base images: neither {' and '.join(LOCAL_BASES)} (docker/offline/make-bases.sh)"
            f" nor {' and '.join(official_bases())} (a registry)",
            file=sys.stderr,
        )
        return 75
    started = time.monotonic()
    try:
        asyncio.run(try_pair(args.keep, args.lead, args.gap))
    except Failed as failed:
        print(f"try: FAILED: {failed}", file=sys.stderr, flush=True)
        return 1
    say(f"the pair works ({time.monotonic() - started:.0f} s in all)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
