"""End-to-end: ``digestbot post`` on the console platform, in subprocesses, including SIGKILLs."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "digestbot" / "data" / "daily-papers-2024-10-11.md"
CONFIG = """\
database: {db}
channels:
  - {{platform: console, id: general}}
  - {{platform: console, id: llm, topics: ["language model"], top: 3}}
  - {{platform: console, id: quiet, topics: ["no such topic zzz"], on_empty: skip}}
"""
EXPECTED = {
    ("console:channel:general", "digest:2024-10-11"),
    ("console:channel:llm", "digest:2024-10-11"),
    ("console:user:alice", "matches:2024-10-11"),
    ("console:user:bob", "matches:2024-10-11"),
}


def run(workdir: Path, *args: str, runner: str = "digestbot", env: dict[str, str] | None = None, **kw):
    # Always -m: running tests/crash_runner.py as a script would put tests/ first on sys.path,
    # where tests/adapters/ shadows the real adapters package.
    cmd = [sys.executable, "-m", runner]
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    full_env.pop("DIGESTBOT_CONFIG", None)
    return subprocess.run(
        [*cmd, "--config", str(workdir / "cfg.yaml"), *args],
        cwd=workdir,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=30,
        **kw,
    )


@pytest.fixture(scope="module")
def seeded(tmp_path_factory) -> Path:
    """A workdir with the sample day ingested and two subscribers (built once, copied per test)."""
    work = tmp_path_factory.mktemp("seed")
    (work / "cfg.yaml").write_text(CONFIG.format(db=work / "db.sqlite3"))
    assert run(work, "ingest", str(SAMPLE)).returncode == 0
    assert run(work, "subscriptions", "add", "--platform", "console", "--user", "alice", "diffusion").returncode == 0
    out = run(work, "subscriptions", "add", "--platform", "console", "--user", "bob", "language model", "-survey")
    assert out.returncode == 0 and 'Subscribed to "language model" -survey' in out.stdout
    return work


def fresh(seeded: Path, dest: Path) -> Path:
    dest.mkdir()
    shutil.copy(seeded / "db.sqlite3", dest / "db.sqlite3")
    (dest / "cfg.yaml").write_text(CONFIG.format(db=dest / "db.sqlite3"))
    return dest


def transcript(workdir: Path) -> Counter[tuple[str, str]]:
    path = workdir / "db.sqlite3.console.jsonl"
    if not path.exists():
        return Counter()
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return Counter((r["target"], r["key"]) for r in records)


def test_post_is_idempotent(seeded, tmp_path):
    work = fresh(seeded, tmp_path / "w")
    dry = run(work, "post", "--dry-run")
    assert dry.returncode == 0 and dry.stdout.count("would post") == 4
    first = run(work, "post")
    assert first.returncode == 0, first.stderr
    assert first.stdout.splitlines()[-1] == "posted 4, already posted 0, failed 0"
    second = run(work, "post")
    assert second.stdout.splitlines()[-1] == "posted 0, already posted 4, failed 0"
    assert second.returncode == 0
    assert transcript(work) == Counter(dict.fromkeys(EXPECTED, 1))
    one = run(work, "post", "--channel", "nope")
    assert one.returncode == 2 and "no enabled channel nope" in one.stderr


def crash_episode(seeded: Path, work: Path, episode: int, kills_wanted: int) -> int:
    """Post to a fresh copy, SIGKILLing runs until ``kills_wanted`` landed; then finish and check."""
    rng = random.Random(episode)
    work = fresh(seeded, work)
    kills = runs = 0
    while kills < kills_wanted and runs < 3 * kills_wanted:
        runs += 1
        if episode % 4:  # die inside the adapter around the first send of this run
            env = {"CRASH_AFTER_SENDS": "1", "CRASH_WHEN": rng.choice(["before", "after"])}
            proc = run(work, "post", runner="tests.crash_runner", env=env)
            kills += proc.returncode == -signal.SIGKILL
        else:  # killed from outside at a random moment
            cmd = [sys.executable, "-m", "digestbot", "--config", str(work / "cfg.yaml"), "post"]
            env = {**os.environ, "PYTHONPATH": str(ROOT)}
            with subprocess.Popen(cmd, cwd=work, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) as p:
                time.sleep(rng.uniform(0.15, 0.45))
                p.send_signal(signal.SIGKILL)
                kills += p.wait() == -signal.SIGKILL
        counts = transcript(work)
        assert all(n == 1 for n in counts.values()), counts  # never a duplicate, even mid-way
    final = run(work, "post")
    assert final.returncode == 0, final.stderr
    assert final.stdout.splitlines()[-1].endswith("failed 0")
    assert transcript(work) == Counter(dict.fromkeys(EXPECTED, 1)), f"episode {episode}"
    return kills


def test_sigkill_at_20_points_then_restart_delivers_everything_exactly_once(seeded, tmp_path):
    # Four independent episodes of five kills each, run side by side to keep the test short.
    with ThreadPoolExecutor(max_workers=4) as pool:
        kills = list(pool.map(lambda e: crash_episode(seeded, tmp_path / f"e{e}", e, 5), range(1, 5)))
    assert sum(kills) == 20, kills


def test_a_database_write_failure_during_post_exits_75_and_says_so(seeded, tmp_path):
    work = fresh(seeded, tmp_path / "w")
    with sqlite3.connect(work / "db.sqlite3") as conn:  # every outbox write fails, as on a full disk
        conn.execute(
            "CREATE TRIGGER full_disk BEFORE INSERT ON deliveries"
            " BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END"
        )
    failed = run(work, "post")
    assert failed.returncode == 75, failed.stderr
    assert failed.stdout.splitlines()[-1].startswith("posted 0, already posted 0, failed 0, stopped by an error")
    assert failed.stderr.splitlines() == [
        "digestbot: error: database write failed during delivery: database or disk is full;"
        " the messages wait for a retry"
    ]
    with sqlite3.connect(work / "db.sqlite3") as conn:
        conn.execute("DROP TRIGGER full_disk")
    again = run(work, "post")
    assert again.returncode == 0, again.stderr
    assert transcript(work) == Counter(dict.fromkeys(EXPECTED, 1))
