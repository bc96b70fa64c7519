"""The ``digestbot`` command line: the composition root that wires config, store and adapters.

Every sub-command is an ``async`` function taking the parsed arguments and returning an exit
status. User errors (:class:`~digestbot.errors.DigestbotError`) become one line on stderr and exit
status 2; an unreachable service (:class:`~digestbot.errors.UnavailableError`) or a full or damaged
database, one line and exit status 1; a source API still unreachable after its retries
(:class:`~digestbot.errors.SourceUnreachableError`), one line and exit status 75 (retry later).
Nothing else is caught, so a real bug still shows its traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import re
import signal
import sys
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, date, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from digestbot import __version__, commands
from digestbot.blocks import Message
from digestbot.config import Config, load_config, redacted
from digestbot.errors import (
    CommandError,
    ConfigError,
    DigestbotError,
    SourceUnreachableError,
    StoreBusyError,
    StoreFailedError,
    TokenRefusedError,
    UnavailableError,
)
from digestbot.formatter import format_digest
from digestbot.labels import labels_for
from digestbot.lookup import localized, lookup, message_for, result_json
from digestbot.periods import Period, parse_month, parse_week
from digestbot.platforms import adapters_for, command_servers, enabled_platforms, html_preview
from digestbot.platforms import platform as platform_named
from digestbot.ports import Adapter
from digestbot.sources.files import FORMATS, load_file, undated_note
from digestbot.startup import PlatformGate, gated, start_each
from digestbot.store import Store, StoreProtocol, check_target, open_store
from digestbot.text import UNPRINTABLE
from digestbot.wording import plural

if TYPE_CHECKING:
    from digestbot.delivery import DeliveryEngine
    from digestbot.ingest import DayFetch, DayReport
    from digestbot.lookup import Localize

log = logging.getLogger("digestbot")
QUIET_BELOW_DEBUG = ("httpx", "httpx2", "httpcore", "httpcore2")
"""Loggers shown only at ``-vv`` (the ``openai`` client's HTTP stack logs every request at INFO)."""
QUIET_ALWAYS = ("aiosqlite", "psycopg", "slack_sdk")
"""Library loggers whose DEBUG lines echo secrets, kept at WARNING even at ``-vv``.

aiosqlite logs every statement with its parameters (a Slack install's ``xoxb-`` token);
psycopg logs connection attempts; slack_sdk logs request data and response bodies (an OAuth
exchange's ``access_token``). Their warnings and errors still show.
"""

Handler = Callable[[argparse.Namespace, Config], Awaitable[int]]

PERIOD_TOP = 10
"""Papers ``preview --week``/``--month`` shows without ``--top`` or ``--channel``: a channel's default top N."""


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid date {text!r} (expected YYYY-MM-DD)") from None


def _week(text: str) -> Period:
    try:
        return parse_week(text)
    except CommandError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _month(text: str) -> Period:
    try:
        return parse_month(text)
    except CommandError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _period_options(p: argparse.ArgumentParser, date_help: str) -> None:
    """Add ``--date`` and the ``--week``/``--month`` it excludes (a weekly or monthly digest)."""
    group = p.add_mutually_exclusive_group()
    group.add_argument("--date", type=_date, help=date_help)
    group.add_argument("--week", type=_week, metavar="YYYY-Www", help="the top papers of an ISO week (2024-W41)")
    group.add_argument("--month", type=_month, metavar="YYYY-MM", help="the top papers of a month (2024-10)")


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text!r}")
    return value


def _port(text: str) -> int:
    """Parse ``run --ops-port``: 0 (any free port, named in the log) to 65535."""
    value = int(text) if text.isdigit() else -1
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port number from 0 to 65535, got {text!r}")
    return value


def db_path(args: argparse.Namespace, config: Config) -> Path | str:
    """Return the database: ``--db``, else the config's ``database``, else ./digestbot.sqlite3.

    A file path (SQLite) or a ``postgresql://`` URL (str); anything else is a one-line StoreError.
    """
    return check_target(args.db or config.database)


def no_archive_yet(path: Path | str) -> str | None:
    """Return why the SQLite file ``path`` holds no archive yet (missing, or 0 bytes), else None.

    A 0-byte file is what ``touch`` or a failed copy leaves: opening it would write the schema
    into it, and a command that only reads must not. (A new archive's first page is written when
    it is opened, so an archive in use is never 0 bytes, WAL or not.)
    """
    if not isinstance(path, Path):
        return None  # a PostgreSQL database: its server says whether it exists
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return f"no archive at {path}"
    except OSError:
        return None  # unreadable: opening it says why, in the store's own words
    return f"{path} is an empty file, not a digestbot archive yet" if size == 0 else None


def existing_db(args: argparse.Namespace, config: Config) -> Path | str:
    """Return the database for a command that only reads it; a missing or empty file is a typo, not a new archive."""
    path = db_path(args, config)
    if why := no_archive_yet(path):
        raise CommandError(
            f"{why}: run 'digestbot ingest FILE' first, or fix --db (the demo's archive is --db digestbot-demo.sqlite3)"
        )
    return path


def error_line(message: object, kind: str = "error") -> str:
    r"""Return ``digestbot: error: message`` on one line, control characters written as ``\n``, ``\x1b``.

    Messages name files, users and topics as given: a file called ``evil\ndigestbot: ok.md`` must
    not forge a second line, nor an escape sequence restyle the terminal.
    """
    text = UNPRINTABLE.sub(lambda m: repr(m[0])[1:-1], str(message))
    return f"digestbot: {kind}: {text}"


