from __future__ import annotations

import math
import random
from datetime import UTC, date, datetime

import pytest

from digestbot.channels import load_channels
from digestbot.clock import FakeClock
from digestbot.config import ChannelConfig, Config, DeliveryConfig, DiscordConfig
from digestbot.delivery import MAX_RETRY_AFTER, DeliveryEngine, backoff_delay
from digestbot.errors import AuthError, CommandError, DeliveryError, StoppedError, TopicLimitError
from digestbot.outbox import Outbox
from digestbot.store import Store
from tests.delivery_fakes import FakeAdapter, day_papers
from tests.raw_sqlite import raw_connection

DAY = date(2024, 10, 11)
NOW = datetime(2024, 10, 14, 9, 0, tzinfo=UTC)


def config(*channels: ChannelConfig, **delivery) -> Config:
    return Config(channels=channels, delivery=DeliveryConfig(**delivery))


def ch(cid: str, platform: str = "discord", **kw) -> ChannelConfig:
    return ChannelConfig(platform=platform, id=cid, **kw)  # type: ignore[arg-type]


@pytest.fixture
async def store(tmp_path):
    async with await Store.open(tmp_path / "db.sqlite3") as s:
        await s.upsert_papers(day_papers(DAY, 5))
        yield s


class Sleeps:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


def engine_for(store, cfg, *adapters, sleep=None) -> DeliveryEngine:
    return DeliveryEngine(
        store, {a.platform: a for a in adapters}, cfg, FakeClock(NOW), sleep=sleep or Sleeps(), rng=random.Random(1)
    )


async def test_post_is_idempotent_and_parts_go_in_order_in_a_thread(store):
    discord = FakeAdapter("discord", parts=3)
    cfg = Config(channels=(ch("c1"), ch("c2")), discord=DiscordConfig(threads=True))
    engine = engine_for(store, cfg, discord)
    first = await engine.post_digest()
    assert (first.posted, first.already, first.failed) == (6, 0, 0)
    assert discord.keys("c1") == [f"digest:2024-10-11:part{i}/3" for i in (1, 2, 3)]
    head = discord.posts[0]
    assert [p.thread for p in discord.posts if p.target.id == "c1"] == [None, head.message_id, head.message_id]
    again = await engine.post_digest(DAY)
    assert (again.posted, again.already, again.failed) == (0, 6, 0)
    assert len(discord.posts) == 6
    assert again.line() == "posted 0, already posted 6, failed 0"


async def test_top_n_and_topic_filter_use_the_matcher(store):
    discord = FakeAdapter("discord")
    engine = engine_for(store, config(ch("all", top=2), ch("robots", topics=("robot",))), discord)
    await engine.post_digest(DAY)
    by_target = {p.target.id: p.payload["cards"] for p in discord.posts}
    assert len(by_target["all"]) == 2
    assert len(by_target["robots"]) == 1  # only "Robot learning at scale"
    assert by_target["robots"][0] == next(p.arxiv_id for p in day_papers(DAY, 5) if "Robot" in p.title)


async def test_transient_failures_back_off_then_succeed(store):
    discord = FakeAdapter("discord")
    discord.failures["c1"] = [DeliveryError("rate limited", retry_after=2.5), DeliveryError("503")]
    sleeps = Sleeps()
    engine = engine_for(store, config(ch("c1"), ch("c2")), discord, sleep=sleeps)
    summary = await engine.post_digest(DAY)
    assert (summary.posted, summary.failed, summary.deferred) == (2, 0, 0)
    assert 2.5 <= sleeps.delays[0] <= 3.5  # retry_after honoured
    # The 429 also paused the platform: every later slot waits for its gate (the injected sleep does
    # not move the loop's clock); the 503 is the first counted attempt: backoff with full jitter.
    backoffs = [d for d in sleeps.delays[1:] if d <= 1.0]
    assert len(backoffs) == 1 and all(2.0 <= d <= 2.5 for d in sleeps.delays[1:] if d > 1.0)
    assert discord.keys("c1") == ["digest:2024-10-11"]


