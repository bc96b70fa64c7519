"""The Socket Mode half of the fake Slack: WebSocket URLs from ``apps.connections.open`` and envelopes over them.

Protocol as Slack documents it (docs.slack.dev "Using Socket Mode" / "Socket Mode implementation") and as
``slack_sdk.socket_mode.aiohttp.SocketModeClient`` speaks it:

* ``apps.connections.open`` takes the app-level token (``xapp-…``) and answers ``{"ok": true, "url":
  "wss://…"}``; the fake answers a ``ws://127.0.0.1:PORT/socket/<ticket>`` URL, which slack_sdk opens with
  aiohttp's ``ws_connect`` as it would a ``wss://`` one (it passes the URL through unchanged);
* on connect the server sends ``{"type": "hello", "num_connections": …, "debug_info": {…},
  "connection_info": {"app_id": …}}``;
* each request arrives as an envelope ``{"envelope_id", "type", "accepts_response_payload", "payload"}``;
  the app acknowledges it with ``{"envelope_id": …}`` (plus ``"payload"`` for a response payload) within
  3 seconds, else Slack retries it and the user sees a timeout error;
* ``{"type": "disconnect", "reason": "refresh_requested" | "warning" | …}`` asks the client to reconnect
  on a fresh URL (slack_sdk calls ``apps.connections.open`` again).

The fake records every ack with the seconds it took (:class:`SocketAck`) and every connection's end.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import WSMsgType, web

log = logging.getLogger(__name__)

ACK_DEADLINE = 3.0
"""Slack's limit for acknowledging an envelope (slash commands: "within 3000 ms")."""

WAIT = 5.0
"""How long the fake waits for the app to connect, ack or hang up before failing the test."""


@dataclass(frozen=True, kw_only=True)
class SocketAck:
    """The app's acknowledgement of one envelope: its payload (if any) and how long it took."""

    envelope_id: str
    payload: dict[str, Any] | None
    seconds: float
    response_name: str


@dataclass(frozen=True, kw_only=True)
class SocketClosed:
    """How one WebSocket connection ended: ``by_client`` is True when the app sent the close frame."""

    ticket: str
    by_client: bool
    code: int | None


@dataclass(kw_only=True)
class _Connection:
    ticket: str
    ws: web.WebSocketResponse
    pending: dict[str, tuple[float, asyncio.Future[dict[str, Any]]]]
    closed_by_server: bool = False


