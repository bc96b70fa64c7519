"""The first hour with digestbot (issue #19): what a newcomer types works, or says in one line why not."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "digestbot" / "data" / "daily-papers-2024-10-11.md"


def run(cwd: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``digestbot ARGS`` as a user would (no ``--db`` added: the tests say where it goes)."""
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    full_env.pop("DIGESTBOT_CONFIG", None)
    full_env.pop("DISCORD_TOKEN", None)
    return subprocess.run(
        [sys.executable, "-m", "digestbot", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=full_env,
        timeout=60,
        check=False,
    )


def test_global_options_work_after_the_command(tmp_path: Path) -> None:
    db = tmp_path / "x.sqlite3"
    assert run(tmp_path, "ingest", str(SAMPLE), "--db", str(db)).returncode == 0
    result = run(tmp_path, "lookup", "2410.05265", "--db", str(db), "-v")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("PrefixQuant")
    missing = run(tmp_path, "preview", "--db", str(tmp_path / "nope.sqlite3"))
    assert missing.returncode == 2 and "no archive at" in missing.stderr and "nope.sqlite3" in missing.stderr


def test_an_unset_token_blocks_only_the_commands_that_use_it(tmp_path: Path) -> None:
    db = tmp_path / "db.sqlite3"
    config = tmp_path / "c.yaml"
    config.write_text(
        f"database: {db}\ndiscord:\n  enabled: true\n  token: ${{DISCORD_TOKEN}}\n  application_id: '123'\n"
        "channels:\n  - {platform: discord, id: '42', workspace: '7'}\n"
    )
    assert run(tmp_path, "--config", str(config), "ingest", str(SAMPLE)).returncode == 0
    lookup = run(tmp_path, "--config", str(config), "lookup", "2410.05265")
    assert lookup.returncode == 0, lookup.stderr
    invite = run(tmp_path, "--config", str(config), "discord", "invite-url")
    assert invite.returncode == 0 and "client_id=123" in invite.stdout, invite.stderr
    for command in (["post"], ["discord", "sync"], ["check-config"]):
        result = run(tmp_path, "--config", str(config), *command)
        assert result.returncode == 2, command
        assert result.stderr == (
            f"digestbot: error: {config}: discord.token: environment variable DISCORD_TOKEN is not set\n"
        ), command


def test_post_dry_run_works_offline(tmp_path: Path) -> None:
    """A dry run renders and plans: it must not call Slack (here an address nothing listens on)."""
    db = tmp_path / "db.sqlite3"
    config = tmp_path / "c.yaml"
    config.write_text(
        f"database: {db}\nslack:\n  enabled: true\n  bot_token: xoxb-1\n  app_token: xapp-1\n"
        "  api_base_url: http://127.0.0.1:9/api/\nchannels:\n  - {platform: slack, id: C1, workspace: T1}\n"
    )
    assert run(tmp_path, "--config", str(config), "ingest", str(SAMPLE)).returncode == 0
    result = run(tmp_path, "--config", str(config), "post", "--dry-run", "--date", "2024-10-11")
    assert result.returncode == 0, result.stderr
    assert "would post" in result.stdout and "nothing sent" in result.stdout


def test_demo_fits_two_screens_in_its_own_archive_and_does_what_it_shows(tmp_path: Path) -> None:
    from adapters.console_render import display_width

    # A config whose database already holds a newer day: the demo must neither show nor touch it.
    prod = tmp_path / "prod.sqlite3"
    config = tmp_path / "c.yaml"
    config.write_text(f"database: {prod}\n")
    newer = tmp_path / "newer.json"
    newer.write_text('{"date": "2026-01-05", "papers": [{"id": "2601.00001", "title": "A Newer Paper", "votes": 99}]}')
    assert run(tmp_path, "--config", str(config), "ingest", str(newer)).returncode == 0
    before = prod.stat().st_mtime_ns

    result = run(tmp_path, "--config", str(config), "demo")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) <= 70, len(lines)  # two screens at most
    assert max(display_width(line) for line in lines) <= 100
    assert "A Newer Paper" not in result.stdout and "2024-10-11" in result.stdout
    assert "digestbot preview --db digestbot-demo.sqlite3" in result.stdout
    assert prod.stat().st_mtime_ns == before
    assert (tmp_path / "digestbot-demo.sqlite3").exists()

    # What it showed as typed commands is what is stored: two topics, each matching on its own.
    listed = run(
        tmp_path, "subscriptions", "list", "--platform", "console", "--user", "demo", "--db", "digestbot-demo.sqlite3"
    )
    assert listed.stdout.splitlines()[1:] == ["• quantization", "• diffusion -survey"], listed.stdout
    again = run(tmp_path, "--config", str(config), "demo")
    assert again.stdout == result.stdout  # re-running starts the demo user over


