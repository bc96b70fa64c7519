"""Check a Discord message body against Discord's documented limits and digestbot's mention policy.

Pure functions, no I/O: the fake Discord server (``discord_server.py``) rejects what this finds,
and adapter tests can call :func:`validate_message` directly on a payload they built.

Sources (discord/discord-api-docs, read through the search tool):

* ``docs/resources/message.mdx`` — *Create Message*: content "up to 2000 characters", "Up to 10
  rich embeds (up to 6000 characters)", nonce "up to 25 characters", ``enforce_nonce``, and "at
  least one of content, embeds, sticker_ids, components, files[n], or poll"; *Embed Limits*: title
  256, description 4096, up to 25 fields, field.name 256, field.value 1024, footer.text 2048,
  author.name 256, all six kinds summed over every embed of a message ≤ 6000, "Leading and
  trailing whitespace characters are not included (they are trimmed automatically)"; the embed
  image/thumbnail/icon urls "only supports http(s) and attachments", author.url "only supports
  http(s)"; *Allowed Mentions*: ``{"parse": []}`` suppresses every mention.
* ``docs/components/reference.mdx`` — an action row holds up to 5 buttons or one select; button
  label max 80, custom_id max 100 and unique per message; link buttons (style 5) must have a
  ``url`` and no ``custom_id``; other styles must have a ``custom_id``.  Up to 5 action rows per
  message is the legacy (non-``IS_COMPONENTS_V2``) rule.
* ``docs/topics/opcodes-and-status-codes.md`` — JSON codes 50035 Invalid Form Body, 50006 Cannot
  send an empty message.

How Discord counts length: Unicode code points, i.e. Python's ``len``.  Discord staff answered in
discord/discord-api-docs#1315 ("Our API uses Python 3, so the API calculates length based on the
number of codepoints in the string"); discord/discord.js#2299 shows 256 emoji (512 UTF-16 units)
accepted as an embed title.  So an emoji counts 1, not 2 as in JavaScript's ``String.length``,
and a combining sequence counts one per code point (more than the graphemes a person sees).

The ``_errors`` codes (``BASE_TYPE_MAX_LENGTH`` …) follow the shape Discord returns; Discord does
not document the full list, so the less common ones here are best effort.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

CONTENT_MAX = 2000
EMBEDS_MAX = 10
EMBED_TITLE_MAX = 256
EMBED_DESCRIPTION_MAX = 4096
EMBED_FIELDS_MAX = 25
EMBED_FIELD_NAME_MAX = 256
EMBED_FIELD_VALUE_MAX = 1024
EMBED_FOOTER_TEXT_MAX = 2048
EMBED_URL_MAX = 2048  # "Must be 2048 or fewer in length." (the API's answer; not in the published limits table)
EMBED_AUTHOR_NAME_MAX = 256
EMBEDS_TOTAL_MAX = 6000
NONCE_MAX = 25
ACTION_ROWS_MAX = 5
ROW_BUTTONS_MAX = 5
BUTTON_LABEL_MAX = 80
CUSTOM_ID_MAX = 100
AUTOCOMPLETE_CHOICES_MAX = 25  # docs/interactions/receiving-and-responding: "max of 25 choices"

IS_COMPONENTS_V2 = 1 << 15
EPHEMERAL = 1 << 6

INVALID_FORM_BODY = 50035
EMPTY_MESSAGE = 50006

_HTTP = frozenset({"http", "https"})
_HTTP_OR_ATTACHMENT = frozenset({"http", "https", "attachment"})
_LINK_STYLE = 5
_PREMIUM_STYLE = 6
_SELECT_TYPES = frozenset({3, 5, 6, 7, 8})
_MASS_MENTION = re.compile(r"@(everyone|here)\b")

Path = tuple[str | int, ...]


def discord_text_length(s: str) -> int:
    """Return the length Discord measures for ``s``: its number of Unicode code points."""
    return len(s)


@dataclass(frozen=True, kw_only=True)
class Violation:
    """One broken rule, placed at the JSON path of the offending value.

    ``json_code`` is the top-level Discord error code the server answers with (50035 for a form
    error, 50006 for an empty message); ``policy`` marks digestbot's own rules, which Discord
    itself would accept.
    """

    path: Path
    code: str
    message: str
    json_code: int = INVALID_FORM_BODY
    policy: bool = False

    def __str__(self) -> str:
        return f"{format_path(self.path) or '<body>'}: {self.message}"


def format_path(path: Path) -> str:
    """Render ``("embeds", 0, "title")`` as ``embeds[0].title``."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


