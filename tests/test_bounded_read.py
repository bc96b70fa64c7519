"""Files with no size to check first (/dev/zero, a FIFO, a pipe on /dev/stdin) are read up to a cap, then refused."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

import digestbot.config
import digestbot.sources.files
from digestbot.bounded_read import TooLarge, read_capped
from digestbot.cli import main

CAP = 256 * 1024
SENT = 50 * CAP  # what the writer would send if nothing stopped reading: 12.5 MiB, never GBs


class Feeder:
    """Write zeros into a FIFO from a thread until the reader hangs up (or SENT bytes are out)."""

    def __init__(self, fifo: Path) -> None:
        os.mkfifo(fifo)
        self.fifo = fifo
        self.written = 0
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        block = b"\0" * 65536
        try:
            with self.fifo.open("wb", buffering=0) as f:
                while self.written < SENT:
                    self.written += f.write(block)
        except BrokenPipeError:
            pass  # the reader stopped: what this test wants

    def join(self) -> int:
        self.thread.join(timeout=30)
        assert not self.thread.is_alive()
        return self.written


def _one_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err


def test_regular_file_over_the_cap_is_refused_unread(tmp_path: Path) -> None:
    path = tmp_path / "big"
    path.write_bytes(b"x" * 11)
    with pytest.raises(TooLarge) as caught:
        read_capped(path, 10)
    assert caught.value.describe() == "11 bytes > 10"
    assert read_capped(path, 11) == b"x" * 11


def test_ingest_of_a_fifo_stops_at_the_cap(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(digestbot.sources.files, "MAX_FILE_BYTES", CAP)
    feeder = Feeder(tmp_path / "zero")
    assert main(["--db", str(tmp_path / "z.sqlite3"), "ingest", str(feeder.fifo)]) == 2
    assert _one_line(capsys) == f"digestbot: error: {feeder.fifo}: file too large (over 262,144 bytes)\n"
    assert feeder.join() < CAP + 2 * 1024 * 1024  # the cap, the pipe's buffer and a block in flight: not all of it


def test_config_from_a_fifo_stops_at_its_cap(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(digestbot.config, "MAX_CONFIG_BYTES", CAP)
    feeder = Feeder(tmp_path / "zero")
    assert main(["--config", str(feeder.fifo), "check-config"]) == 2
    err = _one_line(capsys)
    assert err.endswith(f"{feeder.fifo}: config too large (over 262,144 bytes); a config is a few kilobytes\n"), err
    assert feeder.join() < CAP + 2 * 1024 * 1024


def test_config_cap_is_one_mib(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("# padding\n" * 110_000, encoding="utf-8")
    with pytest.raises(digestbot.config.ConfigError, match=r"config too large \(1,100,000 bytes > 1,048,576\)"):
        digestbot.config.load_config(path)