async def test_transient_exhaustion_is_deferred_and_a_rerun_finishes(store):
    discord = FakeAdapter("discord")
    discord.failures["c1"] = [DeliveryError("down")] * 3
    engine = engine_for(store, config(ch("c1"), max_attempts=3), discord)
    summary = await engine.post_digest(DAY)
    assert (summary.posted, summary.deferred) == (0, 1) and not summary.ok
    assert discord.send_calls == 3
    summary = await engine.post_digest(DAY)
    assert (summary.posted, summary.deferred) == (1, 0)


async def test_permanent_failure_disables_the_channel_and_others_go_on(store, caplog):
    discord = FakeAdapter("discord", parts=2)
    discord.failures["gone"] = [DeliveryError("Unknown Channel", permanent=True)]
    engine = engine_for(store, config(ch("gone"), ch("ok")), discord)
    summary = await engine.post_digest(DAY)
    assert (summary.posted, summary.failed) == (2, 1)
    assert discord.keys("gone") == []
    channels = {c.id: c for c in await load_channels(store, engine.config, include_disabled=True)}
    assert not channels["gone"].enabled and "Unknown Channel" in (channels["gone"].disabled_reason or "")
    assert "disabling the channel" in caplog.text
    assert [c.id for c in await engine.channels()] == ["ok"]


async def test_subscribers_get_one_dm_with_what_matched(store):
    discord = FakeAdapter("discord")
    for user, topic in [("u1", "diffusion"), ("u1", "video"), ("u2", "quantization"), ("u3", "nothing-matches")]:
        await store.add_subscription(platform="discord", workspace="", user=user, topic=topic, max_topics=5)
    await store.add_subscription(platform="slack", workspace="T1", user="s1", topic="diffusion", max_topics=5)
    engine = engine_for(store, config(ch("c1")), discord)
    summary = await engine.post_digest(DAY)
    dms = [p for p in discord.posts if p.target.kind == "user"]
    assert sorted(p.target.id for p in dms) == ["u1", "u2"]  # slack user not on this run's platforms
    u1 = next(p for p in dms if p.target.id == "u1")
    assert u1.key == "matches:2024-10-11" and len(u1.payload["cards"]) == 1
    assert summary.posted == 3
    assert (await engine.post_digest(DAY)).posted == 0


async def test_subscriptions_changed_between_posts_are_seen_by_the_same_engine(store):
    discord = FakeAdapter("discord")
    await store.add_subscription(platform="discord", workspace="", user="u1", topic="diffusion", max_topics=5)
    engine = engine_for(store, config(ch("c1")), discord)
    await engine.post_digest(DAY, notify=False)  # the engine's index is loaded here
    await store.add_subscription(platform="discord", workspace="", user="u2", topic="robot", max_topics=5)
    await store.remove_subscription(platform="discord", workspace="", user="u1", topic="diffusion")
    summary = await engine.notify_subscribers(DAY)
    assert summary.posted == 1
    assert [p.target.id for p in discord.posts if p.target.kind == "user"] == ["u2"]


async def test_a_big_fan_out_runs_on_a_fixed_pool_of_tasks(store):
    import asyncio

    from digestbot.delivery import PIPELINE_FACTOR

    class Counting(FakeAdapter):
        most = 0

        async def send(self, target, payload, *, key, thread=None):
            Counting.most = max(
                Counting.most, sum(1 for t in asyncio.all_tasks() if t.get_name().startswith("delivery-"))
            )
            return await super().send(target, payload, key=key, thread=thread)

    async with store.transaction() as db:
        await db.executemany(
            "INSERT INTO subscriptions(platform, workspace, user_id, topic, created_at) VALUES (?,?,?,?,?)",
            [("discord", "", f"u{i}", "diffusion", "2024-10-11T00:00:00+00:00") for i in range(300)],
        )
    discord = Counting("discord")
    summary = await engine_for(store, config(ch("c1"), concurrency=1), discord).post_digest(DAY)
    assert summary.posted == 301
    assert 0 < Counting.most <= PIPELINE_FACTOR  # one task per target would have made 300


