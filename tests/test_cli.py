"""The command line end to end, as a user runs it (a real subprocess, a temp database)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def run(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), "DIGESTBOT_CONFIG": "", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "digestbot", "--db", str(tmp_path / "db.sqlite3"), *args],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=full_env,
        timeout=60,
        check=False,
    )


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("demo")
    result = run(path, "demo")
    assert result.returncode == 0, result.stderr
    assert "Daily Papers of 2024-10-11 (25 papers," in result.stdout
    assert "(top 5 of 25)" in result.stdout
    assert "MathCoder2" in result.stdout and "PrefixQuant" in result.stdout
    return path


def test_demo_then_lookup_by_id_and_words(demo_dir: Path) -> None:
    for query in ("2410.05265", "prefix quant"):
        result = run(demo_dir, "lookup", query)
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith("PrefixQuant: Static Quantization"), result.stdout


def test_lookup_miss_exit_1(demo_dir: Path) -> None:
    for query in ("2401.99999", "quantum chromodynamics"):
        result = run(demo_dir, "lookup", query)
        assert result.returncode == 1, query
        assert "No paper found" in result.stdout


def test_lookup_typo_author_and_bare_link(demo_dir: Path) -> None:
    result = run(demo_dir, "lookup", "difusion rectifed")
    assert result.returncode == 0, result.stderr
    assert "Showing results for: diffusion rectified" in result.stdout
    assert "Rectified Diffusion" in result.stdout
    for query in ("Houxing Ren", "arxiv.org/abs/2410.08196v2"):
        result = run(demo_dir, "lookup", query)
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith("MathCoder2"), result.stdout


def test_lookup_json_is_a_structured_answer(demo_dir: Path) -> None:
    result = run(demo_dir, "lookup", "retreiver multimodal", "--json")
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["found"] is True and answer["how"] == "typo"
    assert answer["correction"] == "retriever multimodal"
    assert answer["best"]["arxiv_id"] == "2410.03450" and answer["best"]["score"] >= 0.45
    assert isinstance(answer["others"], list)
    result = run(demo_dir, "lookup", "quantization of chocolate", "--json")
    assert result.returncode == 1
    answer = json.loads(result.stdout)
    assert answer["found"] is False and answer["best"] is None
    assert [p["arxiv_id"] for p in answer["closest_titles"]] == ["2410.05265"]


def test_preview(demo_dir: Path) -> None:
    result = run(demo_dir, "preview", "--date", "2024-10-11", "--top", "3")
    assert result.returncode == 0, result.stderr
    assert "3 papers" in result.stdout and "3. MLLM as Retriever" in result.stdout
    missing = run(demo_dir, "preview", "--date", "2024-10-12")
    assert missing.returncode == 2
    assert missing.stderr == "digestbot: error: no digest for 2024-10-12 (newest dates: 2024-10-11)\n"


def test_ingest_reports_and_is_idempotent(tmp_path: Path) -> None:
    seed = ROOT / "digestbot" / "data" / "daily-papers-2024-10-11.md"
    first = run(tmp_path, "ingest", str(seed))
    assert first.returncode == 0 and "25 added, 0 updated, 0 unchanged" in first.stdout
    second = run(tmp_path, "ingest", str(seed))
    assert "0 added, 0 updated, 25 unchanged" in second.stdout


def test_bad_input_one_line_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.md"
    bad.write_text("## Daily Papers (2024-10-11)\n### [T](https://arxiv.org/abs/2410.00001)\nVote: lots\n")
    result = run(tmp_path, "ingest", str(bad))
    assert result.returncode == 2
    assert result.stderr == f"digestbot: error: {bad}:3: vote count must be an integer, got 'lots'\n"
    config = tmp_path / "c.yaml"
    config.write_text("slack:\n  tokn: x\n")
    result = run(tmp_path, "--config", str(config), "check-config")
    assert result.returncode == 2
    assert result.stderr == f"digestbot: error: {config}: slack.tokn: unknown key; did you mean 'token'?\n" or (
        "slack.tokn: unknown key" in result.stderr and result.stderr.count("\n") == 1
    )


def test_check_config_never_echoes_secrets(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("slack:\n  enabled: true\n  bot_token: ${SLACK_BOT_TOKEN}\n  app_token: ${SLACK_APP_TOKEN}\n")
    env = {"SLACK_BOT_TOKEN": "xoxb-secret-value", "SLACK_APP_TOKEN": "xapp-secret-value"}
    result = run(tmp_path, "check-config", str(config), "--show", env=env)
    assert result.returncode == 0, result.stderr
    assert "xoxb-secret-value" not in result.stdout + result.stderr
    assert "xapp-secret-value" not in result.stdout + result.stderr
    shown = json.loads(result.stdout[: result.stdout.rindex("}") + 1])
    assert shown["slack"]["bot_token"] == "***"


def test_version_and_module_entry(tmp_path: Path) -> None:
    result = run(tmp_path, "--version")
    assert result.returncode == 0 and result.stdout.startswith("digestbot ")


def test_preview_json_payloads_are_valid_for_both_platforms(demo_dir: Path) -> None:
    from tests.fakes.discord_limits import validate_message as discord_valid
    from tests.fakes.slack_limits import validate_message as slack_valid

    for platform, validate in (("discord", discord_valid), ("slack", slack_valid)):
        result = run(demo_dir, "preview", "--date", "2024-10-11", "--platform", platform, "--json")
        assert result.returncode == 0, result.stderr
        payloads = json.loads(result.stdout)
        assert len(payloads) > 1
        for payload in payloads:
            assert validate(payload) == [], (platform, validate(payload))
        text = json.dumps(payloads, ensure_ascii=False)
        for arxiv_id in ("2410.08196", "2410.05265", "2410.03437"):
            assert text.count(f"https://arxiv.org/abs/{arxiv_id}") >= 1


def test_lookup_json_and_html_preview(demo_dir: Path) -> None:
    result = run(demo_dir, "lookup", "prefix quant", "--platform", "discord", "--json")
    assert result.returncode == 0
    assert json.loads(result.stdout)[0]["embeds"][0]["url"] == "https://arxiv.org/abs/2410.05265"
    page = demo_dir / "preview.html"
    result = run(demo_dir, "preview", "--html", str(page))
    assert result.returncode == 0, result.stderr
    html = page.read_text(encoding="utf-8")
    assert html.count("PrefixQuant: Static Quantization") >= 2  # once per platform column


def test_demo_shows_a_topic_match(demo_dir: Path) -> None:
    result = run(demo_dir, "demo")
    assert "$ /subscribe quantization\n" in result.stdout and "$ /subscribe diffusion -survey\n" in result.stdout
    assert "matched: quantization" in result.stdout and "matched: diffusion -survey" in result.stdout


def test_preview_topic_filter(demo_dir: Path) -> None:
    result = run(demo_dir, "preview", "--date", "2024-10-11", "--topic", "quantization")
    assert result.returncode == 0, result.stderr
    assert "topics: quantization" in result.stdout
    assert "PrefixQuant" in result.stdout and "MathCoder2" not in result.stdout
    bad = run(demo_dir, "preview", "--topic", "x" * 400)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "400" in bad.stderr


def test_post_without_channels_says_how_to_add_one(demo_dir: Path) -> None:
    result = run(demo_dir, "post")
    assert result.returncode == 2
    assert result.stderr.startswith("digestbot: error: no channel to post to: add a channels: list")


def test_user_mistakes_get_one_line(demo_dir: Path, tmp_path: Path) -> None:
    cases = [
        (["preview", "--html", str(tmp_path / "missing" / "x.html")], "cannot write"),
        (["preview", "--top", "0"], "expected a whole number of at least 1"),
        (["preview", "--date", "tomorrow"], "invalid date 'tomorrow'"),
        (["--db", str(tmp_path / "typo.sqlite3"), "lookup", "x"], "no archive at"),
    ]
    for args, message in cases:
        result = run(demo_dir, *args)
        assert result.returncode == 2, (args, result.stderr)
        assert result.stderr.count("\n") == 1 and message in result.stderr, (args, result.stderr)
        assert "Traceback" not in result.stderr
    assert not (tmp_path / "typo.sqlite3").exists()  # a read-only command never creates an archive


def test_channel_topics_are_checked_with_the_config(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text('channels:\n  - {platform: console, id: t, topics: ["-survey"]}\n')
    result = run(tmp_path, "check-config", str(config))
    assert result.returncode == 2
    assert "channels[0].topics[0]:" in result.stderr and result.stderr.count("\n") == 1
    config.write_text("channels:\n  - {platform: console, id: t, time: 9:00}\n")
    result = run(tmp_path, "check-config", str(config))
    assert result.returncode == 2 and "quote the time" in result.stderr


def test_check_config_requires_the_credentials_in_use(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("channels:\n  - {platform: discord, id: '1'}\n")
    result = run(tmp_path, "check-config", str(config))
    assert result.returncode == 2 and "discord.token: not set" in result.stderr
    config.write_text("slack:\n  enabled: true\n  bot_token: xoxb-1\n")
    result = run(tmp_path, "check-config", str(config))
    assert result.returncode == 2 and "slack.app_token: not set (Socket Mode needs" in result.stderr
    assert "xoxb-1" not in result.stderr


def test_ingest_date_flags_need_a_live_source(tmp_path: Path) -> None:
    seed = ROOT / "digestbot" / "data" / "daily-papers-2024-10-11.md"
    result = run(tmp_path, "ingest", str(seed), "--date", "2024-10-11")
    assert result.returncode == 2 and "apply to --from" in result.stderr


def test_preview_as_a_channel_gets_it(demo_dir: Path) -> None:
    config = demo_dir / "channels.yaml"
    config.write_text(
        f"database: {demo_dir / 'db.sqlite3'}\n"
        "channels:\n  - {platform: console, id: quant, top: 1, topics: [quantization]}\n"
    )
    result = run(demo_dir, "--config", str(config), "preview", "--channel", "quant")
    assert result.returncode == 0, result.stderr
    assert "Daily Papers — 2024-10-11 · 1 paper · topics: quantization" in result.stdout
    assert result.stdout.count("https://arxiv.org/abs/") == 1
    missing = run(demo_dir, "--config", str(config), "preview", "--channel", "nope")
    assert missing.returncode == 2 and "no enabled channel nope" in missing.stderr


def test_preview_shows_the_day_post_would_post_not_a_list_still_filling(tmp_path: Path) -> None:
    import asyncio
    from datetime import UTC, date, datetime

    from digestbot.records import Paper
    from digestbot.store import Store

    today = datetime.now(UTC).date()  # today's list is still filling: post would not take it

    async def seed() -> None:
        async with await Store.open(tmp_path / "db.sqlite3") as store:
            await store.upsert_papers([Paper(arxiv_id="2410.00001", title="Settled", digest_date=date(2024, 10, 11))])
            await store.upsert_papers([Paper(arxiv_id="2410.00002", title="Still filling", digest_date=today)])

    asyncio.run(seed())
    result = run(tmp_path, "preview")
    assert result.returncode == 0, result.stderr
    assert "2024-10-11" in result.stdout and "Settled" in result.stdout and "Still filling" not in result.stdout
    (tmp_path / "cfg.yaml").write_text(
        f"database: {tmp_path / 'db.sqlite3'}\nchannels:\n  - {{platform: console, id: c}}\n"
    )
    dry = run(tmp_path, "--config", str(tmp_path / "cfg.yaml"), "post", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "would post console:channel:c digest:2024-10-11" in dry.stdout


def test_check_config_names_the_file_from_the_environment(tmp_path: Path) -> None:
    config = tmp_path / "from-env.yaml"
    config.write_text("channels:\n  - {platform: console, id: t}\n")
    result = run(tmp_path, "check-config", env={"DIGESTBOT_CONFIG": str(config)})
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{config}: OK — 1 channel; platforms: console only\n"  # not "(defaults)"
    config.write_text("channels:\n  - {platform: discord, id: '1'}\n")
    result = run(tmp_path, "check-config", env={"DIGESTBOT_CONFIG": str(config)})
    assert result.returncode == 2
    assert result.stderr.startswith(f"digestbot: error: {config}: discord.token: not set")
    result = run(tmp_path, "check-config")
    assert result.returncode == 0 and result.stdout.startswith("(defaults): OK")
