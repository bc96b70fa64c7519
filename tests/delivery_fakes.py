"""Fakes for delivery tests: an in-memory platform adapter and paper builders."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from digestbot.blocks import Message
from digestbot.clock import Clock
from digestbot.errors import DeliveryError
from digestbot.ports import Sent, Target
from digestbot.records import Paper


@dataclass(frozen=True, kw_only=True)
class Post:
    target: Target
    key: str
    thread: str | None
    payload: Any
    message_id: str
    at: datetime | None


class FakeAdapter:
    """A platform in memory: records posts, fails on request, answers find_sent from its record."""

    def __init__(self, platform: str = "discord", *, parts: int = 1, clock: Clock | None = None) -> None:
        self.platform = platform
        self.parts = parts
        self.clock = clock
        self.posts: list[Post] = []
        self.failures: dict[str, list[DeliveryError]] = defaultdict(list)
        self.send_calls = 0
        self.started = False
        self.deleted: list[str] = []
        self._made = 0

    async def start(self) -> None:
        self.started = True

    def render(self, message: Message) -> list[dict[str, Any]]:
        cards = [c.arxiv_id for c in message.cards]
        n = self.parts if message.kind == "digest" else 1
        return [
            {"kind": message.kind, "key": message.key, "part": i, "cards": cards, "text": message.fallback}
            for i in range(1, n + 1)
        ]

    async def send(self, target: Target, payload: Any, *, key: str, thread: str | None = None) -> Sent:
        self.send_calls += 1
        if self.failures[target.id]:
            raise self.failures[target.id].pop(0)
        self._made += 1  # ids are never reused, though deleted posts leave the list
        message_id = f"{self.platform}-{self._made}"
        at = self.clock.now() if self.clock else None
        self.posts.append(Post(target=target, key=key, thread=thread, payload=payload, message_id=message_id, at=at))
        return Sent(message_id=message_id, channel_id=target.id)

    async def find_sent(self, target: Target, key: str, *, since: datetime | None = None) -> Sent | None:
        for post in self.posts:
            if post.target == target and post.key == key:
                return Sent(message_id=post.message_id, channel_id=target.id)
        return None

    async def find_other(self, target: Target, key: str, *, besides: str) -> Sent | None:
        for post in self.posts:
            if post.target == target and post.key == key and post.message_id != besides:
                return Sent(message_id=post.message_id, channel_id=target.id)
        return None

    async def delete(self, target: Target, sent: Sent) -> None:
        self.deleted.append(sent.message_id)
        self.posts = [p for p in self.posts if p.message_id != sent.message_id]

    async def close(self) -> None:
        pass

    def keys(self, target_id: str | None = None) -> list[str]:
        return [p.key for p in self.posts if target_id is None or p.target.id == target_id]


def paper(arxiv_id: str, title: str, day: date, votes: int = 1, abstract: str = "") -> Paper:
    return Paper(arxiv_id=arxiv_id, title=title, abstract=abstract, votes=votes, digest_date=day, source="test")


def day_papers(day: date, n: int = 3) -> list[Paper]:
    titles = [
        "Diffusion models for video",
        "Large language model quantization",
        "Robot learning at scale",
        "Sparse attention kernels",
        "Speech recognition in noise",
    ]
    stamp = day.strftime("%y%m")
    return [paper(f"{stamp}.{day.day:02d}{i:03d}", titles[i % len(titles)], day, votes=100 - i) for i in range(n)]


async def no_sleep(seconds: float) -> None:
    """Record nothing and return at once: backoff delays in tests."""
    del seconds
