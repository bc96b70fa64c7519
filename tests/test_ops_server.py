"""The ops port: /healthz and /metrics over real HTTP on 127.0.0.1, in process and under ``digestbot run``."""

from __future__ import annotations

import asyncio
import io
import json
import socket
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from adapters.console import ConsoleAdapter
from digestbot import metrics
from digestbot.config import ChannelConfig, Config
from digestbot.delivery import DeliveryEngine
from digestbot.dispatch import CommandRequest, dispatch
from digestbot.errors import DeliveryError
from digestbot.metrics import Metrics
from digestbot.ops_server import OpsServer, start_ops
from digestbot.startup import gated, start_each
from digestbot.store import Store
from tests.conftest import SEED
from tests.delivery_fakes import FakeAdapter
from tests.run_process import RunningBot, run_cli

DAY = date(2024, 10, 11)


async def _get(port: int, path: str) -> tuple[int, str, str]:
    async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}{path}") as response:
        return response.status, response.headers.get("Content-Type", ""), await response.text()


def _sample(text: str, name: str, **labels: str) -> float:
    """Return one sample's value from a Prometheus text page (0 when the series is absent)."""
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    return 0.0


async def no_sleep(seconds: float) -> None:
    del seconds


class _Running:
    """An engine + ops server on a real console adapter, as ``run`` wires them (minus the platforms' servers)."""

    def __init__(self, store: Store, config: Config, adapters: dict[str, Any]) -> None:
        self.gates = gated(adapters)
        self.engine = DeliveryEngine(store, self.gates, config, sleep=no_sleep)
        self.ops = OpsServer(store=store, platforms=self.gates, metrics=Metrics(platforms=self.gates), port=0)
        self.scheduler = asyncio.create_task(asyncio.Event().wait(), name="scheduler")

    async def __aenter__(self) -> _Running:
        await start_each(self.gates)
        await self.ops.start()
        self.ops.scheduler = self.scheduler
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.scheduler.cancel()
        await asyncio.gather(self.scheduler, return_exceptions=True)
        await self.ops.close()
        await self.engine.close()


@pytest.fixture
async def console_run(seeded_store: Store) -> AsyncIterator[_Running]:
    config = Config(channels=(ChannelConfig(platform="console", id="general"),))
    adapter = ConsoleAdapter(stream=io.StringIO(), colour=False)
    async with _Running(seeded_store, config, {"console": adapter}) as running:
        yield running


async def test_metrics_count_the_posts_and_dms_of_a_post(console_run: _Running, seeded_store: Store) -> None:
    await seeded_store.add_subscription(platform="console", workspace="", user="ada", topic="diffusion", max_topics=5)
    status, content_type, before = await _get(console_run.ops.port, "/metrics")
    assert status == 200 and content_type.startswith("text/plain; version=0.0.4")
    assert _sample(before, "digestbot_posts_total", platform="console") == 0  # the series exists from the start

    summary = await console_run.engine.post_digest(DAY)

    _, _, after = await _get(console_run.ops.port, "/metrics")
    assert summary.posted >= 2
    posts = _sample(after, "digestbot_posts_total", platform="console")
    dms = _sample(after, "digestbot_dms_total", platform="console")
    assert (posts, dms) == (summary.posted - 1, 1)
    assert _sample(after, "digestbot_outbox_backlog") == 0


