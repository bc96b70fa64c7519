"""Slack's documented message limits as a pure validator, so a test can fail where Slack would.

:func:`validate_message` checks a ``chat.postMessage`` / ``chat.postEphemeral`` / ``chat.update`` /
``response_url`` payload (already JSON-decoded) and returns human-readable violations, each ending
in ``[json-pointer:/path]`` the way Slack's own ``invalid_blocks`` messages do
(e.g. ``must be less than 3001 characters [json-pointer:/blocks/0/text/text]``). The fake server
(:mod:`tests.fakes.slack_server`) uses :func:`check_message` to choose the Slack error code.

It is stricter than Slack in three deliberate ways, because each is a bug in digestbot:

* a missing or empty top-level ``text`` is a violation (Slack only warns; the text is what
  notifications and screen readers show);
* ``text`` over 40,000 characters is a violation (Slack truncates and warns ``message_truncated``);
* a raw ``<`` in mrkdwn that does not open an ``<http(s)://…|…>`` or ``<mailto:…>`` link is a
  violation: digestbot escapes ``&``, ``<`` and ``>`` in all user-provided text, so a raw ``<`` means
  an unescaped ``<!channel>``, ``<!here>``, ``<!everyone>`` or ``<@U…>`` could reach Slack.

Sources (checked with the search tool; the docs live at docs.slack.dev, formerly api.slack.com):

* Blocks reference: "up to 50 blocks in each message".
* Text object: ``text`` "minimum length is 1 and maximum length is 3000 characters".
* Header block: plain_text only, "Maximum length for the text in this field is 150 characters".
* Section block: ``text`` ≤ 3000; ``fields`` "Maximum number of items is 10. Maximum length for the
  text in each item is 2000 characters"; ``text`` not required when ``fields`` is given.
* Context block: ``elements`` "Maximum number of items is 10" (image elements and text objects).
  There is no separate per-element text limit for context: each text element is a text object, so
  the generic 3000 applies (the 2000 figure belongs to section ``fields``).
* Image block: ``alt_text`` ≤ 2000 (required), ``image_url`` ≤ 3000 (or ``slack_file``),
  ``title`` plain_text ≤ 2000; "Supported file types include png, jpg, jpeg, and gif".
* Every block: ``block_id`` ≤ 255, "should be unique for each message".
* Button element: text plain_text ≤ 75, ``action_id`` ≤ 255, ``url`` ≤ 3000, ``value`` ≤ 2000,
  ``style`` "primary" or "danger"; ``action_id`` "should be unique among all other action_ids in the
  containing block".
* Actions block: ≤ 25 elements (Slack's shared Block Kit limits table, ``actions.elements.max_items``).
* Markdown block: 12,000 characters (``markdown_text`` / markdown block docs).
* Message ``text``: changelog "Truncating really long messages" (2018): truncated above 40,000.
* Formatting reference, "Escaping text": ``&``, ``<`` and ``>`` are control characters and must be
  sent as ``&amp;``, ``&lt;``, ``&gt;`` unless used for their parsing purpose.
* Message metadata: ``event_type`` (string) and ``event_payload`` (object).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

MAX_BLOCKS = 50
MAX_MESSAGE_TEXT = 40_000
MAX_TEXT_OBJECT = 3000
MAX_HEADER_TEXT = 150
MAX_SECTION_FIELDS = 10
MAX_SECTION_FIELD_TEXT = 2000
MAX_CONTEXT_ELEMENTS = 10
MAX_ACTIONS_ELEMENTS = 25
MAX_IMAGE_URL = 3000
MAX_ALT_TEXT = 2000
MAX_IMAGE_TITLE = 2000
MAX_BLOCK_ID = 255
MAX_ACTION_ID = 255
MAX_BUTTON_TEXT = 75
MAX_BUTTON_VALUE = 2000
MAX_BUTTON_URL = 3000
MAX_MARKDOWN_BLOCK = 12_000

#: Block types Slack accepts in messages; only the ones digestbot can send are checked in depth.
MESSAGE_BLOCK_TYPES = frozenset(
    {
        "actions",
        "context",
        "divider",
        "file",
        "header",
        "image",
        "input",
        "markdown",
        "rich_text",
        "section",
        "video",
    }
)
#: Interactive elements accepted as a section accessory or in an actions block (not checked in depth).
_OTHER_ELEMENT_TYPES = frozenset(
    {
        "checkboxes",
        "channels_select",
        "conversations_select",
        "datepicker",
        "datetimepicker",
        "external_select",
        "multi_channels_select",
        "multi_conversations_select",
        "multi_external_select",
        "multi_static_select",
        "multi_users_select",
        "overflow",
        "radio_buttons",
        "static_select",
        "timepicker",
        "users_select",
        "workflow_button",
    }
)

# A raw "<" is allowed only where it opens a link: <https://x|label>, <http://x>, <mailto:a@b|label>.
_LINK = re.compile(r"<(?:https?://|mailto:)[^\s<>|]+(?:\|[^<>]*)?>")


def slack_text_length(text: str) -> int:
    """Count ``text`` the way Slack's length limits count it: in Unicode code points.

    Slack's documentation says "characters" without defining them. Its validation errors read like
    JSON-Schema ``maxLength`` messages ("must be less than 3001 characters"), and JSON Schema counts
    code points; other Slack clients' validators count the same way (Go runes, the Slack emulators'
    code-point limits). So an emoji such as U+1F600 is 1 (not 2 as in UTF-16, not 4 as in UTF-8),
    and a combining sequence such as "e" + U+0301 is 2. The text is counted as sent: an escaped
    ``&amp;`` is 5 characters, which is what the limit applies to.
    """
    return len(text)


@dataclass(frozen=True, kw_only=True)
class Violation:
    """One broken rule: where (a JSON pointer), what, and the Slack error code it maps to."""

    pointer: str
    detail: str
    error: str = "invalid_blocks"

    def __str__(self) -> str:
        return f"{self.detail} [json-pointer:{self.pointer}]"


def validate_message(payload: Mapping[str, Any]) -> list[str]:
    """Return every way ``payload`` breaks Slack's message limits (empty when Slack would accept it)."""
    return [str(v) for v in check_message(payload)]


