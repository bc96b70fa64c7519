"""Read a user's file with a size cap that holds for devices, FIFOs and pipes too.

``stat().st_size`` is 0 for ``/dev/zero``, a FIFO or ``/dev/stdin`` fed by a pipe, so a size
check followed by ``read_bytes()`` let ``ingest /dev/zero`` grow to 23 GB before the kernel killed
it. :func:`read_capped` reads at most ``cap + 1`` bytes, in chunks, whatever the file is, and
raises :class:`TooLarge` past the cap; callers turn that into their own one-line error.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

log = logging.getLogger(__name__)

CHUNK = 1024 * 1024


class TooLarge(Exception):
    """The file holds more than ``cap`` bytes; ``size`` is its length when known (a regular file), else None."""

    def __init__(self, cap: int, size: int | None) -> None:
        super().__init__(f"more than {cap:,} bytes")
        self.cap = cap
        self.size = size

    def describe(self) -> str:
        """Say how large, in the words of an error line: "70,000,000 bytes > 67,108,864" or "over 67,108,864 bytes"."""
        return f"{self.size:,} bytes > {self.cap:,}" if self.size is not None else f"over {self.cap:,} bytes"


def read_capped(path: Path, cap: int) -> bytes:
    """Return the bytes of ``path``, or raise TooLarge once more than ``cap`` bytes have come (OSError as is)."""
    with path.open("rb") as f:
        st = os.fstat(f.fileno())
        size = st.st_size if stat.S_ISREG(st.st_mode) else None
        if size is not None and size > cap:
            raise TooLarge(cap, size)  # a regular file: refused before reading a byte
        buf = bytearray()
        while len(buf) <= cap:
            chunk = f.read(min(CHUNK, cap + 1 - len(buf)))
            if not chunk:
                return bytes(buf)
            buf += chunk
    raise TooLarge(cap, None)