async def test_user_who_cannot_be_messaged_is_recorded_not_retried(store):
    discord = FakeAdapter("discord")
    await store.add_subscription(platform="discord", workspace="", user="u1", topic="robot", max_topics=5)
    discord.failures["u1"] = [DeliveryError("Cannot send messages to this user", permanent=True)]
    engine = engine_for(store, config(ch("c1")), discord)
    summary = await engine.post_digest(DAY)
    assert (summary.posted, summary.failed) == (1, 1)
    again = await engine.notify_subscribers(DAY)
    assert again.posted == 0 and discord.send_calls == 2
    assert (await engine.outbox.counts())["failed"] == 1


async def test_reconcile_resolves_claims_left_by_a_crash(store):
    discord = FakeAdapter("discord", parts=2)
    engine = engine_for(store, config(ch("c1")), discord)
    target = (await engine.channels())[0].target
    rows, _ = await engine.outbox.plan(target, slot="post", day=DAY, kind="digest", payloads=["p1", "p2"])
    crashed = engine_for(store, engine.config, discord)
    for row in rows:
        assert await crashed.outbox.claim(row)
    await discord.send(rows[0].target, "p1", key=rows[0].key)  # part 1 reached the platform, part 2 did not
    await raw_connection(store).execute(
        "UPDATE deliveries SET claimed_by = 'gone:1:x', claimed_at = '2000-01-01T00:00:00+00:00'"
    )
    assert await engine.reconcile() == 2
    summary = await engine.post_digest(DAY, notify=False)
    assert (summary.posted, summary.already) == (1, 1)
    assert discord.keys() == ["digest:2024-10-11:part1/2", "digest:2024-10-11:part2/2"]


async def test_dry_run_posts_nothing(store):
    discord = FakeAdapter("discord")
    engine = engine_for(store, config(ch("c1")), discord)
    summary = await engine.post_digest(DAY, dry_run=True)
    assert summary.planned == ("discord:channel:c1 digest:2024-10-11",) and discord.posts == []
    assert await engine.outbox.counts() == {}


async def test_unknown_channel_and_missing_digest_are_command_errors(store):
    engine = engine_for(store, config(ch("c1")), FakeAdapter("discord"))
    with pytest.raises(CommandError, match="no enabled channel nope"):
        await engine.post_digest(DAY, channels=["nope"])
    with pytest.raises(CommandError, match="no digest for 2024-10-12"):
        await engine.post_digest(date(2024, 10, 12))


def test_backoff_grows_and_is_capped():
    rng = random.Random(0)
    assert all(backoff_delay(1, None, rng) <= 1 for _ in range(50))
    assert max(backoff_delay(4, None, rng) for _ in range(200)) > 4
    assert all(backoff_delay(30, None, rng) <= 300 for _ in range(50))
    assert backoff_delay(3, 7.0, rng) >= 7.0


async def fail_writes(store, table: str = "deliveries", when: str = "INSERT") -> None:
    """Make every ``when`` on ``table`` fail as a full disk would (a real SQLite error, no mock)."""
    await raw_connection(store).execute(
        f"CREATE TRIGGER full_disk BEFORE {when} ON {table} BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END"
    )


