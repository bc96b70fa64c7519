"""Every YAML snippet in the README and docs/ passes ``check-config``: a newcomer can paste any of them."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from digestbot.cli import missing_credentials
from digestbot.config import load_config

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
_FENCE = re.compile(r"^(?P<indent>[ \t]*)```ya?ml[ \t]*\n(?P<body>.*?)^(?P=indent)```", re.MULTILINE | re.DOTALL)
ENV = {
    "DISCORD_TOKEN": "discord-token",
    "SLACK_BOT_TOKEN": "xoxb-1",
    "SLACK_APP_TOKEN": "xapp-1",
    "SLACK_SIGNING_SECRET": "secret",
    "SLACK_CLIENT_SECRET": "client-secret",
    "SUMMARIES_API_KEY": "sk-1",
}


def snippets() -> list[tuple[str, str]]:
    found = []
    for doc in DOCS:
        text = doc.read_text(encoding="utf-8")
        for m in _FENCE.finditer(text):
            line = text.count("\n", 0, m.start()) + 1
            found.append((f"{doc.relative_to(ROOT)}:{line}", textwrap.dedent(m["body"])))
    return found


def test_the_docs_have_yaml_snippets() -> None:
    assert len(snippets()) >= 6


@pytest.mark.parametrize(("where", "text"), snippets(), ids=[w for w, _ in snippets()])
def test_every_yaml_snippet_passes_check_config(tmp_path: Path, where: str, text: str) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    config = load_config(path, env=ENV)  # raises ConfigError naming the key that is wrong
    # A snippet that turns a platform on must give it what it needs (a channel list alone need not).
    enabled = [p for p in ("discord", "slack") if getattr(config, p).enabled]
    assert missing_credentials(config, enabled) == [], where


def test_inline_flow_mappings_with_env_references_are_not_used() -> None:
    """``{token: ${X}}`` does not parse as YAML (``{`` opens a mapping inside a mapping)."""
    for doc in DOCS:
        assert not re.search(r"\{[^}`]*\$\{", doc.read_text(encoding="utf-8")), doc


def test_license_matches_pyproject_and_the_changelog_exists() -> None:
    assert 'license = { text = "MIT" }' in (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert (ROOT / "LICENSE").read_text(encoding="utf-8").startswith("MIT License")
    assert "## [Unreleased]" in (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")


def test_every_documented_digestbot_command_exists() -> None:
    """Each `digestbot COMMAND` in the README, docs/ and the systemd unit is a real sub-command."""
    from digestbot.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    known = set(sub.choices)  # type: ignore[arg-type]
    texts = [doc.read_text(encoding="utf-8") for doc in DOCS] + [(ROOT / "docs" / "digestbot.service").read_text()]
    used = {m[1] for t in texts for m in re.finditer(r"bin/digestbot (?:--\S+ \S+ )*([a-z][a-z-]+)", t)}
    shell = [m[1] for t in texts for m in re.finditer(r"```sh\n(.*?)```", t, re.S)]
    used |= {m[1] for t in shell for m in re.finditer(r"^\s*digestbot (?:--\S+ \S+ )*([a-z][a-z-]+)", t, re.M)}
    assert used and used <= known, used - known


def test_the_documented_online_backup_gives_a_usable_archive(tmp_path: Path) -> None:
    """docs/operations.md: `VACUUM INTO` while the archive is open, then `status --db BACKUP` reads it."""
    import os
    import sqlite3
    import subprocess
    import sys

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("DIGESTBOT_CONFIG", None)
    db, backup = tmp_path / "live.sqlite3", tmp_path / "backup.sqlite3"
    sample = ROOT / "digestbot" / "data" / "daily-papers-2024-10-11.md"
    cli = [sys.executable, "-m", "digestbot"]
    assert subprocess.run([*cli, "ingest", str(sample), "--db", str(db)], env=env, check=False).returncode == 0
    live = sqlite3.connect(db)  # another connection holds the file open, as a running bot does
    try:
        live.execute("BEGIN")
        live.execute("SELECT count(*) FROM papers").fetchone()
        sqlite3.connect(db).execute(f"VACUUM INTO '{backup}'")
    finally:
        live.close()
    status = subprocess.run([*cli, "status", "--db", str(backup)], env=env, capture_output=True, text=True, check=False)
    assert status.returncode == 0 and "25 papers; newest list: 2024-10-11" in status.stdout, status.stderr
