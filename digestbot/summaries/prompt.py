"""What the model is asked and how its answer is checked: pure functions, no network.

The answer must have the sample digest's shape: three parts under the sample's own headings
(:data:`HEADINGS`), written in the reader's language. It comes either as JSON (structured output,
:data:`JSON_SCHEMA`) or, from servers that refuse ``json_schema``, as the sample's bullet lines
(``- **What's New**: …``), which go through the same Markdown parser as the sample digest.
Anything that does not fit is an :class:`InvalidAnswer`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from digestbot.errors import SourceError
from digestbot.records import Paper
from digestbot.sources.markdown import parse_markdown_digest
from digestbot.text import one_line, truncate

PROMPT_VERSION = 1
"""Part of every cache key: raise it when the prompt changes, so summaries are made anew."""

HEADINGS = ("What's New", "Technical Details", "Performance Highlights")
"""The three parts, headed as in the sample digest whatever the language of their text."""

KEYS = ("whats_new", "technical_details", "performance_highlights")
"""The JSON field of each heading, in the same order."""

MAX_PART = 600
"""Characters per part at most (the sample's longest is 458); longer ones are cut at a sentence end."""

MAX_ABSTRACT = 4000
"""Characters of abstract sent at most (arXiv caps abstracts at 1,920; other sources may not)."""

LANGUAGE_NAMES = {
    "ko": "Korean",
    "en": "English",
    "ja": "Japanese",
    "zh": "Chinese (Simplified)",
    "zh-CN": "Chinese (Simplified)",
    "zh-TW": "Chinese (Traditional)",
    "de": "German",
    "fr": "French",
    "es": "Spanish",
    "it": "Italian",
    "pt": "Portuguese",
    "pt-BR": "Brazilian Portuguese",
    "ru": "Russian",
    "vi": "Vietnamese",
    "id": "Indonesian",
    "tr": "Turkish",
}

JSON_SCHEMA: dict[str, Any] = {
    "name": "paper_summary",
    "strict": True,
    "schema": {
        "type": "object",
        "properties": {key: {"type": "string"} for key in KEYS},
        "required": list(KEYS),
        "additionalProperties": False,
    },
}

_MARKUP = re.compile(r"```|<\s*/?\s*[A-Za-z][^>]*>|^\s*#{1,6}\s|\]\(")
_EMPHASIS = re.compile(r"\*\*|__|`")
_SENTENCE_END = re.compile(r"[.!?。！？](?=\s|$)")

Sections = tuple[tuple[str, str], ...]


class InvalidAnswer(Exception):
    """The model's answer does not have the three parts in the expected shape (a failure for that paper)."""


def language_name(code: str) -> str:
    """Return the English name of a language code for the prompt ("ko" -> "Korean")."""
    return LANGUAGE_NAMES.get(code) or LANGUAGE_NAMES.get(code.split("-")[0]) or f"the language with code {code}"


def needs_summary(paper: Paper) -> bool:
    """Tell whether the model should summarise ``paper``.

    Not when the source brought its own parts (the sample digest: shown as given), not when
    there is nothing to summarise but a title, and not for a withdrawn paper.
    """
    if paper.sections or paper.extra.get("withdrawnAt"):
        return False
    return bool(paper.abstract.strip() or paper.ai_summary.strip())


def _instructions(language: str) -> str:
    name = language_name(language)
    return (
        "You write the daily research-paper digest of a research team's chat. Summarise the paper below"
        f" in {name} ({language}), in three parts:\n"
        "- What's New: the problem and what the paper proposes.\n"
        "- Technical Details: how it works (method, data, model, training).\n"
        "- Performance Highlights: the results, with the numbers and benchmarks the text gives.\n"
        f"Each part is plain {name} text of one to three sentences and at most 400 characters: no Markdown,"
        " no lists, no links. Keep names of models, datasets and metrics as written. Use only what the text"
        " says; if it gives no results, say what it reports instead."
    )


def build_messages(paper: Paper, language: str, *, bullets: bool) -> list[dict[str, str]]:
    """Return the chat messages for one paper: instructions, then the paper's own text.

    ``bullets`` asks for the sample's bullet lines instead of JSON (for servers without
    structured output).
    """
    system = _instructions(language)
    if bullets:
        system += (
            "\nAnswer with exactly these three lines, headings in English as shown, and nothing else:\n"
            + "\n".join(f"- **{heading}**: …" for heading in HEADINGS)
        )
    else:
        system += f"\nAnswer with a JSON object with the string fields {', '.join(KEYS)}."
    lines = [f"Title: {one_line(paper.title)}"]
    if paper.keywords:
        lines.append(f"Keywords: {', '.join(one_line(k) for k in paper.keywords[:20])}")
    if paper.ai_summary.strip():
        lines.append(f"One-line summary: {truncate(one_line(paper.ai_summary), 600)}")
    if paper.abstract.strip():
        lines.append(f"Abstract: {truncate(one_line(paper.abstract), MAX_ABSTRACT)}")
    return [{"role": "system", "content": system}, {"role": "user", "content": "\n".join(lines)}]


def trim_part(text: str, limit: int = MAX_PART) -> str:
    """Return ``text`` within ``limit`` characters: cut after the last whole sentence, else on a word."""
    if len(text) <= limit:
        return text
    ends = [m.end() for m in _SENTENCE_END.finditer(text, 0, limit)]
    if ends and ends[-1] >= limit // 3:
        return text[: ends[-1]]
    return truncate(text, limit)


def _clean_part(heading: str, text: object) -> str:
    if not isinstance(text, str):
        raise InvalidAnswer(f"{heading}: not text")
    if _MARKUP.search(text):
        raise InvalidAnswer(f"{heading}: contains markup")
    cleaned = one_line(_EMPHASIS.sub("", text))
    if cleaned.casefold().startswith(heading.casefold()):  # "What's New: …" repeated inside the part
        cleaned = cleaned[len(heading) :].lstrip(" :：-—")
    if not cleaned:
        raise InvalidAnswer(f"{heading}: empty")
    return trim_part(cleaned)


def validate_parts(parts: Mapping[str, object]) -> Sections:
    """Return the three parts (by heading) cleaned and trimmed; raise InvalidAnswer if any is missing or bad."""
    out = []
    for heading in HEADINGS:
        if heading not in parts:
            raise InvalidAnswer(f"{heading}: missing")
        out.append((heading, _clean_part(heading, parts[heading])))
    return tuple(out)


def parse_json_answer(content: str | None) -> Sections:
    """Return the parts of a structured (JSON) answer; raise InvalidAnswer otherwise."""
    text = (content or "").strip()
    if text.startswith("```"):  # some servers fence JSON even in JSON mode
        text = text.strip("`").removeprefix("json").strip()
    try:
        data = json.loads(text)
    except ValueError:
        raise InvalidAnswer("not JSON") from None
    if not isinstance(data, dict):
        raise InvalidAnswer("not a JSON object")
    return validate_parts({heading: data[key] for heading, key in zip(HEADINGS, KEYS, strict=True) if key in data})


def parse_bullet_answer(content: str | None, paper: Paper) -> Sections:
    """Return the parts of a bullet answer, read by the sample digest's own Markdown parser.

    Chatter before the first bullet ("Here is the summary:") and code fences are dropped; the
    bullets are parsed as the summary of a one-paper digest, so a bullet that continues on the
    next line is read exactly as in the sample.
    """
    lines = [line for line in (content or "").splitlines() if not line.strip().startswith("```")]
    first = next((i for i, line in enumerate(lines) if line.lstrip().startswith(("- **", "* **"))), None)
    if first is None:
        raise InvalidAnswer("no '- **Heading**: text' lines")
    digest = "\n".join(["## Daily Papers (2000-01-01)", f"### [summary]({paper.arxiv_url})", *lines[first:]])
    try:
        _, papers = parse_markdown_digest(digest, origin="answer")
    except SourceError as exc:
        raise InvalidAnswer(str(exc)) from None
    found = {label: text for label, text in papers[0].sections}
    canonical = {h.casefold().replace("’", "'"): h for h in HEADINGS}
    parts = {canonical.get(label.casefold().replace("’", "'"), label): text for label, text in found.items()}
    return validate_parts(parts)