async def test_a_database_write_failure_during_delivery_is_counted_not_hidden(store):
    discord = FakeAdapter("discord")
    await fail_writes(store)
    engine = engine_for(store, config(ch("c1"), ch("c2")), discord)
    summary = await engine.post_digest(DAY)
    assert (summary.posted, summary.errors) == (0, 2) and not summary.ok
    assert summary.line() == "posted 0, already posted 0, failed 0, stopped by an error 2"
    assert len(summary.problems) == 1 and "database write failed" in summary.problems[0]
    assert "database or disk is full" in summary.problems[0]
    await raw_connection(store).execute("DROP TRIGGER full_disk")
    assert (await engine.post_digest(DAY)).posted == 2


async def test_a_refused_token_stops_the_platform_and_keeps_every_channel_enabled(store):
    discord = FakeAdapter("discord", parts=2)
    discord.failures["c1"] = [AuthError("discord:channel:c1: Discord said 401: Unauthorized")]
    discord.failures["c2"] = [AuthError("discord:channel:c2: Discord said 401: Unauthorized")]
    engine = engine_for(store, config(ch("c1"), ch("c2"), concurrency=1), discord)
    summary = await engine.post_digest(DAY)
    assert (summary.posted, summary.failed, summary.refused) == (0, 0, 2)
    assert discord.send_calls == 1  # after the first 401 nothing more is sent to the platform
    assert len(summary.problems) == 1 and "401" in summary.problems[0]
    assert [c.id for c in await engine.channels()] == ["c1", "c2"]  # nothing disabled
    assert (await engine.outbox.counts()) == {"pending": 4}  # every part waits for a fixed token
    discord.failures.clear()
    again = await engine.post_digest(DAY)
    assert (again.posted, again.refused) == (4, 0)


async def test_a_stopped_platform_is_counted_as_stopped_not_as_refused_credentials(store):
    console = FakeAdapter("console", parts=2)
    console.failures["c1"] = [StoppedError("console transcript /x.jsonl: cannot write it (Is a directory)")]
    engine = engine_for(store, config(ch("c1", "console"), ch("c2", "console"), concurrency=1), console)
    summary = await engine.post_digest(DAY)
    assert (summary.posted, summary.failed, summary.refused, summary.stopped) == (0, 0, 0, 2)
    assert console.send_calls == 1  # stopped for the run, like a refused token
    assert summary.problems == (
        "console transcript /x.jsonl: cannot write it (Is a directory) — nothing was sent to console;"
        " its channels stay enabled",
    )
    assert summary.line() == "posted 0, already posted 0, failed 0, not sent (platform stopped) 2"
    assert not summary.ok and [c.id for c in await engine.channels()] == ["c1", "c2"]
    assert (await engine.outbox.counts()) == {"pending": 4}


async def test_a_retry_after_beyond_the_cap_defers_instead_of_sleeping(store):
    discord = FakeAdapter("discord")
    discord.failures["c1"] = [DeliveryError("rate limited", retry_after=MAX_RETRY_AFTER + 1)]
    sleeps = Sleeps()
    engine = engine_for(store, config(ch("c1"), ch("c2"), concurrency=1), discord, sleep=sleeps)
    summary = await engine.post_digest(DAY)
    assert (summary.posted, summary.deferred) == (0, 2)
    assert discord.send_calls == 1  # the platform is held for the rest of the run
    assert all(d <= MAX_RETRY_AFTER for d in sleeps.delays)
    assert (await engine.outbox.counts()) == {"pending": 2}


async def test_a_message_another_live_run_holds_is_not_reported_as_done(store):
    discord = FakeAdapter("discord")
    engine = engine_for(store, config(ch("c1")), discord)
    target = (await engine.channels())[0].target
    (row,), _ = await engine.outbox.plan(target, slot="post", day=DAY, kind="digest", payloads=["p"])
    other = Outbox(store)
    assert await other.claim(row)  # another run, alive (it holds its run lock), within its lease
    summary = await engine.post_digest(DAY, notify=False)
    assert (summary.posted, summary.deferred, summary.elsewhere) == (0, 0, 1) and not summary.ok  # exit 75
    assert summary.line().endswith(", being sent by another process 1")  # not "deferred": nothing went wrong
    await other.close()


