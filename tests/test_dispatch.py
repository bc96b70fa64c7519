"""The neutral command contract: one request in, one reply out, with every error mapped to its text here."""

from __future__ import annotations

from typing import Any

import pytest

from digestbot.config import Config
from digestbot.dispatch import (
    DIGEST_NEEDS_CHANNEL,
    NOT_A_PAPER_BUTTON,
    NOT_IN_ARCHIVE,
    SORRY,
    CommandRequest,
    Reply,
    dispatch,
    error_text,
)
from digestbot.errors import CommandError, StoreBusyError
from digestbot.store import Store
from digestbot.suggest import suggest_zones


def request(command: str, text: str = "", **kw: Any) -> CommandRequest:
    return CommandRequest(platform="slack", workspace="T1", user="U1", channel="C1", command=command, text=text, **kw)


async def answer(store: Store, command: str, text: str = "", **kw: Any) -> Reply:
    return await dispatch(request(command, text, **kw), store=store, config=Config())


async def test_paper_is_private_with_the_share_id_of_its_card(seeded_store: Store) -> None:
    reply = await answer(seeded_store, "paper", "2410.05265")
    assert reply.ephemeral and reply.message is not None and reply.share_id == "2410.05265"


async def test_share_posts_publicly_and_a_gone_or_forged_paper_is_told(seeded_store: Store) -> None:
    shared = await answer(seeded_store, "share", "2410.05265")
    assert not shared.ephemeral and shared.message is not None and shared.share_id is None
    assert (await answer(seeded_store, "share", "2501.99999")).text == NOT_IN_ARCHIVE
    assert (await answer(seeded_store, "share", "<!channel>")).text == NOT_A_PAPER_BUTTON


async def test_errors_become_their_text_and_bugs_an_apology(seeded_store: Store, monkeypatch: Any) -> None:
    assert "unbalanced quote" in (await answer(seeded_store, "subscribe", '"open')).text
    assert (await answer(seeded_store, "frobnicate")).text == SORRY  # an adapter bug, logged

    async def broken(*args: Any, **kwargs: Any) -> str:
        raise RuntimeError("boom")

    import digestbot.commands

    monkeypatch.setattr(digestbot.commands, "list_topics", broken)
    assert (await answer(seeded_store, "subscriptions")).text == SORRY


async def test_a_failing_database_is_an_apology_not_its_file_name(seeded_store: Store, monkeypatch: Any) -> None:
    # A store error's line names the database file and what the operator should do: not for chat users.
    from digestbot.errors import StoreDamagedError

    async def damaged(*args: Any, **kwargs: Any) -> list[tuple[str, str]]:
        raise StoreDamagedError("/srv/db.sqlite3: the database file is damaged (database disk image is malformed)")

    monkeypatch.setattr(seeded_store, "shown_subscriptions", damaged)
    assert (await answer(seeded_store, "subscriptions")).text == SORRY


@pytest.mark.parametrize("admin", [False, True])
async def test_digest_gets_the_admin_flag_from_the_request(seeded_store: Store, admin: bool) -> None:
    text = (await answer(seeded_store, "digest", "on", is_admin=admin)).text
    assert text.startswith("Daily digest is on") == admin


async def test_only_stored_digest_changes_call_on_change(seeded_store: Store) -> None:
    woken: list[str] = []

    async def run(text: str, admin: bool = True) -> None:
        req = request("digest", text, is_admin=admin)
        await dispatch(req, store=seeded_store, config=Config(), on_change=lambda: woken.append(text))

    for text, admin in [("status", True), ("on", False), ("top 0", True), ("on", True), ("top 5", True), ("off", True)]:
        await run(text, admin)
    assert woken == ["on", "top 5", "off"]


def test_error_text_is_the_one_rule_adapters_share(caplog: pytest.LogCaptureFixture) -> None:
    assert error_text(CommandError("Use /digest in a server channel."), platform="discord", command="digest") == (
        "Use /digest in a server channel."
    )
    assert caplog.records == []
    assert error_text(StoreBusyError("/srv/digestbot.db: busy"), platform="discord", command="paper") == SORRY
    assert error_text(RuntimeError("bug"), platform="slack", command="paper") == SORRY
    assert [r.getMessage() for r in caplog.records] == ["discord /paper failed", "slack /paper failed"]
    assert all(r.exc_info for r in caplog.records)


def test_zone_suggestions_start_with_the_typed_prefix() -> None:
    assert suggest_zones("asia/seo")[0] == "Asia/Seoul"
    assert suggest_zones("Berlin") == ["Europe/Berlin"]
    assert len(suggest_zones("")) == 25


@pytest.mark.parametrize("place", [{"workspace": ""}, {"channel": ""}])
async def test_digest_outside_a_workspace_channel_is_told_where_to_use_it(
    seeded_store: Store, place: dict[str, str]
) -> None:
    spot = {"platform": "discord", "workspace": "G1", "user": "U1", "channel": "C1", **place}
    reply = await dispatch(
        CommandRequest(**spot, command="digest", text="on", is_admin=True), store=seeded_store, config=Config()
    )
    assert reply.text == DIGEST_NEEDS_CHANNEL
