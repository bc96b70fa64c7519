"""Typed configuration, loaded once at start-up from YAML and passed to whoever needs it.

Every key is a field of a frozen dataclass below; ``config.example.yaml`` documents them all.
Loading checks types and names: an unknown key or a wrong type raises
:class:`~digestbot.errors.ConfigError` naming its dotted path (``slack.bot_tokn``) and the
closest known key. Secrets are written as ``${ENV_VAR}`` (or ``${ENV_VAR:-default}``) and
expanded from the environment; their values never appear in errors or logs. Any other key may
be written so too, a number, true/false or a choice included: the expansion is then checked as
the same value written literally.
"""

from __future__ import annotations

import dataclasses
import difflib
import logging
import math
import os
import re
import types
import typing
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from digestbot.bounded_read import TooLarge, read_capped
from digestbot.errors import CommandError, ConfigError
from digestbot.unique_keys import UniqueKeyLoader

log = logging.getLogger(__name__)

Platform = Literal["discord", "slack", "console"]
_ENV = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?\}")
MAX_CONFIG_BYTES = 1024 * 1024
"""A config file's size cap: a real one is a few kilobytes, and /dev/zero must not be read to the end."""
# Secrets whose ${VAR} is unset while a config loads: recorded, not raised, so that commands that
# never use a platform (lookup, preview, discord invite-url) still run; see Config.unset_secrets.
_UNSET_SECRETS: ContextVar[list[str] | None] = ContextVar("unset_secrets", default=None)


class _UnsetVariable(ConfigError):
    """An ``${ENV_VAR}`` reference without a value or a default."""


def secret(default: str = "") -> Any:
    """Declare a field whose value is a secret: left out of ``repr`` and redacted whenever the config is shown.

    ``repr=False`` matters beyond ``check-config --show``: a config object ends up in a debug log,
    a traceback's locals or an ``assert`` message, and none of those may print a token.
    """
    return field(default=default, repr=False, metadata={"secret": True})


@dataclass(frozen=True, kw_only=True)
class HuggingFaceConfig:
    """The Hugging Face Daily Papers API."""

    enabled: bool = True
    base_url: str = "https://huggingface.co"
    timeout: float = 20.0


@dataclass(frozen=True, kw_only=True)
class ArxivConfig:
    """The arXiv export API (enrichment, category digests)."""

    enabled: bool = False
    base_url: str = "https://export.arxiv.org"
    categories: tuple[str, ...] = ()
    timeout: float = 30.0
    # arXiv's API Terms of Use: at most one request every three seconds. Lower only for a loopback test server.
    min_interval: float = 3.0


@dataclass(frozen=True, kw_only=True)
class SourcesConfig:
    """Where papers come from."""

    huggingface: HuggingFaceConfig = HuggingFaceConfig()
    arxiv: ArxivConfig = ArxivConfig()


@dataclass(frozen=True, kw_only=True)
class DiscordConfig:
    """The Discord bot."""

    enabled: bool = False
    token: str = secret()
    application_id: str = ""
    api_base_url: str = "https://discord.com/api/v10"
    threads: bool = False
    admins: tuple[str, ...] = ()
    # Sharding (Discord requires it from 2,500 servers): the total number of shards, and the ones this
    # process runs (empty: all of them). Unset: one unsharded gateway connection, as before.
    shard_count: int | None = None
    shard_ids: tuple[int, ...] = ()


SLACK_BOT_SCOPES = (
    "chat:write",
    "commands",
    "im:write",
    "users:read",
    "channels:history",
    "groups:history",
    "im:history",
)
"""The bot scopes of ``adapters/slack_manifest*.yaml``: what an "Add to Slack" install asks for."""


@dataclass(frozen=True, kw_only=True)
class SlackOAuthConfig:
    """A Slack app distributed to many workspaces: "Add to Slack" installs through OAuth v2 (HTTP mode)."""

    client_id: str = ""
    client_secret: str = secret()
    redirect_uri: str = ""  # empty: the one set in the app's settings
    scopes: tuple[str, ...] = SLACK_BOT_SCOPES
    token_refresh_minutes: int = 120  # rotating tokens are refreshed this long before they expire


