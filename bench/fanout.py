"""Fan-out benchmark: 1,000 channels + 10,000 DMs through a fake platform with global and per-channel limits.

The fake platform enforces what chat platforms do: a global token bucket (default 2,000
requests/s) and a bucket per channel or DM (1 message/s, bursts of 5, like Discord's 5 per 5 s);
a digest is 3 parts, and a DM first opens the DM channel (one more request, as Discord's
``POST /users/@me/channels``; the adapter remembers opened channels). An over-limit request is
answered with ``DeliveryError(retry_after=...)``, as a 429 would be; each accepted request costs
a simulated round trip (default 5 ms). The engine runs with the SHIPPED delivery defaults
(``--concurrency`` only to experiment) through the real outbox (SQLite file, group commit,
fsync) and must reach >= 0.9 of the ceiling (the global rate: opens count as requests) with zero
duplicates and zero losses. CPU per message is the process CPU time over the run divided by
the messages sent. A naive loop (one target after another, no outbox) runs on a sample in the
same process for comparison.

    python -m bench.fanout [--channels 1000] [--users 10000] [--rate 2000] [--rtt-ms 5]

Ends with ``bench.fanout defaults: ratio=... duplicates=0 lost=0 ...``; exits 1 when a goal is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from bench.machine import describe_machine
from digestbot.blocks import Message
from digestbot.clock import FakeClock
from digestbot.config import ChannelConfig, Config, DeliveryConfig
from digestbot.delivery import DeliveryEngine
from digestbot.errors import DeliveryError
from digestbot.formatter import format_digest
from digestbot.labels import labels_for
from digestbot.ports import Sent, Target
from digestbot.sources.files import load_file
from digestbot.store import Store

SAMPLE = Path(__file__).resolve().parent.parent / "digestbot" / "data" / "daily-papers-2024-10-11.md"
DAY = date(2024, 10, 11)


class TokenBucket:
    """``rate`` tokens per second, at most ``burst`` banked."""

    def __init__(self, rate: float, burst: float) -> None:
        self.rate, self.burst = rate, burst
        self.tokens = burst
        self.at = time.monotonic()

    def take(self) -> float:
        """Take a token; return 0, or how long until one is available (nothing taken)."""
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate


class RateLimitedPlatform:
    """A fake platform adapter: global and per-target buckets, DM opens, multi-part digests; counts every post."""

    platform = "discord"

    def __init__(self, rate: float, rtt: float, *, parts: int = 3) -> None:
        self.bucket = TokenBucket(rate, burst=max(1.0, rate * 0.05))
        self.per_target: dict[str, TokenBucket] = {}
        self.rtt = rtt
        self.parts = parts
        self.opened: set[str] = set()
        self.posts: Counter[tuple[str, str]] = Counter()
        self.rejected = 0
        self.accepted = 0
        self.opens = 0
        self.first = self.last = 0.0

    async def start(self) -> None:
        pass

    def render(self, message: Message) -> list[Any]:
        n = self.parts if message.kind == "digest" else 1
        cards = [c.arxiv_id for c in message.cards]
        return [{"kind": message.kind, "part": i, "cards": cards} for i in range(1, n + 1)]

    def _limit(self, target: Target) -> None:
        """Take a global token and the target's; raise a 429 when either is empty."""
        key = str(target)
        bucket = self.per_target.get(key)
        if bucket is None:
            bucket = self.per_target[key] = TokenBucket(1.0, burst=5.0)
        wait = self.bucket.take()
        if not wait and (wait := bucket.take()):
            self.bucket.tokens += 1  # the global token was not used
        if wait:
            self.rejected += 1
            raise DeliveryError("429 Too Many Requests", retry_after=wait)

    async def send(self, target: Target, payload: Any, *, key: str, thread: str | None = None) -> Sent:
        if target.kind == "user" and target.id not in self.opened:
            wait = self.bucket.take()
            if wait:
                self.rejected += 1
                raise DeliveryError("429 Too Many Requests", retry_after=wait)
            await asyncio.sleep(self.rtt)  # POST /users/@me/channels
            self.opened.add(target.id)
            self.opens += 1
        self._limit(target)
        await asyncio.sleep(self.rtt)
        self.posts[(str(target), key)] += 1
        self.accepted += 1
        self.last = time.perf_counter()
        self.first = self.first or self.last
        return Sent(message_id=f"m{self.accepted}", channel_id=target.id)

    async def find_sent(self, target: Target, key: str, *, since: datetime | None = None) -> Sent | None:
        return Sent(message_id="found", channel_id=target.id) if self.posts[(str(target), key)] else None

    async def close(self) -> None:
        pass


async def seed(store: Store, users: int) -> list[str]:
    loaded = load_file(SAMPLE)
    await store.upsert_papers(loaded.papers, digest_date=loaded.digest_date)
    words = ["model", "language", "diffusion", "video", "learning", "reasoning", "quantization", "agents"]
    rng = random.Random(7)
    rows = [("discord", "", f"u{i}", rng.choice(words), "2024-10-11T00:00:00+00:00") for i in range(users)]
    async with store.transaction() as db:  # bulk: the per-call API fsyncs each subscription
        await db.executemany(
            "INSERT INTO subscriptions(platform, workspace, user_id, topic, created_at) VALUES (?,?,?,?,?)", rows
        )
    return [r[2] for r in rows]


