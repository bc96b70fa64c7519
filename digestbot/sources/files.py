"""Load paper files of any supported format, detected from the content (overridable).

Formats: ``markdown`` (daily digests like the bundled sample), ``huggingface`` (a saved
``/api/daily_papers`` response), ``records`` (plain JSON or YAML paper records). Whatever the
format, a bad file raises one :class:`SourceError` naming the file and the line or JSON path, and
nothing from it is returned, so a caller storing the result stores all of it or none.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from digestbot.bounded_read import TooLarge, read_capped
from digestbot.errors import SourceError
from digestbot.records import MAX_DEPTH, MAX_INT_LITERAL, LongInt, Paper, json_problem, load_json, oversize
from digestbot.sources.markdown import parse_markdown_digest
from digestbot.sources.records_file import RecordError, parse_records
from digestbot.unique_keys import DuplicateKeyError, UniqueKeyLoader, check_json_pairs, json_duplicate
from digestbot.wording import plural

FORMATS = ("auto", "markdown", "huggingface", "records")
MAX_FILE_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True, kw_only=True)
class LoadedFile:
    """The papers read from one file, and the digest date the file declares (if any)."""

    path: Path
    format: str
    digest_date: date | None
    papers: tuple[Paper, ...]


def undated_note(loaded: LoadedFile) -> str | None:
    """Say, in one line, that some of a file's papers belong to no digest day, and how to give them one.

    Such papers are stored (lookup finds them) but no digest lists them, so "3 added" followed by
    ``preview`` finding no digest looked like a failed ingest. None when every paper has a day.
    """
    if loaded.digest_date is not None:
        return None
    undated = sum(p.digest_date is None for p in loaded.papers)
    if not undated:
        return None
    total = len(loaded.papers)
    which = plural(undated, "paper") if undated == total else f"{undated:,} of {plural(total, 'paper')}"
    has, them = ("has", "it") if undated == 1 else ("have", "them")
    return (
        f"{loaded.path}: note: {which} {has} no date, so no digest lists {them};"
        " give the file a date ('{date: YYYY-MM-DD, papers: [...]}', or a 'date' per paper) and ingest it again"
    )


def detect_format(path: Path, text: str) -> str:
    """Guess a file's format from its content first and its suffix second."""
    head = text.lstrip("\ufeff \t\r\n")[:1]
    if head in ("[", "{"):
        try:
            data = load_json(text)
        except (json.JSONDecodeError, RecursionError):
            return "records"  # the error is reported by the records loader
        first = data[0] if isinstance(data, list) and data else None
        return "huggingface" if isinstance(first, dict) and isinstance(first.get("paper"), dict) else "records"
    if head == "#" or path.suffix.lower() in (".md", ".markdown"):
        return "markdown"
    return "records"


def check_limits(paper: Paper, where: str) -> None:
    """Raise SourceError if a field is beyond any sane size (names the paper and field)."""
    if problem := oversize(paper):
        raise SourceError(f"{where}: paper {paper.arxiv_id}: {problem}")


