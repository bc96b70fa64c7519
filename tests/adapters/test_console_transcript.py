"""The console adapter records a post before showing it: an unwritable transcript shows nothing twice."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from adapters.console import ConsoleAdapter
from digestbot.errors import AuthError, StoppedError
from digestbot.ports import Target
from tests.test_post_cli import SAMPLE, run

GENERAL = Target(platform="console", kind="channel", id="general")


async def test_unwritable_transcript_shows_nothing_and_names_the_file(tmp_path: Path) -> None:
    transcript = tmp_path / "db.sqlite3.console.jsonl"
    transcript.mkdir()  # unwritable even for root (a chmod is not)
    stream = io.StringIO()
    console = ConsoleAdapter(stream=stream, colour=False, transcript=transcript)
    for _ in range(3):  # every retry
        with pytest.raises(StoppedError) as caught:
            await console.send(GENERAL, "the digest\n", key="digest:2024-10-11")
        assert str(transcript) in str(caught.value) and "\n" not in str(caught.value)
        assert not isinstance(caught.value, AuthError)  # a file to fix, not credentials
    assert stream.getvalue() == ""


async def test_a_recorded_post_is_shown_once(tmp_path: Path) -> None:
    stream = io.StringIO()
    console = ConsoleAdapter(stream=stream, colour=False, transcript=tmp_path / "t.jsonl")
    sent = await console.send(GENERAL, "the digest\n", key="k")
    assert await console.find_sent(GENERAL, "k") == sent
    assert stream.getvalue() == "── #general ──\nthe digest\n"


def test_post_with_an_unwritable_transcript_is_one_line_exit_1_twice(tmp_path: Path) -> None:
    (tmp_path / "cfg.yaml").write_text(
        f"database: {tmp_path / 'db.sqlite3'}\nchannels:\n  - {{platform: console, id: general}}\n"
    )
    assert run(tmp_path, "ingest", str(SAMPLE)).returncode == 0
    (tmp_path / "db.sqlite3.console.jsonl").mkdir()
    for _ in range(2):  # the next run too
        result = run(tmp_path, "post")
        assert result.returncode == 1, result.stdout + result.stderr
        assert "Daily Papers" not in result.stdout and "MathCoder2" not in result.stdout
        assert result.stderr.count("\n") == 1 and "WARNING" not in result.stderr
        assert result.stderr == (
            f"digestbot: error: console transcript {tmp_path / 'db.sqlite3.console.jsonl'}: cannot write it"
            " (Is a directory) — nothing was sent to console; its channels stay enabled\n"
        )
        assert result.stdout == "posted 0, already posted 0, failed 0, not sent (platform stopped) 1\n"