def test_korean_text_wraps_by_display_width() -> None:
    from adapters.console_render import display_width, render_console
    from digestbot.formatter import format_paper
    from digestbot.labels import labels_for
    from digestbot.records import Paper

    korean = "양자화를 이용한 대형 언어 모델의 효율적인 추론 방법을 제안합니다. " * 12
    paper = Paper(arxiv_id="2410.00001", title="한국어 제목 " * 30, sections=(("요약", korean),), votes=1)
    text = render_console(format_paper(paper, labels_for("ko")))
    assert max(display_width(line) for line in text.splitlines()) <= 100
    body = [line for line in text.splitlines() if line.startswith("     ")]
    assert len(body) >= 8 and all(display_width(line) >= 80 for line in body[:-1])  # full lines, not half-empty
    assert "추천 1" in text  # a count word, not "1 편"
    from digestbot.formatter import format_digest
    from digestbot.records import Digest

    digest = Digest(date=date(2024, 10, 11), papers=(paper,))
    rule, heading = render_console(format_digest(digest, labels_for("ko"))).splitlines()[:2]
    assert heading == "오늘의 논문 — 2024-10-11 · 1편"
    assert display_width(rule) == display_width(heading)  # the rule spans the wide Korean heading


def test_counts_read_naturally() -> None:
    from digestbot.labels import labels_for

    en, ko = labels_for("en"), labels_for("ko")
    assert (en.papers_count(1), en.papers_count(2), en.votes_count(1), en.votes_count(3)) == (
        "1 paper",
        "2 papers",
        "1 vote",
        "3 votes",
    )
    assert (ko.papers_count(25), ko.votes_count(27)) == ("25편", "추천 27")


def test_subscriptions_keep_what_the_user_typed(tmp_path: Path) -> None:
    db = str(tmp_path / "db.sqlite3")
    who = ["--platform", "slack", "--user", "U1", "--workspace", "T1", "--db", db]
    added = run(tmp_path, "subscriptions", "add", *who, "WALL-E")
    assert added.returncode == 0 and added.stdout.startswith("Subscribed to WALL-E:"), added.stderr
    again = run(tmp_path, "subscriptions", "add", *who, '"wall e"')  # one argument reads as in chat: a phrase
    assert again.stdout == "You already follow WALL-E.\n"
    refused = run(tmp_path, "subscriptions", "add", *who, "C++")
    assert refused.returncode == 2 and "“C++”" in refused.stderr and refused.stderr.count("\n") == 1
    stop = run(tmp_path, "subscriptions", "add", *who, "the")
    assert stop.returncode == 2 and "only common words" in stop.stderr
    assert run(tmp_path, "subscriptions", "list", *who).stdout.splitlines()[1:] == ["• WALL-E"]
    missing = run(tmp_path, "subscriptions", "remove", *who, "Diffusion-Models")
    assert missing.stdout == "You do not follow Diffusion-Models.\n"
    removed = run(tmp_path, "subscriptions", "remove", *who, "Wall-e")
    assert removed.stdout == "Unsubscribed from WALL-E.\n"