class SocketModeFake:
    """Issue Socket Mode URLs, hold the app's WebSocket connections and deliver envelopes over them."""

    def __init__(
        self, *, app_id: str, team_id: str, root: Callable[[], str], response_url: Callable[[str], str]
    ) -> None:
        self._app_id = app_id
        self._team_id = team_id
        self._root = root
        self._response_url = response_url
        self._tickets: set[str] = set()
        self._ids = itertools.count(1)
        self._connections: list[_Connection] = []
        self._changed = asyncio.Event()
        self.urls_issued = 0
        self.connects = 0
        self.acks: list[SocketAck] = []
        self.closed: list[SocketClosed] = []
        self.unexpected: list[str] = []

    def add_routes(self, app: web.Application) -> None:
        """Serve the WebSocket endpoint on ``app``."""
        app.router.add_get("/socket/{ticket}", self._websocket)

    def open_url(self) -> str:
        """Answer ``apps.connections.open``: a fresh WebSocket URL on the loopback server."""
        ticket = f"ticket-{next(self._ids)}"
        self._tickets.add(ticket)
        self.urls_issued += 1
        return self._root().replace("http://", "ws://", 1) + f"/socket/{ticket}"

    @property
    def open_connections(self) -> int:
        """Return how many WebSocket connections are open now."""
        return sum(1 for c in self._connections if not c.ws.closed)

    async def wait_connected(self, count: int = 1) -> None:
        """Wait until ``count`` connections were ever made (the app connects in the background)."""
        await self._wait_until(lambda: self.connects >= count)

    async def wait_all_closed(self) -> None:
        """Wait until every connection has ended."""
        await self._wait_until(lambda: len(self.closed) >= self.connects)

    async def _wait_until(self, done: Callable[[], bool]) -> None:
        async with asyncio.timeout(WAIT):
            while not done():
                self._changed.clear()
                await self._changed.wait()

    async def command(self, command: str, text: str, *, user: str, channel: str, response_name: str) -> SocketAck:
        """Deliver one slash command envelope over the newest open connection and wait for its ack."""
        await self.wait_connected()
        conn = next((c for c in reversed(self._connections) if not c.ws.closed), None)
        if conn is None:
            raise AssertionError("no open Socket Mode connection to deliver to")
        n = next(self._ids)
        envelope_id = f"env-{n}"
        payload = {
            "token": "verification-token-unused",
            "team_id": self._team_id,
            "team_domain": "digestbot-test",
            "channel_id": channel,
            "channel_name": channel.lower(),
            "user_id": user,
            "user_name": user.lower(),
            "command": command,
            "text": text,
            "api_app_id": self._app_id,
            "is_enterprise_install": "false",
            "response_url": self._response_url(response_name),
            "trigger_id": f"trigger-{n}",
        }
        envelope = {
            "envelope_id": envelope_id,
            "type": "slash_commands",
            "accepts_response_payload": True,
            "payload": payload,
        }
        done: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        started = time.monotonic()
        conn.pending[envelope_id] = (started, done)
        await conn.ws.send_json(envelope)
        try:
            ack = await asyncio.wait_for(done, WAIT)
        finally:
            conn.pending.pop(envelope_id, None)
        record = SocketAck(
            envelope_id=envelope_id,
            payload=ack.get("payload"),
            seconds=time.monotonic() - started,
            response_name=response_name,
        )
        self.acks.append(record)
        return record

    async def disconnect(self, reason: str = "refresh_requested") -> None:
        """Ask every open connection to reconnect, as Slack does every few hours."""
        for conn in self._connections:
            if not conn.ws.closed:
                await conn.ws.send_json({"type": "disconnect", "reason": reason, "debug_info": {"host": "fake"}})

    async def close(self) -> None:
        """Close every connection still open (server side), before the server stops."""
        for conn in self._connections:
            if not conn.ws.closed:
                conn.closed_by_server = True
                await conn.ws.close()

    async def _websocket(self, request: web.Request) -> web.WebSocketResponse:
        ticket = request.match_info["ticket"]
        if ticket not in self._tickets:
            raise web.HTTPUnauthorized(text="unknown Socket Mode ticket")
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        conn = _Connection(ticket=ticket, ws=ws, pending={})
        self._connections.append(conn)
        self.connects += 1
        self._changed.set()
        await ws.send_json(
            {
                "type": "hello",
                "num_connections": self.open_connections,
                "debug_info": {"host": "fake-applink", "approximate_connection_time": 18060},
                "connection_info": {"app_id": self._app_id},
            }
        )
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                self._on_text(conn, msg.data)
        for _, future in conn.pending.values():
            if not future.done():
                future.set_exception(ConnectionError("Socket Mode connection closed before the ack"))
        self.closed.append(SocketClosed(ticket=ticket, by_client=not conn.closed_by_server, code=ws.close_code))
        self._changed.set()
        log.debug("fake Slack socket %s closed (code %s)", ticket, ws.close_code)
        return ws

    def _on_text(self, conn: _Connection, data: str) -> None:
        try:
            message = json.loads(data)
        except json.JSONDecodeError:
            self.unexpected.append(data)
            return
        envelope_id = message.get("envelope_id") if isinstance(message, dict) else None
        entry = conn.pending.get(str(envelope_id)) if envelope_id is not None else None
        if entry is None or entry[1].done():
            self.unexpected.append(data)
            return
        entry[1].set_result(message)