async def test_metrics_count_429s_failures_and_the_backlog(seeded_store: Store) -> None:
    fake = FakeAdapter("discord")
    fake.failures["C1"] = [DeliveryError("429", retry_after=0.0), DeliveryError("429", retry_after=0.0)]
    fake.failures["C2"] = [DeliveryError("unknown channel", permanent=True)]
    fake.failures["C3"] = [DeliveryError("timeout")] * 10  # transient past max_attempts: left pending
    channels = tuple(ChannelConfig(platform="discord", id=c) for c in ("C1", "C2", "C3"))
    config = Config(channels=channels)
    async with _Running(seeded_store, config, {"discord": fake}) as running:
        await running.engine.post_digest(DAY)
        _, _, page = await _get(running.ops.port, "/metrics")
    assert _sample(page, "digestbot_rate_limited_total", platform="discord") == 2
    assert _sample(page, "digestbot_posts_total", platform="discord") == 1  # C1, after its two 429s
    failures = {
        reason: _sample(page, "digestbot_delivery_failures_total", platform="discord", reason=reason)
        for reason in ("permanent", "deferred", "refused")
    }
    assert failures == {"permanent": 1, "deferred": 1, "refused": 0}
    assert _sample(page, "digestbot_outbox_backlog") == 1  # C3's digest waits
    assert _sample(page, "digestbot_outbox_oldest_age_seconds") >= 0


async def test_a_paper_lookup_is_timed(console_run: _Running, seeded_store: Store) -> None:
    request = CommandRequest(
        platform="console", workspace="", user="u", channel="c", command="paper", text="2410.07985"
    )
    await dispatch(request, store=seeded_store, config=Config())
    _, _, page = await _get(console_run.ops.port, "/metrics")
    assert _sample(page, "digestbot_lookup_seconds_count") == 1


async def test_healthz_is_200_when_all_is_well_and_503_when_the_database_is_gone(
    console_run: _Running, seeded_store: Store
) -> None:
    status, content_type, body = await _get(console_run.ops.port, "/healthz")
    assert (status, content_type) == (200, "application/json; charset=utf-8")
    assert json.loads(body) == {
        "status": "ok",
        "database": {"ok": True},
        "platforms": {"console": {"ok": True}},
        "scheduler": {"ok": True},
    }
    seeded_store.path.unlink()  # its volume went away: the open connection alone would not notice
    status, _, body = await _get(console_run.ops.port, "/healthz")
    assert status == 503
    answer = json.loads(body)
    assert answer["status"] == "unhealthy" and answer["database"] == {
        "ok": False,
        "problem": f"{seeded_store.path}: the database file is gone",
    }


async def test_healthz_is_503_when_the_scheduler_stopped(console_run: _Running) -> None:
    console_run.scheduler.cancel()
    await asyncio.gather(console_run.scheduler, return_exceptions=True)
    status, _, body = await _get(console_run.ops.port, "/healthz")
    assert status == 503 and json.loads(body)["scheduler"] == {"ok": False, "problem": "the scheduler task has stopped"}


async def test_healthz_names_a_platform_not_connected(seeded_store: Store) -> None:
    class Down(FakeAdapter):
        async def start(self) -> None:
            from digestbot.errors import UnavailableError

            raise UnavailableError("slack: cannot reach http://127.0.0.1:9/api/")

    async with _Running(seeded_store, Config(), {"slack": Down("slack")}) as running:
        status, _, body = await _get(running.ops.port, "/healthz")
    assert status == 503
    assert json.loads(body)["platforms"] == {
        "slack": {"ok": False, "problem": "not connected: slack: cannot reach http://127.0.0.1:9/api/"}
    }


async def test_metrics_are_counted_only_while_an_ops_server_runs(seeded_store: Store) -> None:
    """One-shot commands and tests share no counters: the module functions are no-ops by default."""
    assert metrics._active is None
    metrics.rate_limited("discord")  # nothing installed: nothing happens, nothing raises
    with metrics.installed(Metrics()) as m:
        metrics.rate_limited("discord")
    assert metrics._active is None
    assert _sample(m.exposition().decode(), "digestbot_rate_limited_total", platform="discord") == 1


async def test_the_ops_port_is_off_unless_asked_for(seeded_store: Store) -> None:
    assert await start_ops(Config(), seeded_store, {}) is None