def _err(message: object) -> None:
    print(error_line(message), file=sys.stderr)


def _out(text: str) -> None:
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
    sys.stdout.flush()


def _render(message: Message, name: str, *, colour: bool) -> list[Any]:
    """Render with the chosen platform's renderer (pure functions: no platform connection)."""
    return platform_named(name).render(message, colour=colour)


def _show(messages: list[Message], args: argparse.Namespace) -> None:
    platform = getattr(args, "platform", "console")
    payloads = [p for m in messages for p in _render(m, platform, colour=sys.stdout.isatty())]
    if platform == "console" and not getattr(args, "json", False):
        for text in payloads:
            _out(text)
    else:  # platform payloads are JSON documents whether or not --json was given
        _out(json.dumps(payloads, ensure_ascii=False, indent=2))


# -- commands -----------------------------------------------------------------------------------


async def ingest_files(store: StoreProtocol, paths: list[str], fmt: str) -> int:
    """Load each file and store it in one transaction; report per file; 2 if any file was bad."""
    from digestbot.ingest import store_papers  # big files take the bulk path

    status = 0
    for path in paths:
        try:
            loaded = load_file(path, fmt=fmt)
            result = await store_papers(store, loaded.papers, digest_date=loaded.digest_date)
        except (StoreBusyError, StoreFailedError):
            raise  # the database failed, not this file: main says so and stops
        except DigestbotError as exc:
            _err(exc)
            status = 2
            continue
        day = f" for {loaded.digest_date.isoformat()}" if loaded.digest_date else ""
        _out(
            f"{path}: {plural(len(loaded.papers), 'paper')}{day} ({loaded.format}): {result.added} added, "
            f"{result.updated} updated, {result.unchanged} unchanged"
        )
        if note := undated_note(loaded):
            _out(note)
    return status


async def cmd_ingest(args: argparse.Namespace, config: Config) -> int:
    """Load paper files, or fetch from Hugging Face or arXiv (one day, the newest, or a backfill range)."""
    if bool(args.paths) == bool(args.source):
        raise CommandError("give files to load, or --from huggingface|arxiv (not both)")
    if args.paths and (args.date or args.since or args.until or args.refresh):
        raise CommandError("--date, --since, --until and --refresh apply to --from; a file carries its own date")
    if args.date and (args.since or args.until):
        raise CommandError("give --date, or --since/--until, not both")
    if args.source == "arxiv" and not config.sources.arxiv.categories:
        from digestbot.ingest import NO_CATEGORIES

        raise CommandError(NO_CATEGORIES)  # before opening the database or asking arXiv anything
    path = db_path(args, config)
    created = isinstance(path, Path) and not path.exists()
    try:
        status = await _ingest(args, config, path)
    except BaseException:
        if created and isinstance(path, Path):
            await _remove_if_empty(path)  # a failed first fetch must not leave an empty archive behind
        raise
    if created and status and isinstance(path, Path):
        await _remove_if_empty(path)
    return status


async def _remove_if_empty(path: Path) -> None:
    """Delete the archive at ``path`` (and its WAL files) if it holds no paper: it was created for nothing."""
    try:
        async with await Store.open(path) as store:
            if await store.count_papers():
                return
    except DigestbotError:
        return
    for leftover in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        leftover.unlink(missing_ok=True)


async def _ingest(args: argparse.Namespace, config: Config, path: Path | str) -> int:
    async with await open_store(path) as store:
        if args.paths:
            return await ingest_files(store, args.paths, args.format)
        from digestbot import ingest

        if args.source == "arxiv":
            async with ingest.arxiv_client(config) as arxiv:
                fetch = ingest.arxiv_day_fetch(store, arxiv, config.sources.arxiv.categories)
                # arXiv has no "newest list": by default take yesterday's (GMT) submissions.
                yesterday = datetime.now(UTC).date() - timedelta(days=1)
                reports = await _fetch_asked_days(store, fetch, args, default=yesterday)
        else:
            async with ingest.hf_client(config) as client:
                if args.date or args.since or args.until:
                    reports = await _fetch_asked_days(store, client.fetch_day, args, default=None)
                else:
                    latest = await ingest.ingest_latest(store, client)
                    reports = [latest] if latest else []
        _out(f"{args.source}: {ingest.summarize(reports)}")
    return 0


async def _fetch_asked_days(
    store: StoreProtocol, fetch: DayFetch, args: argparse.Namespace, *, default: date | None
) -> list[DayReport]:
    """Fetch the ``--since``/``--until`` range (resumable), else ``--date`` or ``default``, from one source."""
    from digestbot import ingest

    if args.since or args.until:
        until = args.until or date.today()  # noqa: DTZ011 — a calendar date the user means locally
        since = args.since or until
        return await ingest.backfill(
            store, fetch, since, until, refresh=args.refresh, progress=ingest.progress_printer()
        )
    day = args.date or default
    return [await ingest.ingest_day(store, fetch, day)] if day else []


