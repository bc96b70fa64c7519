"""The code stays lint-clean and type-checked: ruff over the repository, mypy --strict over the package.

These run the same tools a reviewer would, so CI fails on a regression instead of a reviewer
finding it later.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=300, check=False
    )


def test_ruff_clean() -> None:
    result = run("ruff", "check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format_clean() -> None:
    """One layout for every file, so a diff shows what changed, not who formatted it."""
    result = run("ruff", "format", "--check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict_clean() -> None:
    result = run("mypy")  # strict, over digestbot/ and adapters/ (pyproject.toml [tool.mypy])
    assert result.returncode == 0, result.stdout + result.stderr


PLATFORM_IMPORT = re.compile(r"^\s*(?:from|import)\s+(?:discord|slack_bolt|slack_sdk)\b", re.MULTILINE)


def test_core_never_imports_a_platform() -> None:
    # The ruff banned-api rule enforces this at lint time; this also catches imports inside functions.
    for path in (ROOT / "digestbot").rglob("*.py"):
        found = PLATFORM_IMPORT.search(path.read_text(encoding="utf-8"))
        assert found is None, f"{path.relative_to(ROOT)} imports a platform library: {found and found.group()}"


def test_layer_contracts_hold() -> None:
    # import-linter checks the contracts in pyproject.toml ([tool.importlinter]) over the whole import
    # graph, indirect imports and imports inside functions included: the core never imports adapters/
    # or a platform library, and adapters never import the command line.
    result = subprocess.run(
        [str(Path(sys.executable).with_name("lint-imports")), "--no-cache"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


SQL = re.compile(
    r"^\s*(?:from|import)\s+(?:sqlite3|aiosqlite|psycopg|asyncpg)\b"  # a database driver
    r"|\.execute(?:many|script)?\("  # a statement run on a connection
    r"|\b(?:SELECT|INSERT INTO|UPDATE \w+ SET|DELETE FROM|CREATE TABLE)\b",  # SQL text
    re.MULTILINE,
)


def test_no_sql_outside_the_store() -> None:
    # The store package is the one seam a second database implements: SQL, drivers and connections
    # anywhere else in the package or the adapters would have to be written twice.
    store = ROOT / "digestbot" / "store"
    for path in [*(ROOT / "digestbot").rglob("*.py"), *(ROOT / "adapters").rglob("*.py")]:
        if store in path.parents:
            continue
        found = SQL.search(path.read_text(encoding="utf-8"))
        assert found is None, f"{path.relative_to(ROOT)} holds SQL or a database driver: {found and found.group()!r}"
