"""Secrets never shown: not in ``-vv`` logs, not in ``check-config --show``, not in error lines."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from digestbot.cli import QUIET_ALWAYS, QUIET_BELOW_DEBUG, _setup_logging
from digestbot.store import open_store
from digestbot.store.installations import InstallationRecord

TOKEN = "xoxb-1111-2222-SeCrEtToKeN"


@pytest.fixture
def vv_log(monkeypatch: pytest.MonkeyPatch) -> Iterator[io.StringIO]:
    """Set logging up as ``digestbot -vv`` does (the real ``_setup_logging``), into a buffer."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    buffer = io.StringIO()
    monkeypatch.setattr("sys.stderr", buffer)
    _setup_logging(2, None, "run")
    try:
        yield buffer
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in handlers:
            root.addHandler(handler)
        root.setLevel(level)
        for name in (*QUIET_ALWAYS, *QUIET_BELOW_DEBUG):
            logging.getLogger(name).setLevel(logging.NOTSET)


async def test_vv_log_never_shows_a_saved_bot_token(store_target: str | Path, vv_log: io.StringIO) -> None:
    async with await open_store(store_target) as store:
        await store.installations().save(InstallationRecord(team_id="T1", team_name="Lab", bot_token=TOKEN))
        found = await store.installations().find("T1")
    assert found is not None and found.bot_token == TOKEN
    logging.getLogger("digestbot.test").debug("debug lines are on")  # -vv really is on
    text = vv_log.getvalue()
    assert "debug lines are on" in text
    assert TOKEN not in text
    assert "SeCrEt" not in text


def test_vv_keeps_the_libraries_that_echo_tokens_at_warning(vv_log: io.StringIO) -> None:
    # slack_sdk logs request data and response bodies (oauth.v2.access answers with the bot token).
    for name in ("slack_sdk.web.async_internal_utils", "aiosqlite", "psycopg.connection_async"):
        assert not logging.getLogger(name).isEnabledFor(logging.DEBUG)
        assert logging.getLogger(name).isEnabledFor(logging.WARNING)
