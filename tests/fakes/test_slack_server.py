"""The fake Slack answers the real slack_sdk AsyncWebClient the way Slack does."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest
from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from tests.fakes.slack_server import FakeSlack

BLOCKS = [
    {"type": "header", "text": {"type": "plain_text", "text": "Daily Papers (2024-10-11)"}},
    {"type": "section", "text": {"type": "mrkdwn", "text": "*<https://arxiv.org/abs/2410.05265|Q&amp;A>*"}},
]
METADATA = {"event_type": "digest_posted", "event_payload": {"digest_date": "2024-10-11", "part": 1}}


async def _until(condition: Callable[[], bool]) -> None:
    """Poll ``condition`` until it holds; fail after 10 s instead of hanging."""
    async with asyncio.timeout(10):
        while not condition():  # noqa: ASYNC110  (the fake records responses as it serves them)
            await asyncio.sleep(0.01)


def client_for(slack: FakeSlack, **kwargs: Any) -> AsyncWebClient:
    return AsyncWebClient(token=slack.token, base_url=slack.base_url, **kwargs)


async def api_error(awaitable: Any) -> SlackApiError:
    with pytest.raises(SlackApiError) as info:
        await awaitable
    return info.value


# -- auth -------------------------------------------------------------------------------------------


async def test_auth_test_answers_the_bot_identity(fake_slack: FakeSlack, fake_slack_client: AsyncWebClient) -> None:
    response = await fake_slack_client.auth_test()
    assert response["user_id"] == fake_slack.bot_user_id
    assert response["team_id"] == fake_slack.team_id
    assert response["bot_id"] == fake_slack.bot_id


async def test_wrong_token_is_invalid_auth(fake_slack: FakeSlack) -> None:
    client = AsyncWebClient(token="xoxb-wrong", base_url=fake_slack.base_url)
    error = await api_error(client.chat_postMessage(channel=FakeSlack.GENERAL, text="hi"))
    assert error.response["error"] == "invalid_auth"
    assert fake_slack.messages(FakeSlack.GENERAL) == []


async def test_missing_token_is_not_authed(fake_slack: FakeSlack) -> None:
    client = AsyncWebClient(base_url=fake_slack.base_url)
    error = await api_error(client.auth_test())
    assert error.response["error"] == "not_authed"


async def test_calls_are_logged_without_the_token(fake_slack: FakeSlack, fake_slack_client: AsyncWebClient) -> None:
    await fake_slack_client.chat_postMessage(channel="#general", text="hello")
    (call,) = fake_slack.calls_to("chat.postMessage")
    assert call.args == {"channel": "#general", "text": "hello"}
    assert (call.status, call.error) == (200, None)
    assert all(fake_slack.token not in json.dumps(dict(c.args)) for c in fake_slack.calls)


# -- posting and history ----------------------------------------------------------------------------


async def test_post_then_history_round_trip_with_metadata(
    fake_slack: FakeSlack, fake_slack_client: AsyncWebClient
) -> None:
    posted = await fake_slack_client.chat_postMessage(
        channel=FakeSlack.GENERAL, text="Daily Papers (2024-10-11)", blocks=BLOCKS, metadata=METADATA
    )
    assert posted["channel"] == FakeSlack.GENERAL
    assert posted["message"]["text"] == "Daily Papers (2024-10-11)"

    with_metadata = await fake_slack_client.conversations_history(channel=FakeSlack.GENERAL, include_all_metadata=True)
    (message,) = with_metadata["messages"]
    assert message["ts"] == posted["ts"]
    assert message["metadata"] == METADATA
    assert [b["type"] for b in message["blocks"]] == ["header", "section"]
    assert all(b["block_id"] for b in message["blocks"])  # Slack fills in missing block ids

    without = await fake_slack_client.conversations_history(channel=FakeSlack.GENERAL)
    assert "metadata" not in without["messages"][0]

    (record,) = fake_slack.messages(FakeSlack.GENERAL)
    assert record["blocks"] == BLOCKS  # recorded as sent
    assert record["metadata"] == METADATA
    assert record["ts"] == posted["ts"]


async def test_form_encoded_post_is_accepted(fake_slack: FakeSlack, fake_slack_client: AsyncWebClient) -> None:
    data = {
        "channel": "general",
        "text": "form",
        "blocks": json.dumps(BLOCKS),
        "metadata": json.dumps(METADATA),
    }
    response = await fake_slack_client.api_call("chat.postMessage", data=data)
    assert response["ok"] is True
    (record,) = fake_slack.messages("general")
    assert record["blocks"] == BLOCKS
    assert record["metadata"] == METADATA


async def test_unparsable_form_blocks_are_invalid_blocks_format(fake_slack_client: AsyncWebClient) -> None:
    data = {"channel": FakeSlack.GENERAL, "text": "t", "blocks": "[{"}
    error = await api_error(fake_slack_client.api_call("chat.postMessage", data=data))
    assert error.response["error"] == "invalid_blocks_format"


async def test_timestamps_increase_strictly(fake_slack: FakeSlack, fake_slack_client: AsyncWebClient) -> None:
    fake_slack.set_post_rate(None)
    stamps = [(await fake_slack_client.chat_postMessage(channel="general", text=str(n)))["ts"] for n in range(5)]
    assert stamps == sorted(stamps, key=lambda ts: tuple(int(p) for p in ts.split(".")))
    assert len(set(stamps)) == 5


# -- validation -------------------------------------------------------------------------------------


async def test_invalid_blocks_are_rejected_like_slack(fake_slack: FakeSlack, fake_slack_client: AsyncWebClient) -> None:
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}]
    error = await api_error(fake_slack_client.chat_postMessage(channel="general", text="t", blocks=blocks))
    assert error.response["error"] == "invalid_blocks"
    assert error.response["response_metadata"]["messages"] == [
        "[ERROR] must be less than 3001 characters (got 3001) [json-pointer:/blocks/0/text/text]"
    ]
    assert fake_slack.messages("general") == []


async def test_unescaped_mention_is_rejected(fake_slack_client: AsyncWebClient) -> None:
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "from a title: <!channel>"}}]
    error = await api_error(fake_slack_client.chat_postMessage(channel="general", text="t", blocks=blocks))
    assert error.response["error"] == "invalid_blocks"
    assert "unescaped '<'" in error.response["response_metadata"]["messages"][0]


async def test_missing_text_is_no_text(fake_slack_client: AsyncWebClient) -> None:
    with pytest.warns(UserWarning, match="`text` argument is missing"):  # slack_sdk warns client-side too
        error = await api_error(fake_slack_client.chat_postMessage(channel="general", blocks=BLOCKS))
    assert error.response["error"] == "no_text"


async def test_invalid_metadata_is_rejected(fake_slack_client: AsyncWebClient) -> None:
    error = await api_error(
        fake_slack_client.chat_postMessage(channel="general", text="t", metadata={"event_type": "x"})
    )
    assert error.response["error"] == "invalid_metadata_format"


# -- rate limits ------------------------------------------------------------------------------------


def ticking_clock(step: float) -> Any:
    """Return a clock that moves ``step`` seconds forward each time the fake reads it."""
    ticks = itertools.count(step=step)
    return lambda: next(ticks)


async def test_burst_then_429_with_integer_retry_after() -> None:
    now = [0.0]
    async with FakeSlack(post_rate=1.0, post_burst=2, clock=lambda: now[0]) as slack:
        client = client_for(slack)
        await client.chat_postMessage(channel="general", text="1")
        await client.chat_postMessage(channel="general", text="2")
        error = await api_error(client.chat_postMessage(channel="general", text="3"))
        assert error.response.status_code == 429
        assert error.response.headers["Retry-After"] == "1"
        assert error.response["error"] == "ratelimited"
        assert slack.rate_limited_count == 1

        # Another channel has its own bucket; the first refills at the rate.
        slack.add_channel("C0OTHER", name="other")
        await client.chat_postMessage(channel="C0OTHER", text="elsewhere")
        now[0] = 1.0
        await client.chat_postMessage(channel="general", text="3 again")
        assert [m["text"] for m in slack.messages("general")] == ["1", "2", "3 again"]
        assert slack.rate_limited_by_channel == {"C0GENERAL": 1}


async def test_retry_after_reflects_the_wait() -> None:
    async with FakeSlack(post_rate=0.25, post_burst=1, clock=lambda: 0.0) as slack:
        client = client_for(slack)
        await client.chat_postMessage(channel="general", text="1")
        error = await api_error(client.chat_postMessage(channel="general", text="2"))
        assert error.response.headers["Retry-After"] == "4"


async def test_rate_limit_retry_handler_gets_through() -> None:
    # Each rate check moves the clock 0.6 s: the 2nd post finds 0.6 tokens (429), the retry 1.2.
    async with FakeSlack(post_rate=1.0, post_burst=1, retry_after=0, clock=ticking_clock(0.6)) as slack:
        client = client_for(slack, retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=1)])
        await client.chat_postMessage(channel="general", text="1")
        response = await client.chat_postMessage(channel="general", text="2")
        assert response["ok"] is True
        assert slack.rate_limited_count == 1
        assert [c.status for c in slack.calls_to("chat.postMessage")] == [200, 429, 200]
        assert [m["text"] for m in slack.messages("general")] == ["1", "2"]


async def test_rate_limit_can_be_disabled(fake_slack: FakeSlack, fake_slack_client: AsyncWebClient) -> None:
    fake_slack.set_post_rate(None)
    for n in range(10):
        await fake_slack_client.chat_postMessage(channel="general", text=str(n))
    assert fake_slack.rate_limited_count == 0
    assert len(fake_slack.messages("general")) == 10


# -- failure injection ------------------------------------------------------------------------------


async def test_injected_api_error_surfaces_once(fake_slack: FakeSlack, fake_slack_client: AsyncWebClient) -> None:
    fake_slack.fail_next("chat.postMessage", error="channel_not_found")
    error = await api_error(fake_slack_client.chat_postMessage(channel="general", text="lost"))
    assert error.response["error"] == "channel_not_found"
    assert error.response.status_code == 200
    await fake_slack_client.chat_postMessage(channel="general", text="kept")
    assert [m["text"] for m in fake_slack.messages("general")] == ["kept"]


async def test_injected_server_errors_repeat_times(fake_slack: FakeSlack, fake_slack_client: AsyncWebClient) -> None:
    fake_slack.fail_next("conversations.history", status=500, times=2)
    for _ in range(2):
        error = await api_error(fake_slack_client.conversations_history(channel="general"))
        assert error.response.status_code == 500
    assert (await fake_slack_client.conversations_history(channel="general"))["ok"] is True


async def test_injected_429_carries_retry_after(fake_slack: FakeSlack, fake_slack_client: AsyncWebClient) -> None:
    fake_slack.fail_next("users.info", status=429, retry_after=7)
    error = await api_error(fake_slack_client.users_info(user=fake_slack.bot_user_id))
    assert (error.response.status_code, error.response.headers["Retry-After"]) == (429, "7")
    assert error.response["error"] == "ratelimited"


@pytest.mark.parametrize("state", ["channel_not_found", "not_in_channel", "is_archived"])
async def test_permanent_channel_states(fake_slack: FakeSlack, fake_slack_client: AsyncWebClient, state: str) -> None:
    fake_slack.add_channel("C0BROKEN", name="broken")
    fake_slack.set_channel_error("C0BROKEN", state)
    for _ in range(2):
        error = await api_error(fake_slack_client.chat_postMessage(channel="C0BROKEN", text="t"))
        assert error.response["error"] == state
    fake_slack.set_channel_error("C0BROKEN", None)
    assert (await fake_slack_client.chat_postMessage(channel="C0BROKEN", text="t"))["ok"] is True


async def test_channel_flags_and_unknown_channels(fake_slack: FakeSlack, fake_slack_client: AsyncWebClient) -> None:
    fake_slack.add_channel("C0OUT", is_member=False)
    fake_slack.add_channel("C0OLD", is_archived=True)
    cases = {"C0OUT": "not_in_channel", "C0OLD": "is_archived", "C0NOPE": "channel_not_found"}
    for channel, expected in cases.items():
        error = await api_error(fake_slack_client.chat_postMessage(channel=channel, text="t"))
        assert error.response["error"] == expected
    error = await api_error(fake_slack_client.conversations_history(channel="C0OUT"))
    assert error.response["error"] == "not_in_channel"


async def test_dropped_connection_after_post_leaves_outcome_unknown(fake_slack: FakeSlack) -> None:
    fake_slack.drop_connection_after("chat.postMessage")
    client = client_for(fake_slack, retry_handlers=[])
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await client.chat_postMessage(channel="general", text="did it land?", metadata=METADATA)
    assert [m["text"] for m in fake_slack.messages("general")] == ["did it land?"]
    assert fake_slack.calls_to("chat.postMessage")[0].dropped is True
    history = await client.conversations_history(channel="general", include_all_metadata=True)
    assert history["messages"][0]["metadata"] == METADATA  # what reconciliation would look for


async def test_default_connection_retry_duplicates_a_dropped_post(fake_slack: FakeSlack) -> None:
    fake_slack.drop_connection_after("chat.postMessage")
    client = client_for(fake_slack)  # slack_sdk retries once on ServerDisconnectedError by default
    response = await client.chat_postMessage(channel="general", text="twice")
    assert response["ok"] is True
    assert [m["text"] for m in fake_slack.messages("general")] == ["twice", "twice"]


# -- DMs and users ----------------------------------------------------------------------------------


async def test_dm_open_and_post(fake_slack: FakeSlack, fake_slack_client: AsyncWebClient) -> None:
    fake_slack.add_user("U0ALICE", name="alice")
    opened = await fake_slack_client.conversations_open(users="U0ALICE")
    channel = opened["channel"]["id"]
    assert channel.startswith("D")
    await fake_slack_client.chat_postMessage(channel=channel, text="your topics matched 2 papers")
    again = await fake_slack_client.conversations_open(users="U0ALICE")
    assert again["channel"]["id"] == channel
    assert again["already_open"] is True
    await fake_slack_client.chat_postMessage(channel="U0ALICE", text="posting to the user id lands in the DM")
    assert [m["channel"] for m in fake_slack.messages(channel)] == [channel, channel]
    assert fake_slack.dm_channel("U0ALICE") == channel
    info = await fake_slack_client.conversations_info(channel=channel)
    assert info["channel"]["is_im"] is True
    assert info["channel"]["user"] == "U0ALICE"


@pytest.mark.parametrize(
    ("user", "expected"),
    [("U0BOT", "cannot_dm_bot"), ("U0NOBODY", "user_not_found"), ("U0GONE", "account_inactive")],
)
async def test_dm_errors(fake_slack: FakeSlack, fake_slack_client: AsyncWebClient, user: str, expected: str) -> None:
    fake_slack.add_user("U0GONE", deleted=True, dm_error="account_inactive")
    error = await api_error(fake_slack_client.conversations_open(users=user))
    assert error.response["error"] == expected
    # Posting straight to the user id opens the DM first; an unknown id is just an unknown channel.
    error = await api_error(fake_slack_client.chat_postMessage(channel=user, text="t"))
    assert error.response["error"] == ("channel_not_found" if expected == "user_not_found" else expected)
    assert fake_slack.dm_channel(user) is None


async def test_users_info_reports_admin_and_owner(fake_slack: FakeSlack, fake_slack_client: AsyncWebClient) -> None:
    fake_slack.add_user("U0ADMIN", name="ada", is_admin=True)
    fake_slack.add_user("U0OWNER", name="olga", is_admin=True, is_owner=True)
    fake_slack.add_user("U0PLAIN", name="pat")
    flags = {}
    for user in ("U0ADMIN", "U0OWNER", "U0PLAIN"):
        info = (await fake_slack_client.users_info(user=user))["user"]
        flags[user] = (info["is_admin"], info["is_owner"])
    assert flags == {"U0ADMIN": (True, False), "U0OWNER": (True, True), "U0PLAIN": (False, False)}
    error = await api_error(fake_slack_client.users_info(user="U0NOBODY"))
    assert error.response["error"] == "user_not_found"


async def test_conversations_info_of_a_channel(fake_slack_client: AsyncWebClient) -> None:
    info = (await fake_slack_client.conversations_info(channel=FakeSlack.GENERAL))["channel"]
    assert (info["id"], info["name"], info["is_member"], info["is_archived"]) == (
        "C0GENERAL",
        "general",
        True,
        False,
    )
    error = await api_error(fake_slack_client.conversations_info(channel="C0NOPE"))
    assert error.response["error"] == "channel_not_found"


# -- pagination, threads, updates, ephemerals ---------------------------------------------------------


async def test_history_pagination_newest_first(fake_slack: FakeSlack, fake_slack_client: AsyncWebClient) -> None:
    fake_slack.set_post_rate(None)
    stamps = [(await fake_slack_client.chat_postMessage(channel="general", text=f"m{n}"))["ts"] for n in range(7)]
    pages: list[list[str]] = []
    cursor = None
    for _ in range(5):  # bounded: a cursor bug must fail, not loop
        page = await fake_slack_client.conversations_history(channel="general", limit=3, cursor=cursor)
        pages.append([m["text"] for m in page["messages"]])
        if not page["has_more"]:
            assert "response_metadata" not in page
            break
        cursor = page["response_metadata"]["next_cursor"]
    else:
        pytest.fail(f"pagination did not end: {pages}")
    assert pages == [["m6", "m5", "m4"], ["m3", "m2", "m1"], ["m0"]]

    window = await fake_slack_client.conversations_history(channel="general", oldest=stamps[1], latest=stamps[4])
    assert [m["text"] for m in window["messages"]] == ["m3", "m2"]
    inclusive = await fake_slack_client.conversations_history(
        channel="general", oldest=stamps[1], latest=stamps[4], inclusive=True
    )
    assert [m["text"] for m in inclusive["messages"]] == ["m4", "m3", "m2", "m1"]

    error = await api_error(fake_slack_client.conversations_history(channel="general", cursor="bm9wZQ=="))
    assert error.response["error"] == "invalid_cursor"


async def test_threads_and_replies(fake_slack: FakeSlack, fake_slack_client: AsyncWebClient) -> None:
    parent = await fake_slack_client.chat_postMessage(channel="general", text="digest")
    reply = await fake_slack_client.chat_postMessage(channel="general", text="part 2", thread_ts=parent["ts"])
    assert reply["message"]["thread_ts"] == parent["ts"]

    history = await fake_slack_client.conversations_history(channel="general")
    (top,) = history["messages"]
    assert (top["text"], top["reply_count"], top["latest_reply"]) == ("digest", 1, reply["ts"])

    thread = await fake_slack_client.conversations_replies(channel="general", ts=parent["ts"])
    assert [m["text"] for m in thread["messages"]] == ["digest", "part 2"]
    assert [m["thread_ts"] for m in fake_slack.messages("general")] == [None, parent["ts"]]

    error = await api_error(fake_slack_client.chat_postMessage(channel="general", text="t", thread_ts="0"))
    assert error.response["error"] == "invalid_thread_ts"
    error = await api_error(fake_slack_client.conversations_replies(channel="general", ts="1.000001"))
    assert error.response["error"] == "thread_not_found"


async def test_chat_update_replaces_and_validates(fake_slack: FakeSlack, fake_slack_client: AsyncWebClient) -> None:
    posted = await fake_slack_client.chat_postMessage(channel="general", text="draft", blocks=BLOCKS)
    updated = await fake_slack_client.chat_update(channel="general", ts=posted["ts"], text="final", blocks=BLOCKS[:1])
    assert updated["text"] == "final"
    (record,) = fake_slack.messages("general")
    assert (record["text"], record["blocks"], record["ts"]) == ("final", BLOCKS[:1], posted["ts"])
    assert record["edited_ts"] is not None

    error = await api_error(fake_slack_client.chat_update(channel="general", ts="1.000001", text="x"))
    assert error.response["error"] == "message_not_found"
    bad = [{"type": "header", "text": {"type": "plain_text", "text": "h" * 151}}]
    error = await api_error(fake_slack_client.chat_update(channel="general", ts=posted["ts"], text="x", blocks=bad))
    assert error.response["error"] == "invalid_blocks"


async def test_post_ephemeral_is_recorded_apart(fake_slack: FakeSlack, fake_slack_client: AsyncWebClient) -> None:
    fake_slack.add_user("U0ALICE")
    response = await fake_slack_client.chat_postEphemeral(channel="general", user="U0ALICE", text="only you")
    assert response["message_ts"]
    assert fake_slack.messages("general") == []
    assert [(e["user"], e["text"]) for e in fake_slack.ephemerals] == [("U0ALICE", "only you")]
    error = await api_error(fake_slack_client.chat_postEphemeral(channel="general", user="U0NOBODY", text="t"))
    assert error.response["error"] == "user_not_found"


# -- response_url -------------------------------------------------------------------------------------


async def test_response_url_captures_and_validates(fake_slack: FakeSlack) -> None:
    webhook = AsyncWebhookClient(fake_slack.response_url("paper-1"))
    ok = await webhook.send(text="Found 1 paper", blocks=BLOCKS, response_type="ephemeral")
    assert (ok.status_code, ok.body) == (200, "ok")
    bad = await webhook.send(text="t", blocks=[{"type": "section"}])
    assert (bad.status_code, bad.body) == (400, "invalid_blocks")
    assert [r["ok"] for r in fake_slack.responses] == [True, False]
    assert fake_slack.responses[0]["payload"]["blocks"] == BLOCKS
    assert fake_slack.responses[1]["violations"] == ["section needs `text` or `fields` [json-pointer:/blocks/0]"]


async def test_response_url_expires(fake_slack: FakeSlack) -> None:
    webhook = AsyncWebhookClient(fake_slack.response_url("paper-2"))
    for n in range(5):
        assert (await webhook.send(text=f"update {n}")).status_code == 200
    used_up = await webhook.send(text="sixth")
    assert (used_up.status_code, used_up.body) == (404, "expired_url")

    late = AsyncWebhookClient(fake_slack.response_url("paper-3"))
    fake_slack.expire_response_url("paper-3")
    assert (await late.send(text="after 30 minutes")).status_code == 404

    unknown = AsyncWebhookClient(fake_slack.base_url.replace("/api/", "/response/nope"))
    assert (await unknown.send(text="t")).status_code == 404
    assert [r["ok"] for r in fake_slack.responses] == [True] * 5 + [False] * 3


# -- bolt ---------------------------------------------------------------------------------------------


async def test_bolt_app_slash_command_replies_through_response_url(fake_slack: FakeSlack) -> None:
    app = AsyncApp(client=client_for(fake_slack), request_verification_enabled=False)

    @app.command("/paper")
    async def paper(ack: AsyncAck, respond: AsyncRespond, command: dict[str, Any]) -> None:
        await ack()
        await asyncio.sleep(0.05)  # a loaded machine: the listener runs on after the ack was answered
        await respond(text=f"No paper matches {command['text']}", response_type="ephemeral")

    body = urlencode(
        {
            "command": "/paper",
            "text": "2410.99999",
            "team_id": fake_slack.team_id,
            "channel_id": FakeSlack.GENERAL,
            "user_id": "U0ALICE",
            "response_url": fake_slack.response_url("paper-cmd"),
            "trigger_id": "1.2.3",
        }
    )
    response = await app.async_dispatch(AsyncBoltRequest(body=body))
    assert response.status == 200
    assert fake_slack.calls_to("auth.test")  # bolt checks its token against the fake first
    # bolt acks first and runs the rest of the listener afterwards: wait (bounded) for its respond().
    await _until(lambda: bool(fake_slack.responses))
    assert [(r["name"], r["payload"]["text"]) for r in fake_slack.responses] == [
        ("paper-cmd", "No paper matches 2410.99999")
    ]