async def cmd_enrich(args: argparse.Namespace, config: Config) -> int:
    """Fill missing abstracts and categories from arXiv by id (100 ids per request, 3 s apart)."""
    if args.limit < 1:
        raise CommandError(f"--limit must be at least 1, got {args.limit}")
    from digestbot import ingest
    from digestbot.enrich import enrich_missing

    async with await open_store(db_path(args, config)) as store, ingest.arxiv_client(config) as arxiv:
        report = await enrich_missing(store, arxiv, day=args.date, limit=args.limit)
    _out(report.summary())
    return 0


async def _digest_message(
    store: StoreProtocol,
    day: date | None,
    config: Config,
    top: int | None,
    topics: list[str] | None = None,
    language: str = "",
    period: Period | None = None,
    layout: str = "full",
) -> list[Message]:
    """Return the digest messages ``preview`` shows: one message, or a compact list and its cards, or forum posts."""
    if period is not None:
        from digestbot.delivery import period_digest

        digest, _ = await period_digest(store, period)
        if not digest.papers:
            raise CommandError(f"no daily list of {period.name} ({period.span()}) is stored: ingest its days first")
        top = top or PERIOD_TOP
    elif day is None:
        from digestbot.clock import SystemClock
        from digestbot.delivery import require_digest_day

        day = await require_digest_day(store, config, SystemClock().now())  # the day `post` would post
    if period is None:
        assert day is not None
        found = await store.digest(day)
        if found is None:
            known = ", ".join(d.isoformat() for d in await store.digest_dates(limit=5)) or "none"
            raise CommandError(f"no digest for {day.isoformat()} (newest dates: {known})")
        digest = found
    if topics:
        from digestbot.topic_filter import filter_digest

        digest = filter_digest(digest, topics, max_length=config.subscriptions.max_topic_length)
    if config.summaries.enabled:
        from dataclasses import replace

        from digestbot.summaries.view import localize

        papers = digest.papers[:top] if top else digest.papers
        digest = replace(digest, papers=await localize(store, config, papers, config.summary_language(language)))
    labels = labels_for(config.locale)
    if layout == "compact":
        from digestbot.formatter import format_compact

        return format_compact(digest, labels, top=top)
    if layout == "forum":  # the forum's tags are Discord's to tell: a preview shows the posts untagged
        from digestbot.formatter import format_forum

        return format_forum(digest, labels, top=top)
    return [format_digest(digest, labels, top=top)]


async def cmd_preview(args: argparse.Namespace, config: Config) -> int:
    """Render a day's digest without posting it."""
    async with await open_store(existing_db(args, config), create=False) as store:
        top, topics, language, layout = args.top, args.topic, "", args.layout
        if args.channel:
            # Show what that channel would get: its own top N and topic filter (flags still win).
            from digestbot.channels import load_channels

            found = [c for c in await load_channels(store, config) if args.channel in c.names]
            if not found:
                raise CommandError(f"no enabled channel {args.channel} in the config or set up in chat")
            top, topics = top or found[0].top, topics or list(found[0].topics) or None
            language, layout = found[0].language, layout or found[0].layout
        period = args.week or args.month
        messages = await _digest_message(store, args.date, config, top, topics, language, period, layout or "full")
    if args.html:
        render_html = html_preview()
        title = messages[0].fallback.split(":", 1)[0]
        try:
            page = render_html(
                messages, title=title, slack_threads=config.slack.threads, discord_threads=config.discord.threads
            )
            await asyncio.to_thread(Path(args.html).write_text, page, encoding="utf-8")
        except OSError as exc:
            raise CommandError(f"cannot write {args.html}: {exc.strerror or exc}") from None
        _out(f"wrote {args.html}: {title}, as Discord and Slack would show it")
        return 0
    _show(messages, args)
    return 0


async def cmd_lookup(args: argparse.Namespace, config: Config) -> int:
    """Answer a /paper query from the command line; exit 1 when no paper matches.

    ``--json`` (console) prints the structured answer (best match with its score, other matches,
    the correction used, closest titles on a miss); with ``--platform`` it prints that platform's payloads.
    """
    async with await open_store(existing_db(args, config), create=False) as store:
        result = await localized(await lookup(store, args.query), _paper_localizer(store, config))
    if args.json and getattr(args, "platform", "console") == "console":
        _out(json.dumps(result_json(result), ensure_ascii=False, indent=2))
    else:
        _show([message_for(result, labels_for(config.locale))], args)
    return 0 if result.best is not None else 1


def _paper_localizer(store: StoreProtocol, config: Config, language: str = "") -> Localize | None:
    """Return what gives a /paper card its summary in ``language`` (default: the config's), if summaries are on."""
    if not config.summaries.enabled:
        return None
    from digestbot.summaries.view import paper_localizer

    return paper_localizer(store, config, language)


async def cmd_summarize(args: argparse.Namespace, config: Config) -> int:
    """Make the missing summaries of a day or range (see :mod:`digestbot.summarize_command`)."""
    from digestbot import summarize_command

    lines, status = await summarize_command.cmd_summarize(args, config, existing_db(args, config))
    for line in lines:
        _out(line)
    return status


