"""The ops port of ``digestbot run``: ``/healthz`` for orchestrators, ``/metrics`` for Prometheus.

Served by aiohttp on the running event loop (no thread, no second process), bound to
``ops.host`` (127.0.0.1 unless changed) and ``ops.port`` (``--ops-port``); off unless one is set.

* ``GET /healthz`` answers JSON — the database (it answers a query, its file is there), each
  platform (started and not stopped), the scheduler (its task still runs) — with 200 when all
  are well and 503 otherwise, so Docker, Kubernetes or a load balancer can act on the status
  alone. A platform still being retried counts as unhealthy: give the check a start period.
* ``GET /metrics`` answers the Prometheus text format from :mod:`digestbot.metrics`, after reading
  the outbox backlog from the store (so the gauges are as of the scrape, not of the last post).

Neither answer carries a secret: errors are the same one-line texts the log shows.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol, runtime_checkable

from aiohttp import web

from digestbot import metrics
from digestbot.config import Config
from digestbot.errors import ConfigError, DigestbotError
from digestbot.metrics import CONTENT_TYPE, Metrics
from digestbot.startup import PlatformGate
from digestbot.store import StoreProtocol

log = logging.getLogger(__name__)

CHECK_TIMEOUT = 5.0
"""Seconds a database check may take before ``/healthz`` calls the database unreachable.

Below the probe's own timeout (docker-compose.yml gives it 10 s), so the probe gets a 503 with a
reason instead of a timeout with none.
"""


@dataclass(frozen=True, kw_only=True)
class Health:
    """One ``/healthz`` answer: each part's state, None meaning well, else the problem in one line."""

    database: str | None
    platforms: Mapping[str, str | None]
    scheduler: str | None

    @property
    def ok(self) -> bool:
        """Tell whether every part is well (the answer is then 200)."""
        return self.database is None and self.scheduler is None and all(p is None for p in self.platforms.values())

    def as_json(self) -> dict[str, Any]:
        """Return the JSON body: ``status`` plus each part as ``ok`` or its problem."""

        def state(problem: str | None) -> dict[str, Any]:
            return {"ok": True} if problem is None else {"ok": False, "problem": problem}

        return {
            "status": "ok" if self.ok else "unhealthy",
            "database": state(self.database),
            "platforms": {name: state(problem) for name, problem in self.platforms.items()},
            "scheduler": state(self.scheduler),
        }


@runtime_checkable
class Connected(Protocol):
    """What an adapter with a live connection besides posting (Discord's gateway) may also offer."""

    def connection_problem(self) -> str | None:
        """Return why the live connection is down, or None when it is up."""


def platform_problem(gate: PlatformGate) -> str | None:
    """Return why ``gate``'s platform is not taking messages or commands (None when it is)."""
    if not gate.up:
        return f"stopped: {gate.problem}" if gate.refused else f"not connected: {gate.problem}"
    if isinstance(gate.inner, Connected) and (problem := gate.inner.connection_problem()) is not None:
        return f"not connected: {problem}"
    return None


class OpsServer:
    """Serve ``/healthz`` and ``/metrics`` for one ``run`` on the running loop; :meth:`start`, then :meth:`close`."""

    def __init__(
        self,
        *,
        store: StoreProtocol,
        platforms: Mapping[str, PlatformGate],
        metrics: Metrics,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.store = store
        self.platforms = platforms
        self.metrics = metrics
        #: the scheduler's task, once ``run`` created it (the ops port starts first, so a taken port
        #: stops ``run`` before anything is scheduled).
        self.scheduler: asyncio.Task[None] | None = None
        self.host = host
        self.port = port
        app = web.Application()
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/metrics", self._metrics)
        self._runner = web.AppRunner(app, access_log=None)  # a scrape every 15 s is not worth a log line

    async def start(self) -> int:
        """Bind and serve; return the port (the one the system chose when ``port`` is 0).

        A port that cannot be bound (taken, privileged) is a ConfigError naming ``ops.port``.
        """
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        try:
            await site.start()
        except OSError as exc:
            await self._runner.cleanup()
            raise ConfigError(f"ops.port: cannot listen on {self.host}:{self.port}: {exc.strerror or exc}") from None
        addresses = self._runner.addresses  # (host, port, …) per bound socket
        self.port = int(addresses[0][1]) if addresses else self.port
        metrics.install(self.metrics)
        log.info("ops: serving /healthz and /metrics on http://%s:%d", self.host, self.port)
        return self.port

    async def close(self) -> None:
        """Stop serving and counting."""
        metrics.uninstall(self.metrics)
        await self._runner.cleanup()

    async def health(self) -> Health:
        """Check every part now."""
        return Health(
            database=await self._database_problem(),
            platforms={name: platform_problem(gate) for name, gate in self.platforms.items()},
            scheduler=self._scheduler_problem(),
        )

    def _scheduler_problem(self) -> str | None:
        if self.scheduler is None:
            return "not started yet"
        return "the scheduler task has stopped" if self.scheduler.done() else None

    async def _database_problem(self) -> str | None:
        try:
            async with asyncio.timeout(CHECK_TIMEOUT):
                await self.store.ping()
        except TimeoutError:
            return f"no answer within {CHECK_TIMEOUT:g} s"
        except DigestbotError as exc:
            return str(exc)
        return None

    async def _healthz(self, request: web.Request) -> web.Response:
        health = await self.health()
        if not health.ok:
            log.debug("healthz: unhealthy: %s", health.as_json())
        return web.Response(
            text=json.dumps(health.as_json(), ensure_ascii=False),
            status=200 if health.ok else 503,
            content_type="application/json",
        )

    async def _metrics(self, request: web.Request) -> web.Response:
        try:
            async with asyncio.timeout(CHECK_TIMEOUT):
                count, oldest = await self.store.outbox_backlog()
        except Exception as exc:  # whatever the store raised (a closed connection, a timeout):
            # keep the last values; a scrape with every other metric beats a failed one.
            log.warning("metrics: cannot read the outbox backlog: %s", exc)
        else:
            self.metrics.set_backlog(count, oldest, datetime.now(UTC))
        return web.Response(body=self.metrics.exposition(), headers={"Content-Type": CONTENT_TYPE})


async def start_ops(
    config: Config, store: StoreProtocol, platforms: Mapping[str, PlatformGate], *, port: int | None = None
) -> OpsServer | None:
    """Start ``run``'s ops port if ``--ops-port`` (``port``) or ``ops.port`` asks for one; None when off."""
    chosen = port if port is not None else config.ops.port
    if chosen is None:
        return None
    server = OpsServer(
        store=store, platforms=platforms, metrics=Metrics(platforms=platforms), host=config.ops.host, port=chosen
    )
    await server.start()
    return server
