"""Text given on the command line never reaches the terminal raw: no forged lines, no escapes, no pings."""

from __future__ import annotations

from pathlib import Path

from digestbot import cli
from tests.test_post_cli import SAMPLE, run

HOSTILE = "a\n\x1b[31mRED"


def _workdir(tmp_path: Path) -> Path:
    (tmp_path / "cfg.yaml").write_text(
        f"database: {tmp_path / 'db.sqlite3'}\nchannels:\n  - {{platform: console, id: terminal}}\n"
    )
    assert run(tmp_path, "ingest", str(SAMPLE)).returncode == 0
    return tmp_path


def test_error_line_escapes_control_characters() -> None:
    assert cli.error_line("evil\ndigestbot: ok.md: bad") == "digestbot: error: evil\\ndigestbot: ok.md: bad"
    assert cli.error_line("x\x1b[2J\u202e") == "digestbot: error: x\\x1b[2J\\u202e"


def test_disable_reason_is_one_clean_line_and_capped(tmp_path: Path) -> None:
    work = _workdir(tmp_path)
    disabled = run(work, "channels", "disable", "terminal", "--reason", HOSTILE)
    assert disabled.returncode == 0, disabled.stderr
    for command in (("channels", "list"), ("status",)):
        shown = run(work, *command).stdout
        assert "\x1b" not in shown and "RED" in shown, shown
        assert not any(line.strip() == "RED" or line.startswith("[31m") for line in shown.splitlines()), shown
    too_long = run(work, "channels", "enable", "terminal")
    assert too_long.returncode == 0
    refused = run(work, "channels", "disable", "terminal", "--reason", "x" * 20_000)
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1 and "200" in refused.stderr
    assert "x" * 300 not in refused.stderr


def test_user_ids_without_control_characters_and_of_the_platform_shape(tmp_path: Path) -> None:
    work = _workdir(tmp_path)
    for platform, user in (
        ("console", "x\x1b[2J\n── #fake"),
        ("slack", "not a slack id <!channel>"),
        ("discord", "<@&123>"),
    ):
        result = run(work, "subscriptions", "add", "--platform", platform, "--user", user, "diffusion")
        assert result.returncode == 2, (user, result.stdout, result.stderr)
        assert result.stderr.count("\n") == 1 and "\x1b" not in result.stderr, result.stderr
    ok = run(
        work, "subscriptions", "add", "--platform", "slack", "--user", "U0123ABC", "--workspace", "T1", "diffusion"
    )
    assert ok.returncode == 0, ok.stderr


def test_a_file_name_with_a_line_break_stays_on_its_error_line(tmp_path: Path) -> None:
    work = _workdir(tmp_path)
    evil = work / "evil\ndigestbot: ok.md"
    evil.write_text("not a digest at all\n")
    result = run(work, "ingest", str(evil))
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "evil\\ndigestbot: ok.md" in result.stderr, result.stderr
