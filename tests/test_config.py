from __future__ import annotations

from pathlib import Path

import pytest

from digestbot.config import Config, load_config, redacted
from digestbot.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_example_config_is_valid() -> None:
    env = {"DISCORD_TOKEN": "d", "SLACK_BOT_TOKEN": "xoxb", "SLACK_APP_TOKEN": "xapp", "SLACK_SIGNING_SECRET": "s"}
    config = load_config(ROOT / "config.example.yaml", env=env)
    assert isinstance(config, Config)
    assert config.channels


def test_defaults() -> None:
    assert load_config(None) == Config()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("slack:\n  bot_tokn: x\n", "slack.bot_tokn: unknown key; did you mean 'bot_token'?"),
        ("databse: x.db\n", "databse: unknown key; did you mean 'database'?"),
        ("slack:\n  port: eighty\n", "slack.port: expected a whole number, got text"),
        ("slack:\n  enabled: 'yes'\n", "slack.enabled: expected true or false, got text"),
        ("slack:\n  mode: webhook\n", "slack.mode: must be one of socket, http"),
        ("channels: {}\n", "channels: expected a list"),
        ("channels:\n  - id: C1\n", "channels[0]: missing required key 'platform'"),
        ("channels:\n  - {platform: slack, id: C1, timezone: Asia/Seol}\n", "Asia/Seol"),
        ("channels:\n  - {platform: slack, id: C1, time: '25:00'}\n", "channels[0].time"),
        ("channels:\n  - {platform: slack, id: C1, top: 0}\n", "channels[0].top: must be between 1 and 100"),
        ("channels:\n  - {platform: irc, id: C1}\n", "channels[0].platform: must be one of discord, slack, console"),
        ("channels:\n  - {platform: slack, id: C1}\n  - {platform: slack, id: C1}\n", "listed twice"),
        ("database: ${NOPE_NOT_SET}\n", "database: environment variable NOPE_NOT_SET is not set"),
        ("locale: fr\n", "unknown locale 'fr'"),
        ("slack: [unclosed\n", "invalid YAML"),
        ("locale: en\nslack:\n  port: " + "9" * 5000 + "\n", "config.yaml:3: invalid YAML: a number too long to read"),
        ("- a\n- b\n", "config: expected a mapping"),
    ],
)
def test_config_errors(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text), env={})
    assert message in str(info.value)
    assert str(info.value).startswith(str(tmp_path))
    assert "\n" not in str(info.value)


def test_env_expansion_and_redaction(tmp_path: Path) -> None:
    path = write(tmp_path, "slack:\n  bot_token: ${TOKEN}\n  app_token: ${APP:-fallback}\n")
    config = load_config(path, env={"TOKEN": "xoxb-very-secret"})
    assert config.slack.bot_token == "xoxb-very-secret"
    assert config.slack.app_token == "fallback"
    shown = redacted(config)
    assert shown["slack"]["bot_token"] == "***"
    assert "xoxb-very-secret" not in repr(shown)


def test_secret_never_in_errors(tmp_path: Path) -> None:
    path = write(tmp_path, "slack:\n  port: ${PORT}\n")
    with pytest.raises(ConfigError) as info:
        load_config(path, env={"PORT": "s3cr3t"})
    assert "s3cr3t" not in str(info.value)


def test_example_config_documents_every_key() -> None:
    import dataclasses

    text = (ROOT / "config.example.yaml").read_text(encoding="utf-8")

    def keys(cls: type, prefix: str = "") -> list[str]:
        out = []
        for f in dataclasses.fields(cls):
            if not f.init:  # set at load time, not a key
                continue
            default = f.default if f.default is not dataclasses.MISSING else None
            if dataclasses.is_dataclass(default):
                out += keys(type(default), f"{prefix}{f.name}.")
            else:
                out.append(f"{prefix}{f.name}")
        return out

    from digestbot.config import ChannelConfig

    missing = [
        k
        for k in keys(Config) + [f"channels.{k}" for k in keys(ChannelConfig)]
        if f"{k.rsplit('.', 1)[-1]}:" not in text
    ]
    assert missing == [], f"config.example.yaml does not mention: {missing}"


