"""Slack for many workspaces: OAuth installs through bolt's real flow, a token per workspace, uninstalls, rotation.

Everything runs for real: digestbot's HTTP server (bolt's AsyncApp behind its aiohttp adapter), the
browser's cookie jar between ``/slack/install`` and ``/slack/oauth_redirect``, slack_sdk's
``oauth.v2.access`` and ``auth.test`` against the fake Slack, signed events, the delivery engine.
"""

from __future__ import annotations

import asyncio
import re
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from html import unescape
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import aiohttp
import pytest

from adapters.slack_app import serve
from adapters.slack_poster import SlackAdapter
from digestbot.channels import load_channels
from digestbot.config import ChannelConfig, Config, SlackConfig, SlackOAuthConfig, load_config
from digestbot.delivery import DeliveryEngine, RunSummary
from digestbot.errors import ConfigError
from digestbot.records import Paper
from digestbot.status import status_lines
from digestbot.store import Store
from digestbot.store.installations import InstallationRecords
from digestbot.workspaces import install_lines
from tests.fakes import slack_events
from tests.fakes.slack_server import FakeSlack

DAY = date(2024, 10, 11)
ALPHA, BETA = "T0ALPHA", "T0BETA"
C_ALPHA, C_BETA = "C0ALPHA", "C0BETA"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def oauth_config(fake: FakeSlack, port: int, **oauth: Any) -> Config:
    slack = SlackConfig(
        enabled=True,
        signing_secret=fake.signing_secret,
        api_base_url=fake.base_url,
        mode="http",
        port=port,
        oauth=SlackOAuthConfig(client_id=fake.client_id, client_secret=fake.client_secret, **oauth),
    )
    # Alpha's channel comes from the config file; beta's is set up with /digest after installing.
    return Config(slack=slack, channels=(ChannelConfig(platform="slack", id=C_ALPHA, workspace=ALPHA),))


@dataclass
class Deployment:
    """digestbot serving HTTP mode with OAuth, an installer's browser, and the engine that posts."""

    fake: FakeSlack
    store: Store
    config: Config
    adapter: SlackAdapter
    browser: aiohttp.ClientSession
    root: str

    async def install(self, team_id: str, *, cookies: bool = True) -> tuple[int, str]:
        """Click "Add to Slack", approve on (fake) Slack for ``team_id``, follow the redirect back.

        bolt's state cookie is ``Secure`` (a browser sends it back over https only): the test
        carries it by hand over the loopback's plain http, as the installer's browser would.
        """
        async with self.browser.get(f"{self.root}/slack/install") as resp:
            assert resp.status == 200
            page = await resp.text()
            cookie = resp.cookies["slack-app-oauth-state"]
        assert cookie["secure"] and cookie["httponly"]
        link = unescape(re.search(r'<a href="([^"]+)"', page).group(1))  # type: ignore[union-attr]
        query = parse_qs(urlparse(link).query)
        assert query["client_id"] == [self.fake.client_id]
        assert set(query["scope"][0].split(",")) >= {"chat:write", "commands", "users:read"}
        assert query["state"] == [cookie.value]
        code = self.fake.authorize(team_id)
        headers = {"Cookie": f"slack-app-oauth-state={cookie.value}"} if cookies else {}
        params = {"code": code, "state": query["state"][0]}
        async with self.browser.get(f"{self.root}/slack/oauth_redirect", params=params, headers=headers) as resp:
            return resp.status, await resp.text()

    async def post(self, day: date) -> RunSummary:
        """Run ``digestbot post`` for ``day`` through a fresh engine (as a scheduled post would)."""
        engine = DeliveryEngine(self.store, {"slack": self.adapter}, self.config, sleep=lambda _: asyncio.sleep(0))
        try:
            return await engine.post_digest(day, notify=False)
        finally:
            await engine.close()

    async def send(self, body: str, headers: dict[str, str]) -> int:
        async with self.browser.post(f"{self.root}/slack/events", data=body, headers=headers) as resp:
            return resp.status


async def until(check: Callable[[], Awaitable[bool]], what: str) -> None:
    for _ in range(250):
        if await check():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