async def test_a_subscription_made_in_a_dm_is_delivered_with_the_servers_digest(store):
    # Discord stores a /subscribe sent in a DM with the bot under workspace "": it means every server.
    discord = FakeAdapter("discord")
    await store.add_subscription(platform="discord", workspace="", user="u1", topic="diffusion", max_topics=5)
    await store.add_subscription(platform="discord", workspace="G1", user="u1", topic="robot", max_topics=5)
    await store.add_subscription(platform="discord", workspace="", user="u2", topic="quantization", max_topics=5)
    await store.add_subscription(platform="discord", workspace="G2", user="u3", topic="robot", max_topics=5)
    engine = engine_for(store, config(ch("c1", workspace="G1"), ch("c2", workspace="G2")), discord)
    await engine.post_digest(DAY)
    dms = {p.target.id: p for p in discord.posts if p.target.kind == "user"}
    assert sorted(dms) == ["u1", "u2", "u3"]
    assert len([p for p in discord.posts if p.target.kind == "user"]) == 3  # one DM each, though two servers posted
    assert len(dms["u1"].payload["cards"]) == 2  # its DM topic and its server topic, in one message
    assert (await engine.post_digest(DAY)).posted == 0


async def test_the_topic_cap_counts_a_users_topics_in_every_workspace(store):
    await store.add_subscription(platform="discord", workspace="", user="u1", topic="a", max_topics=2)
    await store.add_subscription(platform="discord", workspace="G1", user="u1", topic="b", max_topics=2)
    with pytest.raises(TopicLimitError, match="limit is 2"):
        await store.add_subscription(platform="discord", workspace="G2", user="u1", topic="c", max_topics=2)
    assert await store.add_subscription(platform="slack", workspace="T1", user="u1", topic="c", max_topics=2)


async def test_a_run_whose_claim_was_taken_over_stops_instead_of_sending_twice(store):
    # Our lease lapsed during a long backoff and another run took the row over (and will send it).
    discord = FakeAdapter("discord")
    discord.failures["c1"] = [DeliveryError("503")]

    async def slow_backoff(seconds: float) -> None:
        await raw_connection(store).execute(
            "UPDATE deliveries SET claimed_by = 'host:1:0123abcd', claimed_at = ?", (NOW.isoformat(),)
        )

    engine = engine_for(store, config(ch("c1")), discord, sleep=slow_backoff)
    summary = await engine.post_digest(DAY, notify=False)
    assert discord.send_calls == 1 and (summary.posted, summary.elsewhere) == (0, 1)


async def test_a_fan_out_stopped_early_leaves_no_read_ahead_running(store):
    """The topic-displays batches asked ahead end with the fan-out: none is left pending on the loop."""
    import asyncio

    from digestbot.delivery import DISPLAYS_AHEAD

    for i in range(DISPLAYS_AHEAD * 2):
        await store.add_subscription(platform="discord", workspace="", user=f"u{i}", topic="diffusion", max_topics=5)
    read, calls, stuck = store.topic_displays, [], asyncio.Event()

    async def second_read_never_answers(*, platform, users):
        calls.append(len(users))
        if len(calls) > 1:
            stuck.set()
            await asyncio.Event().wait()
        return await read(platform=platform, users=users)

    store.topic_displays = second_read_never_answers
    post = asyncio.create_task(engine_for(store, config(ch("c1")), FakeAdapter("discord")).post_digest(DAY))
    await asyncio.wait_for(stuck.wait(), 30)
    post.cancel()
    with pytest.raises(asyncio.CancelledError):
        await post
    assert not [t for t in asyncio.all_tasks() if t.get_name() == "topic-displays" and not t.done()]