def check_message(payload: Mapping[str, Any]) -> list[Violation]:
    """Return the violations of ``payload`` as records, for callers that need the Slack error code."""
    checker = _Checker()
    checker.message(payload)
    return checker.violations


class _Checker:
    def __init__(self) -> None:
        self.violations: list[Violation] = []
        self._block_ids: dict[str, str] = {}

    def add(self, pointer: str, detail: str, error: str = "invalid_blocks") -> None:
        self.violations.append(Violation(pointer=pointer, detail=detail, error=error))

    # -- message level -------------------------------------------------------------------------

    def message(self, payload: Mapping[str, Any]) -> None:
        if not isinstance(payload, Mapping):
            self.add("", "payload must be a JSON object", "invalid_arguments")
            return
        if not payload.get("delete_original"):
            self.top_text(payload.get("text"))
        if "blocks" in payload and payload["blocks"] is not None:
            self.blocks(payload["blocks"])
        if "metadata" in payload and payload["metadata"] is not None:
            self.metadata(payload["metadata"])

    def top_text(self, text: Any) -> None:
        if text is None or text == "":
            self.add(
                "/text",
                "missing top-level `text`: always send a notification/screen-reader fallback",
                "no_text",
            )
            return
        if not isinstance(text, str):
            self.add("/text", "must be a string", "invalid_arguments")
            return
        length = slack_text_length(text)
        if length > MAX_MESSAGE_TEXT:
            self.add("/text", f"must be at most {MAX_MESSAGE_TEXT} characters (got {length})", "msg_too_long")
        self.markup("/text", text, error="invalid_arguments")

    def metadata(self, metadata: Any) -> None:
        err = "invalid_metadata_format"
        if not isinstance(metadata, Mapping):
            self.add("/metadata", "must be an object with event_type and event_payload", err)
            return
        event_type = metadata.get("event_type")
        if not isinstance(event_type, str) or not event_type:
            self.add("/metadata/event_type", "must be a non-empty string", err)
        if not isinstance(metadata.get("event_payload"), Mapping):
            self.add("/metadata/event_payload", "must be an object", err)

    # -- blocks --------------------------------------------------------------------------------

    def blocks(self, blocks: Any) -> None:
        if not _is_array(blocks):
            self.add("/blocks", "must be an array of blocks")
            return
        if len(blocks) > MAX_BLOCKS:
            self.add("/blocks", f"must contain at most {MAX_BLOCKS} blocks (got {len(blocks)})")
        for i, block in enumerate(blocks):
            self.block(f"/blocks/{i}", block)

    def block(self, ptr: str, block: Any) -> None:
        if not isinstance(block, Mapping):
            self.add(ptr, "block must be an object")
            return
        kind = block.get("type")
        if kind not in MESSAGE_BLOCK_TYPES:
            self.add(f"{ptr}/type", f"unsupported block type {kind!r} in a message")
            return
        if "block_id" in block:
            self.block_id(f"{ptr}/block_id", block["block_id"])
        check = getattr(self, f"block_{kind}", None)
        if check is not None:
            check(ptr, block)

    def block_id(self, ptr: str, block_id: Any) -> None:
        if not isinstance(block_id, str) or not block_id:
            self.add(ptr, "must be a non-empty string")
            return
        self.max_len(ptr, block_id, MAX_BLOCK_ID)
        if block_id in self._block_ids:
            self.add(ptr, f"duplicate block_id {block_id!r} (first at {self._block_ids[block_id]})")
        else:
            self._block_ids[block_id] = ptr

    def block_header(self, ptr: str, block: Mapping[str, Any]) -> None:
        self.text_object(f"{ptr}/text", block.get("text"), MAX_HEADER_TEXT, plain_only=True)

    def block_section(self, ptr: str, block: Mapping[str, Any]) -> None:
        has_text = block.get("text") is not None
        fields = block.get("fields")
        if not has_text and fields is None:
            self.add(ptr, "section needs `text` or `fields`")
        if has_text:
            self.text_object(f"{ptr}/text", block["text"], MAX_TEXT_OBJECT)
        if fields is not None:
            if not _is_array(fields) or not fields:
                self.add(f"{ptr}/fields", "must be a non-empty array of text objects")
            else:
                if len(fields) > MAX_SECTION_FIELDS:
                    self.add(
                        f"{ptr}/fields",
                        f"must contain at most {MAX_SECTION_FIELDS} items (got {len(fields)})",
                    )
                for i, field_obj in enumerate(fields):
                    self.text_object(f"{ptr}/fields/{i}", field_obj, MAX_SECTION_FIELD_TEXT)
        if block.get("accessory") is not None:
            self.element(f"{ptr}/accessory", block["accessory"], action_ids=set())

    def block_context(self, ptr: str, block: Mapping[str, Any]) -> None:
        elements = block.get("elements")
        if not _is_array(elements) or not elements:
            self.add(f"{ptr}/elements", "must be a non-empty array")
            return
        if len(elements) > MAX_CONTEXT_ELEMENTS:
            self.add(f"{ptr}/elements", f"must contain at most {MAX_CONTEXT_ELEMENTS} items (got {len(elements)})")
        for i, element in enumerate(elements):
            eptr = f"{ptr}/elements/{i}"
            if isinstance(element, Mapping) and element.get("type") == "image":
                self.image_element(eptr, element)
            else:
                self.text_object(eptr, element, MAX_TEXT_OBJECT)

    def block_image(self, ptr: str, block: Mapping[str, Any]) -> None:
        self.image_source(ptr, block)
        if block.get("title") is not None:
            self.text_object(f"{ptr}/title", block["title"], MAX_IMAGE_TITLE, plain_only=True)

    def block_actions(self, ptr: str, block: Mapping[str, Any]) -> None:
        elements = block.get("elements")
        if not _is_array(elements) or not elements:
            self.add(f"{ptr}/elements", "must be a non-empty array")
            return
        if len(elements) > MAX_ACTIONS_ELEMENTS:
            self.add(f"{ptr}/elements", f"must contain at most {MAX_ACTIONS_ELEMENTS} items (got {len(elements)})")
        action_ids: set[str] = set()
        for i, element in enumerate(elements):
            if isinstance(element, Mapping) and element.get("type") == "image":
                self.add(f"{ptr}/elements/{i}/type", "an image element is not allowed in an actions block")
                continue
            self.element(f"{ptr}/elements/{i}", element, action_ids=action_ids)

    def block_rich_text(self, ptr: str, block: Mapping[str, Any]) -> None:
        if not _is_array(block.get("elements")):
            self.add(f"{ptr}/elements", "must be an array")

    def block_markdown(self, ptr: str, block: Mapping[str, Any]) -> None:
        self.string(f"{ptr}/text", block.get("text"), MAX_MARKDOWN_BLOCK)

    # -- elements ------------------------------------------------------------------------------

    def element(self, ptr: str, element: Any, *, action_ids: set[str]) -> None:
        if not isinstance(element, Mapping):
            self.add(ptr, "element must be an object")
            return
        kind = element.get("type")
        if "action_id" in element:
            action_id = element["action_id"]
            if self.string(f"{ptr}/action_id", action_id, MAX_ACTION_ID):
                if action_id in action_ids:
                    self.add(f"{ptr}/action_id", f"duplicate action_id {action_id!r} in this block")
                action_ids.add(action_id)
        if kind == "button":
            self.button(ptr, element)
        elif kind == "image":
            self.image_element(ptr, element)
        elif kind not in _OTHER_ELEMENT_TYPES:
            self.add(f"{ptr}/type", f"unsupported element type {kind!r}")

    def button(self, ptr: str, button: Mapping[str, Any]) -> None:
        self.text_object(f"{ptr}/text", button.get("text"), MAX_BUTTON_TEXT, plain_only=True)
        if "value" in button:
            self.string(f"{ptr}/value", button["value"], MAX_BUTTON_VALUE)
        if "url" in button:
            self.url(f"{ptr}/url", button["url"], MAX_BUTTON_URL)
        if "style" in button and button["style"] not in ("primary", "danger"):
            self.add(f"{ptr}/style", "must be 'primary' or 'danger'")

    def image_element(self, ptr: str, element: Mapping[str, Any]) -> None:
        self.image_source(ptr, element)

    def image_source(self, ptr: str, obj: Mapping[str, Any]) -> None:
        self.string(f"{ptr}/alt_text", obj.get("alt_text"), MAX_ALT_TEXT)
        has_url = obj.get("image_url") is not None
        has_file = obj.get("slack_file") is not None
        if has_url == has_file:
            self.add(ptr, "must define exactly one of `image_url` or `slack_file`")
        if has_url:
            self.url(f"{ptr}/image_url", obj["image_url"], MAX_IMAGE_URL)

    # -- leaves --------------------------------------------------------------------------------

    def text_object(self, ptr: str, obj: Any, limit: int, *, plain_only: bool = False) -> None:
        if not isinstance(obj, Mapping):
            self.add(ptr, "must be a text object {type, text}")
            return
        kind = obj.get("type")
        if plain_only and kind != "plain_text":
            self.add(f"{ptr}/type", f"must be 'plain_text' (got {kind!r})")
        elif kind not in ("plain_text", "mrkdwn"):
            self.add(f"{ptr}/type", f"must be 'plain_text' or 'mrkdwn' (got {kind!r})")
        if "emoji" in obj and kind != "plain_text":
            self.add(f"{ptr}/emoji", "`emoji` is only allowed on plain_text")
        if "verbatim" in obj and kind != "mrkdwn":
            self.add(f"{ptr}/verbatim", "`verbatim` is only allowed on mrkdwn")
        text = obj.get("text")
        if self.string(f"{ptr}/text", text, limit) and kind == "mrkdwn":
            self.markup(f"{ptr}/text", text)

    def string(self, ptr: str, value: Any, limit: int) -> bool:
        """Check a required string of 1..limit characters; return whether it is a string at all."""
        if not isinstance(value, str):
            self.add(ptr, "must be a string" if value is not None else "is required")
            return False
        if not value:
            self.add(ptr, "must be more than 0 characters")
        self.max_len(ptr, value, limit)
        return True

    def max_len(self, ptr: str, value: str, limit: int) -> None:
        length = slack_text_length(value)
        if length > limit:
            self.add(ptr, f"must be less than {limit + 1} characters (got {length})")

    def url(self, ptr: str, value: Any, limit: int) -> None:
        if not self.string(ptr, value, limit):
            return
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc or any(c.isspace() for c in value):
            self.add(ptr, f"must be an absolute http(s) URL (got {value[:80]!r})")

    def markup(self, ptr: str, text: str, error: str = "invalid_blocks") -> None:
        start = 0
        while (at := text.find("<", start)) != -1:
            link = _LINK.match(text, at)
            if link is None:
                snippet = text[at : at + 24]
                self.add(ptr, f"unescaped '<' starts a control sequence ({snippet!r}): send it as &lt;", error)
                return
            start = link.end()


def _is_array(value: Any) -> bool:
    return isinstance(value, Sequence) and not isinstance(value, str | bytes)