async def deployment(seeded_store: Store) -> AsyncIterator[Deployment]:
    async with FakeSlack(post_rate=None) as fake:
        fake.add_workspace(ALPHA, name="alpha")
        fake.add_workspace(BETA, name="beta")
        fake.add_channel(C_ALPHA, name="papers", team=ALPHA)
        fake.add_channel(C_BETA, name="papers-beta", team=BETA)
        fake.add_user("U0BETAADMIN", name="beta-admin", is_admin=True)
        port = _free_port()
        config = oauth_config(fake, port)
        adapter = SlackAdapter(config, store=seeded_store)
        await adapter.start()
        stop = asyncio.Event()
        task = asyncio.create_task(serve(config, seeded_store, adapter, stop=stop, host="127.0.0.1"))
        browser = aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar())  # cookies are carried by hand
        root = f"http://127.0.0.1:{port}"
        try:
            for _ in range(250):  # wait for the server to bind
                try:
                    async with browser.get(f"{root}/slack/install"):
                        break
                except aiohttp.ClientConnectorError:
                    await asyncio.sleep(0.02)
            yield Deployment(fake, seeded_store, config, adapter, browser, root)
        finally:
            stop.set()
            await task
            await browser.close()
            await adapter.close()


async def _set_up_beta_channel(d: Deployment) -> None:
    """A beta admin types ``/digest on`` in beta's channel: bolt authorizes it with beta's stored token."""
    body, headers = slack_events.slash_command(
        d.fake, BETA, "/digest", "on", user="U0BETAADMIN", channel=C_BETA, response_name="beta-on"
    )
    assert await d.send(body, headers) == 200

    async def answered() -> bool:
        return any(r["name"] == "beta-on" and r["ok"] for r in d.fake.responses)

    await until(answered, "the /digest answer")
    users_info = [c for c in d.fake.calls_to("users.info") if c.args.get("user") == "U0BETAADMIN"]
    assert users_info and users_info[-1].team == BETA  # asked with beta's own token


async def _add_next_day(store: Store) -> date:
    later = DAY + timedelta(days=1)
    paper = Paper(arxiv_id="2410.99999", title="Tomorrow's paper", abstract="About tomorrow.", votes=5)
    await store.upsert_papers([paper], digest_date=later)
    return later


def _teams_posting(fake: FakeSlack, channel: str) -> set[str]:
    return {m["team"] for m in fake.messages(channel)}


async def test_two_workspaces_install_get_their_digest_and_one_uninstalls(deployment: Deployment) -> None:
    d = deployment
    for team in (ALPHA, BETA):
        status, page = await d.install(team)
        assert status == 200, page
    records = {r.team_id: r for r in await InstallationRecords(d.store).all()}
    assert records[ALPHA].bot_token in d.fake.tokens_of(ALPHA)
    assert records[BETA].bot_token in d.fake.tokens_of(BETA)
    assert records[BETA].team_name == "beta" and records[BETA].installer_user_id == "U0ADMIN"
    assert {c.team for c in d.fake.calls_to("oauth.v2.access")} and len(d.fake.calls_to("oauth.v2.access")) == 2
    await _set_up_beta_channel(d)

    summary = await d.post(DAY)
    assert summary.failed == 0 and summary.posted >= 2, summary
    assert d.fake.messages(C_ALPHA) and d.fake.messages(C_BETA)
    assert _teams_posting(d.fake, C_ALPHA) == {ALPHA} and _teams_posting(d.fake, C_BETA) == {BETA}

    # Beta removes the app: Slack revokes its tokens and sends app_uninstalled.
    d.fake.revoke(BETA)
    assert await d.send(*slack_events.app_uninstalled(d.fake, BETA)) == 200

    async def beta_removed() -> bool:
        return await InstallationRecords(d.store).find(BETA) is None

    await until(beta_removed, "beta's uninstall")
    lines = await install_lines(d.store, d.config)
    assert any(line.startswith(f"{ALPHA} (alpha)") and line.endswith("installed") for line in lines), lines
    assert any(
        line.startswith(f"{BETA} (beta)") and "PAUSED: the workspace uninstalled the app" in line for line in lines
    )
    status = "\n".join(await status_lines(d.store, d.config, now=datetime.now(UTC)))
    assert f"slack:{C_BETA}" in status and "paused: the workspace uninstalled the app" in status

    before_beta = len(d.fake.messages(C_BETA))
    tomorrow = await _add_next_day(d.store)
    summary = await d.post(tomorrow)
    assert summary.ok and summary.failed == 0 and summary.posted >= 1, summary
    assert any("Tomorrow" in m["text"] or "2410.99999" in str(m["blocks"]) for m in d.fake.messages(C_ALPHA))
    assert len(d.fake.messages(C_BETA)) == before_beta  # nothing, and no error
    assert not [c for c in d.fake.calls if c.team == BETA and c.method == "chat.postMessage" and c.error]

    # Beta installs again: its channel resumes.
    status, page = await d.install(BETA)
    assert status == 200, page
    channels = {c.id: c for c in await load_channels(d.store, d.config, include_disabled=True)}
    assert channels[C_BETA].enabled


