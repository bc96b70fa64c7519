"""The ``digestbot`` command line: the composition root that wires config, store and adapters.

Every sub-command is an ``async`` function taking the parsed arguments and returning an exit
status. User errors (:class:`~digestbot.errors.DigestbotError`) become one line on stderr and exit
status 2; nothing else is caught, so a real bug still shows its traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from digestbot import __version__, commands
from digestbot.blocks import Message
from digestbot.config import Config, load_config, redacted
from digestbot.errors import CommandError, ConfigError, DigestbotError
from digestbot.formatter import format_digest
from digestbot.labels import labels_for
from digestbot.lookup import answer_paper, lookup, message_for, result_json
from digestbot.platforms import adapters_for, command_servers, enabled_platforms
from digestbot.ports import Adapter
from digestbot.sources.files import FORMATS, load_file
from digestbot.store import Store

if TYPE_CHECKING:
    from digestbot.ingest import DayFetch, DayReport

log = logging.getLogger("digestbot")

SAMPLE = "daily-papers-2024-10-11.md"
DEMO_DAY = date(2024, 10, 11)
DEMO_TOPICS = ["quantization", "diffusion -survey"]
Handler = Callable[[argparse.Namespace, Config], Awaitable[int]]


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid date {text!r} (expected YYYY-MM-DD)") from None


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text!r}")
    return value


def db_path(args: argparse.Namespace, config: Config) -> Path:
    """Return the database path: ``--db``, else the config's ``database``, else ./digestbot.sqlite3."""
    return Path(args.db or config.database)


def existing_db(args: argparse.Namespace, config: Config) -> Path:
    """Return the database path for a command that only reads it; a missing file is a typo, not a new archive."""
    path = db_path(args, config)
    if not path.exists():
        raise CommandError(f"no archive at {path}: run 'digestbot demo' or 'digestbot ingest FILE' first, or fix --db")
    return path


def _out(text: str) -> None:
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
    sys.stdout.flush()


def _render(message: Message, platform: str, *, colour: bool) -> list[Any]:
    """Render with the chosen platform's renderer (pure functions: no platform connection)."""
    if platform == "console":
        from adapters.console_render import render_console

        return [render_console(message, colour=colour)]
    if platform == "discord":
        from adapters.discord_render import render_discord

        return render_discord(message)
    from adapters.slack_render import render_slack

    return render_slack(message)


def _show(messages: list[Message], args: argparse.Namespace) -> None:
    platform = getattr(args, "platform", "console")
    payloads = [p for m in messages for p in _render(m, platform, colour=sys.stdout.isatty())]
    if platform == "console" and not getattr(args, "json", False):
        for text in payloads:
            _out(text)
    else:  # platform payloads are JSON documents whether or not --json was given
        _out(json.dumps(payloads, ensure_ascii=False, indent=2))


# -- commands -----------------------------------------------------------------------------------


async def ingest_files(store: Store, paths: list[str], fmt: str) -> int:
    """Load each file and store it in one transaction; report per file; 2 if any file was bad."""
    status = 0
    for path in paths:
        try:
            loaded = load_file(path, fmt=fmt)
            result = await store.upsert_papers(loaded.papers, digest_date=loaded.digest_date)
        except DigestbotError as exc:
            print(f"digestbot: error: {exc}", file=sys.stderr)
            status = 2
            continue
        day = f" for {loaded.digest_date.isoformat()}" if loaded.digest_date else ""
        _out(
            f"{path}: {len(loaded.papers)} papers{day} ({loaded.format}): {result.added} added, "
            f"{result.updated} updated, {result.unchanged} unchanged"
        )
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
    async with await Store.open(db_path(args, config)) as store:
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
    store: Store, fetch: DayFetch, args: argparse.Namespace, *, default: date | None
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

    async with await Store.open(db_path(args, config)) as store, ingest.arxiv_client(config) as arxiv:
        report = await enrich_missing(store, arxiv, day=args.date, limit=args.limit)
    _out(report.summary())
    return 0


async def _digest_message(
    store: Store, day: date | None, config: Config, top: int | None, topics: list[str] | None = None
) -> Message:
    if day is None:
        day = await store.latest_digest_date()
        if day is None:
            raise CommandError("the archive holds no digest yet: run 'digestbot ingest FILE' or 'digestbot demo'")
    digest = await store.digest(day)
    if digest is None:
        known = ", ".join(d.isoformat() for d in await store.digest_dates(limit=5)) or "none"
        raise CommandError(f"no digest for {day.isoformat()} (newest dates: {known})")
    if topics:
        from digestbot.topic_filter import filter_digest

        digest = filter_digest(digest, topics, max_length=config.subscriptions.max_topic_length)
    return format_digest(digest, labels_for(config.locale), top=top)


