"""A minimal Discord gateway websocket for :class:`~tests.fakes.discord_server.FakeDiscord`.

Enough of the protocol (docs/topics/gateway.md, gateway-events.md) for discord.py 2.7's
``DiscordWebSocket`` to log in and receive events:

* on connect: HELLO (op 10) with ``heartbeat_interval`` in ms;
* HEARTBEAT (op 1) → HEARTBEAT_ACK (op 11);
* IDENTIFY (op 2) → READY (op 0 ``t=READY``: user, session_id, resume_gateway_url,
  application {id, flags}, guilds [], and ``shard`` echoed from a sharded IDENTIFY); the IDENTIFY
  payload is recorded (token removed) so a test can check its ``intents`` and ``shard``.  A wrong
  token closes with 4004, privileged intents with 4014 (as Discord does for an application without
  those intents enabled) and a ``shard`` that is not ``[id < count, count]`` with 4010;
* RESUME (op 6) → INVALID_SESSION (op 9, ``d=false``): sessions are not kept;
* :meth:`FakeGateway.dispatch` pushes any event (op 0), e.g. ``INTERACTION_CREATE``.

Transport: discord.py connects to ``<gateway>?v=10&encoding=json&compress=zlib-stream``
(``DiscordWebSocket.from_client``; ``zstd-stream`` instead when ``zstandard`` or
``compression.zstd`` is importable).  The fake serves what the URL asks for: text frames without
``compress``, and for ``zlib-stream`` one zlib stream per connection, each message flushed with
``Z_SYNC_FLUSH`` so it ends in ``00 00 ff ff`` (the suffix discord.py waits for).  Other encodings
(``etf``) and compressions close the socket with 4002 / 4000.

A plain ``discord.Client`` does not ask ``GET /gateway/bot`` where to connect: it uses
``DiscordWebSocket.DEFAULT_GATEWAY`` (``wss://gateway.discord.gg/``), so tests point that at
:attr:`FakeDiscord.gateway_url` (``tests.fakes.discord_base_url.point_discord_py_at``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

log = logging.getLogger(__name__)

GATEWAY_PATH = "/gateway"

# Opcodes (docs/topics/opcodes-and-status-codes.md).
DISPATCH = 0
HEARTBEAT = 1
IDENTIFY = 2
RESUME = 6
INVALID_SESSION = 9
HELLO = 10
HEARTBEAT_ACK = 11

# Close codes (same page).
UNKNOWN_ERROR = 4000
DECODE_ERROR = 4002
NOT_AUTHENTICATED = 4003
AUTHENTICATION_FAILED = 4004
ALREADY_AUTHENTICATED = 4005
INVALID_API_VERSION = 4012
INVALID_SHARD = 4010
DISALLOWED_INTENTS = 4014

# Privileged intents (docs/topics/gateway.md#privileged-intents): GUILD_MEMBERS, GUILD_PRESENCES, MESSAGE_CONTENT.
PRIVILEGED_INTENTS = (1 << 1) | (1 << 8) | (1 << 15)
GUILDS_INTENT = 1 << 0

DEFAULT_HEARTBEAT_INTERVAL_MS = 41_250  # what Discord sends today; the client heartbeats once at once anyway


@dataclass(kw_only=True)
class GatewaySession:
    """One websocket connection: what the client asked for in the URL and sent, and how it ended."""

    query: Mapping[str, str]
    socket: web.WebSocketResponse
    identify: dict[str, Any] | None = None
    session_id: str = ""
    heartbeats: int = 0
    sequence: int = 0
    close_code: int | None = None
    closed_by_client: bool = False
    _compressor: Any = None
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def send(self, payload: Mapping[str, Any]) -> None:
        """Send one gateway message, compressed as the connection asked."""
        data = json.dumps(payload, ensure_ascii=False)
        async with self._lock:  # one zlib stream: frames must go out in compression order
            if self._compressor is None:
                await self.socket.send_str(data)
            else:
                chunk = self._compressor.compress(data.encode()) + self._compressor.flush(zlib.Z_SYNC_FLUSH)
                await self.socket.send_bytes(chunk)


class FakeGateway:
    """The gateway websocket; FakeDiscord mounts :meth:`handle` at :data:`GATEWAY_PATH`."""

    def __init__(
        self,
        *,
        token: str,
        user: Mapping[str, Any],
        application_id: int,
        heartbeat_interval_ms: int = DEFAULT_HEARTBEAT_INTERVAL_MS,
    ) -> None:
        self.token = token
        self.user = user
        self.application_id = application_id
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.url = ""  # set by FakeDiscord once it listens
        self.sessions: list[GatewaySession] = []
        self.ready = asyncio.Event()
        self.disconnected = asyncio.Event()

    # -- for tests ---------------------------------------------------------------------------------

    @property
    def identifies(self) -> list[dict[str, Any]]:
        """Every IDENTIFY payload received (``d``, token removed), in order."""
        return [s.identify for s in self.sessions if s.identify is not None]

    @property
    def current(self) -> GatewaySession:
        """The open, identified session (the one :meth:`dispatch` sends on)."""
        for session in reversed(self.sessions):
            if session.identify is not None and not session.socket.closed:
                return session
        raise RuntimeError("no identified gateway session is open")

    async def wait_ready(self) -> GatewaySession:
        """Wait until a client has identified and been sent READY; return its session (wrap in a timeout)."""
        await self.ready.wait()
        return self.current

    async def dispatch(self, event: str, data: Mapping[str, Any]) -> None:
        """Push a DISPATCH (op 0) event with the next sequence number to the current session."""
        session = self.current
        session.sequence += 1
        await session.send({"op": DISPATCH, "t": event, "s": session.sequence, "d": data})

    async def close(self) -> None:
        """Close every open socket (code 1001 going away, as on a Discord restart)."""
        for session in self.sessions:
            if not session.socket.closed:
                await session.socket.close(code=1001)

    # -- the websocket -----------------------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        """Serve one gateway connection until either side closes it."""
        socket = web.WebSocketResponse(autoping=True, max_msg_size=4096)  # client payloads ≤ 4096 bytes
        await socket.prepare(request)
        session = GatewaySession(query=dict(request.query), socket=socket)
        self.sessions.append(session)
        try:
            if (problem := self._transport_problem(session)) is not None:
                code, reason = problem
                await socket.close(code=code, message=reason.encode())
                session.close_code = code
                return socket
            await session.send({"op": HELLO, "d": {"heartbeat_interval": self.heartbeat_interval_ms}, "s": None})
            async for message in socket:
                if message.type is not WSMsgType.TEXT:
                    await socket.close(code=DECODE_ERROR, message=b"Decode error")
                    break
                if not await self._on_message(session, message.data):
                    break
            if session.close_code is None:
                session.close_code = socket.close_code
                session.closed_by_client = True
        finally:
            self.disconnected.set()
        return socket

    def _transport_problem(self, session: GatewaySession) -> tuple[int, str] | None:
        query = session.query
        if query.get("v") != "10":
            return INVALID_API_VERSION, "Invalid API version"
        if query.get("encoding", "json") != "json":
            return DECODE_ERROR, "this fake speaks encoding=json only"
        compress = query.get("compress")
        if compress == "zlib-stream":
            session._compressor = zlib.compressobj()
        elif compress is not None:
            return UNKNOWN_ERROR, f"this fake does not do compress={compress}"
        return None

    async def _on_message(self, session: GatewaySession, text: str) -> bool:
        """Handle one client message; return False once the socket was closed."""
        try:
            message = json.loads(text)
            op, data = message["op"], message.get("d")
        except (ValueError, KeyError, TypeError):
            return await self._close(session, DECODE_ERROR, "Decode error")
        if op == HEARTBEAT:
            session.heartbeats += 1
            await session.send({"op": HEARTBEAT_ACK, "s": None})
        elif op == IDENTIFY:
            return await self._identify(session, data)
        elif op == RESUME:
            await session.send({"op": INVALID_SESSION, "d": False, "s": None})
        elif session.identify is None:
            return await self._close(session, NOT_AUTHENTICATED, "Not authenticated")
        else:
            log.debug("fake gateway: ignoring op %s", op)
        return True

    async def _identify(self, session: GatewaySession, data: Any) -> bool:
        if session.identify is not None:
            return await self._close(session, ALREADY_AUTHENTICATED, "Already authenticated")
        if not isinstance(data, Mapping) or not isinstance(data.get("intents"), int):
            return await self._close(session, DECODE_ERROR, "IDENTIFY needs d.intents")
        session.identify = {k: v for k, v in data.items() if k != "token"}
        if data.get("token") not in (self.token, f"Bot {self.token}"):
            return await self._close(session, AUTHENTICATION_FAILED, "Authentication failed")
        if data["intents"] & PRIVILEGED_INTENTS:
            return await self._close(session, DISALLOWED_INTENTS, "Disallowed intent(s)")
        shard = data.get("shard")
        if shard is not None and not (
            isinstance(shard, list) and len(shard) == 2 and 0 <= shard[0] < shard[1]  # [shard_id, num_shards]
        ):
            return await self._close(session, INVALID_SHARD, "Invalid shard")
        session.session_id = f"fake-session-{len(self.sessions)}"
        session.sequence += 1
        ready = {
            "v": 10,
            "user": dict(self.user),
            "guilds": [],
            "session_id": session.session_id,
            "resume_gateway_url": self.url,
            "application": {"id": str(self.application_id), "flags": 0},
            "private_channels": [],
            "relationships": [],
        }
        if shard is not None:
            ready["shard"] = shard  # Discord echoes a sharded IDENTIFY's [shard_id, num_shards]
        await session.send({"op": DISPATCH, "t": "READY", "s": session.sequence, "d": ready})
        self.ready.set()
        return True

    async def _close(self, session: GatewaySession, code: int, reason: str) -> bool:
        session.close_code = code
        await session.socket.close(code=code, message=reason.encode())
        return False