async def test_the_redirect_needs_the_installers_state_cookie(deployment: Deployment) -> None:
    status, _ = await deployment.install(ALPHA, cookies=False)
    assert status != 200
    assert await InstallationRecords(deployment.store).find(ALPHA) is None
    assert deployment.fake.calls_to("oauth.v2.access") == []  # the code was never traded


async def test_unsigned_events_are_refused(deployment: Deployment) -> None:
    d = deployment
    await d.install(BETA)
    body, headers = slack_events.app_uninstalled(d.fake, BETA)
    headers["x-slack-signature"] = "v0=" + "0" * 64
    assert await d.send(body, headers) == 401
    assert await InstallationRecords(d.store).find(BETA) is not None


async def test_a_token_refused_while_posting_pauses_that_workspace_only(deployment: Deployment) -> None:
    d = deployment
    await d.install(ALPHA)
    await d.install(BETA)
    await _set_up_beta_channel(d)
    d.fake.revoke(ALPHA)  # no event reached us: the post finds out
    summary = await d.post(DAY)
    assert summary.failed == 0 and summary.refused == 0 and summary.deferred == 0, summary
    assert d.fake.messages(C_ALPHA) == [] and d.fake.messages(C_BETA)
    assert await InstallationRecords(d.store).find(ALPHA) is None
    channels = {c.id: c for c in await load_channels(d.store, d.config, include_disabled=True)}
    assert not channels[C_ALPHA].enabled and "token_revoked" in (channels[C_ALPHA].disabled_reason or "")
    assert channels[C_BETA].enabled


async def test_tokens_revoked_event_pauses_the_workspace(deployment: Deployment) -> None:
    d = deployment
    await d.install(ALPHA)
    assert await d.send(*slack_events.tokens_revoked(d.fake, ALPHA, ["U0BOTT0ALPHA"])) == 200

    async def paused() -> bool:
        channels = {c.id: c for c in await load_channels(d.store, d.config, include_disabled=True)}
        return not channels[C_ALPHA].enabled

    await until(paused, "alpha's pause")
    summary = await d.post(DAY)
    assert summary.ok and summary.posted == 0 and d.fake.calls_to("chat.postMessage") == []


async def test_rotating_tokens_are_refreshed_before_each_send(deployment: Deployment) -> None:
    d = deployment
    d.fake.enable_token_rotation(expires_in=3600)  # under the 120 minutes: refresh before use
    await d.install(ALPHA)
    first = await InstallationRecords(d.store).find(ALPHA)
    assert first is not None and first.bot_refresh_token and first.bot_token_expires_at is not None
    d.fake.expire_tokens(ALPHA)  # the installed token no longer works at Slack
    summary = await d.post(DAY)
    assert summary.failed == 0 and summary.deferred == 0 and summary.posted >= 1, summary
    refreshes = [c for c in d.fake.calls_to("oauth.v2.access") if c.args.get("grant_type") == "refresh_token"]
    assert refreshes and all(c.error is None for c in refreshes)
    stored = await InstallationRecords(d.store).find(ALPHA)
    assert stored is not None and stored.bot_token == d.fake.tokens_of(ALPHA)[-1] != first.bot_token
    assert all(c.error is None for c in d.fake.calls_to("chat.postMessage"))  # never an expired token


