"""How subscribers typed their topics, read for many subscribers at once (a fan-out's DMs), on both backends."""

from __future__ import annotations

from digestbot.store import Store


async def test_typed_topics_of_many_users_come_in_one_call(any_store: Store) -> None:
    add = any_store.add_subscription
    await add(
        platform="slack", workspace="T1", user="U1", topic="wall e agents", max_topics=10, display="WALL-E agents"
    )
    await add(platform="slack", workspace="T1", user="U1", topic="diffusion", max_topics=10)  # typed as stored
    await add(platform="slack", workspace="T2", user="U1", topic="llm", max_topics=10, display="LLM")
    await add(platform="slack", workspace="T1", user="U2", topic="rlhf", max_topics=10, display="RLHF")
    await add(platform="discord", workspace="T1", user="U3", topic="gan", max_topics=10, display="GAN")
    asked = [("T1", "U1"), ("T2", "U1"), ("T1", "U2"), ("T1", "U3"), ("T1", "U1"), ("", "U9")]
    assert await any_store.topic_displays(platform="slack", users=asked) == {
        ("T1", "U1"): {"wall e agents": "WALL-E agents"},
        ("T2", "U1"): {"llm": "LLM"},
        ("T1", "U2"): {"rlhf": "RLHF"},
    }
    assert await any_store.topic_displays(platform="slack", users=[]) == {}