@dataclass(frozen=True, kw_only=True)
class SlackConfig:
    """The Slack app."""

    enabled: bool = False
    bot_token: str = secret()
    app_token: str = secret()
    signing_secret: str = secret()
    api_base_url: str = "https://slack.com/api/"
    mode: Literal["socket", "http"] = "socket"
    port: int = 3000
    threads: bool = True
    admins: tuple[str, ...] = ()
    oauth: SlackOAuthConfig | None = None  # set: installs per workspace instead of one bot_token


@dataclass(frozen=True, kw_only=True)
class ChannelConfig:
    """One channel that gets the daily digest (chat-configured settings override these)."""

    platform: Platform
    id: str
    workspace: str = ""
    time: str = "09:00"
    timezone: str = "UTC"
    weekdays: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    top: int = 10
    topics: tuple[str, ...] = ()
    on_empty: Literal["notice", "skip"] = "notice"
    enabled: bool = True
    language: str = ""  # summaries' language for this channel; empty: summaries.language
    # daily: each day's list; weekly: the previous ISO week's top papers, on the first listed
    # weekday; monthly: the previous month's, on the 1st (see digestbot.periods).
    cadence: Literal["daily", "weekly", "monthly"] = "daily"
    # full: every card in the channel (long digests in parts); compact: one list message, each
    # paper's card a reply in its thread; forum: a Discord forum channel, one post per paper.
    layout: Literal["full", "compact", "forum"] = "full"


@dataclass(frozen=True, kw_only=True)
class SubscriptionsConfig:
    """Limits on per-user topic subscriptions."""

    max_topics: int = 20
    max_topic_length: int = 100


@dataclass(frozen=True, kw_only=True)
class DeliveryConfig:
    """How the scheduler catches up, waits for papers, and retries."""

    catch_up_hours: float = 24.0
    list_settles_hours: float = 0.0
    empty_retry_minutes: float = 30.0
    empty_cutoff_hours: float = 6.0
    max_attempts: int = 6
    # Sends in flight per platform. Throughput is at most concurrency / round trip, and the
    # per-platform Pacer (not this number) keeps us under rate limits, so this only needs to
    # cover limit x latency: Discord's 50 req/s at a 200 ms round trip is 10. At 4, a 5 ms round
    # trip capped fan-out at 800 msg/s, 0.27-0.31 of a 2,000/s limit (python -m bench.fanout).
    concurrency: int = 16


@dataclass(frozen=True, kw_only=True)
class SummariesConfig:
    """Three-part summaries from an OpenAI-compatible model server, in each reader's language."""

    enabled: bool = False
    base_url: str = "https://api.openai.com/v1"
    api_key: str = secret()
    model: str = "gpt-4o-mini"
    language: str = ""  # empty: the config's locale
    concurrency: int = 4
    timeout: float = 60.0  # seconds per request
    deadline: float = 120.0  # seconds a scheduled post waits for missing summaries, at most


@dataclass(frozen=True, kw_only=True)
class OpsConfig:
    """The ops port of ``digestbot run``: ``/healthz`` and ``/metrics`` for orchestrators and Prometheus."""

    port: int | None = None  # None: off; 0: any free port (the log line names it)
    host: str = "127.0.0.1"  # loopback by default: metrics are for the operator, not the internet


@dataclass(frozen=True, kw_only=True)
class Config:
    """The whole configuration."""

    database: str = "digestbot.sqlite3"
    locale: str = "en"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    sources: SourcesConfig = SourcesConfig()
    discord: DiscordConfig = DiscordConfig()
    slack: SlackConfig = SlackConfig()
    channels: tuple[ChannelConfig, ...] = ()
    subscriptions: SubscriptionsConfig = SubscriptionsConfig()
    delivery: DeliveryConfig = DeliveryConfig()
    summaries: SummariesConfig = SummariesConfig()
    ops: OpsConfig = OpsConfig()

    def summary_language(self, channel_language: str = "") -> str:
        """Return the language summaries are written in for a channel (its own, else the default)."""
        return channel_language or self.summaries.language or self.locale

    # Not a key: one line per secret whose ${VAR} was unset at load time ("discord.token: environment
    # variable DISCORD_TOKEN is not set"). Only the commands that use that platform refuse to run.
    unset_secrets: tuple[str, ...] = field(default=(), init=False, compare=False)