def missing_credentials(config: Config, platforms: list[str] | None = None, *, serving: bool = True) -> list[str]:
    """Return what the platforms in use (enabled, or named by a channel) lack to post and (``serving``) serve."""
    in_use = set(enabled_platforms(config) if platforms is None else platforms)
    slack_on = serving and "slack" in in_use and config.slack.enabled
    needed = [
        ("discord" in in_use, "discord.token", "export DISCORD_TOKEN and write token: ${DISCORD_TOKEN}"),
        (
            "slack" in in_use and not config.slack.oauth,  # OAuth installs bring a token per workspace
            "slack.bot_token",
            "export SLACK_BOT_TOKEN and write bot_token: ${SLACK_BOT_TOKEN}",
        ),
        (slack_on and config.slack.mode == "socket", "slack.app_token", "Socket Mode needs the xapp-… token"),
        (slack_on and config.slack.mode == "http", "slack.signing_secret", "HTTP mode needs the signing secret"),
        *_slack_oauth_needs(config, "slack" in in_use),
    ]
    unset = {line.split(":", 1)[0]: line for line in config.unset_secrets}  # "key: environment variable X is not set"
    problems = []
    for used, key, how in needed:
        value: object = config
        for name in key.split("."):
            value = getattr(value, name)
        if used and not value:
            problems.append(unset.get(key, f"{key}: not set ({how})"))
    summaries = config.summaries
    if summaries.enabled and not summaries.api_key and summaries.base_url.startswith("https://api.openai.com/"):
        problems.append("summaries.api_key: OpenAI needs a key (api_key: ${SUMMARIES_API_KEY})")
    return problems


def _slack_oauth_needs(config: Config, used: bool) -> list[tuple[bool, str, str]]:
    """Return what Slack OAuth installs need besides HTTP mode: the client secret (redirects and refreshes)."""
    if config.slack.oauth is None:
        return []
    how = "export SLACK_CLIENT_SECRET and write client_secret: ${SLACK_CLIENT_SECRET}"
    return [(used, "slack.oauth.client_secret", how)]


def require_credentials(
    args: argparse.Namespace, config: Config, platforms: list[str] | None = None, *, serving: bool = True
) -> None:
    """Refuse to go on when a platform this command talks to lacks its token (only such commands call this)."""
    if missing := missing_credentials(config, platforms, serving=serving):
        where = args.config or os.environ.get("DIGESTBOT_CONFIG") or "(defaults)"
        raise ConfigError(f"{where}: {missing[0]}")


async def cmd_check_config(args: argparse.Namespace, config: Config) -> int:
    """Validate a config file (loading it already did); print a summary without secrets."""
    # Name the file that was checked: the argument, else --config, else $DIGESTBOT_CONFIG (as main loaded it).
    path = args.path or args.config or os.environ.get("DIGESTBOT_CONFIG")
    if args.path:
        config = load_config(args.path)
    if args.show:
        _out(json.dumps(redacted(config), ensure_ascii=False, indent=2))
    if missing := missing_credentials(config):
        raise ConfigError(f"{path or '(defaults)'}: {missing[0]}")
    platforms = [p for p in ("discord", "slack") if getattr(config, p).enabled] or ["console only"]
    await _check_forums(config, path or "(defaults)")
    channels = f"{len(config.channels)} channel{'' if len(config.channels) == 1 else 's'}"
    _out(f"{path or '(defaults)'}: OK — {channels}; platforms: {', '.join(platforms)}")
    return 0


async def _check_forums(config: Config, where: str) -> None:
    """Check that every ``layout: forum`` channel is a Discord forum, when Discord can be reached.

    Unreachable (or a refused token): one note on stderr and the check is skipped; a channel that
    Discord shows and that is no forum is a ConfigError naming its config key.
    """
    from digestbot.ports import Target

    forums = [(i, c) for i, c in enumerate(config.channels) if c.layout == "forum" and c.platform == "discord"]
    if not forums or not config.discord.enabled:
        return
    adapter = adapters_for(config, platforms=["discord"])["discord"]
    wrong: list[str] = []
    try:
        await adapter.start()
        ask = getattr(adapter, "forum_tags", None)
        for i, ch in forums:
            target = Target(platform=ch.platform, kind="channel", id=ch.id, workspace=ch.workspace)
            if ask is not None and await ask(target) is None:
                wrong.append(f"{where}: channels[{i}].layout: discord:{ch.id} is not a forum channel (type 15)")
    except DigestbotError as exc:
        print(error_line(f"forum channels not checked: {exc}", "note"), file=sys.stderr)
    finally:
        await adapter.close()
    if wrong:
        raise ConfigError(wrong[0])


async def cmd_demo(args: argparse.Namespace, config: Config) -> int:
    """Show the bundled sample briefly: a digest, a lookup, a subscription (its own archive unless --db)."""
    from digestbot.demo import DEMO_DB, run_demo
    from digestbot.store import redact_url

    # A mistyped --db is refused by check_target without its password; the demo's sample goes to SQLite only.
    target = check_target(args.db) if args.db else Path(DEMO_DB)
    if isinstance(target, str):
        raise CommandError(f"{redact_url(target)}: demo writes its sample to a SQLite file: give a file path as --db")
    colour = sys.stdout.isatty()
    console = platform_named("console").render
    return await run_demo(
        target,
        config,
        out=_out,
        render=lambda message, brief: str(console(message, colour=colour, brief=brief)[0]),
        prog=invoked_as(sys.argv[0]),
    )


def invoked_as(argv0: str) -> str:
    """Return how to run digestbot again as it was just run: its path as typed, or ``python -m digestbot``."""
    import shlex

    if Path(argv0).name == "digestbot":
        return shlex.quote(argv0)
    return "python -m digestbot"


