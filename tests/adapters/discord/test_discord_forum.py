"""The forum layout on Discord, through discord.py and the fake Discord: one post per paper with matching tags."""

from __future__ import annotations

import signal
from pathlib import Path

from tests.adapters.discord.test_discord_compact import cli
from tests.adapters.discord.test_discord_post_e2e import SAMPLE
from tests.fakes.discord_server import START_THREAD, FakeDiscord

TAGS = ["Diffusion", "language model", "quantization", "agent", "Math", "Robotics", "video", "benchmark"]


def write_config(fake: FakeDiscord, workdir: Path, forum: int, *, top: int) -> None:
    (workdir / "cfg.yaml").write_text(
        f"database: {workdir / 'db.sqlite3'}\n"
        "discord:\n"
        "  enabled: true\n"
        "  token: ${DISCORD_TOKEN}\n"
        f"  api_base_url: {fake.base_url}\n"
        "delivery: {concurrency: 1}\n"
        f"channels:\n  - {{platform: discord, id: '{forum}', workspace: '{fake.guild_id}', layout: forum,"
        f" top: {top}}}\n",
        encoding="utf-8",
    )


async def test_a_forum_gets_one_post_per_paper_named_after_it_with_matching_tags(
    fake: FakeDiscord, tmp_path: Path
) -> None:
    forum = fake.add_forum(tags=TAGS)
    write_config(fake, tmp_path, forum, top=10)
    assert (await cli(tmp_path, fake, "ingest", str(SAMPLE)))[0] == 0
    code, out = await cli(tmp_path, fake, "post", "--date", "2024-10-11")
    assert code == 0, out
    assert out.splitlines()[-1] == "posted 10, already posted 0, failed 0"
    posts = fake.forum_posts(forum)
    assert len(posts) == 10
    assert all(1 <= len(p["name"]) <= 100 for p in posts)
    assert posts[0]["name"].startswith("MathCoder2")
    assert all(len(p["tags"]) <= 5 for p in posts)
    assert "Math" in posts[0]["tags"]  # "MathCoder2: Better Math Reasoning …" matches the topic "math"
    tagged = [p for p in posts if p["tags"]]
    assert tagged and all(set(p["tags"]) <= set(TAGS) for p in tagged)
    for post in posts:  # the card is the starter message, with its rank
        assert post["starter"]["embeds"][0]["title"].startswith(f"{posts.index(post) + 1}. ")
    code, out = await cli(tmp_path, fake, "post", "--date", "2024-10-11")
    assert code == 0 and out.splitlines()[-1] == "posted 0, already posted 10, failed 0", out
    assert len(fake.forum_posts(forum)) == 10


async def test_forum_posts_survive_sigkills_even_when_the_post_was_archived(fake: FakeDiscord, tmp_path: Path) -> None:
    for n, when in ((1, "before"), (1, "after"), (3, "after"), (2, "before")):
        work = tmp_path / f"{when}{n}"
        work.mkdir()
        forum = fake.add_forum(name=f"forum-{when}{n}", tags=TAGS)
        write_config(fake, work, forum, top=4)
        assert (await cli(work, fake, "ingest", str(SAMPLE)))[0] == 0
        crash = {"CRASH_PLATFORM": "discord", "CRASH_AFTER_SENDS": str(n), "CRASH_WHEN": when}
        code, out = await cli(work, fake, "post", "--date", "2024-10-11", crash=crash)
        assert code == -signal.SIGKILL, out
        for post in fake.forum_posts(forum):
            fake.archive_thread(post["id"])  # found among the archived posts too
        code, out = await cli(work, fake, "post", "--date", "2024-10-11")
        assert code == 0, out
        posts = fake.forum_posts(forum)
        assert [p["starter"]["embeds"][0]["title"].split(".")[0] for p in posts] == ["1", "2", "3", "4"], (when, n)


async def test_the_fake_forum_enforces_discords_limits(fake: FakeDiscord, tmp_path: Path) -> None:
    import aiohttp

    forum = fake.add_forum(tags=TAGS)
    url = f"{fake.base_url}/channels/{forum}/threads"
    headers = {"Authorization": f"Bot {fake.token}"}
    message = {"content": "hi", "allowed_mentions": {"parse": []}}
    tag_ids = [t["id"] for t in (await _channel(fake, forum))["available_tags"]]
    async with aiohttp.ClientSession(headers=headers) as s:
        too_long = await s.post(url, json={"name": "x" * 101, "message": message})
        too_many = await s.post(url, json={"name": "ok", "message": message, "applied_tags": tag_ids[:6]})
        unknown = await s.post(url, json={"name": "ok", "message": message, "applied_tags": ["1"]})
        into_forum = await s.post(f"{fake.base_url}/channels/{forum}/messages", json=message)
        ok = await s.post(url, json={"name": "ok", "message": message, "applied_tags": tag_ids[:5]})
    assert [r.status for r in (too_long, too_many, unknown, into_forum, ok)] == [400, 400, 400, 400, 201]
    assert len(fake.calls_to(START_THREAD)) == 4


async def _channel(fake: FakeDiscord, channel_id: int) -> dict:
    import aiohttp

    headers = {"Authorization": f"Bot {fake.token}"}
    async with aiohttp.ClientSession(headers=headers) as s, s.get(f"{fake.base_url}/channels/{channel_id}") as r:
        return await r.json()


async def test_check_config_says_when_a_forum_channel_is_no_forum(fake: FakeDiscord, tmp_path: Path) -> None:
    forum = fake.add_forum(tags=TAGS)
    write_config(fake, tmp_path, forum, top=3)
    code, out = await cli(tmp_path, fake, "check-config")
    assert code == 0, out
    text = fake.add_channel(name="not-a-forum")
    write_config(fake, tmp_path, text, top=3)
    code, out = await cli(tmp_path, fake, "check-config")
    assert code == 2, out
    assert out.strip().splitlines() == [
        f"digestbot: error: {tmp_path / 'cfg.yaml'}: channels[0].layout: discord:{text} is not a forum channel (type 15)"
    ]


def test_forum_on_slack_is_a_config_error_that_says_to_use_compact(tmp_path: Path) -> None:
    import pytest

    from digestbot.config import load_config
    from digestbot.errors import ConfigError

    path = tmp_path / "cfg.yaml"
    path.write_text("channels:\n  - {platform: slack, id: C1, layout: forum}\n", encoding="utf-8")
    with pytest.raises(
        ConfigError, match=r"channels\[0\]\.layout: forum is for Discord forum channels; on Slack use compact"
    ):
        load_config(path)