async def cmd_preview(args: argparse.Namespace, config: Config) -> int:
    """Render a day's digest without posting it."""
    async with await Store.open(existing_db(args, config)) as store:
        top, topics = args.top, args.topic
        if args.channel:
            # Show what that channel would get: its own top N and topic filter (flags still win).
            from digestbot.channels import load_channels

            found = [c for c in await load_channels(store, config) if args.channel in c.names]
            if not found:
                raise CommandError(f"no enabled channel {args.channel} in the config or set up in chat")
            top, topics = top or found[0].top, topics or list(found[0].topics) or None
        message = await _digest_message(store, args.date, config, top, topics)
    if args.html:
        from adapters.html_preview import render_html

        title = message.fallback.split(":", 1)[0]
        try:
            await asyncio.to_thread(Path(args.html).write_text, render_html([message], title=title), encoding="utf-8")
        except OSError as exc:
            raise CommandError(f"cannot write {args.html}: {exc.strerror or exc}") from None
        _out(f"wrote {args.html}: {title}, as Discord and Slack would show it")
        return 0
    _show([message], args)
    return 0


async def cmd_lookup(args: argparse.Namespace, config: Config) -> int:
    """Answer a /paper query from the command line; exit 1 when no paper matches.

    ``--json`` (console) prints the structured answer (best match with its score, other matches,
    the correction used, closest titles on a miss); with ``--platform`` it prints that platform's payloads.
    """
    async with await Store.open(existing_db(args, config)) as store:
        result = await lookup(store, args.query)
    if args.json and getattr(args, "platform", "console") == "console":
        _out(json.dumps(result_json(result), ensure_ascii=False, indent=2))
    else:
        _show([message_for(result, labels_for(config.locale))], args)
    return 0 if result.best is not None else 1


def missing_credentials(config: Config) -> list[str]:
    """Return what the platforms in use (enabled, or named by a channel) lack to post and serve."""
    in_use = set(enabled_platforms(config))
    problems = []
    if "discord" in in_use and not config.discord.token:
        problems.append("discord.token: not set (export DISCORD_TOKEN and write token: ${DISCORD_TOKEN})")
    if "slack" in in_use and not config.slack.bot_token:
        problems.append("slack.bot_token: not set (export SLACK_BOT_TOKEN and write bot_token: ${SLACK_BOT_TOKEN})")
    if config.slack.enabled and config.slack.mode == "socket" and not config.slack.app_token:
        problems.append("slack.app_token: Socket Mode needs the app-level xapp-… token (${SLACK_APP_TOKEN})")
    if config.slack.enabled and config.slack.mode == "http" and not config.slack.signing_secret:
        problems.append("slack.signing_secret: HTTP mode needs it (${SLACK_SIGNING_SECRET})")
    return problems


async def cmd_check_config(args: argparse.Namespace, config: Config) -> int:
    """Validate a config file (loading it already did); print a summary without secrets."""
    path = args.path or args.config
    if args.path:
        config = load_config(args.path)
    if args.show:
        _out(json.dumps(redacted(config), ensure_ascii=False, indent=2))
    if missing := missing_credentials(config):
        raise ConfigError(f"{path or '(defaults)'}: {missing[0]}")
    platforms = [p for p in ("discord", "slack") if getattr(config, p).enabled] or ["console only"]
    channels = f"{len(config.channels)} channel{'' if len(config.channels) == 1 else 's'}"
    _out(f"{path or '(defaults)'}: OK — {channels}; platforms: {', '.join(platforms)}")
    return 0


