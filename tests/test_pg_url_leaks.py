"""Database URLs a person mistypes, and libpq's messages about good ones: the password is never shown, nor hinted."""

from __future__ import annotations

from pathlib import Path

import pytest

from digestbot.cli import main
from digestbot.redact import scrub_quoted
from digestbot.store.postgres.url import malformed_userinfo

SECRET = "sekr1t"


@pytest.mark.parametrize(
    "target",
    [
        "postgresql:///u:sekr1t@h/db",  # three slashes: the password would be a database name
        "postgresql://u:sekr1t",  # no @host: the password would be a port
        "postgresql://u:pa/sekr1t@h/db",  # a raw / in the password
        "postgresql//u:sekr1t@h/db",  # a missing colon: a file path to SQLite
        "postgresql;//u:sekr1t@h/db",
        "u:sekr1t@h/db",
        "host=/tmp dbname=app password=sekr1t",  # a libpq key=value string
        "host=/tmp password='sekr1t and more' dbname=app",
    ],
)
def test_a_mistyped_database_is_one_line_without_the_password(
    target: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DIGESTBOT_CONFIG", "")
    monkeypatch.chdir(tmp_path)
    assert main(["--db", target, "status"]) == 2
    out, err = capsys.readouterr()
    assert err.count("\n") == 1 and SECRET not in out + err and "pa/" not in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_check_config_show_masks_a_key_value_password(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "c.yaml"
    config.write_text('database: "host=/tmp dbname=x password=sekr1t"\n')
    main(["--config", str(config), "check-config", "--show"])
    out, err = capsys.readouterr()
    assert SECRET not in out + err and "password=***" in out


@pytest.mark.parametrize(
    ("password", "url_rest", "message"),
    [
        # libpq's own words, and values the URL shows anyway: masking them would tell the password.
        ("connection", "127.0.0.1:1/app", 'connection to server at "127.0.0.1", port 1 failed: Connection refused'),
        ("failed", "127.0.0.1:1/app", 'connection to server at "127.0.0.1", port 1 failed: Connection refused'),
        ("socket", "/app", 'connection to server on socket "/tmp/x/.s.PGSQL.5432" failed'),
        ("5432", "/app", 'connection to server on socket "/tmp/x/.s.PGSQL.5432" failed'),
        ("nosuch", "/nosuch", 'FATAL:  database "nosuch" does not exist'),
        ("127.0.0.1", "127.0.0.1:1/app", 'connection to server at "127.0.0.1", port 1 failed'),
    ],
)
def test_libpq_messages_are_left_as_they_are_when_the_password_is_not_what_they_echo(
    password: str, url_rest: str, message: str
) -> None:
    assert scrub_quoted(message, f"postgresql://u:{password}@{url_rest}") == message


def test_a_quoted_password_in_a_message_is_masked() -> None:
    url = "postgresql://u:ab%zzcd@h/db"
    assert scrub_quoted('invalid percent-encoded token: "ab%zzcd"', url) == 'invalid percent-encoded token: "***"'
    assert scrub_quoted("failed to resolve host 'hunter2'", "postgresql://bot:hunter2@h/db") == (
        "failed to resolve host '***'"
    )


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://h:5432/d?options=a@b",  # an @ in the query: not a password
        "postgresql://[::1]:5432/db",
        "postgresql://h1:5432,h2:5433/db",
        "postgresql:///db?host=/tmp",
        "postgresql://bot:Se%2Fcret@h/db",
        "postgresql://bot:Se#cret99@/dig",  # libpq reads this password whole
    ],
)
def test_urls_libpq_reads_as_meant_are_not_refused(url: str) -> None:
    assert malformed_userinfo(url) is None
