"""End-to-end: ``digestbot preview/post --week/--month`` on the console platform, SIGKILLs included."""

from __future__ import annotations

import re
import signal
from collections import Counter
from pathlib import Path

import pytest

from tests.test_post_cli import SAMPLE, run, transcript

CONFIG = """\
database: {db}
channels:
  - {{platform: console, id: weekly, cadence: weekly, top: 5}}
  - {{platform: console, id: daily}}
"""
EXPECTED = {
    ("console:channel:weekly", "digest-weekly:2024-10-07"),
    ("console:user:alice", "matches-weekly:2024-10-07"),
}


@pytest.fixture(scope="module")
def seeded(tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("week")
    (work / "cfg.yaml").write_text(CONFIG.format(db=work / "db.sqlite3"))
    assert run(work, "ingest", str(SAMPLE)).returncode == 0
    assert run(work, "subscriptions", "add", "--platform", "console", "--user", "alice", "diffusion").returncode == 0
    return work


def fresh(seeded: Path, dest: Path) -> Path:
    import shutil

    dest.mkdir()
    shutil.copy(seeded / "db.sqlite3", dest / "db.sqlite3")
    (dest / "cfg.yaml").write_text(CONFIG.format(db=dest / "db.sqlite3"))
    return dest


def test_preview_week_and_month_name_the_period(seeded):
    week = run(seeded, "preview", "--week", "2024-W41", "--top", "2")
    assert week.returncode == 0, week.stderr
    assert "Weekly papers — 2024-W41, 7–13 Oct · 2 papers" in week.stdout
    month = run(seeded, "preview", "--month", "2024-10", "--channel", "weekly")
    assert "Monthly papers — 2024-10, 1–31 Oct · 5 papers" in month.stdout
    both = run(seeded, "preview", "--week", "2024-W41", "--date", "2024-10-11")
    assert both.returncode == 2 and len(both.stderr.splitlines()) == 1
    empty = run(seeded, "preview", "--week", "2024-W30")
    assert empty.returncode == 2
    assert (
        empty.stderr.strip()
        == "digestbot: error: no daily list of 2024-W30 (22–28 Jul) is stored: ingest its days first"
    )


def test_post_week_posts_once_to_weekly_channels_and_month_to_a_named_channel(seeded, tmp_path):
    work = fresh(seeded, tmp_path / "w")
    first = run(work, "post", "--week", "2024-W41")
    assert first.returncode == 0, first.stderr
    assert first.stdout.splitlines()[-1] == "posted 2, already posted 0, failed 0"
    second = run(work, "post", "--week", "2024-W41")
    assert second.stdout.splitlines()[-1] == "posted 0, already posted 2, failed 0"
    month = run(work, "post", "--month", "2024-10", "--channel", "daily")
    assert month.returncode == 0, month.stderr
    counts = transcript(work)
    assert counts[("console:channel:daily", "digest-monthly:2024-10-01")] == 1
    assert counts[("console:user:alice", "matches-monthly:2024-10-01")] == 0  # all told in the weekly DM
    assert all(n == 1 for n in counts.values())


def test_post_week_survives_sigkills_without_duplicates(seeded, tmp_path):
    for when in ("before", "after"):
        for n in (1, 2):
            work = fresh(seeded, tmp_path / f"{when}{n}")
            killed = run(work, "post", "--week", "2024-W41", runner="tests.crash_runner",
                         env={"CRASH_AFTER_SENDS": str(n), "CRASH_WHEN": when})  # fmt: skip
            assert killed.returncode == -signal.SIGKILL
            assert all(v == 1 for v in transcript(work).values())
            final = run(work, "post", "--week", "2024-W41")
            assert final.returncode == 0, final.stderr
            assert transcript(work) == Counter(dict.fromkeys(EXPECTED, 1)), (when, n)


def test_status_says_which_week_a_weekly_channel_posts_next(seeded):
    out = run(seeded, "status")
    assert out.returncode == 0, out.stderr
    weekly = out.stdout.split("console:weekly", 1)[1].split("console:daily", 1)[0]
    assert re.search(r"next post: .*, week \d{4}-W\d\d, \d", weekly), weekly
    assert "the list of" not in weekly and "too old" not in weekly
    assert "the list of " in out.stdout.split("console:daily", 1)[1]
