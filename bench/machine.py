"""Describe the machine a benchmark ran on, so numbers can be compared honestly."""

from __future__ import annotations

import os
import platform
import sqlite3
import sys


def describe_machine() -> str:
    """Return one line: CPU, cores, OS, Python and SQLite versions."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return (
        f"{cpu}, {os.cpu_count()} cores, {platform.system()} {platform.release()}, "
        f"Python {sys.version.split()[0]}, SQLite {sqlite3.sqlite_version}"
    )