def _type_name(value: object) -> str:
    return {dict: "a mapping", list: "a list", str: "text", bool: "true/false", type(None): "nothing"}.get(
        type(value), type(value).__name__
    )


def _expand_env(value: str, path: str, env: Mapping[str, str]) -> str:
    def repl(m: re.Match[str]) -> str:
        name = m["name"]
        if name in env:
            return env[name]
        if m["default"] is not None:
            return m["default"]
        raise _UnsetVariable(f"{path}: environment variable {name} is not set")

    return _ENV.sub(repl, value)


def _env_reference(value: Any) -> bool:
    """Tell whether ``value`` is text holding a ``${VAR}`` reference (a typed key's value to expand first)."""
    return isinstance(value, str) and _ENV.search(value) is not None


def _expand_typed(tp: Any, value: Any, path: str, env: Mapping[str, str]) -> Any:
    """Return a bool or number key's ``${VAR}`` reference expanded and read as YAML reads it written literally.

    ``max_attempts: ${ATTEMPTS:-10}`` must be the number 10, checked like ``max_attempts: 10`` with
    the same one-line errors; an empty expansion is YAML's nothing (an optional key left unset).
    Other values, and other types, are returned as they are (text keys expand their own references).
    """
    if tp not in (bool, int, float) or not _env_reference(value):
        return value
    text = _expand_env(value, path, env)
    try:
        return yaml.load(text, Loader=UniqueKeyLoader)
    except (yaml.YAMLError, ValueError):  # not YAML at all, or an integer too long to read: it stays text
        return text


def _convert(tp: Any, value: Any, path: str, env: Mapping[str, str]) -> Any:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        # Unset (YAML's nothing, or a reference expanding to nothing) or converted from the value as
        # written: _convert expands it once; passing the expansion on would expand what it holds too.
        unset = _expand_typed(args[0], value, path, env) is None
        return None if unset else _convert(args[0], value, path, env)
    value = _expand_typed(tp, value, path, env)
    if origin is Literal:
        choices = typing.get_args(tp)
        from_env = _env_reference(value)
        given = _expand_env(value, path, env) if from_env else value
        if given not in choices:
            # A value from the environment is not echoed: the variable may hold something secret.
            got = f"{value} (its value is not shown)" if from_env else repr(value)
            raise ConfigError(f"{path}: must be one of {', '.join(map(str, choices))}, got {got}")
        return given
    if origin is tuple:
        if not isinstance(value, list):
            raise ConfigError(f"{path}: expected a list, got {_type_name(value)}")
        item = typing.get_args(tp)[0]
        return tuple(_convert(item, v, f"{path}[{i}]", env) for i, v in enumerate(value))
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return build(tp, value, path, env)
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{path}: expected true or false, got {_type_name(value)}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{path}: expected a whole number, got {_type_name(value)}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{path}: expected a number, got {_type_name(value)}")
        if not math.isfinite(value):  # YAML's .nan and .inf pass every range check below unnoticed
            raise ConfigError(f"{path}: expected a finite number, got {value}")
        return float(value)
    if tp is str:
        if isinstance(value, int | float) and not isinstance(value, bool):
            value = str(value)  # ids written unquoted, e.g. a Discord channel id
        if not isinstance(value, str):
            raise ConfigError(f"{path}: expected text, got {_type_name(value)}")
        return _expand_env(value, path, env)
    raise TypeError(f"unsupported config type {tp!r} at {path}")  # a programming error, not user input


REMOVED_KEYS = {
    "sources.huggingface.lead_minutes": "nothing read it: a day's list is fetched right before its post",
    "sources.files": "nothing read it: load files with 'digestbot ingest FILE'",
}
"""Keys older configs may still carry that no version acted on: a warning, not an error, so an upgrade starts."""