async def test_a_taken_ops_port_is_one_config_error(seeded_store: Store) -> None:
    from digestbot.errors import ConfigError

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ConfigError, match=rf"^ops\.port: cannot listen on 127\.0\.0\.1:{port}: "):
            await start_ops(Config(), seeded_store, {}, port=port)
    assert metrics._active is None


# -- under `digestbot run` ---------------------------------------------------------------------------


def _console_config(tmp_path: Path, **extra: Any) -> Path:
    data = {
        "database": str(tmp_path / "db.sqlite3"),
        "sources": {"huggingface": {"enabled": False}},
        "channels": [{"platform": "console", "id": "general"}],
        **extra,
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


async def test_run_serves_healthz_and_metrics_until_the_database_is_gone(tmp_path: Path) -> None:
    config = _console_config(tmp_path, ops={"port": 0})
    code, out = await run_cli("--config", str(config), "ingest", str(SEED), cwd=tmp_path)
    assert code == 0, out
    async with RunningBot(config, "-v") as bot:
        await bot.wait_for("console: connected")  # the ops port opens before it
        port = int(bot.output.split("ops: serving /healthz and /metrics on http://127.0.0.1:", 1)[1].split()[0])
        assert (await _get(port, "/healthz"))[0] == 200
        status, content_type, page = await _get(port, "/metrics")
        assert status == 200 and "text/plain" in content_type
        assert _sample(page, "digestbot_posts_total", platform="console") == 0
        assert "# TYPE digestbot_lookup_seconds histogram" in page
        (tmp_path / "db.sqlite3").unlink()
        status, _, body = await _get(port, "/healthz")
        assert status == 503 and json.loads(body)["database"]["ok"] is False
        code, _ = await bot.stop()
    assert code == 0, bot.output
    assert "Traceback" not in bot.output


async def test_run_with_a_bad_ops_port_is_one_usage_line(tmp_path: Path) -> None:
    config = _console_config(tmp_path)
    code, out = await run_cli("--config", str(config), "run", "--ops-port", "70000", cwd=tmp_path)
    assert code == 2
    assert out.count("\n") == 1 and "--ops-port: expected a port number from 0 to 65535, got '70000'" in out


async def test_a_closed_database_is_unhealthy_and_metrics_still_answer(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "db.sqlite3")
    ops = OpsServer(store=store, platforms={}, metrics=Metrics(), port=0)
    await ops.start()
    try:
        await store.close()  # the connection is gone (the file is still there)
        status, _, body = await _get(ops.port, "/healthz")
        assert status == 503 and json.loads(body)["database"]["problem"].startswith(
            f"{store.path}: the database does not answer: "
        )
        status, _, page = await _get(ops.port, "/metrics")
        assert status == 200 and _sample(page, "digestbot_outbox_backlog") == 0
    finally:
        await ops.close()


async def test_delivery_counters_look_their_labels_up_once_and_count_each_message() -> None:
    """A fan-out counts thousands of messages: each (platform, target, outcome) child is found once, per Metrics."""
    first, second = Metrics(), Metrics()
    with metrics.installed(first):
        for _ in range(3):
            metrics.delivered(platform="discord", target="user", outcome="sent")
        metrics.delivered(platform="discord", target="channel", outcome="deferred")
        metrics.delivered(platform="discord", target="channel", outcome="busy")  # not an event of this process
        metrics.rate_limited("discord")
        metrics.rate_limited("discord")
    with metrics.installed(second):
        metrics.delivered(platform="discord", target="user", outcome="sent")
    page = first.exposition().decode()
    assert _sample(page, "digestbot_dms_total", platform="discord") == 3
    assert (
        _sample(page, "digestbot_delivery_failures_total", platform="discord", target="channel", reason="deferred") == 1
    )
    assert _sample(page, "digestbot_rate_limited_total", platform="discord") == 2
    assert first.delivery_counter("discord", "user", "sent") is first.delivery_counter("discord", "user", "sent")
    assert _sample(second.exposition().decode(), "digestbot_dms_total", platform="discord") == 1
