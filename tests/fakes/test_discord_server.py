"""Drive FakeDiscord with discord.py's real HTTPClient and webhook adapter: real client, fake server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import discord
import discord.http
import pytest
from discord.http import handle_message_parameters
from discord.webhook.async_ import async_context, interaction_message_response_params

from tests.fakes.discord_base_url import point_discord_py_at
from tests.fakes.discord_server import (
    CREATE_MESSAGE,
    GET_CHANNEL,
    ChannelAccess,
    FakeDiscord,
    RateLimit,
)

pytest_plugins = ["tests.fakes.discord_fixtures"]

NO_PINGS = discord.AllowedMentions.none()


def params(content: str | None = "hello", **kwargs: Any) -> discord.http.MultipartParameters:
    kwargs.setdefault("allowed_mentions", NO_PINGS)
    return handle_message_parameters(content=content, **kwargs)


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


# -- base URL ---------------------------------------------------------------------------------------


def test_point_discord_py_at_redirects_routes_and_restores() -> None:
    original = discord.http.Route.BASE
    with point_discord_py_at("http://127.0.0.1:9/api/v10/"):
        assert discord.http.Route("GET", "/users/@me").url == "http://127.0.0.1:9/api/v10/users/@me"
    assert original == discord.http.Route.BASE
    assert discord.http.Route("GET", "/users/@me").url == "https://discord.com/api/v10/users/@me"


# -- messages ---------------------------------------------------------------------------------------


async def test_round_trip(fake_discord: FakeDiscord, discord_http: discord.http.HTTPClient) -> None:
    cid = fake_discord.add_channel()
    embed = discord.Embed(title="Pixtral 12B", url="https://arxiv.org/abs/2410.07073", description="요약")
    embed.add_field(name="What's New", value="12B 멀티모달 모델")
    embed.set_thumbnail(url="https://cdn-thumbnails.huggingface.co/x.png")

    sent = await discord_http.send_message(cid, params=params("## Daily Papers", embeds=[embed]))

    assert sent["channel_id"] == str(cid) and sent["id"].isdigit()
    assert sent["content"] == "## Daily Papers"
    assert sent["embeds"][0]["title"] == "Pixtral 12B" and sent["embeds"][0]["type"] == "rich"
    assert sent["author"]["id"] == fake_discord.bot_user["id"] and sent["author"]["bot"] is True
    assert discord.utils.snowflake_time(int(sent["id"])).isoformat()[:19] == sent["timestamp"][:19]
    assert fake_discord.messages(cid) == [sent]
    assert await discord_http.logs_from(cid, 10) == [sent]
    assert (await discord_http.get_channel(cid))["name"] == "daily-papers"


async def test_logs_from_pages_newest_first(fake_discord: FakeDiscord, discord_http: discord.http.HTTPClient) -> None:
    cid = fake_discord.add_channel()
    fake_discord.set_rate_limit(CREATE_MESSAGE, RateLimit(limit=50, per=1.0))
    ids = [int((await discord_http.send_message(cid, params=params(f"m{i}")))["id"]) for i in range(7)]

    def got(page: list[dict[str, Any]]) -> list[int]:
        return [int(m["id"]) for m in page]

    assert got(await discord_http.logs_from(cid, 3)) == ids[::-1][:3]
    assert got(await discord_http.logs_from(cid, 2, before=ids[3])) == [ids[2], ids[1]]
    assert got(await discord_http.logs_from(cid, 2, after=ids[3])) == [ids[5], ids[4]]
    assert got(await discord_http.logs_from(cid, 3, around=ids[3])) == [ids[4], ids[3], ids[2]]
    assert got(await discord_http.logs_from(cid, 100)) == ids[::-1]
    with pytest.raises(discord.HTTPException) as bad:
        await discord_http.logs_from(cid, 101)
    assert bad.value.status == 400 and bad.value.code == 50035


async def test_invalid_embed_is_rejected_like_discord(
    fake_discord: FakeDiscord, discord_http: discord.http.HTTPClient
) -> None:
    cid = fake_discord.add_channel()
    with pytest.raises(discord.HTTPException) as err:
        await discord_http.send_message(cid, params=params(embeds=[discord.Embed(title="t" * 257)]))
    assert err.value.status == 400 and err.value.code == 50035
    assert "In embeds.0.title: Must be 256 or fewer in length." in err.value.text
    assert fake_discord.messages(cid) == []


async def test_missing_allowed_mentions_breaks_policy(
    fake_discord: FakeDiscord, discord_http: discord.http.HTTPClient
) -> None:
    cid = fake_discord.add_channel()
    with pytest.raises(discord.HTTPException) as err:
        await discord_http.send_message(cid, params=handle_message_parameters(content="@everyone new papers"))
    assert err.value.code == 50035 and "allowed_mentions" in err.value.text
    fake_discord.enforce_policy = False
    await discord_http.send_message(cid, params=handle_message_parameters(content="plain"))
    assert len(fake_discord.messages(cid)) == 1


async def test_empty_message_is_50006(fake_discord: FakeDiscord, discord_http: discord.http.HTTPClient) -> None:
    cid = fake_discord.add_channel()
    with pytest.raises(discord.HTTPException) as err:
        await discord_http.send_message(cid, params=params(content=None))
    assert (err.value.status, err.value.code) == (400, 50006)


async def test_files_are_accepted_as_a_body(fake_discord: FakeDiscord, discord_http: discord.http.HTTPClient) -> None:
    import io

    cid = fake_discord.add_channel()
    file = discord.File(io.BytesIO(b"# Daily Papers\n"), filename="digest.md")
    sent = await discord_http.send_message(cid, params=params(content=None, file=file))
    assert sent["attachments"][0]["filename"] == "digest.md" and sent["attachments"][0]["size"] == 15


# -- errors by channel state ------------------------------------------------------------------------


async def test_unknown_channel_is_not_found(fake_discord: FakeDiscord, discord_http: discord.http.HTTPClient) -> None:
    with pytest.raises(discord.NotFound) as err:
        await discord_http.send_message(123456789012345678, params=params())
    assert err.value.code == 10003
    cid = fake_discord.add_channel()
    fake_discord.set_channel_access(cid, ChannelAccess.UNKNOWN)
    with pytest.raises(discord.NotFound):
        await discord_http.get_channel(cid)


@pytest.mark.parametrize(
    ("access", "code"), [(ChannelAccess.MISSING_ACCESS, 50001), (ChannelAccess.MISSING_PERMISSIONS, 50013)]
)
async def test_forbidden_channels(
    fake_discord: FakeDiscord, discord_http: discord.http.HTTPClient, access: ChannelAccess, code: int
) -> None:
    cid = fake_discord.add_channel()
    fake_discord.set_channel_access(cid, access)
    with pytest.raises(discord.Forbidden) as err:
        await discord_http.send_message(cid, params=params())
    assert err.value.status == 403 and err.value.code == code
    fake_discord.set_channel_access(cid, ChannelAccess.OK)
    await discord_http.send_message(cid, params=params())


async def test_dm_to_user_with_closed_dms(fake_discord: FakeDiscord, discord_http: discord.http.HTTPClient) -> None:
    uid = fake_discord.add_user(name="reader")
    dm = await discord_http.start_private_message(uid)
    assert dm["type"] == 1 and dm["recipients"][0]["id"] == str(uid)
    assert (await discord_http.start_private_message(uid))["id"] == dm["id"]  # the same DM channel
    await discord_http.send_message(dm["id"], params=params("your topics matched 2 papers"))

    fake_discord.close_dms(uid)
    with pytest.raises(discord.Forbidden) as err:
        await discord_http.send_message(dm["id"], params=params("again"))
    assert err.value.code == 50007 and "Cannot send messages to this user" in err.value.text
    assert len(fake_discord.messages(int(dm["id"]))) == 1


async def test_bad_token_fails_login(fake_discord: FakeDiscord) -> None:
    with point_discord_py_at(fake_discord.base_url):
        http = discord.http.HTTPClient(asyncio.get_running_loop())
        try:
            with pytest.raises(discord.LoginFailure):
                await http.static_login("not-the-token")
        finally:
            await http.close()
    assert fake_discord.calls[-1].status == 401


# -- nonce de-duplication ---------------------------------------------------------------------------


async def test_enforced_nonce_returns_the_original(
    fake_discord: FakeDiscord, discord_http: discord.http.HTTPClient
) -> None:
    cid, other = fake_discord.add_channel(), fake_discord.add_channel(name="other")
    first = await discord_http.send_message(cid, params=params("digest", nonce="d-2024-10-11-1"))
    again = await discord_http.send_message(cid, params=params("digest", nonce="d-2024-10-11-1"))
    elsewhere = await discord_http.send_message(other, params=params("digest", nonce="d-2024-10-11-1"))
    assert again == first and first["nonce"] == "d-2024-10-11-1"
    assert elsewhere["id"] != first["id"]
    assert len(fake_discord.messages(cid)) == 1


async def test_nonce_without_enforce_creates_duplicates(
    fake_discord: FakeDiscord, discord_http: discord.http.HTTPClient
) -> None:
    cid = fake_discord.add_channel()
    route = discord.http.Route("POST", "/channels/{channel_id}/messages", channel_id=cid)
    body = {"content": "x", "nonce": "n1", "allowed_mentions": {"parse": []}}
    await discord_http.request(route, json=body)
    route = discord.http.Route("POST", "/channels/{channel_id}/messages", channel_id=cid)
    await discord_http.request(route, json=body)
    assert len(fake_discord.messages(cid)) == 2


async def test_dropped_response_then_retry_with_same_nonce(
    fake_discord: FakeDiscord, discord_http: discord.http.HTTPClient
) -> None:
    cid = fake_discord.add_channel()
    fake_discord.drop_next(CREATE_MESSAGE)
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await discord_http.send_message(cid, params=params("digest", nonce="d-2024-10-11-1"))
    [created] = fake_discord.messages(cid)  # it was created although the client never heard

    retried = await discord_http.send_message(cid, params=params("digest", nonce="d-2024-10-11-1"))
    assert retried["id"] == created["id"]
    assert len(fake_discord.messages(cid)) == 1
    assert [c.status for c in fake_discord.calls_to(CREATE_MESSAGE)] == [0, 200]


# -- rate limits ------------------------------------------------------------------------------------


async def test_rate_limit_headers_and_429_shape(fake_discord: FakeDiscord, session: aiohttp.ClientSession) -> None:
    cid = fake_discord.add_channel()
    fake_discord.set_rate_limit(GET_CHANNEL, RateLimit(limit=2, per=5.0))
    url = f"{fake_discord.base_url}/channels/{cid}"
    auth = {"Authorization": f"Bot {fake_discord.token}"}
    async with session.get(url, headers=auth) as first:
        assert first.status == 200
        assert first.headers["X-RateLimit-Limit"] == "2" and first.headers["X-RateLimit-Remaining"] == "1"
        assert 4.0 < float(first.headers["X-RateLimit-Reset-After"]) <= 5.0
        assert float(first.headers["X-RateLimit-Reset"]) > 1.7e9
        bucket = first.headers["X-RateLimit-Bucket"]
    async with session.get(url, headers=auth) as second:
        assert second.headers["X-RateLimit-Remaining"] == "0" and second.headers["X-RateLimit-Bucket"] == bucket
    async with session.get(url, headers=auth) as third:
        assert third.status == 429
        body = await third.json()
        assert body["message"] == "You are being rate limited." and body["global"] is False
        assert 0 < body["retry_after"] <= 5.0
        assert third.headers["Retry-After"] == "5" and third.headers["X-RateLimit-Scope"] == "user"
        assert third.headers["Via"]
    other = fake_discord.add_channel(name="other")  # another channel is another bucket
    async with session.get(f"{fake_discord.base_url}/channels/{other}", headers=auth) as fourth:
        assert fourth.status == 200 and fourth.headers["X-RateLimit-Bucket"] == bucket
    assert fake_discord.rate_limited == 1


async def test_global_429_shape(fake_discord: FakeDiscord, session: aiohttp.ClientSession) -> None:
    fake_discord.global_rate_limit = RateLimit(limit=1, per=5.0)
    auth = {"Authorization": f"Bot {fake_discord.token}"}
    async with session.get(f"{fake_discord.base_url}/users/@me", headers=auth) as ok:
        assert ok.status == 200
    async with session.get(f"{fake_discord.base_url}/gateway/bot", headers=auth) as limited:
        assert limited.status == 429
        assert (await limited.json())["global"] is True
        assert limited.headers["X-RateLimit-Global"] == "true" and limited.headers["X-RateLimit-Scope"] == "global"
        assert "X-RateLimit-Bucket" not in limited.headers


async def test_discord_py_waits_out_a_bucket_429(
    fake_discord: FakeDiscord, discord_http: discord.http.HTTPClient
) -> None:
    """Two processes sharing one token overrun a bucket that each alone respects."""
    cid = fake_discord.add_channel()
    fake_discord.set_rate_limit(CREATE_MESSAGE, RateLimit(limit=1, per=0.3))
    other = discord.http.HTTPClient(asyncio.get_running_loop())
    try:
        await other.static_login(fake_discord.token)
        # Both reach the fake in the same window: one gets the slot, the other a 429 that
        # discord.py's own bucket logic sleeps out (retry_after) before retrying.
        a, b = await asyncio.gather(
            discord_http.send_message(cid, params=params("a")), other.send_message(cid, params=params("b"))
        )
    finally:
        await other.close()
    assert (a["content"], b["content"]) == ("a", "b")
    assert sorted(m["content"] for m in fake_discord.messages(cid)) == ["a", "b"]
    assert fake_discord.rate_limited == 1
    assert sorted(c.status for c in fake_discord.calls_to(CREATE_MESSAGE)) == [200, 200, 429]


async def test_discord_py_waits_out_a_global_429(
    fake_discord: FakeDiscord, discord_http: discord.http.HTTPClient
) -> None:
    channels = [fake_discord.add_channel(name=f"c{i}") for i in range(3)]
    fake_discord.global_rate_limit = RateLimit(limit=2, per=0.5)
    for cid in channels:
        await discord_http.send_message(cid, params=params("digest"))
    assert all(len(fake_discord.messages(cid)) == 1 for cid in channels)
    limited = [c for c in fake_discord.calls if c.status == 429]
    assert limited and fake_discord.rate_limited == len(limited)


# -- failure injection ------------------------------------------------------------------------------


async def test_fail_next_answers_the_given_status(
    fake_discord: FakeDiscord, discord_http: discord.http.HTTPClient
) -> None:
    cid = fake_discord.add_channel()
    fake_discord.fail_next(CREATE_MESSAGE, status=503, times=2)
    for _ in range(2):
        with pytest.raises(discord.DiscordServerError) as err:
            await discord_http.send_message(cid, params=params())
        assert err.value.status == 503
    await discord_http.send_message(cid, params=params())
    assert [c.status for c in fake_discord.calls_to(CREATE_MESSAGE)] == [503, 503, 200]
    assert len(fake_discord.messages(cid)) == 1


async def test_fail_next_500_is_counted_in_its_bucket(
    fake_discord: FakeDiscord, session: aiohttp.ClientSession
) -> None:
    cid = fake_discord.add_channel()
    fake_discord.fail_next(GET_CHANNEL, status=500)
    auth = {"Authorization": f"Bot {fake_discord.token}"}
    async with session.get(f"{fake_discord.base_url}/channels/{cid}", headers=auth) as r:
        assert r.status == 500 and (await r.json())["message"] == "500: Internal Server Error"
        assert r.headers["X-RateLimit-Remaining"] == "4"


def test_unknown_route_names_are_refused() -> None:
    fake = FakeDiscord()
    with pytest.raises(ValueError, match="unknown route"):
        fake.fail_next("POST /channels/{id}/messages")


async def test_unknown_path_is_a_discord_404(fake_discord: FakeDiscord, session: aiohttp.ClientSession) -> None:
    auth = {"Authorization": f"Bot {fake_discord.token}"}
    async with session.get(f"{fake_discord.base_url}/guilds/1/nope", headers=auth) as r:
        assert r.status == 404 and await r.json() == {"message": "404: Not Found", "code": 0}
    async with session.post(f"{fake_discord.base_url}/channels/abc/messages", headers=auth, data="{") as r:
        assert r.status == 400
        assert await r.json() == {"message": "The request body contains invalid JSON.", "code": 50109}
    async with session.get(f"{fake_discord.base_url}/channels/abc", headers=auth) as r:
        assert r.status == 400 and (await r.json())["code"] == 50035
    async with session.get(f"{fake_discord.base_url}/users/@me") as r:
        assert r.status == 401 and await r.json() == {"message": "401: Unauthorized", "code": 0}
    async with session.delete(f"{fake_discord.base_url}/users/@me", headers=auth) as r:
        assert r.status == 405


# -- threads and gateway ----------------------------------------------------------------------------


async def test_threads(fake_discord: FakeDiscord, discord_http: discord.http.HTTPClient) -> None:
    cid = fake_discord.add_channel()
    root = await discord_http.send_message(cid, params=params("Pixtral 12B"))
    thread = await discord_http.start_thread_with_message(
        cid, root["id"], name="Pixtral 12B — discussion", auto_archive_duration=1440
    )
    assert thread["id"] == root["id"] and thread["parent_id"] == str(cid) and thread["type"] == 11
    await discord_http.send_message(thread["id"], params=params("in the thread"))
    assert [m["content"] for m in fake_discord.messages(int(thread["id"]))] == ["in the thread"]

    with pytest.raises(discord.HTTPException) as again:
        await discord_http.start_thread_with_message(cid, root["id"], name="x", auto_archive_duration=1440)
    assert again.value.code == 160004
    with pytest.raises(discord.HTTPException) as long_name:
        await discord_http.start_thread_without_message(cid, name="n" * 101, auto_archive_duration=60, type=11)
    assert long_name.value.code == 50035

    loose = await discord_http.start_thread_without_message(cid, name="weekly", auto_archive_duration=60, type=11)
    assert loose["type"] == 11 and loose["thread_metadata"]["auto_archive_duration"] == 60
    fake_discord.set_channel_access(cid, ChannelAccess.MISSING_PERMISSIONS)
    with pytest.raises(discord.Forbidden):
        await discord_http.send_message(loose["id"], params=params("parent's permissions apply"))


async def test_gateway_points_at_loopback(fake_discord: FakeDiscord, discord_http: discord.http.HTTPClient) -> None:
    shards, url, limits = await discord_http.get_bot_gateway()
    assert shards == 1 and url.startswith("ws://127.0.0.1:") and limits["remaining"] > 0


# -- interactions and webhooks (discord.py's own webhook adapter) -----------------------------------


async def test_interaction_reply_followup_and_edit(fake_discord: FakeDiscord, session: aiohttp.ClientSession) -> None:
    cid = fake_discord.add_channel()
    interaction = fake_discord.register_interaction(channel_id=cid)
    adapter = async_context.get()
    with point_discord_py_at(fake_discord.base_url):
        answer = await adapter.create_interaction_response(
            interaction.id,
            interaction.token,
            session=session,
            params=interaction_message_response_params(type=5),
        )
        assert answer["interaction"]["response_message_loading"] is True

        edited = await adapter.edit_original_interaction_response(
            interaction.application_id,
            interaction.token,
            session=session,
            payload={"content": "3 papers match 'diffusion'", "allowed_mentions": {"parse": []}},
        )
        assert edited["content"] == "3 papers match 'diffusion'" and edited["flags"] == 0

        webhook = discord.Webhook.partial(interaction.application_id, interaction.token, session=session)
        followup = await webhook.send("and one more", wait=True, allowed_mentions=NO_PINGS)
        assert followup.content == "and one more" and followup.channel.id == cid

        with pytest.raises(discord.HTTPException) as twice:
            await adapter.create_interaction_response(
                interaction.id,
                interaction.token,
                session=session,
                params=interaction_message_response_params(type=4, content="late", allowed_mentions=NO_PINGS),
            )
        assert twice.value.code == 40060

    assert [r.kind for r in fake_discord.interaction_responses] == ["callback", "edit_original", "followup"]
    assert [m["content"] for m in fake_discord.messages(cid)] == [
        "3 papers match 'diffusion'",
        "and one more",
    ]
    assert fake_discord.original_response(interaction.id)["content"] == "3 papers match 'diffusion'"


async def test_interaction_reply_is_validated(fake_discord: FakeDiscord, session: aiohttp.ClientSession) -> None:
    interaction = fake_discord.register_interaction(channel_id=fake_discord.add_channel())
    adapter = async_context.get()
    with point_discord_py_at(fake_discord.base_url):
        with pytest.raises(discord.HTTPException) as err:
            await adapter.create_interaction_response(
                interaction.id,
                interaction.token,
                session=session,
                params=interaction_message_response_params(
                    type=4, embeds=[discord.Embed(description="d" * 4097)], allowed_mentions=NO_PINGS
                ),
            )
        assert err.value.code == 50035 and "data.embeds.0.description" in err.value.text
        answer = await adapter.create_interaction_response(
            interaction.id,
            interaction.token,
            session=session,
            params=interaction_message_response_params(type=4, content="ok", allowed_mentions=NO_PINGS),
        )
    assert answer["resource"]["message"]["content"] == "ok"
    assert len(fake_discord.interaction_responses) == 1


async def test_late_or_unknown_interactions_are_404(fake_discord: FakeDiscord, session: aiohttp.ClientSession) -> None:
    interaction = fake_discord.register_interaction(channel_id=fake_discord.add_channel())
    fake_discord.expire_interaction(interaction.id)
    adapter = async_context.get()
    reply = interaction_message_response_params(type=4, content="too late", allowed_mentions=NO_PINGS)
    with point_discord_py_at(fake_discord.base_url):
        with pytest.raises(discord.NotFound) as late:
            await adapter.create_interaction_response(interaction.id, interaction.token, session=session, params=reply)
        assert late.value.code == 10062
        webhook = discord.Webhook.partial(fake_discord.application_id, "no-such-token", session=session)
        with pytest.raises(discord.NotFound) as unknown:
            await webhook.send("x", allowed_mentions=NO_PINGS)
        assert unknown.value.code == 10015


# -- the high-level discord.Client models parse what the fake sends ---------------------------------


async def test_client_models_round_trip(fake_discord: FakeDiscord) -> None:
    cid = fake_discord.add_channel()
    uid = fake_discord.add_user(name="reader")
    client = discord.Client(intents=discord.Intents.none(), allowed_mentions=NO_PINGS)
    with point_discord_py_at(fake_discord.base_url):
        try:
            await client.login(fake_discord.token)
            assert client.user is not None and client.user.bot and client.application_id == fake_discord.application_id

            channel = await client.fetch_channel(cid)
            assert isinstance(channel, discord.TextChannel) and channel.name == "daily-papers"
            embed = discord.Embed(title="Pixtral 12B", url="https://arxiv.org/abs/2410.07073")
            sent = await channel.send("digest", embed=embed, nonce="d1")
            assert isinstance(sent, discord.Message) and sent.embeds[0].title == "Pixtral 12B"
            assert [m.id async for m in channel.history(limit=5)] == [sent.id]

            user = await client.fetch_user(uid)
            dm = await user.create_dm()
            assert isinstance(dm, discord.DMChannel)
            await dm.send("your topics matched 2 papers")
            with pytest.raises(discord.NotFound):
                await client.fetch_user(4242)
        finally:
            await client.close()
    assert [m["content"] for m in fake_discord.messages(dm.id)] == ["your topics matched 2 papers"]
