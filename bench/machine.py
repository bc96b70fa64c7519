"""Describe the machine a benchmark ran on, so numbers are never quoted without their context."""

from __future__ import annotations

import contextlib
import os
import platform
import sqlite3
import sys
from pathlib import Path


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.lower().startswith(("model name", "hardware", "cpu model")):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def _ram_gib() -> float | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError, AttributeError):
        return None


def _usable_cores() -> int | None:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count()


def describe_machine() -> str:
    """Return one line naming CPU, cores, RAM, Python, SQLite, OS and the current load."""
    ram = _ram_gib()
    parts = [
        _cpu_model(),
        f"{_usable_cores()} usable cores (of {os.cpu_count()})",
        f"{ram:.1f} GiB RAM" if ram is not None else "RAM unknown",
        f"{platform.python_implementation()} {platform.python_version()}",
        f"SQLite {sqlite3.sqlite_version}",
        platform.platform(terse=True),
    ]
    # Other work on the machine skews timings: say so next to the numbers.
    with contextlib.suppress(OSError, AttributeError):
        parts.append("load average {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    return "; ".join(parts)


if __name__ == "__main__":
    sys.stdout.write(describe_machine() + "\n")