def build(cls: type[Any], data: Any, path: str = "", env: Mapping[str, str] | None = None) -> Any:
    """Build dataclass ``cls`` from a mapping, naming the dotted path of anything wrong."""
    env = os.environ if env is None else env
    where = path or "config"
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where}: expected a mapping of keys, got {_type_name(data)}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        sub = f"{path}.{key}" if path else str(key)
        if sub in REMOVED_KEYS:
            log.warning("%s: removed key, ignored (%s); delete it from the config", sub, REMOVED_KEYS[sub])
            continue
        if key not in fields:
            close = difflib.get_close_matches(str(key), fields, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f"; known keys: {', '.join(fields)}"
            raise ConfigError(f"{sub}: unknown key{hint}")
        try:
            kwargs[key] = _convert(hints[key], value, sub, env)
        except _UnsetVariable as exc:
            unset = _UNSET_SECRETS.get()
            if unset is None or not fields[key].metadata.get("secret"):
                raise
            unset.append(str(exc))
            kwargs[key] = ""
    missing = [
        n
        for n, f in fields.items()
        if n not in kwargs and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    ]
    if missing:
        raise ConfigError(f"{where}: missing required key {missing[0]!r}")
    return cls(**kwargs)


def _validate(config: Config) -> None:
    from digestbot.channels import check_setting
    from digestbot.labels import labels_for
    from digestbot.schedule import parse_schedule
    from digestbot.topics import parse_topic

    labels_for(config.locale)
    seen: set[tuple[str, str]] = set()
    for i, ch in enumerate(config.channels):
        where = f"channels[{i}]"
        if not ch.id.strip():
            raise ConfigError(f"{where}.id: must not be empty")
        if (ch.platform, ch.id) in seen:
            raise ConfigError(f"{where}: channel {ch.platform}:{ch.id} is listed twice")
        seen.add((ch.platform, ch.id))
        try:
            check_setting("top", ch.top)
        except CommandError as exc:
            raise ConfigError(f"{where}.top: {exc}") from None
        parse_schedule(ch.time, ch.timezone, list(ch.weekdays), where=where)
        for j, topic in enumerate(ch.topics):
            try:
                parse_topic(topic, max_length=config.subscriptions.max_topic_length)
            except CommandError as exc:
                raise ConfigError(f"{where}.topics[{j}]: {exc}") from None
        if ch.layout == "forum" and ch.platform == "slack":
            raise ConfigError(f"{where}.layout: forum is for Discord forum channels; on Slack use compact")
        if ch.language and not valid_language(ch.language):
            raise ConfigError(f"{where}.language: {_LANGUAGE_HINT}, got {ch.language!r}")
    _validate_ranges(config)
    _validate_base_urls(config)
    _validate_arxiv(config.sources.arxiv)
    _validate_summaries(config.summaries)
    _validate_shards(config.discord)
    _validate_ops(config.ops)
    _validate_slack_oauth(config.slack)


RANGES: dict[str, tuple[float, float]] = {
    "sources.huggingface.timeout": (0, 3600),
    "sources.arxiv.timeout": (0, 3600),
    "sources.arxiv.min_interval": (0, 3600),
    "slack.port": (0, 65535),
    "subscriptions.max_topics": (1, 1000),
    "subscriptions.max_topic_length": (3, 1000),
    "delivery.catch_up_hours": (0, 8784),
    "delivery.list_settles_hours": (0, 168),
    "delivery.empty_retry_minutes": (0, 1440),
    "delivery.empty_cutoff_hours": (0, 168),
    "delivery.max_attempts": (1, 100),
    "delivery.concurrency": (1, 1024),
    "summaries.concurrency": (1, 64),
    "summaries.timeout": (0, 3600),
    "summaries.deadline": (0, 86400),
}
"""Each numeric key's sane range, inclusive; a float bound of 0 is exclusive for the keys in POSITIVE.

Upper bounds keep a typo (``catch_up_hours: 1e9``) from reaching ``timedelta`` or a timer as an
overflow traceback hours later; a value beyond one is never a setting anyone meant.
"""

POSITIVE = {
    "sources.huggingface.timeout",
    "sources.arxiv.timeout",
    "delivery.empty_retry_minutes",
    "summaries.timeout",
    "summaries.deadline",
}
"""Keys where 0 means nothing useful (a zero timeout fails every request; a zero retry spins)."""


def _validate_ranges(config: Config) -> None:
    """Refuse a numeric key outside :data:`RANGES` in one line naming the key, its range and the value."""
    for key, (low, high) in RANGES.items():
        value: Any = config
        for part in key.split("."):
            value = getattr(value, part)
        if value is None:  # an optional key left unset
            continue
        if key in POSITIVE and not 0 < value <= high:
            raise ConfigError(f"{key}: must be above 0 and at most {high:,g}, got {_number(value)}")
        if not low <= value <= high:
            raise ConfigError(f"{key}: must be between {low:,g} and {high:,g}, got {_number(value)}")


def _number(value: float) -> str:
    """Write a number as the user would have: 100,000,000 for an int (not 1e+08), 0.5 or 1e+300 for a float."""
    return f"{value:,}" if isinstance(value, int) else f"{value:,g}"


MAX_SHARDS = 100_000
"""A sane ceiling for ``discord.shard_count`` (Discord asks for one shard per 1,000-2,500 servers)."""


def _validate_shards(discord: DiscordConfig) -> None:
    """Check ``discord.shard_count``/``shard_ids``: ids need a count, and each lies in 0..count-1, once."""
    count, ids = discord.shard_count, discord.shard_ids
    if count is None:
        if ids:
            raise ConfigError("discord.shard_ids: needs discord.shard_count (the total number of shards)")
        return
    if count < 1:
        raise ConfigError(f"discord.shard_count: must be at least 1, got {count}")
    if count > MAX_SHARDS:  # "all of them" would start that many gateway connections
        raise ConfigError(f"discord.shard_count: must be at most {MAX_SHARDS:,}, got {count:,}")
    seen: set[int] = set()
    for i, shard in enumerate(ids):
        if not 0 <= shard < count:
            raise ConfigError(
                f"discord.shard_ids[{i}]: shard {shard} is outside 0..{count - 1} (discord.shard_count is {count})"
            )
        if shard in seen:
            raise ConfigError(f"discord.shard_ids[{i}]: shard {shard} is listed twice")
        seen.add(shard)


def _validate_ops(ops: OpsConfig) -> None:
    """Check the ops port's address (a bad one would only fail once ``run`` is already connecting)."""
    if ops.port is not None and not 0 <= ops.port <= 65535:
        raise ConfigError(f"ops.port: must be between 0 and 65535, got {ops.port}")
    if not ops.host.strip():
        raise ConfigError("ops.host: must not be empty (127.0.0.1 serves this machine only; 0.0.0.0 every interface)")


def _validate_slack_oauth(slack: SlackConfig) -> None:
    """OAuth installs need HTTP mode (Slack has no OAuth redirect over Socket Mode) and a client id."""
    if slack.oauth is None:
        return
    if slack.mode != "http":
        raise ConfigError("slack.oauth: needs slack.mode: http (installs arrive at /slack/oauth_redirect)")
    if slack.bot_token:
        raise ConfigError("slack.oauth: leave slack.bot_token unset (each workspace's token comes from its install)")
    if not slack.oauth.client_id.strip():
        raise ConfigError("slack.oauth.client_id: must be set (Basic Information → App Credentials)")
    if not slack.oauth.scopes:
        raise ConfigError("slack.oauth.scopes: must list at least one bot scope")
    if not 0 <= slack.oauth.token_refresh_minutes <= 720:
        raise ConfigError("slack.oauth.token_refresh_minutes: must be between 0 and 720 (tokens live 12 hours)")


_LANGUAGE = re.compile(r"[A-Za-z]{2,3}(?:-[A-Za-z0-9]{2,8})*")
_LANGUAGE_HINT = "expected a language code such as ko, en, ja or pt-BR"


def valid_language(code: str) -> bool:
    """Tell whether ``code`` looks like a language code (``ko``, ``en``, ``pt-BR``)."""
    return bool(_LANGUAGE.fullmatch(code))


def _validate_base_urls(config: Config) -> None:
    """Refuse a base URL that is not http(s) with a host, or that carries a query or fragment.

    Paths are appended to a base URL (``…/api/daily_papers?date=…``): a query in it would end
    up in the middle (``?token=T/api/daily_papers``) and a fragment would cut the request short.
    """
    from urllib.parse import urlsplit

    from digestbot.redact import redact_password

    for key, url in (
        ("sources.huggingface.base_url", config.sources.huggingface.base_url),
        ("sources.arxiv.base_url", config.sources.arxiv.base_url),
        ("summaries.base_url", config.summaries.base_url),
        ("discord.api_base_url", config.discord.api_base_url),
        ("slack.api_base_url", config.slack.api_base_url),
    ):
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"{key}: expected an http(s) URL with a host, got {redact_password(url)!r}")
        if parts.query or parts.fragment:
            raise ConfigError(
                f"{key}: a base URL may not carry a query or fragment ({redact_password(url)!r}):"
                " paths are appended to it; put credentials in the keys meant for them"
            )