async def _close(adapters: Mapping[str, Adapter]) -> None:
    for name, adapter in adapters.items():
        try:
            await adapter.close()
        except Exception:
            log.exception("closing the %s adapter failed", name)


EXIT_DEFERRED = 75
"""``post`` exit status when nothing failed for good but some messages wait for a retry (EX_TEMPFAIL).

Also when a platform could not be reached: its messages were planned and wait in the outbox.

Also when the database could not be written during delivery (locked, disk full): those messages
were not recorded as sent, so a later run must look again. A platform that refused our
credentials exits 1 instead: retrying cannot help until the configuration is fixed.
"""


async def cmd_post(args: argparse.Namespace, config: Config) -> int:
    """Post a day's digest to every enabled channel now, then DM subscribers (idempotent)."""
    from digestbot.delivery import DeliveryEngine

    # A file (SQLite) or a postgresql:// URL: the outbox runs on both. A dry run creates nothing.
    path = existing_db(args, config) if args.dry_run else db_path(args, config)
    if not args.dry_run:
        require_credentials(args, config, serving=False)  # posting needs the bot tokens, not the command ones
    async with await open_store(path, create=not args.dry_run) as store:
        adapters = gated(adapters_for(config, database=path))
        try:
            engine = DeliveryEngine(store, adapters, config)
            try:
                chosen = await engine.channels(args.channel or None)
                if not args.channel and not chosen:
                    raise CommandError(
                        "no channel to post to: add a channels: list to the config (see config.example.yaml)"
                        " or set a channel up in chat with /digest on"
                    )
                # Only the platforms of the chosen channels are started; one down or refusing its
                # token stops only itself. A dry run renders and plans only: it works offline.
                in_use = {name: gate for name, gate in adapters.items() if name in {c.platform for c in chosen}}
                if not args.dry_run:
                    await start_each(in_use)
                if period := args.week or args.month:
                    summary = await engine.post_period(period, channels=args.channel or None, dry_run=args.dry_run)
                else:
                    if config.summaries.enabled and not args.dry_run:
                        await _summaries_before_post(store, config, engine, args.date)
                    summary = await engine.post_digest(args.date, channels=args.channel or None, dry_run=args.dry_run)
            finally:
                await engine.close()
        finally:
            await _close(adapters)
    for line in summary.planned:
        _out(f"would post {line}")
    planned = plural(len(summary.planned), "message")
    _out(f"dry run: {planned} planned, nothing sent" if args.dry_run else summary.line())
    down = {name: gate for name, gate in in_use.items() if not args.dry_run and not gate.up}
    for name, gate in down.items():
        what = "stopped" if gate.refused else "not reached"
        _err(f"{gate.problem} — {name} {what}; its messages stay pending")
    for problem in summary.problems:
        if not any(problem.startswith(str(gate.problem)) for gate in down.values()):  # said just above
            _err(problem)
    if summary.failed or summary.refused or summary.stopped or any(gate.refused for gate in down.values()):
        return 1
    return EXIT_DEFERRED if summary.deferred or summary.elsewhere or summary.errors or down else 0


async def _summaries_before_post(
    store: StoreProtocol, config: Config, engine: DeliveryEngine, day: date | None
) -> None:
    """Make the day's missing summaries within ``summaries.deadline`` before ``post`` sends it."""
    from digestbot.delivery import digest_day
    from digestbot.summaries.runner import summarize_day

    if day is None:
        day = await digest_day(store, config, engine.clock.now())
    if day is not None:
        await summarize_day(store, config, day, deadline=config.summaries.deadline)


SHUTDOWN_GRACE = 5.0
"""Seconds ``run``'s command servers get to close their connections after SIGTERM before being cancelled."""


