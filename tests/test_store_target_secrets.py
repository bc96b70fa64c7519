"""A mistyped or misplaced database URL is refused in one line without its password (check_target, demo)."""

from __future__ import annotations

from pathlib import Path

import pytest

from digestbot.errors import StoreError
from digestbot.redact import redact_loose
from digestbot.store import check_target
from tests.test_cli import run

# -- mistyped URLs and demo ------------------------------------------------------------------------


def test_demo_refuses_a_postgres_url_without_showing_its_password(tmp_path: Path) -> None:
    result = run(tmp_path, "demo", "--db", "postgresql://bot:S3cretPW@/dig")
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert "S3cretPW" not in result.stdout + result.stderr and "postgresql://bot:***@/dig" in result.stderr


@pytest.mark.parametrize("typed", ["postgresql:/bot:S3cretPW@h/db", "postgresql:bot:S3cretPW@h/db"])
def test_a_mistyped_url_is_refused_without_its_password(tmp_path: Path, typed: str) -> None:
    for command in (["status"], ["demo"]):
        result = (
            run(tmp_path, "--db", typed, *command) if command == ["status"] else run(tmp_path, "demo", "--db", typed)
        )
        assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
        assert "S3cretPW" not in result.stdout + result.stderr and "two slashes" in result.stderr


def test_spaces_around_a_url_are_dropped() -> None:
    assert check_target(" postgresql://bot:pw@h/db \n") == "postgresql://bot:pw@h/db"


def test_a_path_error_never_echoes_a_would_be_password() -> None:
    assert redact_loose("postgresql:/bot:S3cret/PW@") == "postgresql:/bot:***@"
    with pytest.raises(StoreError) as failed:
        check_target("x/postgresql:/bot:S3cretPW@/dig")
    assert "S3cretPW" not in str(failed.value)