def validate_message(payload: Mapping[str, Any], *, has_files: bool = False, require_body: bool = True) -> list[str]:
    """Return every limit or policy the message body breaks, as ``path: reason`` lines; empty if valid.

    ``payload`` is a message-create, webhook-execute or interaction-response ``data`` body.
    ``has_files`` says a multipart request carried ``files[n]`` (which count as a body);
    ``require_body=False`` skips the "content or embeds or …" rule, for edits and
    UPDATE_MESSAGE responses where every field is optional.
    """
    return [str(v) for v in find_violations(payload, has_files=has_files, require_body=require_body)]


def find_violations(
    payload: Mapping[str, Any], *, has_files: bool = False, require_body: bool = True
) -> list[Violation]:
    """Return the structured :class:`Violation` list behind :func:`validate_message`."""
    out: list[Violation] = []
    if not isinstance(payload, Mapping):
        return [_v((), "BASE_TYPE_DICT", "Must be a JSON object.")]
    flags = payload.get("flags") or 0
    content = payload.get("content")
    embeds = payload.get("embeds")
    components = payload.get("components")

    if content is not None:
        if not isinstance(content, str):
            out.append(_v(("content",), "BASE_TYPE_STRING", "Must be a string."))
            content = None
        elif discord_text_length(content) > CONTENT_MAX:
            out.append(_too_long(("content",), CONTENT_MAX))
    if embeds is not None:
        out += _check_embeds(embeds)
    if components is not None:
        out += _check_components(components, v2=isinstance(flags, int) and bool(flags & IS_COMPONENTS_V2))
    if isinstance(flags, int) and flags & IS_COMPONENTS_V2:
        for key in ("content", "embeds", "sticker_ids", "poll"):
            if payload.get(key):
                out.append(_v((key,), "COMPONENTS_V2_FORBIDDEN", "Not allowed with the IS_COMPONENTS_V2 flag."))
    out += _check_nonce(payload)
    out += _check_mentions(payload, content if isinstance(content, str) else "")

    if require_body and not _has_body(payload, has_files=has_files):
        out.append(
            Violation(path=(), code="EMPTY_MESSAGE", message="Cannot send an empty message", json_code=EMPTY_MESSAGE)
        )
    return out


def validate_interaction_response(payload: Mapping[str, Any]) -> list[str]:
    """Return what is wrong with an interaction callback body ``{"type": …, "data": …}``."""
    return [str(v) for v in find_interaction_response_violations(payload)]


def find_interaction_response_violations(payload: Mapping[str, Any]) -> list[Violation]:
    """Return the structured violations behind :func:`validate_interaction_response`."""
    if not isinstance(payload, Mapping):
        return [_v((), "BASE_TYPE_DICT", "Must be a JSON object.")]
    kind = payload.get("type")
    data = payload.get("data")
    # docs/interactions/receiving-and-responding: callback types 1 PONG, 4 CHANNEL_MESSAGE_WITH_SOURCE,
    # 5 DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE, 6 DEFERRED_UPDATE_MESSAGE, 7 UPDATE_MESSAGE,
    # 8 APPLICATION_COMMAND_AUTOCOMPLETE_RESULT, 9 MODAL (10 is deprecated, 12 LAUNCH_ACTIVITY).
    if kind not in (1, 4, 5, 6, 7, 8, 9, 12):
        return [_v(("type",), "ENUM_TYPE_COERCE", f"Value {kind!r} is not a valid enum value.")]
    if kind in (4, 7):
        if not isinstance(data, Mapping):
            return [_v(("data",), "BASE_TYPE_REQUIRED", "This field is required")]
        return [
            Violation(path=("data", *v.path), code=v.code, message=v.message, json_code=v.json_code, policy=v.policy)
            for v in find_violations(data, require_body=kind == 4)
        ]
    if kind == 8:
        choices = data.get("choices") if isinstance(data, Mapping) else None
        if not isinstance(choices, list):
            return [_v(("data", "choices"), "BASE_TYPE_REQUIRED", "This field is required")]
        if len(choices) > AUTOCOMPLETE_CHOICES_MAX:
            return [_too_long(("data", "choices"), AUTOCOMPLETE_CHOICES_MAX)]
    return []


