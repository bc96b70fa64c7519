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


# -- passwords in URLs -------------------------------------------------------------------------


def test_redact_password_splits_userinfo_at_the_last_at() -> None:
    from digestbot.redact import redact_password, scrub, url_password

    assert redact_password("postgresql://bot:hun@ter2@127.0.0.1:1/db") == "postgresql://bot:***@127.0.0.1:1/db"
    assert redact_password("https://u:HFPASS@hf.example/x?a=1") == "https://u:***@hf.example/x?a=1"
    assert redact_password("https://hf.example/x?password=p&a=1") == "https://hf.example/x?password=***&a=1"
    assert redact_password("https://u@hf.example/") == "https://u@hf.example/"
    assert redact_password("not a url: a:b@c") == "not a url: a:b@c"
    assert url_password("postgresql://bot:hun@ter2@127.0.0.1:1/db") == "hun@ter2"
    assert scrub("failed to resolve host 'ter2@127.0.0.1'", "hun@ter2") == "failed to resolve host '***@127.0.0.1'"


def test_check_config_show_redacts_passwords_in_every_url(tmp_path: Path) -> None:
    from tests.test_cli import run

    config = tmp_path / "e.yaml"
    config.write_text(
        "database: postgresql://bot:hunter2@db.example/digest\n"
        "sources:\n  huggingface:\n    base_url: https://hf:HFPASS@hf.example\n"
        "summaries:\n  base_url: https://llm:LLMPASS@llm.example/v1\n"
    )
    result = run(tmp_path, "check-config", str(config), "--show")
    shown = result.stdout + result.stderr
    for secret in ("hunter2", "HFPASS", "LLMPASS"):
        assert secret not in shown
    assert "postgresql://bot:***@db.example/digest" in shown
    assert "https://hf:***@hf.example" in shown


async def test_source_error_line_hides_the_base_url_password() -> None:
    from datetime import date

    from digestbot.errors import SourceError
    from digestbot.sources.huggingface import HuggingFaceClient
    from tests.fakes.sources_server import Reply, SourcesServer

    async with SourcesServer() as server:
        server.script("/api/daily_papers", Reply(status=400, body='{"error": "no"}'))
        base = server.base_url.replace("://", "://hf:HFPASS@", 1)
        with pytest.raises(SourceError) as caught:
            async with HuggingFaceClient(base) as hf:
                await hf.fetch_day(date(2024, 10, 11))
    assert "HFPASS" not in str(caught.value)
    assert "hf:***@" in str(caught.value)


def test_database_password_with_a_raw_at_is_refused_without_showing_any_of_it(tmp_path: Path) -> None:
    from tests.test_cli import run

    result = run(tmp_path, "--db", "postgresql://bot:hun@ter2@127.0.0.1:1/db", "status")
    assert result.returncode == 2, result.stderr
    assert "ter2" not in result.stdout + result.stderr and "hun" not in result.stdout + result.stderr
    assert result.stderr.count("\n") == 1 and "%40" in result.stderr


def test_vv_log_lines_lose_url_passwords_and_slack_tokens(vv_log: io.StringIO) -> None:
    # What the HTTP clients log at -vv: the request URL as given (a base_url with user:password@).
    logging.getLogger("httpx").info('HTTP Request: POST %s "200 OK"', "https://llm:LLMPASS@llm.example/v1/chat")
    logging.getLogger("digestbot.test").debug("payload %s", {"token": TOKEN, "app": "xapp-1-A-2-s3cr3t"})
    text = vv_log.getvalue()
    assert "https://llm:***@llm.example/v1/chat" in text and "xoxb-***" in text and "xapp-***" in text
    assert "LLMPASS" not in text and TOKEN not in text and "s3cr3t" not in text