class NoAliasLoader(UniqueKeyLoader):
    """A safe YAML loader that refuses anchors and aliases (``&a`` / ``*a``), deep nesting and duplicate keys.

    Paper files have no use for anchors, and aliases are how a few hundred bytes expand into
    gigabytes (the "billion laughs"); nesting beyond :data:`MAX_DEPTH` would only exhaust the
    recursive composer. Both are refused while composing, before anything is built.
    """

    _depth = 0

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        """Compose one node, refusing aliases, anchors and nesting deeper than MAX_DEPTH."""
        event = self.peek_event()  # type: ignore[no-untyped-call]
        anchor = getattr(event, "anchor", None)
        if anchor is not None:
            kind = "alias" if isinstance(event, yaml.AliasEvent) else "anchor"
            sign = "*" if kind == "alias" else "&"
            raise yaml.composer.ComposerError(
                None, None, f"YAML {kind} {sign}{anchor[:40]} is not accepted in paper files", event.start_mark
            )
        if self._depth >= MAX_DEPTH:
            raise yaml.composer.ComposerError(None, None, f"nested deeper than {MAX_DEPTH} levels", event.start_mark)
        self._depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _construct_int(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> int:
    """Build a YAML int; a decimal too long for Python to convert becomes a :class:`LongInt`.

    Python refuses decimal text over 4,300 digits with a ValueError; the stand-in lets
    :func:`json_problem` refuse it as "beyond 64 bits" with its place instead.
    """
    body = str(loader.construct_scalar(node)).replace("_", "").lstrip("+-")
    if body.isdigit() and not body.startswith("0") and len(body) > MAX_INT_LITERAL:
        return LongInt.of(len(body))
    value: int = loader.construct_yaml_int(node)
    return value


NoAliasLoader.add_constructor("tag:yaml.org,2002:int", _construct_int)


def _decode(path: Path) -> str:
    try:
        raw = read_capped(path, MAX_FILE_BYTES)  # a device, FIFO or pipe has no size to check first
    except TooLarge as exc:
        raise SourceError(f"{path}: file too large ({exc.describe()})") from None
    except OSError as exc:
        raise SourceError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise SourceError(f"{path}:{line}: not UTF-8 text (byte {exc.start})") from None


def _yaml_line(text: str, json_path: str) -> int | None:
    """Find the line of ``json_path`` ($.papers[2].votes) in a YAML document, for error messages."""
    try:
        node: Any = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return None
    line = node.start_mark.line + 1 if node else None
    for part in json_path.replace("[", ".[").split(".")[1:]:
        if node is None:
            break
        if part.startswith("[") and isinstance(node, yaml.SequenceNode):
            index = int(part[1:-1])
            node = node.value[index] if index < len(node.value) else None
        elif isinstance(node, yaml.MappingNode):
            node = next((v for k, v in node.value if k.value == part), None)
        else:
            break
        if node is not None:
            line = node.start_mark.line + 1
    return line


NOT_RECOGNISED = (
    "not a paper file digestbot recognises; the formats are: markdown (a daily digest starting"
    " '## Daily Papers (YYYY-MM-DD)'), huggingface (a saved /api/daily_papers JSON answer), records"
    " (a JSON or YAML list of papers, or {date, papers}); --format picks one"
)


def _load_structured(path: Path, text: str, fmt: str, *, detected: bool = False) -> tuple[date | None, list[Paper]]:
    is_json = text.lstrip("\ufeff \t\r\n")[:1] in ("[", "{") or path.suffix.lower() == ".json"
    try:
        # NoAliasLoader is a SafeLoader subclass; both refuse a key written twice in one mapping
        data = load_json(text, pairs_hook=check_json_pairs) if is_json else yaml.load(text, Loader=NoAliasLoader)
    except RecursionError:
        raise SourceError(f"{path}: nested too deeply to read") from None
    except DuplicateKeyError as exc:
        if found := json_duplicate(text):
            key, again, first = found
            raise SourceError(f"{path}:{again}: invalid JSON: duplicate key {key!r} (first at line {first})") from None
        raise SourceError(f"{path}: invalid JSON: {exc}") from None
    except json.JSONDecodeError as exc:
        raise SourceError(f"{path}:{exc.lineno}: invalid JSON: {exc.msg} (column {exc.colno})") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        problem = getattr(exc, "problem", None) or "cannot parse"
        raise SourceError(f"{where}: invalid YAML: {problem}") from None
    if detected and not isinstance(data, list | dict):  # plain text, a number: no format fits
        raise SourceError(f"{path}: {NOT_RECOGNISED}")
    if problem := json_problem(data):
        json_path, what = problem
        line = None if is_json else _yaml_line(text, json_path)
        raise SourceError(f"{path}:{line}: {json_path}: {what}" if line else f"{path}: {json_path}: {what}")
    try:
        if fmt == "huggingface":
            from digestbot.sources.huggingface import parse_daily_papers

            papers = parse_daily_papers(data, origin=str(path))
            days = {p.digest_date for p in papers if p.digest_date}
            return (days.pop() if len(days) == 1 else None), papers
        return parse_records(data, source="records")
    except RecordError as exc:
        line = None if is_json else _yaml_line(text, exc.path)
        where = f"{path}:{line}" if line else str(path)
        raise SourceError(f"{where}: {exc.path}: {exc.what}") from None


def load_file(path: str | Path, *, fmt: str = "auto") -> LoadedFile:
    """Read one paper file; raise SourceError (file, line or JSON path, what is wrong) on bad input."""
    path = Path(path)
    if fmt not in FORMATS:
        raise SourceError(f"{path}: unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    text = _decode(path)
    if not text.strip():
        raise SourceError(f"{path}: the file is empty")
    chosen = detect_format(path, text) if fmt == "auto" else fmt
    day: date | None
    if chosen == "markdown":
        day, papers = parse_markdown_digest(text, origin=str(path))
    else:
        day, papers = _load_structured(path, text, chosen, detected=fmt == "auto")
    for paper in papers:
        check_limits(paper, str(path))
    return LoadedFile(path=path, format=chosen, digest_date=day, papers=tuple(papers))
