"""One table of (command, input, admin?) -> expected reply, run through Slack's and Discord's real clients.

The core's :func:`digestbot.dispatch.dispatch` owns every reply text, so both platforms must answer
each row with exactly the same words (Slack escapes ``& < >`` in mrkdwn; the Slack run unescapes).
``tests/adapters/slack/test_slack_table.py`` and ``tests/adapters/discord/test_discord_table.py``
each translate a row into their platform's request and read back the private text answer.
"""

from __future__ import annotations

import html
from typing import NamedTuple

from digestbot.digest_command import NOT_ADMIN
from digestbot.dispatch import SORRY


class Row(NamedTuple):
    command: str
    text: str
    admin: bool
    expected: str


TABLE: list[Row] = [
    Row("subscriptions", "", False, "You follow no topics yet."),
    Row(
        "subscribe",
        "Diffusion",
        False,
        "Subscribed to Diffusion: you will get a direct message when a day's papers match it.",
    ),
    Row("unsubscribe", "diffusion", False, "You do not follow diffusion."),
    Row("subscribe", '"open', False, 'Topic has an unbalanced quote: close every "phrase" with a second ".'),
    Row("paper", "https://example.com/x", False, "That link is not an arXiv or Hugging Face paper link."),
    Row("paper", "!!!", False, "Give an arXiv id, a link, or words from the title (letters or digits)."),
    Row("digest", "on", False, NOT_ADMIN),
    Row(
        "digest",
        "tz Mars/Base",
        True,
        "Bad time zone: unknown time zone 'Mars/Base'; use an IANA name such as 'Europe/Berlin'",
    ),
    Row(
        "digest",
        "now",
        True,
        "Posting now is not available in this mode; the digest will come at its scheduled time.",
    ),
]

BROKEN_REPLY = SORRY
"""What both platforms answer when a command fails with a bug (not a DigestbotError)."""


def ids(row: Row) -> str:
    return f"{row.command} {row.text}".strip()


def slack_text(escaped: str) -> str:
    """Undo Slack's mrkdwn escaping of ``& < >`` so the texts compare with the core's."""
    return html.unescape(escaped)
