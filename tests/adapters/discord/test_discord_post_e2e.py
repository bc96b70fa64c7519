"""End to end: the delivery engine and ``digestbot post`` posting through discord.py to the fake Discord."""

from __future__ import annotations

import asyncio
import os
import sys
from datetime import date
from pathlib import Path

import pytest

from adapters.discord_poster import create_adapter
from digestbot.store import Store
from tests.adapters.discord.conftest import make_config
from tests.fakes.discord_server import CREATE_MESSAGE, FakeDiscord
from tests.raw_sqlite import raw_connection

pytest.importorskip("digestbot.matching", reason="the engine needs digestbot.matching (branch topics)")

ROOT = Path(__file__).resolve().parents[3]
SAMPLE = ROOT / "digestbot" / "data" / "daily-papers-2024-10-11.md"
DAY = date(2024, 10, 11)
TOPICS = ("quantization", '"language model"', "model")


async def test_engine_posts_once_in_order_with_threads_and_skips_closed_dms(
    fake: FakeDiscord, seeded_store: Store
) -> None:
    from digestbot.delivery import DeliveryEngine

    channels = [fake.add_channel(name="papers-a"), fake.add_channel(name="papers-b")]
    users = [fake.add_user(name=f"u{i}") for i in range(3)]
    fake.close_dms(users[2])
    for user, topic in zip(users, TOPICS, strict=True):
        await seeded_store.add_subscription(
            platform="discord", workspace=str(fake.guild_id), user=str(user), topic=topic, max_topics=5
        )
    config = make_config(fake, *channels, threads=True)

    async def run() -> object:
        adapter = create_adapter(config)
        await adapter.start()
        try:
            return await DeliveryEngine(
                seeded_store, {"discord": adapter}, config, sleep=lambda _: asyncio.sleep(0)
            ).post_digest(DAY)
        finally:
            await adapter.close()

    first = await run()
    for channel in channels:
        [head] = fake.messages(channel)  # part 1 in the channel, the rest in its thread
        thread = fake.messages(int(head["id"]))
        assert len(thread) >= 1
        titles = [e["title"] for m in [head, *thread] for e in m["embeds"]]
        assert titles[0].startswith("1. ") and titles[-1].startswith("10. ")  # top 10, in rank order
    for user in users[:2]:
        assert len(fake.messages(fake.dm_channel_id(user))) >= 1
    assert fake.messages(fake.dm_channel_id(users[2])) == []
    assert first.failed == 1  # the closed DM, recorded and not retried

    creates = len(fake.calls_to(CREATE_MESSAGE))
    second = await run()
    assert second.posted == 0 and len(fake.calls_to(CREATE_MESSAGE)) == creates


async def cli(workdir: Path, *args: str, env: dict[str, str]) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "digestbot", "--config", str(workdir / "cfg.yaml"), *args,
        cwd=workdir, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode or 0, out.decode()


