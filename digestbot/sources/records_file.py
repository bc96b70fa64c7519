"""Parse plain JSON/YAML lists of paper records (the schema documented in README).

Either a list of records, or a mapping ``{date: YYYY-MM-DD, papers: [...]}``. A record needs an
arXiv id (``arxiv_id``, ``id`` or an arXiv/HF ``url``) and a ``title``; keys digestbot does not know
are kept in ``Paper.extra``. Errors name the file and the JSON path (``$[3].votes``) and, for YAML,
the line.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from digestbot.errors import SourceError
from digestbot.records import Paper, normalize_arxiv_id, storable
from digestbot.sources.markdown import arxiv_id_from_url, resolve_image_url
from digestbot.text import clean_text, one_line

KNOWN = {
    "arxiv_id",
    "id",
    "url",
    "title",
    "authors",
    "abstract",
    "summary",
    "sections",
    "ai_summary",
    "keywords",
    "votes",
    "thumbnail",
    "github",
    "github_url",
    "date",
    "digest_date",
}


class RecordError(SourceError):
    """A record field is wrong; ``path`` is the JSON path so YAML callers can add a line number."""

    def __init__(self, path: str, what: str) -> None:
        super().__init__(f"{path}: {what}")
        self.path = path
        self.what = what


def _type_name(value: object) -> str:
    return {dict: "object", list: "list", str: "string", bool: "boolean", type(None): "null"}.get(
        type(value), type(value).__name__
    )


def _shown(value: object, limit: int = 20) -> str:
    """Quote a bad value as the user wrote it: JSON/YAML ``true``, not Python's ``'True'``."""
    if isinstance(value, bool) or value is None:
        return {True: "true", False: "false", None: "null"}[value]
    if isinstance(value, int | float):
        return str(value)[:limit]
    return repr(str(value)[:limit])


def _str(rec: Mapping[str, Any], key: str, path: str) -> str:
    value = rec.get(key, "")
    if value is None:
        return ""
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        raise RecordError(f"{path}.{key}", f"expected text, got {_type_name(value)}")
    return str(value)


def _str_list(rec: Mapping[str, Any], key: str, path: str) -> tuple[str, ...]:
    value = rec.get(key)
    if value is None:
        return ()
    if isinstance(value, str):
        return tuple(one_line(v) for v in value.split(",") if v.strip())
    if not isinstance(value, list):
        raise RecordError(
            f"{path}.{key}", f"expected a list of names or a comma-separated string, got {_type_name(value)}"
        )
    out = []
    for i, item in enumerate(value):
        if isinstance(item, Mapping) and isinstance(item.get("name"), str):
            item = item["name"]
        if not isinstance(item, str):
            raise RecordError(f"{path}.{key}[{i}]", f"expected text, got {_type_name(item)}")
        if item.strip():
            out.append(one_line(item))
    return tuple(out)


def _sections(rec: Mapping[str, Any], path: str) -> tuple[tuple[str, str], ...]:
    value = rec.get("sections")
    if value is None:
        return ()
    if isinstance(value, Mapping):
        items = list(value.items())
    elif isinstance(value, list):
        items = []
        for i, item in enumerate(value):
            if not (
                isinstance(item, Mapping) and isinstance(item.get("label"), str) and isinstance(item.get("text"), str)
            ):
                raise RecordError(f"{path}.sections[{i}]", "expected {label: text, text: text}")
            items.append((item["label"], item["text"]))
    else:
        raise RecordError(f"{path}.sections", f"expected a mapping of heading to text, got {_type_name(value)}")
    out = []
    for label, text in items:
        if not isinstance(text, str):
            raise RecordError(f"{path}.sections.{label}", f"expected text, got {_type_name(text)}")
        out.append((one_line(str(label)), clean_text(text)))
    return tuple(out)


def _date(value: object, path: str) -> date | None:
    if value is None or isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip()[:10])
        except ValueError:
            pass
    raise RecordError(path, f"expected a date YYYY-MM-DD, got {_shown(value, 40)}")


def parse_record(rec: object, path: str, *, default_date: date | None, source: str) -> Paper:
    """Return the Paper for one record mapping; raise RecordError naming ``path`` and the field."""
    if not isinstance(rec, Mapping):
        raise RecordError(path, f"expected a paper record (mapping), got {_type_name(rec)}")
    raw_id = _str(rec, "arxiv_id", path) or _str(rec, "id", path)
    arxiv_id = normalize_arxiv_id(raw_id) if raw_id else None
    if arxiv_id is None and (url := _str(rec, "url", path)):
        arxiv_id = arxiv_id_from_url(url)
    if arxiv_id is None:
        if raw_id:
            raise RecordError(f"{path}.arxiv_id", f"not an arXiv id: {raw_id[:40]!r}")
        raise RecordError(path, "missing arxiv_id (or id / url)")
    title = one_line(_str(rec, "title", path))
    if not title:
        raise RecordError(f"{path}.title", "missing or empty")
    votes = rec.get("votes")
    if votes is not None and (isinstance(votes, bool) or not isinstance(votes, int) or votes < 0):
        raise RecordError(f"{path}.votes", f"expected a non-negative integer, got {_shown(votes)}")
    thumb = _str(rec, "thumbnail", path)
    github = _str(rec, "github_url", path) or _str(rec, "github", path)
    paper = Paper(
        arxiv_id=arxiv_id,
        title=title,
        authors=_str_list(rec, "authors", path),
        abstract=clean_text(_str(rec, "abstract", path) or _str(rec, "summary", path)),
        sections=_sections(rec, path),
        ai_summary=clean_text(_str(rec, "ai_summary", path)),
        keywords=_str_list(rec, "keywords", path),
        votes=votes,
        thumbnail=resolve_image_url(thumb) if thumb else None,
        github_url=resolve_image_url(github) if github else None,
        digest_date=_date(rec.get("digest_date", rec.get("date")), f"{path}.date") or default_date,
        source=source,
        extra={k: v for k, v in rec.items() if k not in KNOWN},
    )
    return storable(paper)  # extra keeps the record's values as given, but a NUL would stop PostgreSQL


def parse_records(data: object, *, source: str = "records") -> tuple[date | None, list[Paper]]:
    """Return (digest date, papers) from decoded JSON/YAML; errors are RecordError with a JSON path."""
    day: date | None = None
    items: object = data
    prefix = "$"
    if isinstance(data, Mapping):
        unknown = set(data) - {"date", "papers", "source"}
        if unknown:
            raise RecordError(f"$.{sorted(unknown)[0]}", "unknown key (expected date, papers)")
        day = _date(data.get("date"), "$.date")
        items = data.get("papers")
        prefix = "$.papers"
    if not isinstance(items, list):
        raise RecordError(prefix, f"expected a list of paper records, got {_type_name(items)}")
    if not items:
        raise RecordError(prefix, "no papers")
    papers: list[Paper] = []
    seen: dict[str, int] = {}
    for i, rec in enumerate(items):
        paper = parse_record(rec, f"{prefix}[{i}]", default_date=day, source=source)
        if paper.arxiv_id in seen:
            raise RecordError(
                f"{prefix}[{i}]", f"paper {paper.arxiv_id} already listed at {prefix}[{seen[paper.arxiv_id]}]"
            )
        seen[paper.arxiv_id] = i
        papers.append(paper)
    return day, papers
