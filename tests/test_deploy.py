"""The container files hold their essentials: a slim non-root image, PostgreSQL and two bots with health checks.

The image cannot be built here (no registry access), so these read the files instead: what would
silently break a deployment (root user, no health check, a bot not on the shared database, two
processes on the same Discord shard) fails a test.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import yaml

from digestbot.config import load_config
from tests.conftest import ROOT

COMPOSE = ROOT / "docker-compose.yml"
BOTS = ("bot-a", "bot-b")


def _dockerfile() -> list[tuple[str, str]]:
    """Return the Dockerfile's instructions as (INSTRUCTION, arguments), continuation lines joined."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text(encoding="utf-8"))
    lines = [line.strip() for line in text.splitlines()]
    return [
        (w[0].upper(), w[1] if len(w) > 1 else "")
        for w in (line.split(None, 1) for line in lines if line and not line.startswith("#"))
    ]


def _compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    return data


def test_the_image_is_slim_non_root_and_runs_digestbot() -> None:
    steps = _dockerfile()
    [base] = [args for op, args in steps if op == "FROM"]
    assert base == "${PYTHON_IMAGE}"  # a build argument, so a local base can stand in (docker/compose.offline.yml)
    [default] = [args.split("=", 1)[1] for op, args in steps if op == "ARG" and args.startswith("PYTHON_IMAGE=")]
    assert re.fullmatch(r"python:3\.1[1-9]-slim(-\w+)?", default), default  # the official slim image by default
    assert any(op == "RUN" and "python3 -m venv /opt/venv" in args for op, args in steps)  # works on either base
    assert any(op == "RUN" and "pip install ." in args for op, args in steps)
    users = [args for op, args in steps if op == "USER"]
    assert users and users[-1] not in ("root", "0"), "the image must end as a non-root user"
    assert ("ENTRYPOINT", '["digestbot"]') in steps
    dockerignore = (ROOT / ".dockerignore").read_text(encoding="utf-8").split()
    assert {".git", ".venv", "*.sqlite3", ".env"} <= set(dockerignore)  # no state or secrets in the build context


def test_compose_runs_postgres_and_two_bots_with_health_checks() -> None:
    services = _compose()["services"]
    assert set(services) == {"postgres", *BOTS}
    postgres = services["postgres"]
    assert postgres["image"].startswith("postgres:")
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    assert "${POSTGRES_PASSWORD:?" in postgres["environment"]["POSTGRES_PASSWORD"]  # no default password
    for name in BOTS:
        bot = services[name]
        assert bot["build"] == "."
        assert bot["depends_on"] == {"postgres": {"condition": "service_healthy"}}
        assert "http://127.0.0.1:9090/healthz" in " ".join(bot["healthcheck"]["test"])
        env = bot["environment"]
        assert env["DIGESTBOT_DATABASE"].startswith("postgresql://digestbot:${POSTGRES_PASSWORD")
        assert env["DIGESTBOT_DATABASE"].endswith("@postgres:5432/digestbot")
        assert env["DIGESTBOT_CONFIG"] == f"/config/{name}.yaml"
        assert all(port.startswith("127.0.0.1:") for port in bot["ports"])  # metrics for the host only


def _bot_config(name: str) -> Any:
    env = {"DIGESTBOT_DATABASE": "postgresql://digestbot:pw@postgres:5432/digestbot", "DISCORD_TOKEN": "t"}
    return load_config(ROOT / "docker" / f"{name}.yaml", env=env)


def test_the_two_bots_share_everything_but_their_discord_shards() -> None:
    a, b = (_bot_config(name) for name in BOTS)
    assert a.database == "postgresql://digestbot:pw@postgres:5432/digestbot"
    assert a.ops.port == 9090 and a.ops.host == "0.0.0.0"  # what the health check and the published port use
    assert dataclasses.replace(a, discord=dataclasses.replace(a.discord, shard_ids=())) == dataclasses.replace(
        b, discord=dataclasses.replace(b.discord, shard_ids=())
    )
    count = a.discord.shard_count
    assert count is not None
    assert sorted(a.discord.shard_ids + b.discord.shard_ids) == list(range(count))  # every shard, once