async def test_digestbot_post_cli_posts_to_two_channels_and_three_subscribers_once(
    fake: FakeDiscord, tmp_path: Path
) -> None:
    channels = [fake.add_channel(name="papers-a"), fake.add_channel(name="papers-b")]
    users = [fake.add_user(name=f"u{i}") for i in range(3)]
    guild = str(fake.guild_id)
    (tmp_path / "cfg.yaml").write_text(
        f"database: {tmp_path / 'db.sqlite3'}\n"
        "discord:\n"
        "  enabled: true\n"
        "  token: ${DISCORD_TOKEN}\n"
        f"  application_id: '{fake.application_id}'\n"
        f"  api_base_url: {fake.base_url}\n"
        "channels:\n" + "".join(f"  - {{platform: discord, id: '{c}', workspace: '{guild}'}}\n" for c in channels),
        encoding="utf-8",
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DISCORD_TOKEN": fake.token}
    env.pop("DIGESTBOT_CONFIG", None)
    assert (await cli(tmp_path, "ingest", str(SAMPLE), env=env))[0] == 0
    for user, topic in zip(users, TOPICS, strict=True):
        code, out = await cli(
            tmp_path, "subscriptions", "add", "--platform", "discord", "--workspace", guild, "--user", str(user),
            topic, env=env,
        )  # fmt: skip
        assert code == 0, out

    code, out = await cli(tmp_path, "post", "--date", "2024-10-11", env=env)
    assert code == 0, out
    assert fake.token not in out
    parts = [len(fake.messages(c)) for c in channels]
    assert parts[0] == parts[1] >= 1
    dms = [len(fake.messages(fake.dm_channel_id(u))) for u in users]
    assert all(n >= 1 for n in dms)  # a long list of matches ("model") comes in several parts
    creates = len(fake.calls_to(CREATE_MESSAGE))
    assert creates == sum(parts) + sum(dms)  # no create was repeated

    code, out = await cli(tmp_path, "post", "--date", "2024-10-11", env=env)
    assert code == 0, out
    assert "posted 0" in out
    assert len(fake.calls_to(CREATE_MESSAGE)) == creates


def test_topics_used_here_match_the_seed() -> None:
    """Guard the e2e tests above: each subscriber topic must match a paper of the seed day."""
    from digestbot.sources.files import load_file
    from digestbot.topics import parse_topic

    papers = load_file(SAMPLE).papers
    for topic in TOPICS:
        words = parse_topic(topic).include[0]
        assert any(" ".join(words) in (p.title + " " + " ".join(t for _, t in p.sections)).lower() for p in papers)


async def test_digest_now_posts_in_the_channel_through_the_engine(
    harness_factory, fake: FakeDiscord, seeded_store: Store
) -> None:
    from digestbot.delivery import DeliveryEngine
    from tests.adapters.discord.conftest import MANAGE_GUILD

    config = make_config(fake)
    adapter = create_adapter(config)
    await adapter.start()
    try:
        engine = DeliveryEngine(seeded_store, {"discord": adapter}, config)
        h = await harness_factory(config, seeded_store, engine=engine)
        sub = [{"name": "on", "type": 1, "options": []}]
        await h.command("digest", sub, permissions=MANAGE_GUILD)
        now = [{"name": "now", "type": 1, "options": []}]
        [reply] = await h.command("digest", now, permissions=MANAGE_GUILD)
        assert "posted" in reply.body["data"]["content"]
        posted = fake.messages(h.channel_id)
        assert posted and posted[0]["embeds"][0]["title"].startswith("1. ")
        [again] = await h.command("digest", now, permissions=MANAGE_GUILD)
        assert len(fake.messages(h.channel_id)) == len(posted)  # idempotent
        assert again.body["data"]["flags"] & (1 << 6)
    finally:
        await adapter.close()


async def test_a_revoked_token_stops_discord_and_disables_no_channel(fake: FakeDiscord, seeded_store: Store) -> None:
    from digestbot.channels import load_channels
    from digestbot.delivery import DeliveryEngine

    channels = [fake.add_channel(name="papers-a"), fake.add_channel(name="papers-b")]
    config = make_config(fake, *channels)
    adapter = create_adapter(config)
    await adapter.start()
    fake.token = "rotated"  # the operator rotated the token after the run logged in
    engine = DeliveryEngine(seeded_store, {"discord": adapter}, config, sleep=lambda _: asyncio.sleep(0))
    try:
        summary = await engine.post_digest(DAY, notify=False)
    finally:
        await adapter.close()
        await engine.close()
    assert (summary.posted, summary.failed) == (0, 0) and summary.refused >= 1
    assert len(summary.problems) == 1 and "401" in summary.problems[0] and "discord.token" in summary.problems[0]
    every = await load_channels(seeded_store, config, include_disabled=True)
    assert [c.enabled for c in every] == [True, True]
    assert len(fake.calls_to(CREATE_MESSAGE)) <= len(channels)  # only the sends already in flight


async def test_crash_recovery_finds_a_post_buried_under_a_busy_channel(fake: FakeDiscord, seeded_store: Store) -> None:
    from digestbot.delivery import DeliveryEngine

    channel = fake.add_channel(name="busy")
    config = make_config(fake, channel)
    adapter = create_adapter(config)
    await adapter.start()
    try:
        engine = DeliveryEngine(seeded_store, {"discord": adapter}, config, sleep=lambda _: asyncio.sleep(0))
        assert (await engine.post_digest(DAY, notify=False)).posted >= 1
        await engine.close()
        ours = len(fake.messages(channel))
        # A run crashed between sending part 1 and recording it; 250 messages came before the restart,
        # long after Discord's enforce_nonce window (minutes) closed.
        await raw_connection(seeded_store).execute(
            "UPDATE deliveries SET state='claimed', claimed_by='gone:1:abc', claimed_at='2000-01-01T00:00:00+00:00'"
            " WHERE part=1"
        )
        fake.chatter(channel, 250)
        fake.nonce_window = 0.0
        engine = DeliveryEngine(seeded_store, {"discord": adapter}, config, sleep=lambda _: asyncio.sleep(0))
        again = await engine.post_digest(DAY, notify=False)
        await engine.close()
    finally:
        await adapter.close()
    assert again.posted == 0
    assert len(fake.messages(channel)) == ours + 250  # no duplicate


async def test_digestbot_post_with_a_token_refused_while_posting_exits_1_in_one_line(
    fake: FakeDiscord, tmp_path: Path
) -> None:
    channels = [fake.add_channel(name="papers-a"), fake.add_channel(name="papers-b")]
    guild = str(fake.guild_id)
    (tmp_path / "cfg.yaml").write_text(
        f"database: {tmp_path / 'db.sqlite3'}\n"
        "discord:\n"
        "  enabled: true\n"
        "  token: ${DISCORD_TOKEN}\n"
        f"  api_base_url: {fake.base_url}\n"
        "delivery: {concurrency: 1}\n"
        "channels:\n" + "".join(f"  - {{platform: discord, id: '{c}', workspace: '{guild}'}}\n" for c in channels),
        encoding="utf-8",
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DISCORD_TOKEN": fake.token}
    env.pop("DIGESTBOT_CONFIG", None)
    assert (await cli(tmp_path, "ingest", str(SAMPLE), env=env))[0] == 0
    fake.fail_next(CREATE_MESSAGE, status=401)  # the token was revoked after login
    code, out = await cli(tmp_path, "post", "--date", "2024-10-11", env=env)
    assert code == 1, out
    lines = out.splitlines()
    assert lines[0].startswith("posted 0, already posted 0, failed 0") and "credentials refused" in lines[0]
    assert len(lines) == 2 and lines[1].startswith("digestbot: error: ") and "discord.token" in lines[1]
    assert fake.token not in out
    assert len(fake.calls_to(CREATE_MESSAGE)) == 1  # nothing more was sent after the 401
    code, out = await cli(tmp_path, "post", "--date", "2024-10-11", env=env)
    assert code == 0, out  # the channels were not disabled: the next run posts everything
    assert all(fake.messages(c) for c in channels)