def test_secrets_never_in_a_repr(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "discord: {token: '${D}'}\nslack: {bot_token: '${B}', app_token: '${A}', signing_secret: '${S}'}\n",
    )
    env = {"D": "discord-s3cr3t", "B": "xoxb-s3cr3t", "A": "xapp-s3cr3t", "S": "signing-s3cr3t"}
    config = load_config(path, env=env)
    assert config.discord.token == "discord-s3cr3t"  # loaded, only never printed
    for shown in (repr(config), str(config), repr(config.slack), repr(config.discord), f"{config!r:>10}"):
        assert not any(secret in shown for secret in env.values()), shown


@pytest.mark.parametrize(
    ("category", "hint"),
    [
        ("cs.Cl", "did you mean cs.CL?"),
        ("computer-science", "did you mean cs.CL or cs.LG or cs.CV?"),
        ("cs.CLL", "cs.CL"),
        ("hep_th", "hep-th"),
        ("zz.qq", "e.g. cs.CL"),
    ],
)
def test_arxiv_category_typos_suggest_the_closest(tmp_path: Path, category: str, hint: str) -> None:
    path = write(tmp_path, f"sources:\n  arxiv:\n    categories: [cs.LG, {category}]\n")
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    message = str(info.value)
    assert f"sources.arxiv.categories[1]: not an arXiv category: {category!r}; " in message
    assert hint in message


def test_real_arxiv_categories_pass(tmp_path: Path) -> None:
    path = write(
        tmp_path, "sources:\n  arxiv:\n    categories: [cs.CL, stat.ML, hep-th, cond-mat.stat-mech, eess.IV]\n"
    )
    assert load_config(path, env={}).sources.arxiv.categories[3] == "cond-mat.stat-mech"


def test_an_unset_secret_is_recorded_not_raised(tmp_path: Path) -> None:
    """Only the commands that use a platform need its token: loading the config must not fail."""
    config = load_config(write(tmp_path, "discord:\n  enabled: true\n  token: ${NOPE_NOT_SET}\n"), env={})
    assert config.discord.token == ""
    assert config.unset_secrets == ("discord.token: environment variable NOPE_NOT_SET is not set",)
    assert "unset_secrets" not in redacted(config)


