"""A throwaway PostgreSQL server for the tests: ``initdb`` + ``pg_ctl`` into a temp dir, Unix socket, trust auth.

PostgreSQL refuses to run as root (and CI runs as root), so as root the server runs as the
unprivileged ``postgres`` user the Debian packages create; otherwise as the current user. The
socket lives in the server's own temp dir, so no port is taken and two runs never meet.
``DIGESTBOT_TEST_PG`` (a ``postgresql://`` URL) points the tests at a server started elsewhere instead.
A missing server is an error, never a reason to skip: the PostgreSQL store must be tested in CI.
The benches start theirs through the same class (``bench.lookup`` keeps its data directory, ``keep=True``,
and adds :data:`bench.pg_archive.BENCH_SETTINGS`).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import quote

SERVER_USER = "postgres"
"""The unprivileged account the server runs as when the tests run as root."""

TEST_SETTINGS: Mapping[str, str] = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "200",
}
"""Server settings of a throwaway server: its data is thrown away, so durability is not bought with time."""


def bin_dir() -> Path:
    """Return the folder of ``initdb``/``pg_ctl``: the newest /usr/lib/postgresql/N/bin, else the PATH's."""
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    if versions:
        return Path(versions[-1]).parent
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    raise RuntimeError(
        "PostgreSQL server binaries (initdb, pg_ctl) not found: install the Debian package postgresql-15"
        " (.ci/run does), or set DIGESTBOT_TEST_PG to a postgresql:// URL"
    )


class PgServer:
    """One PostgreSQL server in a directory; :meth:`start` returns its admin URL, :meth:`stop` ends it.

    By default the directory is a new temp dir, removed by :meth:`stop`. With ``root`` and
    ``keep=True`` the cluster stays there between runs (created on first :meth:`start`, reused
    after). ``settings`` are passed as ``-c name=value`` at every start.
    """

    def __init__(
        self, root: Path | None = None, *, settings: Mapping[str, str] = TEST_SETTINGS, keep: bool = False
    ) -> None:
        self.bin = bin_dir()
        self.root = root if root is not None else Path(tempfile.mkdtemp(prefix="digestbot-pg-"))
        self.root.mkdir(parents=True, exist_ok=True)
        self.data = self.root / "data"
        self.socket_dir = self.root
        self.settings = dict(settings)
        self.keep = keep
        self._as_root = os.geteuid() == 0
        if self._as_root:
            account = pwd.getpwnam(SERVER_USER)
            os.chown(self.root, account.pw_uid, account.pw_gid)

    def _run(self, *args: str) -> None:
        command = [str(self.bin / args[0]), *args[1:]]
        if self._as_root:
            command = ["runuser", "-u", SERVER_USER, "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, check=False, cwd=self.root)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed ({done.returncode}): {done.stderr.strip()[-2000:]}")

    def start(self) -> str:
        """Create the cluster (unless it exists) and start the server; return a superuser URL of ``postgres``."""
        if not (self.data / "PG_VERSION").exists():
            self._run(
                "initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-locale", "-N"
            )
        options = f"-k {self.socket_dir} -c listen_addresses=''" + "".join(
            f" -c {name}={value}" for name, value in self.settings.items()
        )
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.root / "server.log"), "-w", "-o", options, "start")
        return f"postgresql://postgres@/postgres?host={quote(str(self.socket_dir), safe='')}"

    def stop(self) -> None:
        """Stop the server and remove its files, unless it was made with ``keep=True``.

        A kept server shuts down cleanly (``fast``: a checkpoint, so it starts again without
        recovery). A throwaway one stops ``immediate``: its files are removed next, and the
        checkpoint of a test session's hundreds of databases took 9 s of the suite.
        """
        try:
            if (self.data / "postmaster.pid").exists():
                mode = "fast" if self.keep else "immediate"
                self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")
        finally:
            if not self.keep:
                shutil.rmtree(self.root, ignore_errors=True)