async def cmd_demo(args: argparse.Namespace, config: Config) -> int:
    """Load the bundled sample digest, post it to the console, answer a lookup."""
    sample = resources.files("digestbot") / "data" / SAMPLE
    labels = labels_for(config.locale)
    async with await Store.open(db_path(args, config)) as store:
        with resources.as_file(sample) as path:
            status = await ingest_files(store, [str(path)], "auto")
        if status:
            return status
        message = await _digest_message(store, None, config, None)
        _show([message], args)
        _out("\n$ /paper prefix quant")
        _show([await answer_paper(store, labels, "prefix quant")], args)
        digest = await store.digest(DEMO_DAY)
        if digest is not None:
            from digestbot.formatter import format_matches
            from digestbot.topic_filter import matches_for

            _out(f"\n$ /subscribe {' '.join(DEMO_TOPICS)}   (the DM a subscriber gets after the digest)")
            hits = matches_for(digest.papers, DEMO_TOPICS, max_length=config.subscriptions.max_topic_length)
            _show([format_matches(digest.date, hits, labels)], args)
    return 0


async def _start(adapters: dict[str, Adapter]) -> None:
    for adapter in adapters.values():
        await adapter.start()


async def _close(adapters: dict[str, Adapter]) -> None:
    for name, adapter in adapters.items():
        try:
            await adapter.close()
        except Exception:
            log.exception("closing the %s adapter failed", name)


EXIT_DEFERRED = 75
"""``post`` exit status when nothing failed for good but some messages wait for a retry (EX_TEMPFAIL)."""


async def cmd_post(args: argparse.Namespace, config: Config) -> int:
    """Post a day's digest to every enabled channel now, then DM subscribers (idempotent)."""
    from digestbot.delivery import DeliveryEngine

    path = db_path(args, config)
    async with await Store.open(path) as store:
        adapters = adapters_for(config, database=path)
        await _start(adapters)
        try:
            engine = DeliveryEngine(store, adapters, config)
            try:
                if not args.channel and not await engine.channels():
                    raise CommandError(
                        "no channel to post to: add a channels: list to the config (see config.example.yaml)"
                        " or set a channel up in chat with /digest on"
                    )
                summary = await engine.post_digest(args.date, channels=args.channel or None, dry_run=args.dry_run)
            finally:
                await engine.close()
        finally:
            await _close(adapters)
    for line in summary.planned:
        _out(f"would post {line}")
    _out(f"dry run: {len(summary.planned)} messages planned, nothing sent" if args.dry_run else summary.line())
    if summary.failed:
        return 1
    return EXIT_DEFERRED if summary.deferred else 0


async def cmd_run(args: argparse.Namespace, config: Config) -> int:
    """Run the scheduler until SIGINT or SIGTERM."""
    from digestbot.clock import SystemClock
    from digestbot.delivery import DeliveryEngine
    from digestbot.ingest import before_post_hook
    from digestbot.scheduler import Scheduler

    path = db_path(args, config)
    async with await Store.open(path) as store:
        adapters = adapters_for(config, database=path)
        if not adapters:
            raise CommandError("nothing to run: no channel is configured and no platform is enabled")
        clock = SystemClock()
        engine = DeliveryEngine(store, adapters, config, clock, before_post=before_post_hook(store, config))
        scheduler = Scheduler(engine, clock)
        try:
            await _start(adapters)
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            tasks = {asyncio.create_task(scheduler.run(), name="scheduler")}
            for name, serve in command_servers(adapters).items():
                # Each chat platform answers slash commands through the same engine the scheduler uses.
                coro = serve(config, store, adapters[name], stop=stop, engine=engine)
                tasks.add(asyncio.create_task(coro, name=f"{name}-commands"))
            stop_task = asyncio.create_task(stop.wait(), name="shutdown-signal")
            log.info("running on %s; stop with Ctrl-C", ", ".join(adapters))
            await asyncio.wait({*tasks, stop_task}, return_when=asyncio.FIRST_COMPLETED)
            stop.set()
            for task in (*tasks, stop_task):
                task.cancel()
            failed = False
            for task, result in zip(
                (*tasks, stop_task), await asyncio.gather(*tasks, stop_task, return_exceptions=True), strict=True
            ):
                if isinstance(result, DigestbotError):
                    print(f"digestbot: error: {task.get_name()}: {result}", file=sys.stderr)
                    failed = True
                elif isinstance(result, Exception):
                    log.error("%s stopped with an error", task.get_name(), exc_info=result)
                    failed = True
            if failed:
                return 1
            log.info("stopped")
        finally:
            await engine.close()
            await _close(adapters)
    return 0