def test_removed_keys_load_with_a_warning_naming_them(tmp_path, caplog):
    # sources.huggingface.lead_minutes and sources.files were never read: an old config still starts.
    from digestbot.config import load_config

    path = tmp_path / "old.yaml"
    path.write_text("sources:\n  huggingface:\n    lead_minutes: 30\n  files: [a.md]\n", encoding="utf-8")
    with caplog.at_level("WARNING", logger="digestbot.config"):
        config = load_config(path, env={})
    assert not hasattr(config.sources, "files") and not hasattr(config.sources.huggingface, "lead_minutes")
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2
    assert lines[0].startswith("sources.huggingface.lead_minutes: removed key, ignored")
    assert lines[1].startswith("sources.files: removed key, ignored")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("delivery:\n  max_attempts: 0\n", "delivery.max_attempts: must be between 1 and 100, got 0"),
        ("delivery:\n  concurrency: 0\n", "delivery.concurrency: must be between 1 and 1,024, got 0"),
        (
            "delivery:\n  empty_retry_minutes: -5\n",
            "delivery.empty_retry_minutes: must be above 0 and at most 1,440, got -5",
        ),
        (
            "delivery:\n  empty_retry_minutes: 0\n",
            "delivery.empty_retry_minutes: must be above 0 and at most 1,440, got 0",
        ),
        ("delivery:\n  catch_up_hours: -1\n", "delivery.catch_up_hours: must be between 0 and 8,784, got -1"),
        ("delivery:\n  catch_up_hours: 1.0e+300\n", "delivery.catch_up_hours: must be between 0 and 8,784, got 1e+300"),
        ("delivery:\n  empty_cutoff_hours: -3\n", "delivery.empty_cutoff_hours: must be between 0 and 168, got -3"),
        ("delivery:\n  list_settles_hours: -100\n", "delivery.list_settles_hours: must be between 0 and 168, got -100"),
        ("delivery:\n  list_settles_hours: .nan\n", "delivery.list_settles_hours: expected a finite number, got nan"),
        ("delivery:\n  max_attempts: 100000000\n", "delivery.max_attempts: must be between 1 and 100, got 100,000,000"),
        (
            "sources:\n  huggingface:\n    timeout: 0\n",
            "sources.huggingface.timeout: must be above 0 and at most 3,600, got 0",
        ),
        (
            "sources:\n  huggingface:\n    timeout: .inf\n",
            "sources.huggingface.timeout: expected a finite number, got inf",
        ),
        ("sources:\n  arxiv:\n    timeout: -1\n", "sources.arxiv.timeout: must be above 0 and at most 3,600, got -1"),
        (
            "sources:\n  arxiv:\n    base_url: http://127.0.0.1:1\n    min_interval: -1\n",
            "sources.arxiv.min_interval: must be between 0 and 3,600, got -1",
        ),
        ("slack:\n  port: 70000\n", "slack.port: must be between 0 and 65,535, got 70,000"),
        (
            "discord:\n  shard_count: 1000000000\n",
            "discord.shard_count: must be at most 100,000, got 1,000,000,000",
        ),
        ("subscriptions:\n  max_topics: 0\n", "subscriptions.max_topics: must be between 1 and 1,000, got 0"),
        (
            "subscriptions:\n  max_topic_length: 2\n",
            "subscriptions.max_topic_length: must be between 3 and 1,000, got 2",
        ),
        ("summaries:\n  deadline: -1\n", "summaries.deadline: must be above 0 and at most 86,400, got -1"),
    ],
)
def test_numeric_keys_out_of_range_are_refused(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value) == f"{path}: {message}"


def test_out_of_range_config_is_one_line_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from digestbot.cli import main

    path = write(tmp_path, "delivery:\n  list_settles_hours: -100\n")
    assert main(["check-config", str(path)]) == 2
    err = capsys.readouterr().err
    assert err == f"digestbot: error: {path}: delivery.list_settles_hours: must be between 0 and 168, got -100\n"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "delivery:\n  max_attempts: 3\n  max_attempts: 9\n",
            ":3: invalid YAML: duplicate key 'max_attempts' (first at line 2)",
        ),
        (
            "delivery: {}\nlocale: en\ndelivery:\n  concurrency: 2\n",
            ":3: invalid YAML: duplicate key 'delivery' (first at line 1)",
        ),
        ('{"locale": "en", "locale": "ko"}\n', ":1: invalid YAML: duplicate key 'locale' (first at line 1)"),
    ],
)
def test_a_key_written_twice_is_refused(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value) == f"{path}{message}"


def test_merge_keys_may_still_be_overridden(tmp_path: Path) -> None:
    """Overriding what ``<<`` merged in is what merge keys are for: not a key written twice."""
    path = write(tmp_path, "channels:\n  - <<: {platform: slack, top: 5}\n    id: C1\n    top: 7\n")
    assert load_config(path).channels[0].top == 7


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "sources:\n  huggingface:\n    base_url: http://h/x?token=T\n",
            "sources.huggingface.base_url: a base URL may not carry a query or fragment ('http://h/x?token=T'):"
            " paths are appended to it; put credentials in the keys meant for them",
        ),
        (
            "summaries:\n  base_url: http://u:secret@h/v1#x\n",
            "summaries.base_url: a base URL may not carry a query or fragment ('http://u:***@h/v1#x'):"
            " paths are appended to it; put credentials in the keys meant for them",
        ),
        (
            "slack:\n  api_base_url: ftp://h/api/\n",
            "slack.api_base_url: expected an http(s) URL with a host, got 'ftp://h/api/'",
        ),
    ],
)
def test_base_urls_take_no_query_and_need_a_host(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value) == f"{path}: {message}"