async def naive(platform: RateLimitedPlatform, targets: list[Target], message: Message) -> float:
    """Send to each target in turn (no outbox, no concurrency), sleeping on 429s; return msg/s."""
    payload = platform.render(message)[0]
    start = time.perf_counter()
    for target in targets:
        while True:
            try:
                await platform.send(target, payload, key="naive")
                break
            except DeliveryError as exc:
                await asyncio.sleep(exc.retry_after or 0.01)
    return len(targets) / (time.perf_counter() - start)


async def main_async(args: argparse.Namespace) -> int:
    print(f"machine: {describe_machine()}")
    with tempfile.TemporaryDirectory() as tmp:
        async with await Store.open(Path(tmp) / "bench.sqlite3") as store:
            await seed(store, args.users)
            channels = tuple(ChannelConfig(platform="discord", id=f"c{i}") for i in range(args.channels))
            delivery = DeliveryConfig(max_attempts=50)
            if args.concurrency is not None:
                delivery = DeliveryConfig(concurrency=args.concurrency, max_attempts=50)
            config = Config(channels=channels, delivery=delivery)
            platform = RateLimitedPlatform(args.rate, args.rtt_ms / 1000, parts=args.parts)
            engine = DeliveryEngine(store, {"discord": platform}, config, FakeClock(datetime(2024, 10, 14, tzinfo=UTC)))
            await engine.subscriptions.refresh()  # what `run` does at start-up, off the loop
            cpu_start, loop_start, start = time.process_time(), time.thread_time(), time.perf_counter()
            summary = await engine.post_digest(DAY)
            elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu_start
            loop_cpu = time.thread_time() - loop_start  # the event loop's thread; the rest is SQLite's
            sent = sum(platform.posts.values())
            requests = sent + platform.opens
            expected_channels = {
                (f"discord:channel:c{i}", f"digest:2024-10-11:part{p}/{args.parts}")
                for i in range(args.channels)
                for p in range(1, args.parts + 1)
            }
            dm_keys = {k for k in platform.posts if k[0].startswith("discord:user:")}
            dupes = sum(n - 1 for n in platform.posts.values() if n > 1)
            lost = len(expected_channels - set(platform.posts)) + (summary.deferred + summary.failed)
            ratio = requests / elapsed / args.rate
            cpu_ms = cpu / max(1, sent) * 1000
            loop_ms = loop_cpu / max(1, sent) * 1000
            print(
                f"engine: {sent} messages ({args.channels} channels x {args.parts} parts + {len(dm_keys)} DMs of"
                f" {args.users} subscribers with a match) + {platform.opens} DM opens in {elapsed:.2f} s ="
                f" {requests / elapsed:.0f} requests/s = {ratio:.2f} of the {args.rate:.0f}/s limit;"
                f" concurrency {delivery.concurrency} ({'shipped default' if args.concurrency is None else 'set'}),"
                f" rtt {args.rtt_ms} ms, {platform.rejected} 429s; CPU {cpu:.2f} s = {cpu_ms:.3f} ms per message"
                f" ({loop_ms:.3f} ms on the event loop's thread, the rest in the outbox's SQLite threads)"
            )
            print(f"        summary: {summary.line()}; duplicates {dupes}, losses {lost}")
            print(f"        outbox: {await engine.outbox.counts()}")
            await engine.close()

            digest = await store.digest(DAY)
            assert digest is not None
            message = format_digest(digest, labels_for("en"))
            sample = [Target(platform="discord", kind="channel", id=f"n{i}") for i in range(args.naive_sample)]
            naive_platform = RateLimitedPlatform(args.rate, args.rtt_ms / 1000, parts=1)
            naive_rate = await naive(naive_platform, sample, message)
            print(f"naive sequential loop ({args.naive_sample} sends): {naive_rate:.0f} msg/s")
    ok = ratio >= 0.9 and dupes == 0 and lost == 0
    name = "defaults" if args.concurrency is None else f"concurrency_{args.concurrency}"
    print(
        f"bench.fanout {name}: ratio={ratio:.2f} duplicates={dupes} lost={lost} cpu_ms_per_msg={cpu_ms:.3f}"
        f" loop_cpu_ms_per_msg={loop_ms:.3f} msgs={sent} dm_opens={platform.opens} rejected_429={platform.rejected}"
        f" concurrency={delivery.concurrency} goal=ratio>=0.9,0_dupes,0_lost result={'met' if ok else 'MISSED'}"
    )
    return 0 if ok else 1


def main() -> None:
    """Parse options and run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--channels", type=int, default=1000)
    parser.add_argument("--users", type=int, default=10000)
    parser.add_argument("--rate", type=float, default=2000.0)
    parser.add_argument("--rtt-ms", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=None, help="default: the shipped delivery.concurrency")
    parser.add_argument("--parts", type=int, default=3, help="parts per channel digest (default 3)")
    parser.add_argument("--naive-sample", type=int, default=1000)
    sys.exit(asyncio.run(main_async(parser.parse_args())))


if __name__ == "__main__":
    main()
