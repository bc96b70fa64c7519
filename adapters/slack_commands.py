"""Pure Slack mapping for the Slack adapter: request bodies -> core call arguments, core results -> Slack JSON.

Nothing here performs I/O or imports ``slack_bolt``/``slack_sdk``; :mod:`adapters.slack_server` and
:mod:`adapters.slack_poster` are the glue that receives the requests and sends what these functions build.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from adapters.slack_render import BLOCKS_PER_MESSAGE, EVENT_TYPE, escape_mrkdwn
from digestbot.dispatch import Reply
from digestbot.errors import DeliveryError
from digestbot.http_status import as_delivery_error, classify_status
from digestbot.records import normalize_arxiv_id

SHARE_ACTION = "digestbot_share_paper"
"""``action_id`` of the "Share in channel" button under an ephemeral /paper answer."""

COMMANDS = ("/paper", "/subscribe", "/unsubscribe", "/subscriptions", "/digest")

PERMANENT_ERRORS = frozenset(
    {
        # chat.postMessage / conversations.* (https://docs.slack.dev/reference/methods/chat.postMessage):
        "channel_not_found",
        "not_in_channel",
        "is_archived",
        "restricted_action",
        "restricted_action_read_only_channel",
        # conversations.open for a DM:
        "account_inactive",
        "cannot_dm_bot",
        "user_not_found",
        "user_disabled",
    }
)
"""Slack error codes after which retrying the same target cannot help: the engine disables it."""

REFUSED_TOKEN = frozenset({"invalid_auth", "not_authed", "token_revoked", "token_expired", "not_allowed_token_type"})
"""Slack error codes that blame the token, not the target: refused at start-up or while posting, no
channel is disabled for them."""

_RESPONSE_KEYS = ("text", "blocks")


@dataclass(frozen=True, kw_only=True)
class SlashCommand:
    """A slash command invocation, as the core needs it."""

    command: str
    text: str
    user: str
    workspace: str
    channel: str
    response_url: str = ""


def parse_slash(body: Mapping[str, Any]) -> SlashCommand:
    """Read a slash-command request body (form fields, https://docs.slack.dev/interactivity/implementing-slash-commands)."""
    return SlashCommand(
        command=str(body.get("command", "")),
        text=str(body.get("text", "") or ""),
        user=str(body.get("user_id", "")),
        workspace=str(body.get("team_id", "")),
        channel=str(body.get("channel_id", "")),
        response_url=str(body.get("response_url", "")),
    )


@dataclass(frozen=True, kw_only=True)
class ShareRequest:
    """A click on "Share in channel": who, where, and which paper (from the button value)."""

    arxiv_id: str
    user: str
    workspace: str
    channel: str


def parse_share(body: Mapping[str, Any]) -> ShareRequest | None:
    """Read a ``block_actions`` body for the share button; None when the value is not an arXiv id."""
    actions = body.get("actions") or []
    value = next((str(a.get("value", "")) for a in actions if a.get("action_id") == SHARE_ACTION), "")
    arxiv_id = normalize_arxiv_id(value)
    if arxiv_id is None:
        return None
    return ShareRequest(
        arxiv_id=arxiv_id,
        user=str((body.get("user") or {}).get("id", "")),
        workspace=str((body.get("team") or {}).get("id", "") or (body.get("user") or {}).get("team_id", "")),
        channel=str((body.get("channel") or {}).get("id", "")),
    )


def _response(payload: Mapping[str, Any], response_type: str) -> dict[str, Any]:
    out = {k: copy.deepcopy(payload[k]) for k in _RESPONSE_KEYS if k in payload}
    out["response_type"] = response_type
    return out


def ephemeral_replies(payloads: list[dict[str, Any]], *, share_id: str | None = None) -> list[dict[str, Any]]:
    """Turn rendered ``chat.postMessage`` payloads into ephemeral ``response_url`` bodies (+ share button)."""
    out = [_response(p, "ephemeral") for p in payloads]
    if share_id and out:
        last = out[-1]
        blocks = last.setdefault("blocks", [])
        if len(blocks) < BLOCKS_PER_MESSAGE:
            blocks.append(share_button(share_id))
    return out


def public_replies(payloads: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Turn rendered payloads into ``in_channel`` ``response_url`` bodies: a new public message."""
    out = [_response(p, "in_channel") for p in payloads]
    for body in out:
        body["replace_original"] = False  # the ephemeral answer stays as it is
    return out


def share_button(arxiv_id: str) -> dict[str, Any]:
    """Return an actions block whose button posts paper ``arxiv_id`` publicly (value ≤ 2000 chars)."""
    return {
        "type": "actions",
        "elements": [
            {
                "type": "button",
                "action_id": SHARE_ACTION,
                "text": {"type": "plain_text", "text": "Share in channel", "emoji": True},
                "value": arxiv_id,
            }
        ],
    }


def reply_bodies(reply: Reply, payloads: list[dict[str, Any]], *, keep_original: bool = False) -> list[dict[str, Any]]:
    """Turn a core reply into ``response_url`` bodies; ``payloads`` is its message rendered (if it has one).

    ``keep_original`` (a button click) leaves the message holding the button as it is.
    """
    if reply.message is None:
        body = text_reply(reply.text)
        if keep_original:
            body["replace_original"] = False
        return [body]
    if reply.ephemeral:
        return ephemeral_replies(payloads, share_id=reply.share_id)
    return public_replies(payloads)


def text_reply(text: str) -> dict[str, Any]:
    """Return an ephemeral ``response_url`` body holding a plain core reply (escaped: it may echo user input)."""
    return {"response_type": "ephemeral", "text": escape_mrkdwn(text) or "…"}


def is_workspace_admin(user: Mapping[str, Any]) -> bool:
    """Tell whether a ``users.info`` user is what Slack calls an admin: an admin or an owner of the workspace."""
    return bool(user.get("is_admin") or user.get("is_owner") or user.get("is_primary_owner"))


def marked(payload: Mapping[str, Any], key: str) -> dict[str, Any]:
    """Return ``payload`` with its metadata carrying the delivery ``key`` (what :func:`find_marked` looks for)."""
    out = dict(payload)
    metadata = copy.deepcopy(dict(out.get("metadata") or {}))
    event_payload = dict(metadata.get("event_payload") or {})
    event_payload["key"] = key
    out["metadata"] = {"event_type": EVENT_TYPE, "event_payload": event_payload}
    return out


def key_of(message: Mapping[str, Any]) -> str | None:
    """Return the delivery key a history message was marked with, or None for anyone else's message."""
    metadata = message.get("metadata")
    if not isinstance(metadata, Mapping) or metadata.get("event_type") != EVENT_TYPE:
        return None
    key = (metadata.get("event_payload") or {}).get("key")
    return key if isinstance(key, str) else None


def find_marked(messages: Iterable[Mapping[str, Any]], key: str) -> Mapping[str, Any] | None:
    """Return the first message marked with delivery ``key``."""
    return next((m for m in messages if key_of(m) == key), None)


def delivery_error(where: str, *, error: str, status: int, retry_after: float | None = None) -> DeliveryError:
    """Map a Slack Web API failure to a DeliveryError: permanent for a gone/forbidden target, else transient.

    A refused token is an :class:`~digestbot.errors.AuthError`: the whole platform stops, no target is blamed.
    """
    kind = classify_status(status)
    if error in REFUSED_TOKEN or kind == "auth":  # the token, not the target: stop the platform
        refused = f"slack {where}: {error or 'HTTP 401'}: Slack refused the bot token; check slack.bot_token"
        return as_delivery_error("auth", refused)
    if error in PERMANENT_ERRORS:
        return as_delivery_error("permanent", f"slack {where}: {error}")
    if kind == "rate_limited" or error == "ratelimited":
        wait = retry_after if retry_after is not None else 1.0
        return as_delivery_error("rate_limited", f"slack {where}: ratelimited (HTTP 429)", retry_after=wait)
    # Slack answers most failures with HTTP 200 and an error code: one not listed above may pass.
    return as_delivery_error("transient", f"slack {where}: {error or f'HTTP {status}'}", retry_after=retry_after)