# -- pieces ----------------------------------------------------------------------------------------


def _v(path: Path, code: str, message: str) -> Violation:
    return Violation(path=path, code=code, message=message)


def _too_long(path: Path, limit: int) -> Violation:
    return _v(path, "BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length.")


def _has_body(payload: Mapping[str, Any], *, has_files: bool) -> bool:
    content = payload.get("content")
    if isinstance(content, str) and content.strip():
        return True
    return has_files or any(payload.get(key) for key in ("embeds", "components", "sticker_ids", "attachments", "poll"))


def _bad_url(value: Any, schemes: frozenset[str]) -> str | None:
    """Return why ``value`` is not an acceptable URL for these schemes, or None."""
    if not isinstance(value, str):
        return "Must be a string."
    parts = urlsplit(value)
    if parts.scheme.lower() not in schemes:
        allowed = ", ".join(repr(s) for s in sorted(schemes))
        return f"Scheme {parts.scheme!r} is not supported. Scheme must be one of ({allowed})."
    if not parts.netloc and not (parts.scheme.lower() == "attachment" and parts.path):
        return "Not a well formed URL."
    return None


def _text(
    embed: Mapping[str, Any], path: Path, key: str, limit: int, *, required: bool = False
) -> tuple[int, list[Violation]]:
    """Measure one embed text (trimmed, as Discord does) and check its own limit."""
    value = embed.get(key)
    if value is None:
        return 0, ([_v((*path, key), "BASE_TYPE_REQUIRED", "This field is required")] if required else [])
    if not isinstance(value, str):
        return 0, [_v((*path, key), "BASE_TYPE_STRING", "Must be a string.")]
    n = discord_text_length(value.strip())
    if required and n == 0:
        return 0, [_v((*path, key), "BASE_TYPE_REQUIRED", "This field is required")]
    return n, ([_too_long((*path, key), limit)] if n > limit else [])


def _check_embeds(embeds: Any) -> list[Violation]:
    if not isinstance(embeds, list):
        return [_v(("embeds",), "BASE_TYPE_LIST", "Must be an array.")]
    out: list[Violation] = []
    if len(embeds) > EMBEDS_MAX:
        out.append(_too_long(("embeds",), EMBEDS_MAX))
    total = 0
    for i, embed in enumerate(embeds):
        path: Path = ("embeds", i)
        if not isinstance(embed, Mapping):
            out.append(_v(path, "BASE_TYPE_DICT", "Must be a JSON object."))
            continue
        for key, limit in (("title", EMBED_TITLE_MAX), ("description", EMBED_DESCRIPTION_MAX)):
            n, errs = _text(embed, path, key, limit)
            total += n
            out += errs
        for key, schemes in (("url", _HTTP),):
            if embed.get(key) is not None and (why := _bad_url(embed[key], schemes)):
                out.append(_v((*path, key), "URL_TYPE_INVALID_URL", why))
        for key in ("image", "thumbnail"):
            media = embed.get(key)
            if media is None:
                continue
            if not isinstance(media, Mapping):
                out.append(_v((*path, key), "BASE_TYPE_DICT", "Must be a JSON object."))
            elif why := _bad_url(media.get("url"), _HTTP_OR_ATTACHMENT):
                out.append(_v((*path, key, "url"), "URL_TYPE_INVALID_URL", why))
            elif len(media["url"]) > EMBED_URL_MAX:
                out.append(
                    _v((*path, key, "url"), "BASE_TYPE_MAX_LENGTH", f"Must be {EMBED_URL_MAX} or fewer in length.")
                )
        total += _check_sub(
            embed, path, "footer", "text", EMBED_FOOTER_TEXT_MAX, {"icon_url": _HTTP_OR_ATTACHMENT}, out
        )
        total += _check_sub(
            embed,
            path,
            "author",
            "name",
            EMBED_AUTHOR_NAME_MAX,
            {"url": _HTTP, "icon_url": _HTTP_OR_ATTACHMENT},
            out,
        )
        fields = embed.get("fields")
        if fields is None:
            continue
        if not isinstance(fields, list):
            out.append(_v((*path, "fields"), "BASE_TYPE_LIST", "Must be an array."))
            continue
        if len(fields) > EMBED_FIELDS_MAX:
            out.append(_too_long((*path, "fields"), EMBED_FIELDS_MAX))
        for j, fld in enumerate(fields):
            fpath: Path = (*path, "fields", j)
            if not isinstance(fld, Mapping):
                out.append(_v(fpath, "BASE_TYPE_DICT", "Must be a JSON object."))
                continue
            for key, limit in (("name", EMBED_FIELD_NAME_MAX), ("value", EMBED_FIELD_VALUE_MAX)):
                n, errs = _text(fld, fpath, key, limit, required=True)
                total += n
                out += errs
    if total > EMBEDS_TOTAL_MAX:
        out.append(
            _v(
                ("embeds",),
                "MAX_EMBED_SIZE_EXCEEDED",
                f"Embed size exceeds maximum size of {EMBEDS_TOTAL_MAX}",
            )
        )
    return out