async def cmd_run(args: argparse.Namespace, config: Config) -> int:
    """Run the scheduler and the slash-command servers until SIGINT or SIGTERM.

    Each platform starts on its own (see :func:`_join`): one that cannot be reached yet is tried
    again with backoff while the others post and serve, and joins when it comes up; one that
    refuses its token is stopped with one line. Only when every platform is stopped does ``run``
    end (exit 1).
    """
    from digestbot.clock import SystemClock
    from digestbot.delivery import DeliveryEngine
    from digestbot.ingest import before_period_hook, before_post_hook
    from digestbot.scheduler import Scheduler

    path = db_path(args, config)  # a file (SQLite) or a postgresql:// URL: several runs may share PostgreSQL
    require_credentials(args, config)
    async with await open_store(path) as store:
        adapters = gated(adapters_for(config, database=path))
        if not adapters:
            raise CommandError("nothing to run: no channel is configured and no platform is enabled")
        clock = SystemClock()
        from digestbot.summaries.runner import before_post_hook as with_summaries

        before_post = with_summaries(store, config, before_post_hook(store, config))
        engine = DeliveryEngine(store, adapters, config, clock, before_post=before_post)
        engine.before_period = before_period_hook(store, config)  # weekly/monthly channels: HF week=/month=
        scheduler = Scheduler(engine, clock)
        ops = None
        try:
            from digestbot.ops_server import start_ops

            ops = await start_ops(config, store, adapters, port=args.ops_port)  # a taken port stops run here
            engine.subscriptions.start()  # index every subscription now, off the event loop, while connecting
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            # The scheduler runs from the start: a platform not up yet leaves its messages pending
            # (planned in the outbox) and its channels are retried when it joins.
            scheduler_task = asyncio.create_task(scheduler.run(), name="scheduler")
            if ops is not None:
                ops.scheduler = scheduler_task  # /healthz reports whether it still runs
            servers = command_servers(adapters)
            joiners = set()
            for name, gate in adapters.items():
                # Each chat platform answers slash commands through the same engine the scheduler uses.
                serve = servers.get(name)
                commands = (
                    None
                    if serve is None
                    else partial(serve, config, store, gate.inner, stop=stop, engine=engine, on_change=scheduler.wake)
                )
                joining = _join(name, gate, stop=stop, on_up=scheduler.retry_now, serve=commands)
                joiners.add(asyncio.create_task(joining, name=f"{name}-commands"))
            stop_task = asyncio.create_task(stop.wait(), name="shutdown-signal")
            log.info("running on %s; stop with Ctrl-C", ", ".join(adapters))
            pending: set[asyncio.Task[Any]] = {scheduler_task, stop_task, *joiners}
            while True:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                if scheduler_task in done or stop_task in done:
                    break
                if any(t.cancelled() or t.exception() is not None for t in done):
                    break  # a command server failed: stop everything, report it below
                if all(gate.refused for gate in adapters.values()):
                    print("digestbot: error: every platform is stopped: nothing to run", file=sys.stderr)
                    break
            stop.set()
            scheduler_task.cancel()
            stop_task.cancel()
            # The command servers watch `stop` and close their connections themselves: cancelling them
            # at once would cut that short (an unclosed HTTP session, a Socket Mode link left open).
            _, late = await asyncio.wait(joiners, timeout=SHUTDOWN_GRACE)
            for server in late:
                server.cancel()
            tasks = (scheduler_task, *joiners, stop_task)
            failed = all(gate.refused for gate in adapters.values())
            for task, result in zip(tasks, await asyncio.gather(*tasks, return_exceptions=True), strict=True):
                if isinstance(result, DigestbotError):
                    _err(f"{task.get_name()}: {result}")
                    failed = True
                elif isinstance(result, Exception):
                    log.error("%s stopped with an error", task.get_name(), exc_info=result)
                    failed = True
            if failed:
                return 1
            log.info("stopped")
        finally:
            if ops is not None:
                await ops.close()
            await engine.close()
            await _close(adapters)
    return 0


async def _join(
    name: str,
    gate: PlatformGate,
    *,
    stop: asyncio.Event,
    on_up: Callable[[str], None],
    serve: Callable[[], Awaitable[None]] | None,
) -> None:
    """Start one platform, retrying while it cannot be reached; then serve its slash commands until ``stop``.

    A refused token (or another setting waiting cannot fix) stops this platform only, with one
    line on stderr; the others go on. When the platform comes up, ``on_up`` lets the scheduler
    send its channels' pending posts now.
    """
    from digestbot.reconnect import until_reachable

    try:
        if not await until_reachable(gate.start, what=name, stop=stop):
            return  # stopped before it was reached
    except DigestbotError as exc:
        gate.refuse(exc)
        _err(f"{exc} — {name} stopped; its messages stay pending")
        return
    log.info("%s: connected", name)
    on_up(name)
    if serve is not None:
        await serve()


async def cmd_subscriptions(args: argparse.Namespace, config: Config) -> int:
    """Add, remove or list a user's topic subscriptions (the same operations as the chat commands)."""
    who = {"platform": args.platform, "workspace": args.workspace, "user": platform_id(args.platform, args.user)}
    if args.workspace:
        platform_id(args.platform, args.workspace, workspace=True)
    path = existing_db(args, config) if args.action == "list" else db_path(args, config)  # a list creates nothing
    async with await open_store(path, create=args.action != "list") as store:
        if args.action == "list":
            _out(await commands.list_topics(store, config, **who))
            return 0
        if not args.topic:
            raise CommandError(f"subscriptions {args.action}: give a TOPIC")
        topic = topic_text(args.topic)
        if args.action == "add":
            _out(await commands.subscribe(store, config, raw_topic=topic, **who))
        else:
            _out(await commands.unsubscribe(store, config, raw_topic=topic, **who))
    return 0


ID_SHAPES = {
    ("slack", False): (re.compile(r"[UW][A-Z0-9]{1,20}"), "a Slack user id (U… or W…, capitals and digits)"),
    ("slack", True): (re.compile(r"[TE][A-Z0-9]{1,20}"), "a Slack team id (T…, capitals and digits)"),
    ("discord", False): (re.compile(r"[0-9]{1,20}"), "a Discord user id (digits)"),
    ("discord", True): (re.compile(r"[0-9]{1,20}"), "a Discord server id (digits)"),
}
"""What ``--user``/``--workspace`` must look like per platform: the ids the chat commands store."""
MAX_CONSOLE_ID = 64


def platform_id(platform: str, value: str, *, workspace: bool = False) -> str:
    """Return ``value`` if it can be a ``platform`` user (or workspace) id, else raise a one-line CommandError.

    A DM header and ``subscriptions list`` show the id: a line break or a terminal escape in it
    would forge output, and ``<!channel>`` would ping on Slack.
    """
    option = "--workspace" if workspace else "--user"
    shape = ID_SHAPES.get((platform, workspace))
    if shape is not None:
        pattern, what = shape
        if not pattern.fullmatch(value):
            raise CommandError(f"{option} {value!r} is not {what}")
    elif UNPRINTABLE.search(value) or not value.strip() or len(value) > MAX_CONSOLE_ID:
        raise CommandError(f"{option}: give a name of at most {MAX_CONSOLE_ID} characters, without control characters")
    return value


