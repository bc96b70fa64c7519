"""Connecting to PostgreSQL: a malformed URL says why, an upper-case scheme works, no endless connect."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from digestbot.errors import StoreError, UnavailableError
from digestbot.store import open_store
from digestbot.store.postgres.url import CONNECT_TIMEOUT, connect_args

# -- malformed URLs say why ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("postgresql://bot:pw99@/dig?foo=bar", 'invalid URI query parameter: "foo"'),
        ("postgresql://bot:pw99@[::1/dig", 'looking for matching "]"'),
        ("postgresql://bot:p%00w99@/dig", "forbidden value %00"),
        ("postgresql://bot:p w99@/dig", "unexpected spaces"),
        ("postgresql://bot:p%w99@/dig", "invalid percent-encoded token"),
    ],
)
async def test_a_malformed_url_gives_libpqs_reason_without_the_password(url: str, reason: str) -> None:
    with pytest.raises(StoreError) as failed:
        await open_store(url)
    message = str(failed.value)
    assert reason in message and "ProgrammingError" not in message and "\n" not in message
    assert "w99" not in message, message


# -- no endless connect ----------------------------------------------------------------------------


def test_a_default_connect_timeout_applies_unless_the_url_sets_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PGCONNECT_TIMEOUT", raising=False)
    assert connect_args("postgresql://bot:pw@h/db") == ("postgresql://bot:pw@h/db", CONNECT_TIMEOUT)
    assert connect_args("postgresql://bot:pw@h/db?connect_timeout=3") == (
        "postgresql://bot:pw@h/db?connect_timeout=3",
        None,
    )
    assert connect_args("POSTGRES://h/db")[0] == "postgres://h/db"  # schemes are case-insensitive; libpq's is not
    monkeypatch.setenv("PGCONNECT_TIMEOUT", "5")
    assert connect_args("postgresql://h/db")[1] is None


@pytest.fixture
async def silent_port() -> AsyncIterator[int]:
    """Return the port of a local server that accepts connections and never answers."""
    held: list[asyncio.StreamWriter] = []

    async def accept(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()


async def test_a_server_that_never_answers_is_unavailable_not_a_hang(
    silent_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PGCONNECT_TIMEOUT", raising=False)
    monkeypatch.setattr("digestbot.store.postgres.url.CONNECT_TIMEOUT", 2)  # the default, made short
    started = time.monotonic()
    with pytest.raises(UnavailableError) as failed:
        await asyncio.wait_for(open_store(f"postgresql://bot:hunter2@127.0.0.1:{silent_port}/dig"), 30)
    assert time.monotonic() - started < 20
    assert "hunter2" not in str(failed.value) and "\n" not in str(failed.value)


async def test_a_connect_timeout_in_the_url_is_kept(silent_port: int) -> None:
    with pytest.raises(UnavailableError):
        await asyncio.wait_for(open_store(f"postgresql://bot:pw@127.0.0.1:{silent_port}/dig?connect_timeout=2"), 30)
