"""Fan-out benchmark: 1,000 channels + 10,000 DMs through a rate-limited fake platform.

The fake platform enforces a global token bucket (default 2,000 msg/s, like a platform's global
limit) and answers over-limit sends with ``DeliveryError(retry_after=...)``, as a 429 would; each
accepted send costs a simulated round trip (default 5 ms). The engine run goes through the real
outbox (SQLite file, group commit, fsync) and must reach >= 0.9 of the limit with zero
duplicates and zero losses. A naive loop (one target after another, no outbox) runs on a sample
in the same process for the ratio.

    python -m bench.fanout [--channels 1000] [--users 10000] [--rate 2000] [--rtt-ms 5]
"""

from __future__ import annotations

import argparse
import asyncio
import random
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
    """A fake platform adapter: token-bucket limited, simulated round trip, counts every post per key."""

    platform = "discord"

    def __init__(self, rate: float, rtt: float) -> None:
        self.bucket = TokenBucket(rate, burst=max(1.0, rate * 0.05))
        self.rtt = rtt
        self.posts: Counter[tuple[str, str]] = Counter()
        self.rejected = 0
        self.accepted = 0
        self.first = self.last = 0.0

    async def start(self) -> None:
        pass

    def render(self, message: Message) -> list[Any]:
        return [{"kind": message.kind, "cards": [c.arxiv_id for c in message.cards]}]

    async def send(self, target: Target, payload: Any, *, key: str, thread: str | None = None) -> Sent:
        wait = self.bucket.take()
        if wait:
            self.rejected += 1
            raise DeliveryError("429 Too Many Requests", retry_after=wait)
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


async def main_async(args: argparse.Namespace) -> None:
    print(f"machine: {describe_machine()}")
    with tempfile.TemporaryDirectory() as tmp:
        async with await Store.open(Path(tmp) / "bench.sqlite3") as store:
            await seed(store, args.users)
            channels = tuple(ChannelConfig(platform="discord", id=f"c{i}") for i in range(args.channels))
            config = Config(channels=channels, delivery=DeliveryConfig(concurrency=args.concurrency, max_attempts=50))
            platform = RateLimitedPlatform(args.rate, args.rtt_ms / 1000)
            engine = DeliveryEngine(store, {"discord": platform}, config, FakeClock(datetime(2024, 10, 14, tzinfo=UTC)))
            start = time.perf_counter()
            summary = await engine.post_digest(DAY)
            elapsed = time.perf_counter() - start
            sent = sum(platform.posts.values())
            expected_channels = {(f"discord:channel:c{i}", "digest:2024-10-11") for i in range(args.channels)}
            dm_keys = {k for k in platform.posts if k[0].startswith("discord:user:")}
            dupes = sum(n - 1 for n in platform.posts.values() if n > 1)
            lost = len(expected_channels - set(platform.posts)) + (summary.deferred + summary.failed)
            rate = sent / elapsed
            print(
                f"engine: {sent} messages ({args.channels} channels + {len(dm_keys)} DMs of {args.users} subscribers"
                f" with a match) in {elapsed:.2f} s = {rate:.0f} msg/s = {rate / args.rate:.2f} of the"
                f" {args.rate:.0f} msg/s limit; concurrency {args.concurrency}, rtt {args.rtt_ms} ms,"
                f" {platform.rejected} 429s"
            )
            window = platform.last - platform.first
            print(
                f"        send phase only (first to last accepted send, after matching {args.users} topics and"
                f" planning): {sent / window:.0f} msg/s = {sent / window / args.rate:.2f} of the limit"
            )
            print(f"        summary: {summary.line()}; duplicates {dupes}, losses {lost}")
            counts = await engine.outbox.counts()
            print(f"        outbox: {counts}")

            digest = await store.digest(DAY)
            assert digest is not None
            message = format_digest(digest, labels_for("en"))
            sample = [Target(platform="discord", kind="channel", id=f"n{i}") for i in range(args.naive_sample)]
            naive_platform = RateLimitedPlatform(args.rate, args.rtt_ms / 1000)
            naive_rate = await naive(naive_platform, sample, message)
            print(
                f"naive sequential loop ({args.naive_sample} sends): {naive_rate:.0f} msg/s;"
                f" engine / naive = {rate / naive_rate:.1f}x"
            )
            ok = rate / args.rate >= 0.9 and dupes == 0 and lost == 0
            print("RESULT:", "PASS" if ok else "FAIL", "(target >= 0.9 of the limit, 0 duplicates, 0 losses)")


def main() -> None:
    """Parse options and run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--channels", type=int, default=1000)
    parser.add_argument("--users", type=int, default=10000)
    parser.add_argument("--rate", type=float, default=2000.0)
    parser.add_argument("--rtt-ms", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--naive-sample", type=int, default=1000)
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