def test_status_and_channels_let_an_operator_see_and_fix_state(tmp_path: Path) -> None:
    db = tmp_path / "db.sqlite3"
    config = tmp_path / "c.yaml"
    config.write_text(
        f"database: {db}\nchannels:\n"
        "  - {platform: console, id: general, time: '09:00', timezone: Asia/Seoul}\n"
        "  - {platform: console, id: llm, topics: [language model]}\n"
    )
    cfg = ["--config", str(config)]
    missing = run(tmp_path, *cfg, "status")
    assert missing.returncode == 2 and "no archive at" in missing.stderr and not db.exists()

    assert run(tmp_path, *cfg, "ingest", str(SAMPLE)).returncode == 0
    assert run(tmp_path, *cfg, "post", "--channel", "general").returncode == 0
    off = run(tmp_path, *cfg, "channels", "disable", "llm", "--reason", "moved to #ml")
    assert off.returncode == 0 and off.stdout == "console:llm disabled: moved to #ml\n"

    status = run(tmp_path, *cfg, "status")
    assert status.returncode == 0, status.stderr
    out = status.stdout
    assert "25 papers; newest list: 2024-10-11" in out
    assert "outbox: 0 pending, 0 claimed, 0 failed, 1 sent" in out
    assert "channels: 1 enabled, 1 disabled" in out
    assert "console:llm: 09:00 UTC daily, top 10, topics language model — DISABLED: moved to #ml" in out
    assert "next post: " in out and " KST (" in out and " UTC), the list of " in out
    assert "last post: digest of 2024-10-11, 1 part: 1 sent" in out
    assert "warning: the newest stored list (2024-10-11) is too old for" in out  # the stale-list rule

    on = run(tmp_path, *cfg, "channels", "enable", "console:llm")
    assert on.returncode == 0 and on.stdout.startswith("console:llm enabled (was: moved to #ml)")
    listed = run(tmp_path, *cfg, "channels", "list")
    assert "DISABLED" not in listed.stdout and listed.stdout.count("\n") == 2
    nope = run(tmp_path, *cfg, "channels", "enable", "nope")
    assert nope.returncode == 2 and "no channel nope; known channels: console:general, console:llm" in nope.stderr