def topic_text(words: list[str]) -> str:
    """Return the topic expression the shell arguments of ``subscriptions add|remove`` stand for.

    One argument is the whole expression, as typed in chat (``'diffusion -survey'`` excludes
    surveys; it is not a phrase). Several arguments are words joined by spaces; only there did
    the shell eat a phrase's quotes, so an argument of several plain words is quoted back.
    """
    if len(words) == 1:
        return words[0]
    return " ".join(
        f'"{w}"' if " " in w and '"' not in w and not any(part.startswith("-") for part in w.split()) else w
        for w in words
    )


async def cmd_discord(args: argparse.Namespace, config: Config) -> int:
    """Discord housekeeping: the invite URL, and explicit slash-command sync."""
    discord = platform_named("discord")
    if discord.invite_url is None or discord.sync_commands is None:
        raise CommandError("discord: the installed Discord platform offers no invite URL or command sync")
    if args.discord_action == "invite-url":
        _out(discord.invite_url(config))
        return 0
    require_credentials(args, config, ["discord"])
    count = await discord.sync_commands(config, args.guild)
    where = f"guild {args.guild}" if args.guild else "globally (may take up to an hour to appear)"
    _out(f"synced {plural(count, 'slash command')} {where}")
    return 0


# -- parser -------------------------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line, like every other digestbot error."""

    def error(self, message: str) -> NoReturn:
        text = error_line(message).removeprefix("digestbot: error: ")  # an argument may hold a line break
        self.exit(2, f"{self.prog}: error: {text} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser for every sub-command."""
    parser = _Parser(prog="digestbot", description="The day's research papers, in your team chat.")
    parser.add_argument("--version", action="version", version=f"digestbot {__version__}")
    parser.add_argument("--config", help="YAML config file (default: $DIGESTBOT_CONFIG, else none)")
    parser.add_argument("--db", help="SQLite database file (default: the config's 'database', ./digestbot.sqlite3)")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)

    def add(name: str, handler: Handler, help: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help)
        p.set_defaults(handler=handler)
        # The global options also work after the command (`digestbot preview --db x`), as people type them.
        # SUPPRESS: when not given here, they leave the value given before the command alone.
        p.add_argument("--config", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
        p.add_argument("--db", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
        # Not -v after `subscriptions`: an excluded term such as -vision would be read as -v "ision".
        verbose = ("--verbose",) if name == "subscriptions" else ("-v", "--verbose")
        p.add_argument(*verbose, action="count", dest="verbose_after", default=0, help=argparse.SUPPRESS)
        return p

    def platform_options(p: argparse.ArgumentParser, json_help: str) -> None:
        p.add_argument(
            "--platform",
            choices=("console", "discord", "slack"),
            default="console",
            help="render as this platform would (default console: terminal text; discord, slack: their JSON payloads)",
        )
        p.add_argument("--json", action="store_true", help=json_help)

    add("demo", cmd_demo, "a two-screen tour on the bundled sample, in its own archive (no config or tokens needed)")
    p = add("ingest", cmd_ingest, "load paper files, or fetch papers from Hugging Face or arXiv (--from)")
    p.add_argument("paths", nargs="*", metavar="PATH", help="Markdown digest, Hugging Face JSON, JSON/YAML records")
    p.add_argument("--format", choices=FORMATS, default="auto", help="skip content detection")
    p.add_argument(
        "--from",
        dest="source",
        choices=("huggingface", "arxiv"),
        help="fetch from a live source instead (arxiv: the configured sources.arxiv.categories)",
    )
    p.add_argument(
        "--date", type=_date, help="the day to fetch (default: Hugging Face's newest list; arXiv: yesterday, GMT)"
    )
    p.add_argument("--since", type=_date, help="backfill from this day …")
    p.add_argument("--until", type=_date, help="… to this day (inclusive; default today)")
    p.add_argument("--refresh", action="store_true", help="re-fetch days already stored (updates votes)")
    p = add("enrich", cmd_enrich, "fill papers' missing abstracts and categories from the arXiv API")
    p.add_argument("--date", type=_date, help="only this day's digest (default: the whole archive, newest first)")
    p.add_argument("--limit", type=int, default=500, help="at most this many papers (default 500)")
    p = add("preview", cmd_preview, "render a day's digest without posting it")
    _period_options(p, "digest date (default: the newest)")
    p.add_argument("--top", type=_positive, help="only the N most-voted papers")
    p.add_argument("--topic", action="append", metavar="T", help="only papers matching topic T (repeatable: any)")
    p.add_argument("--channel", metavar="ID", help="as this configured channel would get it (its top N and topics)")
    p.add_argument("--html", metavar="FILE", help="write a page showing the digest as Discord and Slack show it")
    p.add_argument(
        "--layout", choices=("full", "compact", "forum"), help="in this layout (default: the channel's, else full)"
    )
    platform_options(p, "print the exact payloads as one JSON document")
    p = add("lookup", cmd_lookup, "look a paper up: arXiv id, arXiv/Hugging Face URL, or title words")
    p.add_argument("query", help="an arXiv id, an arXiv or Hugging Face paper URL, or title words")
    platform_options(
        p,
        "print the answer as data: found, how (id, url, words, typo), correction, best (with its score),"
        " others, closest_titles; with --platform discord|slack, that platform's exact payloads",
    )
    p = add("summarize", cmd_summarize, "make the missing summaries (summaries: in the config) of a day or range")
    p.add_argument("--date", type=_date, help="the digest day (default: the newest)")
    p.add_argument("--since", type=_date, help="every digest from this day …")
    p.add_argument("--until", type=_date, help="… to this day (inclusive; default today)")
    p.add_argument("--language", metavar="L", help="only this language (default: every channel's)")
    p.add_argument("--refresh", action="store_true", help="make them again even when cached")
    p = add("check-config", cmd_check_config, "validate a config file")
    p.add_argument("path", nargs="?")
    p.add_argument("--show", action="store_true", help="print the resolved config (secrets redacted)")
    p = add("post", cmd_post, "post a day's digest to every enabled channel now, then DM subscribers (idempotent)")
    _period_options(p, "digest date (default: the newest available)")
    p.add_argument("--channel", action="append", metavar="ID", help="only this channel (ID or PLATFORM:ID; repeatable)")
    p.add_argument("--dry-run", action="store_true", help="list what would be posted; post nothing")
    p = add("run", cmd_run, "run the scheduler: post each channel's digest when due (stop with Ctrl-C or SIGTERM)")
    p.add_argument("--ops-port", type=_port, metavar="PORT", help="serve /healthz and /metrics (default: ops.port)")
    p = add("discord", cmd_discord, "Discord set-up: print the invite URL, or sync slash commands")
    p.add_argument("discord_action", choices=("invite-url", "sync"), metavar="invite-url|sync")
    p.add_argument("--guild", type=int, help="sync to one server only (instant; global sync can take an hour)")
    from digestbot.cli_ops import add_commands

    add_commands(add)
    from digestbot import cli_slack

    cli_slack.add_commands(add)
    from digestbot import cli_db

    cli_db.add_commands(add)
    p = add("subscriptions", cmd_subscriptions, "add, remove or list a user's topic subscriptions")
    p.add_argument("action", choices=("add", "remove", "list"))
    p.add_argument("topic", nargs="*", metavar="TOPIC", help='words or a "quoted phrase"; -word excludes')
    p.add_argument("--platform", choices=("console", "discord", "slack"), required=True)
    p.add_argument("--user", required=True, help="the user's platform id")
    p.add_argument(
        "--workspace",
        default="",
        help="Slack team id / Discord guild id (default: none: DMs follow a digest in any workspace)",
    )
    return parser


def _setup_logging(verbosity: int, config: Config | None, command: str) -> None:
    """Log to stderr at the level the situation calls for.

    ``-v``/``-vv`` win; ``run`` (a service) uses the config's ``log_level``; one-shot commands
    only show warnings, so their output stays the answer.
    """
    if verbosity:
        level = logging.DEBUG if verbosity > 1 else logging.INFO
    elif command == "run" and config is not None:
        level = logging.getLevelName(config.log_level)
    else:
        level = logging.WARNING
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr, force=True
    )
    # The HTTP clients log one INFO line per request: noise at -v, useful only when debugging.
    for name in QUIET_BELOW_DEBUG:
        logging.getLogger(name).setLevel(logging.NOTSET if verbosity > 1 else logging.WARNING)
    for name in QUIET_ALWAYS:  # never a token in a log line, whatever the verbosity
        logging.getLogger(name).setLevel(logging.WARNING)
    from digestbot.redact import RedactingFilter

    for handler in logging.getLogger().handlers:  # and whatever a library echoes: URL passwords, xoxb- tokens
        handler.addFilter(RedactingFilter())


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    parser = build_parser()
    # TOPIC words may follow the options (and an excluded term looks like one: -survey).
    args, extra = parser.parse_known_args(argv)
    if extra and getattr(args, "command", None) == "subscriptions":
        # `--` only separates options from words (`-- -survey diffusion`): it is no part of the topic.
        args.topic = [word for word in (*args.topic, *extra) if word != "--"]
        if unknown := [word for word in args.topic if word.startswith("--")]:
            parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.verbose += getattr(args, "verbose_after", 0)
    _setup_logging(args.verbose, None, args.command)
    config: Config | None = None
    try:
        config = load_config(args.config or os.environ.get("DIGESTBOT_CONFIG") or None)
        _setup_logging(args.verbose, config, args.command)
        status: int = asyncio.run(args.handler(args, config))
        return status
    except (UnavailableError, TokenRefusedError) as exc:
        _err(exc)
        return 1
    except SourceUnreachableError as exc:
        _err(f"{exc} (try again later)")
        return EXIT_DEFERRED
    except (StoreBusyError, StoreFailedError) as exc:
        # The database failed under the command (the store's one line says what to do): every write
        # is one transaction, so nothing is half-written; busy is worth a retry (75), the rest is not (1).
        _err(exc)
        return EXIT_DEFERRED if isinstance(exc, StoreBusyError) else 1
    except DigestbotError as exc:
        _err(exc)
        return 2
    except KeyboardInterrupt:
        print("digestbot: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader (e.g. `| head`) went away: stop quietly, as Unix tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
