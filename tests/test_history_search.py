"""The core's paging rule for finding an earlier post, on a fake history of numbered messages."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from digestbot.history_search import read_pages, search_history


def history(count: int) -> list[dict[str, Any]]:
    return [{"id": i, "mark": f"m{i}"} for i in range(1, count + 1)]


def reader(messages: list[dict[str, Any]], page_size: int, calls: list[int | None]) -> Any:
    async def read(after: int | None) -> Sequence[Mapping[str, Any]]:
        calls.append(after)
        if after is None:
            return messages[-page_size:][::-1]  # newest first, like Discord's newest page
        return [m for m in messages if m["id"] > after][:page_size]

    return read


def marked(mark: str) -> Any:
    return lambda m: m["mark"] == mark


async def test_the_newest_page_alone_when_nothing_says_when_it_was_planned() -> None:
    calls: list[int | None] = []
    read = reader(history(50), 10, calls)
    assert await search_history(read, marked("m45"), page_size=10, start=None, pages_after=5) == {
        "id": 45,
        "mark": "m45",
    }
    assert await search_history(read, marked("m20"), page_size=10, start=None, pages_after=5) is None
    assert calls == [None, None]


async def test_forward_from_the_plan_finds_a_post_pushed_out_of_the_newest_page() -> None:
    calls: list[int | None] = []
    found = await search_history(reader(history(50), 10, calls), marked("m17"), page_size=10, start=5, pages_after=5)
    assert found == {"id": 17, "mark": "m17"} and calls == [None, 5, 15]


async def test_the_search_stops_where_the_newest_page_begins() -> None:
    calls: list[int | None] = []
    found = await search_history(reader(history(50), 10, calls), marked("nope"), page_size=10, start=5, pages_after=9)
    assert found is None and calls == [None, 5, 15, 25, 35]


async def test_a_short_history_is_read_once() -> None:
    calls: list[int | None] = []
    found = await search_history(reader(history(7), 10, calls), marked("nope"), page_size=10, start=1, pages_after=5)
    assert found is None and calls == [None]


async def test_too_busy_a_channel_is_logged_not_searched_for_ever(caplog: pytest.LogCaptureFixture) -> None:
    calls: list[int | None] = []
    read = reader(history(100), 10, calls)
    found = await search_history(read, marked("nope"), page_size=10, start=0, pages_after=2, where="discord:channel:1")
    assert found is None and calls == [None, 0, 10]
    assert "discord:channel:1: over 20 messages since" in caplog.text


async def test_cursor_pages_are_read_until_the_cursor_ends_or_the_budget_does() -> None:
    seen: list[str | None] = []

    async def read(cursor: str | None) -> tuple[Sequence[Mapping[str, Any]], str | None]:
        seen.append(cursor)
        n = int(cursor or 0)
        return [{"id": n}], (str(n + 1) if n < 4 else None)

    assert [m["id"] for m in await read_pages(read, pages=3)] == [0, 1, 2] and seen == [None, "1", "2"]
    seen.clear()
    assert [m["id"] for m in await read_pages(read, pages=9)] == [0, 1, 2, 3, 4] and len(seen) == 5
