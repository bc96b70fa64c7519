"""Refuse a key written twice in one mapping of a user's YAML or JSON (config or paper file).

Both parsers silently keep the last value, so a config with two ``delivery:`` blocks, or a
paper with two ``votes:``, quietly loses what the user wrote first. :class:`UniqueKeyLoader` checks
each YAML mapping while it is built (merge keys ``<<`` may still be overridden: that is what they
are for); :func:`check_json_pairs` is a ``json`` ``object_pairs_hook`` that raises
:class:`DuplicateKeyError`, and :func:`json_duplicate` then finds the key's line with one scan
(only on that error path, so loading a good file costs one dict per object and nothing more).
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

import yaml

log = logging.getLogger(__name__)

_MERGE = "tag:yaml.org,2002:merge"


class UniqueKeyLoader(yaml.SafeLoader):
    """A SafeLoader that refuses a mapping holding the same key twice, naming the key and both lines."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        """Check the mapping's own keys (not those merged in by ``<<``), then build it as SafeLoader does."""
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, int] = {}
            for key_node, _ in node.value:
                if key_node.tag == _MERGE:
                    continue
                key = self.construct_object(key_node, deep=True)
                line = key_node.start_mark.line + 1
                try:
                    first = seen.get(key)
                except TypeError:  # an unhashable key: SafeLoader reports it below
                    continue
                if first is not None:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"duplicate key {_shown(key)} (first at line {first})", key_node.start_mark
                    )
                seen[key] = line
        mapping: dict[Any, Any] = super().construct_mapping(node, deep=deep)
        return mapping


def _shown(key: object) -> str:
    text = str(key)
    return repr(text if len(text) <= 40 else text[:39] + "…")


class DuplicateKeyError(ValueError):
    """A JSON object holds ``key`` twice; :func:`json_duplicate` says where."""

    def __init__(self, key: str) -> None:
        super().__init__(f"duplicate key {_shown(key)}")
        self.key = key


def check_json_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """Build one JSON object, raising DuplicateKeyError if a key appears twice (``object_pairs_hook``)."""
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise DuplicateKeyError(key)
            seen.add(key)
    return obj


_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[{}\[\]:]')


def json_duplicate(text: str) -> tuple[str, int, int] | None:
    """Return (key, its line, the line of its first use) for the first key repeated in one JSON object.

    One pass over strings and brackets; a string followed by ``:`` is a key of the innermost open
    object. Only called once a document is known to hold a duplicate.
    """
    stack: list[dict[str, int] | None] = []  # per open bracket: an object's keys and lines, None for a list
    line, counted = 1, 0
    pending: tuple[str, int] | None = None  # the last string token and where it starts: a key if ":" follows
    for m in _TOKEN.finditer(text):
        token = m.group()
        if token == ":" and pending is not None and stack and (keys := stack[-1]) is not None:
            key = json.loads(pending[0])
            line += text.count("\n", counted, pending[1])
            counted = pending[1]
            if key in keys:
                return key, line, keys[key]
            keys[key] = line
        elif token == "{":
            stack.append({})
        elif token == "[":
            stack.append(None)
        elif token in "}]" and stack:
            stack.pop()
        pending = (token, m.start()) if token.startswith('"') else None
    return None