def _validate_summaries(summaries: SummariesConfig) -> None:

    if summaries.language and not valid_language(summaries.language):
        raise ConfigError(f"summaries.language: {_LANGUAGE_HINT}, got {summaries.language!r}")
    if not summaries.model.strip():
        raise ConfigError("summaries.model: must not be empty")


def _validate_arxiv(arxiv: ArxivConfig) -> None:
    from urllib.parse import urlsplit

    from digestbot.arxiv_categories import CATEGORIES, suggest_category
    from digestbot.sources.arxiv import MIN_INTERVAL

    for i, category in enumerate(arxiv.categories):
        if category not in CATEGORIES:
            close = suggest_category(category)
            hint = f"did you mean {' or '.join(close)}?" if close else "e.g. cs.CL (see arxiv.org/category_taxonomy)"
            raise ConfigError(f"sources.arxiv.categories[{i}]: not an arXiv category: {category!r}; {hint}")
    host = urlsplit(arxiv.base_url).hostname or ""
    if arxiv.min_interval < MIN_INTERVAL and host not in ("127.0.0.1", "::1", "localhost"):
        raise ConfigError(
            f"sources.arxiv.min_interval: arXiv allows one request every {MIN_INTERVAL:g} s at most"
            f" (API Terms of Use); {arxiv.min_interval:g} is only accepted for a loopback base_url"
        )