def test_config_refuses_oauth_over_socket_mode(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("slack:\n  oauth:\n    client_id: '1.2'\n    client_secret: s\n")
    with pytest.raises(ConfigError, match=r"slack\.oauth: needs slack\.mode: http"):
        load_config(path)
    path.write_text("slack:\n  mode: http\n  oauth:\n    client_id: '1.2'\n    client_secret: s\n")
    oauth = load_config(path).slack.oauth
    path.write_text("slack:\n  mode: http\n  bot_token: xoxb-1\n  oauth:\n    client_id: '1.2'\n")
    with pytest.raises(ConfigError, match=r"slack\.oauth: leave slack\.bot_token unset"):
        load_config(path)
    assert oauth is not None and "chat:write" in oauth.scopes and oauth.token_refresh_minutes == 120


def test_the_oauth_manifest_is_http_mode_with_the_redirect_and_removal_events() -> None:
    import yaml

    from adapters.slack_commands import COMMANDS
    from digestbot.config import SLACK_BOT_SCOPES
    from tests.conftest import ROOT

    socket_manifest = yaml.safe_load((ROOT / "adapters" / "slack_manifest.yaml").read_text(encoding="utf-8"))
    manifest = yaml.safe_load((ROOT / "adapters" / "slack_manifest_oauth.yaml").read_text(encoding="utf-8"))
    commands = manifest["features"]["slash_commands"]
    assert sorted(c["command"] for c in commands) == sorted(COMMANDS)
    assert {c["url"] for c in commands} == {"https://YOUR-HOST/slack/events"}
    assert manifest["settings"]["socket_mode_enabled"] is False
    assert manifest["settings"]["interactivity"]["request_url"] == "https://YOUR-HOST/slack/events"
    assert set(manifest["settings"]["event_subscriptions"]["bot_events"]) == {"app_uninstalled", "tokens_revoked"}
    assert manifest["oauth_config"]["redirect_urls"] == ["https://YOUR-HOST/slack/oauth_redirect"]
    scopes = manifest["oauth_config"]["scopes"]["bot"]
    assert scopes == socket_manifest["oauth_config"]["scopes"]["bot"] == list(SLACK_BOT_SCOPES)


async def test_post_and_slack_installs_from_the_command_line(tmp_path: Path) -> None:
    import os

    import yaml
    from slack_sdk.oauth.installation_store import Bot
    from slack_sdk.web.async_client import AsyncWebClient

    from adapters.slack_install import DigestbotInstallationStore
    from digestbot.sources.files import load_file
    from digestbot.workspaces import UNINSTALLED, pause_workspace
    from tests.adapters.slack.test_slack_post_cli import run_cli
    from tests.conftest import ROOT, SEED

    async with FakeSlack(post_rate=None) as fake:
        fake.add_workspace(ALPHA, name="alpha")
        fake.add_workspace(BETA, name="beta")
        fake.add_channel(C_ALPHA, team=ALPHA)
        fake.add_channel(C_BETA, team=BETA)
        db = tmp_path / "bot.sqlite3"
        config = {
            "database": str(db),
            "sources": {"huggingface": {"enabled": False}},
            "slack": {
                "enabled": True,
                "mode": "http",
                "signing_secret": "${SLACK_SIGNING_SECRET}",
                "api_base_url": fake.base_url,
                "oauth": {"client_id": fake.client_id, "client_secret": "${SLACK_CLIENT_SECRET}"},
            },
            "channels": [
                {"platform": "slack", "id": C_ALPHA, "workspace": ALPHA},
                {"platform": "slack", "id": C_BETA, "workspace": BETA},
            ],
        }
        path = tmp_path / "config.yaml"
        path.write_text(yaml.safe_dump(config), encoding="utf-8")
        async with await Store.open(db) as store:
            loaded = load_file(SEED)
            await store.upsert_papers(loaded.papers, digest_date=loaded.digest_date)
            installs = DigestbotInstallationStore(store)
            client = AsyncWebClient(base_url=fake.base_url)
            for team in (ALPHA, BETA):  # what bolt's redirect handler does with the code
                access = await client.oauth_v2_access(
                    client_id=fake.client_id, client_secret=fake.client_secret, code=fake.authorize(team)
                )
                auth = await client.auth_test(token=access["access_token"])
                await installs.async_save_bot(
                    Bot(
                        team_id=team,
                        team_name=access["team"]["name"],
                        bot_token=access["access_token"],
                        bot_id=auth["bot_id"],
                        bot_user_id=access["bot_user_id"],
                        installed_at=0.0,
                    )
                )
            fake.revoke(BETA)
            await pause_workspace(store, load_config(path, env={"SLACK_CLIENT_SECRET": "x"}), BETA, reason=UNINSTALLED)
        env = {
            **os.environ,
            "SLACK_SIGNING_SECRET": fake.signing_secret,
            "SLACK_CLIENT_SECRET": fake.client_secret,
            "PYTHONPATH": str(ROOT),
        }
        code, out, err = await run_cli("--config", str(path), "post", "--date", "2024-10-11", env=env)
        assert code == 0, out + err
        assert "failed 0" in out and fake.messages(C_ALPHA) and fake.messages(C_BETA) == []
        assert _teams_posting(fake, C_ALPHA) == {ALPHA}
        assert not any(t in out + err for t in [*fake.tokens_of(ALPHA), fake.client_secret])

        code, out, err = await run_cli("--config", str(path), "slack", "installs", env=env)
        assert code == 0, out + err
        alpha, beta = out.strip().splitlines()
        assert alpha.startswith(f"{ALPHA} (alpha): installed ") and "1 channel posting" in alpha
        assert alpha.endswith("; installed")
        assert beta.startswith(f"{BETA} (beta): installed ") and "PAUSED: the workspace uninstalled the app" in beta


async def test_subscriber_dms_go_out_with_their_workspaces_token(deployment: Deployment) -> None:
    d = deployment
    await d.install(ALPHA)
    await d.install(BETA)
    await _set_up_beta_channel(d)
    d.fake.add_user("U0ANNA", name="anna")
    d.fake.add_user("U0BORIS", name="boris")
    await d.store.add_subscription(platform="slack", workspace=ALPHA, user="U0ANNA", topic="diffusion", max_topics=20)
    await d.store.add_subscription(platform="slack", workspace=BETA, user="U0BORIS", topic="diffusion", max_topics=20)
    engine = DeliveryEngine(d.store, {"slack": d.adapter}, d.config, sleep=lambda _: asyncio.sleep(0))
    try:
        summary = await engine.post_digest(DAY)
    finally:
        await engine.close()
    assert summary.ok, summary
    opened = {c.args["users"]: c.team for c in d.fake.calls_to("conversations.open")}
    assert opened == {"U0ANNA": ALPHA, "U0BORIS": BETA}
    for user, team in (("U0ANNA", ALPHA), ("U0BORIS", BETA)):
        dm = d.fake.dm_channel(user)
        assert dm is not None and {m["team"] for m in d.fake.messages(dm)} == {team}


async def test_a_token_slack_calls_expired_is_refreshed_and_the_post_retried(deployment: Deployment) -> None:
    d = deployment
    d.fake.enable_token_rotation(expires_in=43_200)  # 12 hours: no refresh due by the stored expiry
    await d.install(ALPHA)
    d.fake.expire_tokens(ALPHA)  # ... but Slack says it has expired (a clock off, a token expired early)
    summary = await d.post(DAY)
    assert summary.ok and summary.posted >= 1, summary
    errors = [c.error for c in d.fake.calls_to("chat.postMessage")]
    assert errors[0] == "token_expired" and errors[1:] and all(e is None for e in errors[1:])
    assert [c.args.get("grant_type") for c in d.fake.calls_to("oauth.v2.access")] == [None, "refresh_token"]
    channels = {c.id: c for c in await load_channels(d.store, d.config, include_disabled=True)}
    assert channels[C_ALPHA].enabled