async def cmd_subscriptions(args: argparse.Namespace, config: Config) -> int:
    """Add, remove or list a user's topic subscriptions (the same operations as the chat commands)."""
    who = {"platform": args.platform, "workspace": args.workspace, "user": args.user}
    async with await Store.open(db_path(args, config)) as store:
        if args.action == "list":
            _out(await commands.list_topics(store, config, **who))
            return 0
        if not args.topic:
            raise CommandError(f"subscriptions {args.action}: give a TOPIC")
        # The shell ate the quotes: an argument with spaces was a quoted phrase.
        topic = " ".join(f'"{t}"' if " " in t and '"' not in t else t for t in args.topic)
        if args.action == "add":
            _out(await commands.subscribe(store, config, raw_topic=topic, **who))
        else:
            _out(await commands.unsubscribe(store, config, raw_topic=topic, **who))
    return 0


async def cmd_discord(args: argparse.Namespace, config: Config) -> int:
    """Discord housekeeping: the invite URL, and explicit slash-command sync."""
    from adapters import discord_bot

    if args.discord_action == "invite-url":
        _out(discord_bot.invite_url(config))
        return 0
    count = await discord_bot.sync_commands(config, args.guild)
    where = f"guild {args.guild}" if args.guild else "globally (may take up to an hour to appear)"
    _out(f"synced {count} slash commands {where}")
    return 0


# -- parser -------------------------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line, like every other digestbot error."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


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
        return p

    def platform_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("--platform", choices=("console", "discord", "slack"), default="console")
        p.add_argument("--json", action="store_true", help="print the exact payloads as one JSON document")

    add("demo", cmd_demo, "load the bundled sample digest and show it (no config or tokens needed)")
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
    p.add_argument("--date", type=_date, help="digest date (default: the newest)")
    p.add_argument("--top", type=_positive, help="only the N most-voted papers")
    p.add_argument("--topic", action="append", metavar="T", help="only papers matching topic T (repeatable: any)")
    p.add_argument("--channel", metavar="ID", help="as this configured channel would get it (its top N and topics)")
    p.add_argument("--html", metavar="FILE", help="write a page showing the digest as Discord and Slack show it")
    platform_options(p)
    p = add("lookup", cmd_lookup, "look a paper up: arXiv id, arXiv/Hugging Face URL, or title words")
    p.add_argument("query")
    platform_options(p)
    p = add("check-config", cmd_check_config, "validate a config file")
    p.add_argument("path", nargs="?")
    p.add_argument("--show", action="store_true", help="print the resolved config (secrets redacted)")
    p = add("post", cmd_post, "post a day's digest to every enabled channel now, then DM subscribers (idempotent)")
    p.add_argument("--date", type=_date, help="digest date (default: the newest available)")
    p.add_argument("--channel", action="append", metavar="ID", help="only this channel (ID or PLATFORM:ID; repeatable)")
    p.add_argument("--dry-run", action="store_true", help="list what would be posted; post nothing")
    add("run", cmd_run, "run the scheduler: post each channel's digest when due (stop with Ctrl-C or SIGTERM)")
    p = add("discord", cmd_discord, "Discord set-up: print the invite URL, or sync slash commands")
    p.add_argument("discord_action", choices=("invite-url", "sync"), metavar="invite-url|sync")
    p.add_argument("--guild", type=int, help="sync to one server only (instant; global sync can take an hour)")
    p = add("subscriptions", cmd_subscriptions, "add, remove or list a user's topic subscriptions")
    p.add_argument("action", choices=("add", "remove", "list"))
    p.add_argument("topic", nargs="*", metavar="TOPIC", help='words or a "quoted phrase"; -word excludes')
    p.add_argument("--platform", choices=("console", "discord", "slack"), required=True)
    p.add_argument("--user", required=True, help="the user's platform id")
    p.add_argument(
        "--workspace",
        default="",
        help="Slack team id / Discord guild id; must match the channel's 'workspace' for DMs (empty: console)",
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


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    parser = build_parser()
    # TOPIC words may follow the options (and an excluded term looks like one: -survey).
    args, extra = parser.parse_known_args(argv)
    if extra and getattr(args, "command", None) == "subscriptions":
        args.topic = [*args.topic, *extra]
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    _setup_logging(args.verbose, None, args.command)
    try:
        config = load_config(args.config or os.environ.get("DIGESTBOT_CONFIG") or None)
        _setup_logging(args.verbose, config, args.command)
        status: int = asyncio.run(args.handler(args, config))
        return status
    except DigestbotError as exc:
        print(f"digestbot: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("digestbot: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader (e.g. `| head`) went away: stop quietly, as Unix tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
