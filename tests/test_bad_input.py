"""The bad-input catalogue: each malformed file gets one precise line, and nothing is stored."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from digestbot.cli import ingest_files
from digestbot.errors import SourceError
from digestbot.sources.files import load_file
from digestbot.store import Store

HEAD = "## Daily Papers (2024-10-11)\n\n"
GOOD = "### [Good paper](https://arxiv.org/abs/2410.00001)\nVote: 3\nAuthors: A\n- **What's New**: ok\n\n"

# A 515-byte "billion laughs" in an unknown key: nine levels of nine-fold aliases.
LAUGHS = "- arxiv_id: '2410.00001'\n  title: x\n  lol0: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"  lol{i}: &{chr(97 + i)} [{', '.join(['*' + chr(96 + i)] * 9)}]\n" for i in range(1, 9)
)

CASES: list[tuple[str, str | bytes, str]] = [
    ("empty.md", "", "empty.md: the file is empty"),
    ("nohead.md", "### [T](https://arxiv.org/abs/2410.00001)\n", "nohead.md:1: paper before the '## Daily Papers"),
    ("baddate.md", "## Daily Papers (2024-13-45)\n", "baddate.md:1: invalid digest date '2024-13-45'"),
    ("badheading.md", HEAD + "### Just a title\n", "badheading.md:3: paper heading must be"),
    ("nolink.md", HEAD + "### [T](https://example.com/x)\n", "nolink.md:3: no arXiv id in link"),
    (
        "vote.md",
        HEAD + GOOD + "### [T](https://arxiv.org/abs/2410.00002)\nVote: many\n",
        "vote.md:9: vote count must be an integer",
    ),
    (
        "neg.md",
        HEAD + "### [T](https://arxiv.org/abs/2410.00002)\nVote: -4\n",
        "neg.md:4: vote count must not be negative",
    ),
    (
        "bigvote.md",
        HEAD + "### [T](https://arxiv.org/abs/2410.00002)\nVote: 99999999999999999999\n",
        "bigvote.md:4: vote count beyond 64 bits (20 digits)",
    ),
    (
        "longvote.md",
        HEAD + "### [T](https://arxiv.org/abs/2410.00002)\nVote: " + "9" * 10_000 + "\n",
        "longvote.md:4: vote count beyond 64 bits (10,000 digits)",
    ),
    ("dupe.md", HEAD + GOOD + GOOD, "dupe.md:8: paper 2410.00001 already listed at line 3"),
    ("stray.md", HEAD + "hello\n", "stray.md:3: unexpected text before the first paper"),
    ("nopapers.md", HEAD, "nopapers.md: the digest for 2024-10-11 lists no papers"),
    ("twoheads.md", HEAD + GOOD + HEAD, "twoheads.md:8: a second '## Daily Papers' heading"),
    (
        "latin1.md",
        HEAD.encode() + "### [Caf\u00e9](https://arxiv.org/abs/2410.00001)\n".encode("latin-1"),
        "latin1.md:3: not UTF-8",
    ),
    ("broken.json", '[{"arxiv_id": "2410.00001", "title": "x"', "broken.json:1: invalid JSON"),
    ("notlist.json", '{"date": "2024-10-11", "papers": 5}', "notlist.json: $.papers: expected a list of paper records"),
    ("noid.json", '[{"title": "x"}]', "noid.json: $[0]: missing arxiv_id"),
    ("badid.json", '[{"arxiv_id": "hello", "title": "x"}]', "badid.json: $[0].arxiv_id: not an arXiv id: 'hello'"),
    ("notitle.json", '[{"arxiv_id": "2410.00001"}]', "notitle.json: $[0].title: missing or empty"),
    (
        "votes.json",
        '[{"arxiv_id": "2410.00001", "title": "x", "votes": "many"}]',
        "votes.json: $[0].votes: expected a non-negative integer",
    ),
    (
        "authors.json",
        '[{"arxiv_id": "2410.00001", "title": "x", "authors": [1]}]',
        "authors.json: $[0].authors[0]: expected text",
    ),
    ("unknownkey.json", '{"date": "2024-10-11", "paperz": []}', "unknownkey.json: $.paperz: unknown key"),
    (
        "baddate.json",
        '[{"arxiv_id": "2410.00001", "title": "x", "date": "yesterday"}]',
        "baddate.json: $[0].date: expected a date",
    ),
    ("broken.yaml", "- arxiv_id: 2410.00001\n  title: [unclosed\n", "broken.yaml:3: invalid YAML"),
    (
        "badentry.yaml",
        "- arxiv_id: '2410.00001'\n  title: ok\n- arxiv_id: '2410.00002'\n  title: ok\n  votes: -1\n",
        "badentry.yaml:5: $[1].votes: expected a non-negative integer",
    ),
    ("scalar.yaml", "just text\n", "scalar.yaml: not a paper file digestbot recognises; the formats are: markdown"),
    (
        "huge.json",
        json.dumps([{"arxiv_id": "2410.00001", "title": "x" * 5000}]),
        "huge.json: paper 2410.00001: title too large",
    ),
    # A key written twice: parsers keep the last value silently; refused, naming the key and both lines.
    (
        "dupkey.json",
        '[{"arxiv_id": "2410.00001", "title": "x"},\n {"arxiv_id": "2410.00002",\n  "votes": 1,\n  "votes": 9, "title": "y"}]',
        "dupkey.json:4: invalid JSON: duplicate key 'votes' (first at line 3)",
    ),
    (
        "dupkey.yaml",
        "- arxiv_id: '2410.00001'\n  title: x\n  votes: 1\n  title: y\n",
        "dupkey.yaml:4: invalid YAML: duplicate key 'title' (first at line 2)",
    ),
    (
        "dupdate.yaml",
        "date: 2024-10-11\ndate: 2024-10-12\npapers: []\n",
        "dupdate.yaml:2: invalid YAML: duplicate key 'date' (first at line 1)",
    ),
    # Wording: counts are not characters; JSON's true is not Python's 'True'; a Markdown paper has a line.
    (
        "sections.json",
        json.dumps([{"arxiv_id": "2410.00001", "title": "x", "sections": {f"s{i}": "t" for i in range(101)}}]),
        "sections.json: paper 2410.00001: too many sections (101 > 100)",
    ),
    (
        "manyauthors.json",
        json.dumps([{"arxiv_id": "2410.00001", "title": "x", "authors": ["A"] * 5001}]),
        "manyauthors.json: paper 2410.00001: too many authors (5,001 > 5,000)",
    ),
    (
        "boolvote.json",
        '[{"arxiv_id": "2410.00001", "title": "x", "votes": true}]',
        "boolvote.json: $[0].votes: expected a non-negative integer, got true",
    ),
    (
        "negvote.json",
        '[{"arxiv_id": "2410.00001", "title": "x", "votes": -5}]',
        "negvote.json: $[0].votes: expected a non-negative integer, got -5",
    ),
    (
        "hugetitle.md",
        HEAD + GOOD + "### [" + "T" * 2001 + "](https://arxiv.org/abs/2410.00002)\nVote: 1\n",
        "hugetitle.md:8: paper 2410.00002: title too large (2,001 > 2,000 characters)",
    ),
    # Values no archive should hold: each one line naming file and path, nothing stored.
    ("laughs.yaml", LAUGHS, "laughs.yaml:3: invalid YAML: YAML anchor &a is not accepted in paper files"),
    ("alias.yaml", "- &p {arxiv_id: '2410.00001', title: x}\n- *p\n", "alias.yaml:1: invalid YAML: YAML anchor &p"),
    (
        "merge.yaml",
        "- arxiv_id: '2410.00001'\n  title: x\n  <<: *nope\n",
        "merge.yaml:3: invalid YAML: YAML alias *nope",
    ),
    (
        "nan.json",
        '[{"arxiv_id": "2410.00001", "title": "x", "score": NaN}]',
        "nan.json: $[0].score: nan is not a number",
    ),
    (
        "inf.yaml",
        "- arxiv_id: '2410.00001'\n  title: x\n  score: -.inf\n",
        "inf.yaml:3: $[0].score: -inf is not a number",
    ),
    (
        "bigvotes.json",
        '[{"arxiv_id": "2410.00001", "title": "x", "votes": 18446744073709551616}]',
        "bigvotes.json: $[0].votes: integer beyond 64 bits (20 digits)",
    ),
    (
        "bigint.yaml",
        "- arxiv_id: '2410.00001'\n  title: x\n  n: 99999999999999999999\n",
        "bigint.yaml:3: $[0].n: integer beyond 64 bits",
    ),
    (
        "longint.json",
        '[{"arxiv_id": "2410.00001", "title": "x", "n": ' + "1" * 100_000 + "}]",
        "longint.json: $[0].n: integer beyond 64 bits (100,000 digits)",
    ),
    (
        "longint.yaml",
        "- arxiv_id: '2410.00001'\n  title: x\n  n: " + "9" * 100_000 + "\n",
        "longint.yaml:3: $[0].n: integer beyond 64 bits (100,000 digits)",
    ),
    (
        "hex.yaml",
        "- arxiv_id: '2410.00001'\n  title: x\n  votes: 0x" + "f" * 10_000 + "\n",
        "hex.yaml:3: $[0].votes: integer beyond 64 bits (about 12,042 digits)",
    ),
    (
        "set.yaml",
        "- arxiv_id: '2410.00001'\n  title: x\n  tags: !!set {a, b, c}\n",
        "set.yaml:3: $[0].tags: a set (YAML !!set) is not accepted: give a list",
    ),
    (
        "binary.yaml",
        "- arxiv_id: '2410.00001'\n  title: x\n  blob: !!binary aGVsbG8=\n",
        "binary.yaml:3: $[0].blob: binary data (YAML !!binary) is not accepted: give text",
    ),
    (
        "surrogate.json",
        '[{"arxiv_id": "2410.00001", "title": "x\\udc00y"}]',
        "surrogate.json: $[0].title: text with a lone surrogate (U+DC00 at character 1)",
    ),
    (
        "surrogatekey.json",
        '[{"arxiv_id": "2410.00001", "title": "x", "\\ud800": 1}]',
        "surrogatekey.json: $[0].?: key text with a lone",
    ),
    (
        "datekey.yaml",
        "- arxiv_id: '2410.00001'\n  title: x\n  2024-01-01: new year\n",
        "datekey.yaml:3: $[0].2024-01-01: a key must be text or a number, got date",
    ),
    (
        "deep.json",
        '[{"arxiv_id": "2410.00001", "title": "x", "d": ' + "[" * 40 + "]" * 40 + "}]",
        "deep.json: $[0].d" + "[0]" * 31 + ": nested deeper than 32 levels",
    ),
    (
        "deeper.json",
        '[{"arxiv_id": "2410.00001", "title": "x", "d": ' + "[" * 100_000 + "]" * 100_000 + "}]",
        "deeper.json: nested too deeply to read",
    ),
    (
        "deeper.yaml",
        "- arxiv_id: '2410.00001'\n  title: x\n  d: " + "[" * 3_000 + "]" * 3_000 + "\n",
        "deeper.yaml:3: invalid YAML: nested deeper than 32 levels",
    ),
    (
        "extra.json",
        json.dumps([{"arxiv_id": "2410.00001", "title": "x", "notes": "n" * 300_000}]),
        "extra.json: paper 2410.00001: extra fields too large (300,013 > 262,144 bytes as JSON)",
    ),
    (
        "author.json",
        json.dumps([{"arxiv_id": "2410.00001", "title": "x", "authors": ["a" * 5000]}]),
        "author.json: paper 2410.00001: authors['aaaa",
    ),
]


@pytest.mark.parametrize(("name", "content", "message"), CASES, ids=[c[0] for c in CASES])
async def test_bad_file_is_reported_and_nothing_stored(
    tmp_path: Path, store: Store, name: str, content: str | bytes, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(SourceError) as info:
        load_file(path)
    text = str(info.value)
    assert "\n" not in text
    assert text.startswith(str(tmp_path))
    assert message in text, text

    status = await ingest_files(store, [str(path)], "auto")
    assert status == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and "Traceback" not in err
    assert await store.count_papers() == 0


async def test_one_bad_file_does_not_block_good_ones(tmp_path: Path, store: Store, seed_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('[{"arxiv_id": "2410.00001", "title": "a"}, {"arxiv_id": "2410.00002"}]')
    status = await ingest_files(store, [str(bad), str(seed_path)], "auto")
    assert status == 2
    assert await store.count_papers() == 25
    assert await store.get_paper("2410.00001") is None  # the good first entry of the bad file was not half-stored


def test_records_yaml_schema(tmp_path: Path) -> None:
    path = tmp_path / "papers.yaml"
    path.write_text(
        "date: 2024-10-12\n"
        "papers:\n"
        "  - arxiv_id: '2410.05265v2'\n"
        "    title: '  PrefixQuant:   Static  '\n"
        "    authors: Jiahao Wang, Yi Bin\n"
        "    sections: {What's New: new, Technical Details: tech}\n"
        "    keywords: [quantization]\n"
        "    votes: 30\n"
        "    thumbnail: /avatars/x.png\n"
        "    github: https://github.com/x/y\n"
        "    venue: NeurIPS\n"
        "  - url: https://huggingface.co/papers/hep-th/9901001\n"
        "    title: Old style\n",
        encoding="utf-8",
    )
    loaded = load_file(path)
    assert loaded.format == "records"
    first, second = loaded.papers
    assert first.arxiv_id == "2410.05265" and first.title == "PrefixQuant: Static"
    assert first.authors == ("Jiahao Wang", "Yi Bin")
    assert first.sections == (("What's New", "new"), ("Technical Details", "tech"))
    assert first.thumbnail == "https://huggingface.co/avatars/x.png"
    assert first.github_url == "https://github.com/x/y"
    assert dict(first.extra) == {"venue": "NeurIPS"}
    assert str(first.digest_date) == "2024-10-12"
    assert second.arxiv_id == "hep-th/9901001"


def test_numeric_keys_in_extra_are_kept_as_text(tmp_path: Path) -> None:
    path = tmp_path / "papers.yaml"
    path.write_text("- arxiv_id: '2410.00001'\n  title: x\n  ranks: {1: first, 2.5: between}\n", encoding="utf-8")
    (paper,) = load_file(path).papers
    assert json.loads(json.dumps(dict(paper.extra))) == {"ranks": {"1": "first", "2.5": "between"}}


def test_format_override(tmp_path: Path) -> None:
    path = tmp_path / "digest.txt"
    path.write_text(HEAD + GOOD, encoding="utf-8")
    assert load_file(path, fmt="markdown").papers[0].title == "Good paper"
    with pytest.raises(SourceError, match="unknown format 'xml'"):
        load_file(path, fmt="xml")
    with pytest.raises(SourceError, match="cannot read"):
        load_file(tmp_path / "missing.md")


async def test_yaml_timestamps_and_dates_as_values_are_kept_as_text(tmp_path: Path, store: Store) -> None:
    """Unlike ``!!set`` and ``!!binary``, a timestamp has a JSON form: its text, stored as such."""
    path = tmp_path / "when.yaml"
    path.write_text(
        "- arxiv_id: '2410.00001'\n  title: x\n  at: 2024-10-11T09:00:00Z\n  day: 2024-10-11\n", encoding="utf-8"
    )
    assert await ingest_files(store, [str(path)], "auto") == 0
    paper = await store.get_paper("2410.00001")
    assert paper is not None and dict(paper.extra) == {"at": "2024-10-11 09:00:00+00:00", "day": "2024-10-11"}
