"""What a newcomer reads: the demo's hints run as typed, and --help describes what the options do."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from digestbot import cli
from digestbot.cli import build_parser


def test_hints_name_the_command_as_it_was_run() -> None:
    assert cli.invoked_as(".venv/bin/digestbot") == ".venv/bin/digestbot"
    assert cli.invoked_as("digestbot") == "digestbot"
    assert cli.invoked_as("/srv/my bot/.venv/bin/digestbot") == "'/srv/my bot/.venv/bin/digestbot'"
    assert cli.invoked_as("/x/digestbot/__main__.py") == "python -m digestbot"


def test_demo_next_hints_use_the_path_it_was_started_with(tmp_path: Path) -> None:
    script = Path(sys.executable).parent / "digestbot"
    if not script.exists():
        pytest.skip("no digestbot console script next to this Python")
    result = subprocess.run(
        [str(script), "demo"], capture_output=True, text=True, cwd=tmp_path, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    hints = [line.strip() for line in result.stdout[result.stdout.index("Next:") :].splitlines()[1:7]]
    commands = [line for line in hints if not line.startswith("#")]
    assert len(commands) == 3 and all(line.startswith(f"{script} ") for line in commands), hints


def _help(command: str) -> str:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    return sub.choices[command].format_help()  # type: ignore[attr-defined]


def test_lookup_help_describes_the_json_answer_and_preview_help_the_platform() -> None:
    lookup = " ".join(_help("lookup").split())
    assert "found, how" in lookup and "closest_titles" in lookup
    preview = " ".join(_help("preview").split())
    assert "--platform {console,discord,slack} render as this platform would" in preview
