"""Serve an aiohttp application on 127.0.0.1 at a free port: the shared lifecycle of every fake."""

from __future__ import annotations

from aiohttp import web


class Loopback:
    """One aiohttp app bound to a free loopback port; ``port`` is 0 until :meth:`start`."""

    def __init__(self, app: web.Application, **runner_options: object) -> None:
        self._runner = web.AppRunner(app, access_log=None, **runner_options)  # type: ignore[arg-type]
        self.port = 0

    async def start(self, port: int = 0) -> int:
        """Bind (to ``port``, else a free one) and start answering; return the port."""
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", port).start()
        self.port = self._runner.addresses[0][1]
        return self.port

    async def close(self) -> None:
        """Stop answering, drop open connections and free the port (safe to call twice)."""
        if self.port:
            await self._runner.cleanup()
            self.port = 0


def closed_port() -> int:
    """Return a loopback port nothing listens on (yet): a service that is not up."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