def load_config(path: str | Path | None, *, env: Mapping[str, str] | None = None) -> Config:
    """Load and validate a YAML config file; None gives the defaults (the embedded demo setup)."""
    if path is None:
        config = Config()
    else:
        path = Path(path)
        try:
            text = read_capped(path, MAX_CONFIG_BYTES).decode("utf-8")
        except TooLarge as exc:
            raise ConfigError(f"{path}: config too large ({exc.describe()}); a config is a few kilobytes") from None
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read config: {exc.strerror or exc}") from None
        except UnicodeDecodeError:
            raise ConfigError(f"{path}: config is not UTF-8 text") from None
        try:
            data = yaml.load(text, Loader=UniqueKeyLoader)  # a SafeLoader that refuses a key written twice
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f"{path}:{mark.line + 1}" if mark else str(path)
            raise ConfigError(f"{where}: invalid YAML: {getattr(exc, 'problem', None) or 'cannot parse'}") from None
        except ValueError:  # an integer Python refuses to convert (over 4,300 digits)
            long = re.search(r"\d{4000,}", text)
            line = text.count("\n", 0, long.start()) + 1 if long else 0
            where = f"{path}:{line}" if line else str(path)
            raise ConfigError(f"{where}: invalid YAML: a number too long to read") from None
        unset: list[str] = []
        token = _UNSET_SECRETS.set(unset)
        try:
            config = build(Config, data, "", env)
        except ConfigError as exc:
            raise ConfigError(f"{path}: {exc}") from None
        finally:
            _UNSET_SECRETS.reset(token)
        object.__setattr__(config, "unset_secrets", tuple(unset))
    try:
        _validate(config)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}" if path else str(exc)) from None
    return config


def redacted(config: Any) -> dict[str, Any]:
    """Return the config as plain data with every secret field replaced by ``***`` (or empty).

    A password inside any URL-valued string (``postgresql://bot:pw@db``, a ``base_url`` with
    ``user:pw@``) is a secret too, whatever the key: it is shown as ``***``.
    """
    from digestbot.redact import redact_password

    def plain(value: Any) -> Any:
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return redacted(value)
        if isinstance(value, str):
            return redact_password(value)
        if isinstance(value, tuple | list):
            return [plain(v) for v in value]
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        return value

    out: dict[str, Any] = {}
    for f in dataclasses.fields(config):
        if not f.init:
            continue
        value = getattr(config, f.name)
        out[f.name] = ("***" if value else "") if f.metadata.get("secret") else plain(value)
    return out