def test_read_only_commands_create_no_files(tmp_path: Path) -> None:
    for args in (
        ["subscriptions", "list", "--platform", "console", "--user", "u", "--db", "new.sqlite3"],
        ["status", "--db", "new.sqlite3"],
        ["lookup", "x", "--db", "new.sqlite3"],
        ["preview", "--db", "new.sqlite3"],
        ["ingest", str(SAMPLE), "--db", str(tmp_path / "no" / "such" / "dir" / "x.sqlite3")],
    ):
        result = run(tmp_path, *args)
        assert result.returncode == 2, (args, result.stderr)
        assert result.stderr.count("\n") == 1, result.stderr
    listed = run(tmp_path, "channels", "list", "--db", "new.sqlite3")  # the config's channels need no archive
    assert listed.returncode == 0 and listed.stdout == (
        "no channels: add channels: to the config, or type /digest on in a channel\n"
        "no archive at new.sqlite3: no channel has settings stored from chat or the CLI yet\n"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_channels_list_shows_the_config_channels_before_any_archive(tmp_path: Path) -> None:
    db = tmp_path / "db.sqlite3"
    config = tmp_path / "c.yaml"
    config.write_text(
        f"database: {db}\nchannels:\n"
        "  - {platform: console, id: general, time: '09:00', timezone: Asia/Seoul}\n"
        "  - {platform: console, id: llm, topics: [language model], enabled: false}\n"
    )
    shown = [
        "console:general: 09:00 Asia/Seoul daily, top 10",
        "console:llm: 09:00 UTC daily, top 10, topics language model — DISABLED: turned off",
    ]
    for made in ("missing", "0-byte"):
        listed = run(tmp_path, "--config", str(config), "channels", "list")
        assert listed.returncode == 0, listed.stderr
        why = f"no archive at {db}" if made == "missing" else f"{db} is an empty file, not a digestbot archive yet"
        assert listed.stdout.splitlines() == [*shown, f"{why}: no channel has settings stored from chat or the CLI yet"]
        assert sorted(p.name for p in tmp_path.iterdir()) == (["c.yaml"] if made == "missing" else ["c.yaml", db.name])
        db.touch()
    assert db.stat().st_size == 0  # still no archive: listing wrote nothing


def test_a_failed_first_fetch_leaves_no_empty_archive(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    # Port 9 (discard): nothing listens, so the fetch fails at once.
    config.write_text(
        f"database: {tmp_path / 'db.sqlite3'}\nsources:\n  huggingface:\n    base_url: http://127.0.0.1:9\n"
    )
    result = run(tmp_path, "--config", str(config), "ingest", "--from", "huggingface", "--date", "2024-10-11")
    assert result.returncode != 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.yaml"]


def test_an_unrecognised_file_lists_the_formats(tmp_path: Path) -> None:
    junk = tmp_path / "junk.txt"
    junk.write_text("hello, these are my notes\n")
    result = run(tmp_path, "ingest", str(junk), "--db", "db.sqlite3")
    assert result.returncode == 2
    assert result.stderr.startswith(f"digestbot: error: {junk}: not a paper file digestbot recognises; the formats")
    assert "markdown" in result.stderr and "huggingface" in result.stderr and "records" in result.stderr
    assert result.stderr.count("\n") == 1


def test_counts_are_singular_for_one(tmp_path: Path) -> None:
    one = tmp_path / "one.json"
    one.write_text('{"date": "2024-10-11", "papers": [{"id": "2410.05265", "title": "PrefixQuant"}]}')
    db = tmp_path / "db.sqlite3"
    ingested = run(tmp_path, "ingest", str(one), "--db", str(db))
    assert f"{one}: 1 paper for 2024-10-11 (records): 1 added" in ingested.stdout
    config = tmp_path / "c.yaml"
    config.write_text(f"database: {db}\nchannels:\n  - {{platform: console, id: general}}\n")
    dry = run(tmp_path, "--config", str(config), "post", "--dry-run", "--date", "2024-10-11")
    assert dry.stdout.splitlines()[-1] == "dry run: 1 message planned, nothing sent", dry.stdout


def test_console_posts_are_labelled_with_their_channel(tmp_path: Path) -> None:
    db = tmp_path / "db.sqlite3"
    config = tmp_path / "c.yaml"
    config.write_text(
        f"database: {db}\nchannels:\n  - {{platform: console, id: general}}\n"
        "  - {platform: console, id: llm, topics: [quantization]}\n"
    )
    assert run(tmp_path, "--config", str(config), "ingest", str(SAMPLE)).returncode == 0
    posted = run(tmp_path, "--config", str(config), "post", "--date", "2024-10-11")
    assert posted.returncode == 0, posted.stderr
    assert "── #general ──\n" in posted.stdout and "── #llm ──\n" in posted.stdout


def test_the_dm_names_each_topic_as_the_user_typed_it(tmp_path: Path) -> None:
    db = tmp_path / "db.sqlite3"
    config = tmp_path / "c.yaml"
    config.write_text(f"database: {db}\nchannels:\n  - {{platform: console, id: general}}\n")
    assert run(tmp_path, "--config", str(config), "ingest", str(SAMPLE)).returncode == 0
    who = ["--platform", "console", "--user", "alice"]
    assert run(tmp_path, "--config", str(config), "subscriptions", "add", *who, "Diffusion-Models").returncode == 0
    posted = run(tmp_path, "--config", str(config), "post", "--date", "2024-10-11")
    assert posted.returncode == 0, posted.stderr
    dm = posted.stdout.split("── direct message to alice ──", 1)[1]
    assert "matched: Diffusion-Models" in dm and '"diffusion models"' not in dm
