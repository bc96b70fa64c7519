"""The run's render cache alone: one render per (platform, signature), nothing else."""

from __future__ import annotations

from digestbot.blocks import Message
from digestbot.render_cache import RenderCache
from tests.delivery_fakes import FakeAdapter


def test_a_signature_is_rendered_once_per_platform() -> None:
    cache = RenderCache()
    built: list[str] = []

    def build(text: str):
        def make() -> Message:
            built.append(text)
            return Message(blocks=(), fallback=text, kind="digest")

        return make

    discord, slack = FakeAdapter("discord", parts=2), FakeAdapter("slack")
    first = cache.payloads(discord, ("digest", 1), build("a"))
    again = cache.payloads(discord, ("digest", 1), build("never built"))
    assert again is first and len(first) == 2 and built == ["a"]
    assert cache.payloads(slack, ("digest", 1), build("b"))[0]["text"] == "b"  # another platform renders its own
    assert cache.payloads(discord, ("digest", 2), build("c"))[0]["text"] == "c"  # another message too
    assert built == ["a", "b", "c"] and len(cache) == 3
