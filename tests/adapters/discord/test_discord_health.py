"""/healthz sees Discord's gateway: REST alone (posting) is not "connected" while slash commands cannot arrive."""

from __future__ import annotations

import asyncio
import json

import aiohttp

from adapters.discord_bot import serve
from adapters.discord_poster import DiscordAdapter
from digestbot.metrics import Metrics
from digestbot.ops_server import OpsServer
from digestbot.startup import gated
from digestbot.store import Store
from tests.adapters.discord.conftest import make_config
from tests.fakes.discord_server import FakeDiscord


async def _health(port: int) -> tuple[int, dict[str, object]]:
    async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}/healthz") as response:
        return response.status, await response.json()


async def test_healthz_follows_the_discord_gateway(fake: FakeDiscord, seeded_store: Store) -> None:
    config = make_config(fake)
    gates = gated({"discord": DiscordAdapter(config)})
    await gates["discord"].start()  # REST login: posting works, the gateway is not up yet
    ops = OpsServer(store=seeded_store, platforms=gates, metrics=Metrics(platforms=gates), port=0)
    await ops.start()
    ops.scheduler = asyncio.create_task(asyncio.Event().wait(), name="scheduler")
    stop = asyncio.Event()
    try:
        status, body = await _health(ops.port)
        assert status == 503
        assert body["platforms"] == {"discord": {"ok": False, "problem": "not connected: gateway not connected"}}

        task = asyncio.create_task(serve(config, seeded_store, gates["discord"].inner, stop=stop))
        async with asyncio.timeout(10):
            await fake.gateway.wait_ready()
            while (await _health(ops.port))[0] != 200:  # noqa: ASYNC110 — READY is being handled
                await asyncio.sleep(0.02)
        stop.set()
        await asyncio.wait_for(task, 10)
        status, body = await _health(ops.port)
        assert status == 503 and json.dumps(body).count("gateway not connected") == 1
    finally:
        stop.set()
        ops.scheduler.cancel()
        await asyncio.gather(ops.scheduler, return_exceptions=True)
        await ops.close()
        await gates["discord"].close()
