"""The fake Slack's OAuth side, driven by the real slack_sdk client: codes, client credentials, rotation."""

from __future__ import annotations

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from tests.fakes.slack_server import FakeSlack


async def _access(fake: FakeSlack, **args: str) -> dict[str, object]:
    client = AsyncWebClient(base_url=fake.base_url)
    response = await client.oauth_v2_access(client_id=fake.client_id, client_secret=fake.client_secret, **args)
    return dict(response.data)  # type: ignore[arg-type]


async def test_a_code_buys_one_workspace_token_once() -> None:
    async with FakeSlack() as fake:
        fake.add_workspace("T0A", name="alpha")
        code = fake.authorize("T0A", user="U0INSTALLER")
        body = await _access(fake, code=code)
        assert body["team"] == {"name": "alpha", "id": "T0A"} and body["authed_user"] == {"id": "U0INSTALLER"}
        token = str(body["access_token"])
        auth = await AsyncWebClient(token=token, base_url=fake.base_url).auth_test()
        assert auth["team_id"] == "T0A" and auth["user_id"] == body["bot_user_id"]
        with pytest.raises(SlackApiError, match="invalid_code"):
            await _access(fake, code=code)  # a code works once


async def test_wrong_client_secret_and_redirect_uri_are_refused() -> None:
    async with FakeSlack() as fake:
        fake.add_workspace("T0A", name="alpha")
        client = AsyncWebClient(base_url=fake.base_url)
        with pytest.raises(SlackApiError, match="invalid_client_id"):
            await client.oauth_v2_access(client_id=fake.client_id, client_secret="wrong", code=fake.authorize("T0A"))
        code = fake.authorize("T0A", redirect_uri="https://host/slack/oauth_redirect")
        with pytest.raises(SlackApiError, match="bad_redirect_uri"):
            await _access(fake, code=code, redirect_uri="https://elsewhere/")


async def test_rotating_tokens_expire_refresh_and_revoke() -> None:
    async with FakeSlack() as fake:
        fake.add_workspace("T0A", name="alpha")
        fake.enable_token_rotation(expires_in=60)
        body = await _access(fake, code=fake.authorize("T0A"))
        assert str(body["access_token"]).startswith("xoxe.xoxb-") and body["expires_in"] == 60
        old = AsyncWebClient(token=str(body["access_token"]), base_url=fake.base_url)
        fake.expire_tokens("T0A")
        with pytest.raises(SlackApiError, match="token_expired"):
            await old.auth_test()
        fresh = await _access(fake, grant_type="refresh_token", refresh_token=str(body["refresh_token"]))
        new = AsyncWebClient(token=str(fresh["access_token"]), base_url=fake.base_url)
        assert (await new.auth_test())["team_id"] == "T0A"
        fake.revoke("T0A")
        with pytest.raises(SlackApiError, match="token_revoked"):
            await new.auth_test()
        with pytest.raises(SlackApiError, match="invalid_refresh_token"):
            await _access(fake, grant_type="refresh_token", refresh_token=str(fresh["refresh_token"]))


async def test_a_workspace_token_cannot_post_to_another_workspace() -> None:
    async with FakeSlack(post_rate=None) as fake:
        fake.add_workspace("T0A", name="alpha")
        fake.add_channel("C0B", team=fake.team_id)
        token = str((await _access(fake, code=fake.authorize("T0A")))["access_token"])
        with pytest.raises(SlackApiError, match="channel_not_found"):
            await AsyncWebClient(token=token, base_url=fake.base_url).chat_postMessage(channel="C0B", text="x")
        await AsyncWebClient(token=fake.token, base_url=fake.base_url).chat_postMessage(channel="C0B", text="x")
        assert [m["team"] for m in fake.messages("C0B")] == [fake.team_id]
