"""Application command registration for the fake Discord: validation and the objects Discord answers.

Limits from discord/discord-api-docs ``docs/interactions/application-commands.md``:

* CHAT_INPUT (type 1) names: 1-32 characters matching
  ``^[-_'\\p{L}\\p{N}\\p{sc=Deva}\\p{sc=Thai}]{1,32}$``, lowercase where the script has case
  (Python's ``re`` has no ``\\p``: ``[-_'\\w]`` stands in); options and subcommands follow the same rule;
* descriptions 1-100 characters (chat input commands and every option);
* ≤ 25 options per command / subcommand group / subcommand, ≤ 25 choices per option, and
  ``autocomplete`` may not be combined with ``choices``; required options before optional ones;
* a subcommand group holds only subcommands, and nothing nests deeper;
* name + description + choice values of one command (with its subcommands) ≤ 4000 characters;
* ≤ 100 chat input commands per scope (global, or one guild), names unique within a scope;
* ``default_member_permissions`` is a bit set, serialized as a string (discord.py sends an int;
  Discord accepts both) or null.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from tests.fakes.discord_limits import Violation

CHAT_INPUT = 1
SUB_COMMAND = 1
SUB_COMMAND_GROUP = 2
MAX_COMMANDS = 100
MAX_OPTIONS = 25
MAX_CHOICES = 25
MAX_COMMAND_CHARS = 4000
_NAME = re.compile(r"[-_'\w]{1,32}")


def _error(path: tuple[str | int, ...], code: str, message: str) -> Violation:
    return Violation(path=path, code=code, message=message)


def _check_name(name: Any, path: tuple[str | int, ...]) -> Iterator[Violation]:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        yield _error((*path, "name"), "APPLICATION_COMMAND_INVALID_NAME", "Command name is invalid")
    elif name != name.lower():
        yield _error((*path, "name"), "APPLICATION_COMMAND_INVALID_NAME", "Command name must be lowercase")


def _check_description(text: Any, path: tuple[str | int, ...]) -> Iterator[Violation]:
    if not isinstance(text, str) or not 1 <= len(text) <= 100:
        yield _error((*path, "description"), "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length.")


def _check_options(options: Any, path: tuple[str | int, ...], depth: int) -> Iterator[Violation]:
    if options is None:
        return
    if not isinstance(options, list) or len(options) > MAX_OPTIONS:
        yield _error((*path, "options"), "BASE_TYPE_MAX_LENGTH", f"Must be {MAX_OPTIONS} or fewer in length.")
        return
    seen_optional = False
    names: set[str] = set()
    for i, option in enumerate(options):
        where = (*path, "options", i)
        if not isinstance(option, Mapping):
            yield _error(where, "MODEL_TYPE_CONVERT", "Only dictionaries may be used in a ModelType")
            continue
        yield from _check_name(option.get("name"), where)
        yield from _check_description(option.get("description"), where)
        if option.get("name") in names:
            yield _error(where, "APPLICATION_COMMAND_OPTIONS_NAME_ALREADY_EXISTS", "Option names must be unique")
        names.add(str(option.get("name")))
        kind = option.get("type")
        if kind in (SUB_COMMAND, SUB_COMMAND_GROUP):
            if depth >= (1 if kind == SUB_COMMAND_GROUP else 2):
                yield _error(where, "APPLICATION_COMMAND_OPTION_TYPE_INVALID", "Subcommands nest too deep")
            inner = option.get("options") or []
            if kind == SUB_COMMAND_GROUP and any(
                isinstance(o, Mapping) and o.get("type") != SUB_COMMAND for o in inner
            ):
                yield _error(where, "APPLICATION_COMMAND_OPTION_TYPE_INVALID", "A group holds only subcommands")
            yield from _check_options(option.get("options"), where, depth + 1)
            continue
        choices = option.get("choices")
        if choices is not None and (not isinstance(choices, list) or len(choices) > MAX_CHOICES):
            yield _error((*where, "choices"), "BASE_TYPE_MAX_LENGTH", f"Must be {MAX_CHOICES} or fewer in length.")
        if choices and option.get("autocomplete"):
            yield _error(where, "AUTOCOMPLETE_AND_CHOICES", "Autocomplete cannot be set with choices")
        if option.get("required"):
            if seen_optional:
                yield _error(where, "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID", "Required options must be first")
        else:
            seen_optional = True


def _chars(command: Mapping[str, Any]) -> int:
    total = len(str(command.get("name", ""))) + len(str(command.get("description", "")))
    for option in command.get("options") or ():
        if isinstance(option, Mapping):
            total += _chars(option)
            total += sum(len(str(c.get("value", ""))) for c in option.get("choices") or () if isinstance(c, Mapping))
    return total


def find_command_violations(payload: Any) -> list[Violation]:
    """Return everything Discord would refuse in a bulk-overwrite body (a list of commands)."""
    if not isinstance(payload, list):
        return [_error((), "BASE_TYPE_LIST", "Must be an array.")]
    out: list[Violation] = []
    names: set[tuple[int, str]] = set()
    chat_input = 0
    for i, command in enumerate(payload):
        where: tuple[str | int, ...] = (i,)
        if not isinstance(command, Mapping):
            out.append(_error(where, "MODEL_TYPE_CONVERT", "Only dictionaries may be used in a ModelType"))
            continue
        kind = command.get("type", CHAT_INPUT)
        if kind == CHAT_INPUT:
            chat_input += 1
            out.extend(_check_name(command.get("name"), where))
            out.extend(_check_description(command.get("description"), where))
        key = (int(kind) if isinstance(kind, int) else 0, str(command.get("name")))
        if key in names:
            out.append(_error(where, "APPLICATION_COMMANDS_DUPLICATE_NAME", f"Command name {key[1]!r} is not unique"))
        names.add(key)
        out.extend(_check_options(command.get("options"), where, depth=0))
        if _chars(command) > MAX_COMMAND_CHARS:
            out.append(_error(where, "APPLICATION_COMMAND_TOO_LARGE", "Command exceeds maximum size (4000)"))
        permissions = command.get("default_member_permissions")
        if permissions is not None and not (
            (isinstance(permissions, int) and permissions >= 0)
            or (isinstance(permissions, str) and permissions.isdigit())
        ):
            out.append(_error((*where, "default_member_permissions"), "NUMBER_TYPE_COERCE", "Value is not a bit set."))
    if chat_input > MAX_COMMANDS:
        out.append(_error((), "BASE_TYPE_MAX_LENGTH", f"Must be {MAX_COMMANDS} or fewer in length."))
    return out


def command_objects(
    payload: Sequence[Mapping[str, Any]],
    *,
    application_id: int,
    guild_id: int | None,
    ids: Mapping[str, int],
) -> list[dict[str, Any]]:
    """Return the application command objects Discord answers a bulk overwrite with (``ids`` by name)."""
    out: list[dict[str, Any]] = []
    for command in payload:
        permissions = command.get("default_member_permissions")
        obj: dict[str, Any] = {
            "id": str(ids[str(command["name"])]),
            "application_id": str(application_id),
            "version": str(ids[str(command["name"])]),
            "type": command.get("type", CHAT_INPUT),
            "name": command["name"],
            "description": command.get("description", ""),
            "options": list(command.get("options") or []),
            "default_member_permissions": None if permissions is None else str(permissions),
            "dm_permission": command.get("dm_permission", True),
            "contexts": command.get("contexts"),
            "integration_types": command.get("integration_types") or [0],
            "nsfw": bool(command.get("nsfw")),
        }
        if guild_id is not None:
            obj["guild_id"] = str(guild_id)
        out.append(obj)
    return out