async def test_each_dm_names_topics_as_its_subscriber_typed_them_read_ahead_in_batches(store):
    from digestbot.delivery import DISPLAYS_AHEAD

    users = DISPLAYS_AHEAD + 44  # more than one read-ahead
    for i in range(users):
        shown = f"Diffusion-{i}" if i % 2 else ""  # every other one typed it differently
        await store.add_subscription(
            platform="discord", workspace="", user=f"u{i}", topic="diffusion", max_topics=5, display=shown
        )
    calls: list[int] = []
    read = store.topic_displays

    async def counting(*, platform, users):
        calls.append(len(users))
        return await read(platform=platform, users=users)

    class Showing(FakeAdapter):
        def render(self, message):
            return [{**payload, "text": repr(message)} for payload in super().render(message)]

    store.topic_displays = counting
    discord = Showing("discord")
    summary = await engine_for(store, config(ch("c1")), discord).post_digest(DAY)
    assert summary.posted == 1 + users
    texts = {p.target.id: p.payload["text"] for p in discord.posts if p.target.kind == "user"}
    assert all(f"Diffusion-{i}" in texts[f"u{i}"] for i in range(1, users, 2))
    assert not any("Diffusion-" in texts[f"u{i}"] for i in range(0, users, 2))
    assert sum(calls) == users and len(calls) <= users // (DISPLAYS_AHEAD // 2) + 2  # batches, not one per DM


async def test_dm_preparation_is_spread_over_loop_passes_within_a_budget():
    """Workers that wake together take turns: no pass of the loop holds more than its budget of their work."""
    import asyncio

    from digestbot.delivery import _Passes

    now = [0.0]
    passes = _Passes(0.010, clock=lambda: now[0])
    loop = asyncio.get_running_loop()
    pass_no, worked = [0], []

    def count_pass() -> None:
        pass_no[0] += 1
        if len(worked) < 10:
            loop.call_soon(count_pass)

    async def prepare() -> None:
        await passes.turn()
        worked.append(pass_no[0])
        now[0] += 0.004  # each DM's preparation: 4 ms

    loop.call_soon(count_pass)
    await asyncio.gather(*(prepare() for _ in range(10)))
    per_pass = [worked.count(p) for p in set(worked)]
    assert len(worked) == 10 and max(per_pass) == 3  # 0, 4 and 8 ms fit in 10 ms; the 4th waits


async def test_paced_senders_in_one_tick_share_one_timer_and_go_in_order(store):
    import asyncio

    from digestbot.delivery import PACE_TICK
    from digestbot.pacing import Pacer

    engine = DeliveryEngine(store, {"discord": FakeAdapter("discord")}, config(), FakeClock(NOW))  # real sleeps
    loop = asyncio.get_running_loop()
    pacer = Pacer()
    pacer.interval = PACE_TICK / 4  # paced: four slots per tick
    start = (math.ceil(loop.time() / PACE_TICK) + 5.1) * PACE_TICK  # clear of now and of tick boundaries
    pacer._next_at = start
    tickets = [pacer.reserve(loop.time()) for _ in range(6)]  # slots 5.1, 5.35, ... 6.35 ticks ahead: two ticks
    woke: list[tuple[int, float]] = []

    async def sender(i: int) -> None:
        await engine._wait_for_slot(pacer, tickets[i])
        woke.append((i, loop.time()))

    timers_before = len(loop._scheduled)  # type: ignore[attr-defined]
    tasks = [asyncio.create_task(sender(i)) for i in range(6)]
    await asyncio.sleep(0)
    assert len(engine._ticks) == 2 and len(loop._scheduled) - timers_before == 2  # type: ignore[attr-defined]
    tasks[1].cancel()  # one sender stopped: the others of its tick still go
    await asyncio.gather(*tasks, return_exceptions=True)
    assert [i for i, _ in woke] == [0, 2, 3, 4, 5] and engine._ticks == {}
    assert all(at >= tickets[i].slot - 1e-6 for i, at in woke)  # never before its slot
    await engine.close()
