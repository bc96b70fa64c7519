"""Signed requests as Slack sends them to an app in HTTP mode: events and slash commands.

Slack signs each request with the app's signing secret: ``v0=`` + hex HMAC-SHA256 of
``v0:{X-Slack-Request-Timestamp}:{raw body}`` (https://docs.slack.dev/authentication/verifying-requests-from-slack).
Computed here with :mod:`hmac` rather than slack_sdk's own helper, so a verification bug in the
library is not mirrored by the test. Bodies follow the Events API envelope (``event_callback``
with ``team_id``, ``api_app_id``, ``event``, ``event_id``, ``authorizations``).
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import time
from typing import Any
from urllib.parse import urlencode

from tests.fakes.slack_server import FakeSlack

_ids = itertools.count(1)


def signed_headers(secret: str, body: str, *, content_type: str, timestamp: int | None = None) -> dict[str, str]:
    """Return the headers Slack sends with ``body``: content type, timestamp and ``X-Slack-Signature``."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
    return {"content-type": content_type, "x-slack-request-timestamp": ts, "x-slack-signature": f"v0={digest}"}


def event(fake: FakeSlack, team_id: str, payload: dict[str, Any]) -> tuple[str, dict[str, str]]:
    """Return (body, headers) of a signed ``event_callback`` delivering ``payload`` from workspace ``team_id``."""
    n = next(_ids)
    body = json.dumps(
        {
            "token": "legacy-verification-token",
            "team_id": team_id,
            "api_app_id": fake.app_id,
            "event": payload,
            "type": "event_callback",
            "event_id": f"Ev{n:08d}",
            "event_time": int(time.time()),
            "authorizations": [{"enterprise_id": None, "team_id": team_id, "user_id": "U0BOT", "is_bot": True}],
        }
    )
    return body, signed_headers(fake.signing_secret, body, content_type="application/json")


def app_uninstalled(fake: FakeSlack, team_id: str) -> tuple[str, dict[str, str]]:
    """Return the signed ``app_uninstalled`` event Slack sends when ``team_id`` removes the app."""
    return event(fake, team_id, {"type": "app_uninstalled"})


def tokens_revoked(fake: FakeSlack, team_id: str, bot_users: list[str]) -> tuple[str, dict[str, str]]:
    """Return the signed ``tokens_revoked`` event for the bot tokens of ``bot_users`` in ``team_id``."""
    return event(fake, team_id, {"type": "tokens_revoked", "tokens": {"oauth": [], "bot": bot_users}})


def slash_command(
    fake: FakeSlack, team_id: str, command: str, text: str, *, user: str, channel: str, response_name: str
) -> tuple[str, dict[str, str]]:
    """Return the signed form body of a slash command typed in ``team_id`` (answers go to ``response_name``)."""
    body = urlencode(
        {
            "command": command,
            "text": text,
            "user_id": user,
            "team_id": team_id,
            "channel_id": channel,
            "response_url": fake.response_url(response_name),
            "trigger_id": f"trigger-{next(_ids)}",
        }
    )
    return body, signed_headers(fake.signing_secret, body, content_type="application/x-www-form-urlencoded")
