"""Database URL passwords never shown, whatever they hold: libpq reads a password further than RFC 3986."""

from __future__ import annotations

from pathlib import Path

import pytest

from digestbot.errors import StoreError, UnavailableError
from digestbot.redact import redact_password, scrub, url_password
from digestbot.store import open_store
from tests.test_cli import run

# -- passwords libpq reads further than RFC 3986 ----------------------------------------------------


@pytest.mark.parametrize("password", ["Se#cret99", "Se?cret99", "Se/cret99", "a/b?c#d"])
def test_a_password_holding_slash_question_or_hash_is_masked_whole(password: str) -> None:
    url = f"postgresql://bot:{password}@/dig?host=/tmp/x"
    assert redact_password(url) == "postgresql://bot:***@/dig?host=/tmp/x"
    assert url_password(url) == password


def test_urls_without_a_password_stay_as_they_are() -> None:
    for url in ("postgresql://bot@db/dig?options=a@b", "https://h.example/x?e=a@b", "postgresql:///dig?host=/tmp"):
        assert redact_password(url) == url and url_password(url) == ""


@pytest.mark.parametrize("command", [["status"], ["db", "check"]])
def test_status_and_db_check_never_show_a_password_with_a_hash(tmp_path: Path, command: list[str]) -> None:
    url = f"postgresql://bot:Se#cret99@/dig?host={tmp_path}&connect_timeout=2"
    result = run(tmp_path, "--db", url, *command)
    shown = result.stdout + result.stderr
    assert "cret99" not in shown and "Se#" not in shown, shown
    assert "postgresql://bot:***@/dig" in shown


def test_check_config_show_never_shows_a_password_with_a_hash(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("database: postgresql://bot:Se#cret99@/dig?host=/tmp/x\n", encoding="utf-8")
    result = run(tmp_path, "check-config", str(config), "--show")
    shown = result.stdout + result.stderr
    assert "cret99" not in shown and "postgresql://bot:***@/dig?host=/tmp/x" in shown, shown


async def test_a_password_with_a_slash_is_not_in_the_error_line() -> None:
    # libpq would read host "bot", port "Qz7" and say so: refused before it is asked, with the remedy.
    with pytest.raises((StoreError, UnavailableError)) as failed:
        await open_store("postgresql://bot:Qz7/cret99@/dig")
    assert "Qz7" not in str(failed.value) and "cret99" not in str(failed.value)
    assert str(failed.value).startswith("postgresql://bot:***@/dig: not a user:password@host URL as libpq reads it")
    assert "%2F" in str(failed.value)


# -- scrub masks whole tokens ----------------------------------------------------------------------


def test_scrub_masks_whole_tokens_only() -> None:
    socket = 'connection to server on socket "/var/run/postgresql/.s.PGSQL.5432" failed'
    assert scrub(socket, "postgres") == socket
    assert scrub("connection to server failed", "o") == "connection to server failed"
    assert scrub('password authentication failed for user "o"', "o") == 'password authentication failed for user "***"'
    assert scrub("failed to resolve host 'ter2@127.0.0.1'", "hun@ter2") == "failed to resolve host '***@127.0.0.1'"
    assert scrub('bad URI "postgresql://bot:pw@[::1/dig"', "unrelated") == 'bad URI "postgresql://bot:***@[::1/dig"'


def test_db_check_keeps_libpqs_socket_path_when_the_password_is_part_of_it(tmp_path: Path) -> None:
    sockets = tmp_path / "postgresql"  # as /var/run/postgresql: "postgres" inside it is not the password
    sockets.mkdir()
    result = run(tmp_path, "--db", f"postgresql://postgres:postgres@/x?host={sockets}&connect_timeout=2", "db", "check")
    assert result.returncode != 0 and result.stderr.count("\n") == 1
    assert "***ql" not in result.stderr and f"{sockets}/.s.PGSQL.5432" in result.stderr, result.stderr