TYPED = (
    "delivery:\n  max_attempts: ${ATTEMPTS:-10}\n  catch_up_hours: ${CATCH_UP}\n"
    "slack:\n  threads: ${THREADS:-false}\n  mode: ${MODE:-http}\n"
    "ops:\n  port: ${OPS_PORT:-}\n"
    "discord:\n  shard_count: ${SHARDS:-2}\n  shard_ids:\n    - ${SHARD:-1}\n"
    "channels:\n  - {platform: console, id: x, top: '${TOP:-5}', enabled: '${ON:-yes}'}\n"
)


def test_typed_keys_take_env_references_with_or_without_defaults(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, TYPED), env={"CATCH_UP": "12.5"})
    assert (config.delivery.max_attempts, config.delivery.catch_up_hours) == (10, 12.5)
    assert (config.slack.threads, config.slack.mode, config.ops.port) == (False, "http", None)  # '' leaves it unset
    assert (config.discord.shard_count, config.discord.shard_ids) == (2, (1,))
    assert (config.channels[0].top, config.channels[0].enabled) == (5, True)
    env = {"CATCH_UP": "1", "ATTEMPTS": "3", "THREADS": "true", "MODE": "socket", "OPS_PORT": "9100", "TOP": "7"}
    config = load_config(write(tmp_path, TYPED), env=env)
    assert (config.delivery.max_attempts, config.slack.threads, config.slack.mode) == (3, True, "socket")
    assert (config.ops.port, config.channels[0].top, type(config.delivery.catch_up_hours)) == (9100, 7, float)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "delivery.catch_up_hours: environment variable CATCH_UP is not set"),
        ({"CATCH_UP": "soon"}, "delivery.catch_up_hours: expected a number, got text"),
        ({"CATCH_UP": ".nan"}, "delivery.catch_up_hours: expected a finite number, got nan"),
        ({"CATCH_UP": "1", "ATTEMPTS": "500"}, "delivery.max_attempts: must be between 1 and 100, got 500"),
        ({"CATCH_UP": "1", "ATTEMPTS": "[1, 2]"}, "delivery.max_attempts: expected a whole number, got a list"),
        ({"CATCH_UP": "1", "ATTEMPTS": "9" * 5000}, "delivery.max_attempts: expected a whole number, got text"),
        ({"CATCH_UP": "1", "THREADS": "maybe"}, "slack.threads: expected true or false, got text"),
        ({"CATCH_UP": "1", "TOP": "0"}, "channels[0].top: must be between 1 and 100, got 0"),
        ({"CATCH_UP": "1", "SHARD": "2"}, "discord.shard_ids[0]: shard 2 is outside 0..1 (discord.shard_count is 2)"),
        ({"CATCH_UP": "1", "OPS_PORT": "80000"}, "ops.port: must be between 0 and 65535, got 80000"),
        # A value is expanded once: one that itself reads ${…} is that text, in an optional key too.
        ({"CATCH_UP": "1", "OPS_PORT": "${PORT}", "PORT": "9100"}, "ops.port: expected a whole number, got text"),
        (
            {"CATCH_UP": "1", "MODE": "xoxb-s3cr3t"},
            "slack.mode: must be one of socket, http, got ${MODE:-http} (its value is not shown)",
        ),
    ],
)
def test_typed_env_references_are_checked_like_literals(tmp_path: Path, env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, TYPED), env=env)
    assert str(info.value) == f"{tmp_path / 'config.yaml'}: {message}"
    assert "s3cr3t" not in str(info.value)
