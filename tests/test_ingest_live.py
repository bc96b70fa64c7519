"""`digestbot ingest --from huggingface`: the real client against recorded-shape answers on loopback."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from digestbot.store import Store
from tests.fakes.sources_server import Reply, SourcesServer

ROOT = Path(__file__).resolve().parent.parent


async def run_cli(tmp_path: Path, base_url: str, *args: str) -> tuple[int, str, str]:
    config = tmp_path / "config.yaml"
    config.write_text(f"database: {tmp_path / 'db.sqlite3'}\nsources:\n  huggingface:\n    base_url: {base_url}\n")
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "digestbot",
        "--config",
        str(config),
        "ingest",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode or 0, out.decode(), err.decode()


async def test_one_day_then_idempotent(tmp_path: Path) -> None:
    async with SourcesServer() as server:
        status, out, err = await run_cli(tmp_path, server.base_url, "--from", "huggingface", "--date", "2024-10-11")
        assert status == 0, err
        assert out.startswith("huggingface: 1 day: 1 fetched (")
        first = server.seen("/api/daily_papers")[0].query
        assert first["date"] == "2024-10-11" and first["limit"] == "100"
        status, out2, _ = await run_cli(tmp_path, server.base_url, "--from", "huggingface", "--date", "2024-10-11")
        assert status == 0 and " 0 added, 0 updated" in out2
    store = await Store.open(tmp_path / "db.sqlite3")
    try:
        digest = await store.digest(__import__("datetime").date(2024, 10, 11))
        assert digest is not None and len(digest.papers) >= 5
        assert any(p.arxiv_id == "2410.05265" for p in digest.papers)
    finally:
        await store.close()


async def test_backfill_resumes_and_reports(tmp_path: Path) -> None:
    async with SourcesServer() as server:
        status, out, err = await run_cli(
            tmp_path, server.base_url, "--from", "huggingface", "--since", "2024-10-11", "--until", "2024-10-12"
        )
        assert status == 0, err
        assert "2 days: 2 fetched" in out and "1 empty (1 weekend)" in out
        calls = len(server.seen("/api/daily_papers"))
        status, out, _ = await run_cli(
            tmp_path, server.base_url, "--from", "huggingface", "--since", "2024-10-11", "--until", "2024-10-12"
        )
        assert "1 already stored" in out
        assert len(server.seen("/api/daily_papers")) == calls + 1  # only the empty weekend day is asked again


async def test_garbage_answer_is_one_line_and_stores_nothing(tmp_path: Path) -> None:
    async with SourcesServer() as server:
        server.script("/api/daily_papers", Reply(body="<html>oops</html>", content_type="text/html"))
        status, _, err = await run_cli(tmp_path, server.base_url, "--from", "huggingface", "--date", "2024-10-11")
    assert status == 1  # Hugging Face's fault, not the user's input (2)
    assert err.startswith("digestbot: error: ") and err.count("\n") == 1 and "HTML" in err
    store = await Store.open(tmp_path / "db.sqlite3")
    try:
        assert await store.count_papers() == 0
    finally:
        await store.close()


async def test_truncated_answer_is_the_sources_fault_exit_1(tmp_path: Path) -> None:
    async with SourcesServer() as server:
        server.script("/api/daily_papers", Reply(body='[{"paper": {"id": "2410.0', truncate_to=20))
        status, _, err = await run_cli(tmp_path, server.base_url, "--from", "huggingface", "--date", "2024-10-11")
    assert status == 1, err
    assert err.count("\n") == 1 and "answered truncated JSON" in err


async def test_files_and_from_are_exclusive(tmp_path: Path) -> None:
    status, _, err = await run_cli(tmp_path, "http://127.0.0.1:9", "x.md", "--from", "huggingface")
    assert status == 2 and "not both" in err


async def test_a_600_mb_answer_is_cut_off_at_32_mib_one_line_nothing_stored(tmp_path: Path) -> None:
    async with SourcesServer() as server:
        server.script("/api/daily_papers", Reply(stream=600 * 1024 * 1024))
        status, _, err = await run_cli(tmp_path, server.base_url, "--from", "huggingface", "--date", "2024-10-11")
        await asyncio.sleep(0.2)  # let the server notice the hang-up
        streamed = server.streamed
    assert status == 1, err
    assert err.count("\n") == 1 and "answer too large (over 33,554,432 bytes); refused before parsing" in err
    assert streamed and streamed[0] < 100 * 1024 * 1024  # the client hung up; the 600 MB were never sent
    store = await Store.open(tmp_path / "db.sqlite3")
    try:
        assert await store.count_papers() == 0
    finally:
        await store.close()


async def test_an_unreachable_hugging_face_says_retry_later_exit_75(tmp_path: Path) -> None:
    async with SourcesServer() as server:
        base_url = server.base_url
    status, _, err = await run_cli(tmp_path, base_url, "--from", "huggingface", "--date", "2024-10-11")
    assert status == 75, err  # not 2: nothing the user typed was wrong; run it again later
    last = err.splitlines()[-1]  # after one warning line per retry
    assert last.startswith(f"digestbot: error: GET {base_url}/api/daily_papers")
    assert "gave up after 5 attempts; last: connection failed" in last and last.endswith("(try again later)")
    assert not (tmp_path / "db.sqlite3").exists()


async def test_a_busy_hugging_face_with_a_long_retry_after_says_retry_later_exit_75(tmp_path: Path) -> None:
    async with SourcesServer() as server:
        server.script("/api/daily_papers", Reply(status=503, headers={"Retry-After": "3600"}))
        status, _, err = await run_cli(tmp_path, server.base_url, "--from", "huggingface", "--date", "2024-10-11")
    assert status == 75, err
    assert err.startswith("digestbot: error: GET ") and err.count("\n") == 1
    assert "Retry-After 3600 s is too long to wait" in err
