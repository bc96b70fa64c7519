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

Ends with ``bench.fanout defaults: ratio=... duplicates=0 lost=0 ...``; exits 1 when a goal is missed,
CPU per message included (:data:`CPU_GOAL_MS`).

**Several workers on PostgreSQL** (``--workers 1 2 4 [--db postgresql://…]``): for each count, N
``digestbot`` delivery engines in N processes post the same digest at the same time to one
PostgreSQL outbox (a fresh database per count; a throwaway server from ``tests/pg_server.py``
when no ``--db`` is given). The fake platform is then one server in the parent process (a line
protocol over TCP), so its global and per-target buckets are shared by all workers, as a real
platform's are. Each count ends with ``bench.fanout workers_N: ratio=… duplicates=0 lost=0``:
throughput from the start signal to the last accepted request, as a share of the platform's
limit (never above it), and every message posted exactly once (rows all sent, each once).
Defaults there are smaller (200 channels, 2,000 subscribers, 500 requests/s).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg

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
from digestbot.store import PostgresStore, Store

SAMPLE = Path(__file__).resolve().parent.parent / "digestbot" / "data" / "daily-papers-2024-10-11.md"
DAY = date(2024, 10, 11)


CPU_GOAL_MS = 0.456
"""Issue #16's CPU goal for the shipped defaults: half of the 0.913 ms per message this bench measured
on the reference machine (2-core AMD EPYC, CPython 3.11) before that work. A machine-specific number:
elsewhere, compare with the old code run on the same machine."""


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


class Limits:
    """The platform's buckets: a global one (``rate``/s) and one per target (1/s, bursts of 5)."""

    def __init__(self, rate: float) -> None:
        self.bucket = TokenBucket(rate, burst=max(1.0, rate * 0.05))
        self.per_target: dict[str, TokenBucket] = {}
        self.rejected = 0

    def open_wait(self) -> float:
        """Take a global token for a DM open; return 0, or how long to wait (a 429)."""
        wait = self.bucket.take()
        self.rejected += bool(wait)
        return wait

    def send_wait(self, target: str) -> float:
        """Take a global token and the target's; return 0, or how long to wait (nothing taken)."""
        bucket = self.per_target.get(target)
        if bucket is None:
            bucket = self.per_target[target] = TokenBucket(1.0, burst=5.0)
        wait = self.bucket.take()
        if not wait and (wait := bucket.take()):
            self.bucket.tokens += 1  # the global token was not used
        self.rejected += bool(wait)
        return wait


class RateLimitedPlatform:
    """A fake platform adapter: global and per-target buckets, DM opens, multi-part digests; counts every post."""

    platform = "discord"

    def __init__(self, rate: float, rtt: float, *, parts: int = 3) -> None:
        self.limits = Limits(rate)
        self.rtt = rtt
        self.parts = parts
        self.opened: set[str] = set()
        self.posts: Counter[tuple[str, str]] = Counter()
        self.accepted = 0
        self.opens = 0
        self.first = self.last = 0.0

    @property
    def rejected(self) -> int:
        return self.limits.rejected

    async def start(self) -> None:
        pass

    def render(self, message: Message) -> list[Any]:
        return render(message, self.parts)

    async def send(self, target: Target, payload: Any, *, key: str, thread: str | None = None) -> Sent:
        if target.kind == "user" and target.id not in self.opened:
            if wait := self.limits.open_wait():
                raise DeliveryError("429 Too Many Requests", retry_after=wait)
            await asyncio.sleep(self.rtt)  # POST /users/@me/channels
            self.opened.add(target.id)
            self.opens += 1
        if wait := self.limits.send_wait(str(target)):
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


def render(message: Message, parts: int) -> list[Any]:
    """Render a digest as ``parts`` small payloads and anything else as one."""
    n = parts if message.kind == "digest" else 1
    cards = [c.arxiv_id for c in message.cards]
    return [{"kind": message.kind, "part": i, "cards": cards} for i in range(1, n + 1)]


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
    name = "defaults" if args.concurrency is None else f"concurrency_{args.concurrency}"
    cpu_ok = cpu_ms <= CPU_GOAL_MS or args.concurrency is not None  # the CPU goal is for the shipped defaults
    ok = ratio >= 0.9 and dupes == 0 and lost == 0 and cpu_ok
    print(
        f"bench.fanout {name}: ratio={ratio:.2f} duplicates={dupes} lost={lost} cpu_ms_per_msg={cpu_ms:.3f}"
        f" loop_cpu_ms_per_msg={loop_ms:.3f} msgs={sent} dm_opens={platform.opens} rejected_429={platform.rejected}"
        f" concurrency={delivery.concurrency} load={os.getloadavg()[0]:.1f}"
        f" goal=ratio>=0.9,0_dupes,0_lost,cpu_ms_per_msg<={CPU_GOAL_MS} result={'met' if ok else 'MISSED'}"
    )
    return 0 if ok else 1


# -- several worker processes on one PostgreSQL outbox (--workers) ---------------------------------


class PlatformServer:
    """The fake platform for worker processes: ``open|send TARGET KEY`` lines in, ``ok`` or ``429 WAIT`` out.

    One server, so every worker meets the same global and per-target buckets.
    """

    def __init__(self, rate: float, rtt: float) -> None:
        self.limits = Limits(rate)
        self.rtt = rtt
        self.posts: Counter[tuple[str, str]] = Counter()
        self.opens = 0
        self.last = 0.0
        self._server: asyncio.Server | None = None

    async def start(self) -> int:
        """Listen on a free loopback port; return it."""
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return int(self._server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while line := await reader.readline():
                verb, target, key = line.decode().split()
                wait = self.limits.open_wait() if verb == "open" else self.limits.send_wait(target)
                if wait:
                    writer.write(f"429 {wait:.6f}\n".encode())
                else:
                    await asyncio.sleep(self.rtt)
                    if verb == "open":
                        self.opens += 1
                    else:
                        self.posts[(target, key)] += 1
                    self.last = time.perf_counter()
                    writer.write(b"ok\n")
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()


class RemotePlatform:
    """A worker's adapter: each send is a request to the :class:`PlatformServer` over pooled connections."""

    platform = "discord"

    def __init__(self, port: int, *, parts: int) -> None:
        self.port = port
        self.parts = parts
        self.opened: set[str] = set()
        self._idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self.sent = 0

    async def start(self) -> None:
        pass

    def render(self, message: Message) -> list[Any]:
        return render(message, self.parts)

    async def _ask(self, verb: str, target: Target, key: str) -> None:
        conn = self._idle.pop() if self._idle else await asyncio.open_connection("127.0.0.1", self.port)
        reader, writer = conn
        writer.write(f"{verb} {target} {key}\n".encode())
        answer = (await reader.readline()).decode().split()
        self._idle.append(conn)
        if answer[0] == "429":
            raise DeliveryError("429 Too Many Requests", retry_after=float(answer[1]))

    async def send(self, target: Target, payload: Any, *, key: str, thread: str | None = None) -> Sent:
        if target.kind == "user" and target.id not in self.opened:
            await self._ask("open", target, "-")
            self.opened.add(target.id)
        await self._ask("send", target, key)
        self.sent += 1
        return Sent(message_id=f"m{self.sent}", channel_id=target.id)

    async def find_sent(self, target: Target, key: str, *, since: datetime | None = None) -> Sent | None:
        return None  # nobody is killed here: a stale claim cannot happen

    async def close(self) -> None:
        for _, writer in self._idle:
            writer.close()


def _config(args: argparse.Namespace) -> Config:
    channels = tuple(ChannelConfig(platform="discord", id=f"c{i}") for i in range(args.channels))
    delivery = DeliveryConfig(max_attempts=50)
    if args.concurrency is not None:
        delivery = DeliveryConfig(concurrency=args.concurrency, max_attempts=50)
    return Config(channels=channels, delivery=delivery)


async def worker_async(url: str, port: int, args: argparse.Namespace) -> None:
    """One worker process: a real delivery engine on the shared database, started by a line on stdin."""
    platform = RemotePlatform(port, parts=args.parts)
    async with await PostgresStore.open(url) as store:
        engine = DeliveryEngine(
            store, {"discord": platform}, _config(args), FakeClock(datetime(2024, 10, 14, tzinfo=UTC))
        )
        await engine.subscriptions.refresh()
        print("ready", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        cpu = time.process_time()
        summary = await engine.post_digest(DAY)
        cpu = time.process_time() - cpu
        await engine.close()
        await platform.close()
    print(json.dumps({"line": summary.line(), "sent": platform.sent, "cpu_s": cpu}), flush=True)


async def seed_postgres(store: PostgresStore, users: int) -> None:
    """Store the sample digest and ``users`` subscriptions (one word each) in bulk."""
    loaded = load_file(SAMPLE)
    await store.upsert_papers(loaded.papers, digest_date=loaded.digest_date)
    words = ["model", "language", "diffusion", "video", "learning", "reasoning", "quantization", "agents"]
    rng = random.Random(7)
    rows = [("discord", "", f"u{i}", rng.choice(words), datetime(2024, 10, 11, tzinfo=UTC)) for i in range(users)]
    async with store.transaction() as conn, conn.cursor() as cur:
        await cur.executemany(
            "INSERT INTO subscriptions(platform, workspace, user_id, topic, created_at) VALUES (%s,%s,%s,%s,%s)", rows
        )


async def one_count(admin_url: str, n: int, args: argparse.Namespace) -> tuple[str, bool]:
    """Run ``n`` workers on a fresh database; return the key=value line and whether the goal holds."""
    name = f"bench_fanout_{os.getpid()}_{n}"
    async with await psycopg.AsyncConnection.connect(admin_url, autocommit=True) as admin:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        await admin.execute(f'CREATE DATABASE "{name}" TEMPLATE template0')
    parts = urlsplit(admin_url)
    url = urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))
    async with await PostgresStore.open(url) as store:
        await seed_postgres(store, args.users)
    server = PlatformServer(args.rate, args.rtt_ms / 1000)
    port = await server.start()
    options = [f"--{k}={v}" for k, v in (("channels", args.channels), ("parts", args.parts))]
    if args.concurrency is not None:
        options.append(f"--concurrency={args.concurrency}")
    command = [sys.executable, "-m", "bench.fanout", "--worker-of", url, "--platform-port", str(port), *options]
    pipe = asyncio.subprocess.PIPE
    procs = [await asyncio.create_subprocess_exec(*command, stdin=pipe, stdout=pipe) for _ in range(n)]
    for proc in procs:
        assert proc.stdout is not None
        if (await proc.stdout.readline()).strip() != b"ready":
            raise RuntimeError("a worker did not start")
    start = time.perf_counter()
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write(b"go\n")
        await proc.stdin.drain()
    reports = []
    for proc in procs:
        assert proc.stdout is not None
        out, _ = await proc.communicate()
        reports.append(json.loads(out.decode().strip().splitlines()[-1]))
        if proc.returncode != 0:
            raise RuntimeError(f"a worker failed (exit {proc.returncode})")
    await server.close()
    async with await PostgresStore.open(url) as store:
        outbox = store.outbox_storage()
        counts = await outbox.counts()
        await outbox.close()
    requests = sum(server.posts.values()) + server.opens
    elapsed = server.last - start
    ratio = requests / elapsed / args.rate
    dupes = sum(k - 1 for k in server.posts.values() if k > 1)
    expected = {(f"discord:channel:c{i}", f"digest:2024-10-11:part{p}/{args.parts}") for i in range(args.channels)
                for p in range(1, args.parts + 1)}  # fmt: skip
    rows = sum(counts.values())
    lost = len(expected - set(server.posts)) + (rows - counts.get("sent", 0)) + max(0, rows - len(server.posts))
    cpu_ms = sum(r["cpu_s"] for r in reports) / max(1, sum(server.posts.values())) * 1000
    for i, r in enumerate(reports, start=1):
        print(f"  worker {i}/{n}: sent {r['sent']} ({r['line']}), CPU {r['cpu_s']:.2f} s")
    ok = dupes == 0 and lost == 0 and ratio <= 1.02
    line = (
        f"bench.fanout workers_{n}: ratio={ratio:.2f} duplicates={dupes} lost={lost} msgs={sum(server.posts.values())}"
        f" dm_opens={server.opens} rejected_429={server.limits.rejected} seconds={elapsed:.2f}"
        f" cpu_ms_per_msg={cpu_ms:.3f} outbox={'/'.join(f'{k}:{v}' for k, v in sorted(counts.items()))}"
        f" goal=0_dupes,0_lost,ratio<=1 result={'met' if ok else 'MISSED'}"
    )
    async with await psycopg.AsyncConnection.connect(admin_url, autocommit=True) as admin:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return line, ok


async def workers_async(args: argparse.Namespace) -> int:
    """Run each worker count in turn on a fresh database of ``--db``'s server (or a throwaway one)."""
    print(f"machine: {describe_machine()}")
    server = None
    admin_url = args.db
    if admin_url is None:
        from tests.pg_server import PgServer

        server = PgServer()
        admin_url = server.start()
        print("database: a throwaway PostgreSQL server (tests/pg_server.py: fsync off, Unix socket)")
    try:
        print(
            f"{args.channels} channels x {args.parts} parts + DMs to {args.users} subscribers with a match (each after"
            f" a DM open), platform limit {args.rate:.0f} requests/s global + 1/s (burst 5) per target, rtt {args.rtt_ms} ms"
        )
        results = []
        for n in args.workers:
            line, ok = await one_count(admin_url, n, args)
            results.append((line, ok))
            print(line, flush=True)
    finally:
        if server is not None:
            server.stop()
    return 0 if all(ok for _, ok in results) else 1


def main() -> None:
    """Parse options and run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--channels", type=int, default=None, help="default 1000 (200 with --workers)")
    parser.add_argument("--users", type=int, default=None, help="default 10000 (2000 with --workers)")
    parser.add_argument("--rate", type=float, default=None, help="requests/s (default 2000; 500 with --workers)")
    parser.add_argument("--rtt-ms", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=None, help="default: the shipped delivery.concurrency")
    parser.add_argument("--parts", type=int, default=3, help="parts per channel digest (default 3)")
    parser.add_argument("--naive-sample", type=int, default=1000)
    parser.add_argument(
        "--workers", type=int, nargs="+", help="worker process counts to run on PostgreSQL (e.g. 1 2 4)"
    )
    parser.add_argument("--db", help="postgresql:// URL of a server for --workers (default: a throwaway server)")
    parser.add_argument("--worker-of", help=argparse.SUPPRESS)
    parser.add_argument("--platform-port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    several = args.workers is not None or args.worker_of is not None
    for name, alone, with_workers in (("channels", 1000, 200), ("users", 10000, 2000), ("rate", 2000.0, 500.0)):
        if getattr(args, name) is None:
            setattr(args, name, with_workers if several else alone)
    if args.worker_of is not None:
        asyncio.run(worker_async(args.worker_of, args.platform_port, args))
        return
    if args.workers is not None:
        if args.db is not None and not args.db.startswith(("postgresql://", "postgres://")):
            parser.error("--db: give a postgresql:// URL (the workers share one PostgreSQL outbox)")
        sys.exit(asyncio.run(workers_async(args)))
    sys.exit(asyncio.run(main_async(args)))


if __name__ == "__main__":
    main()
