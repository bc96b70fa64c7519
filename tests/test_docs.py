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
