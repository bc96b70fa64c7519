"""Database commands: ``digestbot db check`` and ``digestbot db copy --from FILE --to postgresql://…``.

Kept apart from :mod:`digestbot.cli` (which registers them), as :mod:`digestbot.cli_ops` is.
URLs are shown without their password; progress goes to stderr so stdout stays the result.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from digestbot.config import Config
from digestbot.errors import CommandError
from digestbot.store import PostgresStore, Store, check_target, open_store, redact_url
from digestbot.store.transfer import check_lines, copy_archive

AddCommand = Callable[..., argparse.ArgumentParser]


def _shown(target: str | Path) -> str:
    return redact_url(target) if isinstance(target, str) else str(target)


async def cmd_db(args: argparse.Namespace, config: Config) -> int:
    """Report a database's schema version and row counts, or copy a SQLite archive to PostgreSQL."""
    from digestbot.cli import _out, existing_db, no_archive_yet

    if args.db_action == "check":
        if args.source or args.dest:  # it would report on --db, not on the file named
            given = "--from" if args.source else "--to"
            raise CommandError(f"db check {given}: db check reads the database of --db (digestbot --db FILE db check)")
        target = existing_db(args, config)
        async with await open_store(target, create=False) as store:
            for line in await check_lines(store, _shown(target)):
                _out(line)
        return 0
    if not args.source or not args.dest:
        raise CommandError("db copy: give --from FILE (the SQLite archive) and --to postgresql://… (the new database)")
    source, dest = check_target(args.source), check_target(args.dest)
    if not isinstance(source, Path) or not source.is_file():
        raise CommandError(f"db copy --from {_shown(source)}: expected an existing SQLite archive file")
    if why := no_archive_yet(source):  # opening it would write a schema into the file we were asked to copy from
        raise CommandError(f"db copy --from {source}: {why}: nothing to copy")
    if not isinstance(dest, str):
        raise CommandError(f"db copy --to {dest}: expected a postgresql:// URL (copies go from SQLite to PostgreSQL)")

    def progress(table: str, done: int, total: int) -> None:
        sys.stderr.write(f"db copy: {table} {done:,}/{total:,}\n")
        sys.stderr.flush()

    async with await Store.open(source) as old, await PostgresStore.open(dest) as new:
        counts = await copy_archive(old, new, progress)
    held = ", ".join(f"{n:,} {t}" for t, n in counts.items())
    _out(f"copied {source} to {_shown(dest)}; it now holds: {held}; db copy finished")
    return 0


def add_commands(add: AddCommand) -> None:
    """Register ``db`` with the CLI's sub-command factory."""
    p = add("db", cmd_db, "check the --db database (schema version, counts), or copy a SQLite archive to PostgreSQL")
    p.add_argument("db_action", choices=("check", "copy"), metavar="check|copy")
    p.add_argument("--from", dest="source", metavar="FILE", help="copy: the SQLite archive to copy")
    p.add_argument(
        "--to",
        dest="dest",
        metavar="URL",
        help="copy: the postgresql:// database to copy into (if stopped, run again until it says finished)",
    )