def _check_sub(
    embed: Mapping[str, Any],
    path: Path,
    key: str,
    text_key: str,
    limit: int,
    urls: Mapping[str, frozenset[str]],
    out: list[Violation],
) -> int:
    """Check an embed footer/author object; append its violations, return its counted length."""
    sub = embed.get(key)
    if sub is None:
        return 0
    if not isinstance(sub, Mapping):
        out.append(_v((*path, key), "BASE_TYPE_DICT", "Must be a JSON object."))
        return 0
    n, errs = _text(sub, (*path, key), text_key, limit, required=True)
    out += errs
    for url_key, schemes in urls.items():
        if sub.get(url_key) is not None and (why := _bad_url(sub[url_key], schemes)):
            out.append(_v((*path, key, url_key), "URL_TYPE_INVALID_URL", why))
    return n


def _check_components(components: Any, *, v2: bool) -> list[Violation]:
    if not isinstance(components, list):
        return [_v(("components",), "BASE_TYPE_LIST", "Must be an array.")]
    if v2:
        # Components V2 layouts (sections, containers, up to 40 components) are not modelled here;
        # digestbot sends legacy action rows.  Only custom_id uniqueness/length is still checked.
        return _check_custom_ids(components)
    out: list[Violation] = []
    if len(components) > ACTION_ROWS_MAX:
        out.append(_too_long(("components",), ACTION_ROWS_MAX))
    for i, row in enumerate(components):
        path: Path = ("components", i)
        if not isinstance(row, Mapping) or row.get("type") != 1:
            out.append(_v(path, "COMPONENT_LAYOUT_INVALID", "Top-level components must be action rows (type 1)."))
            continue
        children = row.get("components")
        if not isinstance(children, list) or not children:
            out.append(_v((*path, "components"), "BASE_TYPE_REQUIRED", "This field is required"))
            continue
        kinds = [c.get("type") if isinstance(c, Mapping) else None for c in children]
        if any(k in _SELECT_TYPES for k in kinds) and len(children) > 1:
            out.append(
                _v(
                    (*path, "components"),
                    "COMPONENT_LAYOUT_WIDTH_EXCEEDED",
                    "A select must be alone in its row.",
                )
            )
        elif len(children) > ROW_BUTTONS_MAX:
            out.append(_too_long((*path, "components"), ROW_BUTTONS_MAX))
        for j, child in enumerate(children):
            cpath: Path = (*path, "components", j)
            if not isinstance(child, Mapping):
                out.append(_v(cpath, "BASE_TYPE_DICT", "Must be a JSON object."))
            elif child.get("type") == 2:
                out += _check_button(child, cpath)
            elif child.get("type") not in _SELECT_TYPES:
                out.append(
                    _v(
                        (*cpath, "type"),
                        "COMPONENT_TYPE_INVALID",
                        "Not a message component for an action row.",
                    )
                )
    return out + _check_custom_ids(components)


def _check_button(button: Mapping[str, Any], path: Path) -> list[Violation]:
    out: list[Violation] = []
    style = button.get("style")
    if style not in (1, 2, 3, 4, 5, 6):
        out.append(_v((*path, "style"), "ENUM_TYPE_COERCE", f"Value {style!r} is not a valid enum value."))
    label = button.get("label")
    if label is not None and (not isinstance(label, str) or discord_text_length(label) > BUTTON_LABEL_MAX):
        out.append(_too_long((*path, "label"), BUTTON_LABEL_MAX))
    if style == _LINK_STYLE:
        if why := _bad_url(button.get("url"), _HTTP):
            out.append(_v((*path, "url"), "URL_TYPE_INVALID_URL", why))
        if button.get("custom_id") is not None:
            out.append(_v((*path, "custom_id"), "BUTTON_LINK_CUSTOM_ID", "A link button cannot have a custom_id."))
    elif style != _PREMIUM_STYLE and not button.get("custom_id"):
        out.append(_v((*path, "custom_id"), "BASE_TYPE_REQUIRED", "This field is required"))
    return out


def _check_custom_ids(components: Sequence[Any]) -> list[Violation]:
    """Check every custom_id in the tree: at most 100 characters, unique within the message."""
    out: list[Violation] = []
    seen: set[str] = set()

    def walk(node: Any, path: Path) -> None:
        if isinstance(node, list):
            for i, child in enumerate(node):
                walk(child, (*path, i))
            return
        if not isinstance(node, Mapping):
            return
        custom_id = node.get("custom_id")
        if custom_id is not None:
            if not isinstance(custom_id, str) or discord_text_length(custom_id) > CUSTOM_ID_MAX:
                out.append(_too_long((*path, "custom_id"), CUSTOM_ID_MAX))
            elif custom_id in seen:
                out.append(
                    _v(
                        (*path, "custom_id"),
                        "COMPONENT_CUSTOM_ID_DUPLICATED",
                        "Component custom id cannot be duplicated",
                    )
                )
            else:
                seen.add(custom_id)
        for key in ("components", "accessory"):
            if key in node:
                walk(node[key], (*path, key))

    walk(list(components), ("components",))
    return out


def _check_nonce(payload: Mapping[str, Any]) -> list[Violation]:
    nonce = payload.get("nonce")
    if nonce is None:
        return []
    if isinstance(nonce, bool) or not isinstance(nonce, str | int):
        return [_v(("nonce",), "BASE_TYPE_STRING", "Must be a string or an integer.")]
    if len(str(nonce)) > NONCE_MAX:
        return [_too_long(("nonce",), NONCE_MAX)]
    return []


def _policy(path: Path, message: str) -> Violation:
    return Violation(path=path, code="DIGESTBOT_POLICY", message=message, policy=True)


def _check_mentions(payload: Mapping[str, Any], content: str) -> list[Violation]:
    """Apply digestbot's rule: every message sends ``allowed_mentions: {"parse": []}``.

    The bot posts text it did not write (paper titles, summaries, user queries); without the
    explicit empty ``parse`` list Discord parses ``@everyone``/``@here``/``<@id>`` out of it.
    """
    mentions = payload.get("allowed_mentions")
    if mentions is None:
        out = [_policy(("allowed_mentions",), 'Required by digestbot policy: send {"parse": []}.')]
        if _MASS_MENTION.search(content):
            out.append(_policy(("content",), "Would ping @everyone/@here: allowed_mentions is missing."))
        return out
    if not isinstance(mentions, Mapping):
        return [_policy(("allowed_mentions",), "Must be a JSON object.")]
    out = []
    if mentions.get("parse") != []:
        out.append(
            _policy(
                ("allowed_mentions", "parse"),
                f"Must be [] by digestbot policy, got {mentions.get('parse')!r}.",
            )
        )
    for key in ("users", "roles"):
        if mentions.get(key):
            out.append(_policy(("allowed_mentions", key), "Must be empty by digestbot policy."))
    if mentions.get("replied_user"):
        out.append(_policy(("allowed_mentions", "replied_user"), "Must be false by digestbot policy."))
    return out
