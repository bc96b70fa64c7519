"""Build the adapters a config asks for: the one place that maps a platform name to its module.

Platform modules are imported lazily, so the core never imports discord or slack, and a machine
without a platform's packages can still run the others.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Coroutine, Iterable, Mapping
from pathlib import Path
from typing import Any

from digestbot.config import Config
from digestbot.errors import ConfigError
from digestbot.ports import Adapter

#: platform name -> (module, factory function called as factory(config)).
PLATFORM_MODULES: dict[str, tuple[str, str]] = {
    "discord": ("adapters.discord_bot", "create_adapter"),
    "slack": ("adapters.slack_app", "create_adapter"),
}


def transcript_path(config: Config, database: str | Path | None = None) -> Path:
    """Return the console transcript file: next to the database, so a re-run sees what was posted."""
    db = Path(database or config.database)
    return db.with_name(db.name + ".console.jsonl")


def enabled_platforms(config: Config) -> list[str]:
    """Return the platforms to run: every platform with a configured channel or turned on in config."""
    wanted = {c.platform for c in config.channels if c.enabled}
    wanted |= {p for p in ("discord", "slack") if getattr(config, p).enabled}
    return sorted(wanted)


def adapters_for(
    config: Config, *, platforms: Iterable[str] | None = None, database: str | Path | None = None, **console: Any
) -> dict[str, Adapter]:
    """Return an adapter per platform (default: :func:`enabled_platforms`), not yet started.

    Console adapters write their transcript next to the database (:func:`transcript_path`);
    ``console`` keyword arguments go to :class:`adapters.console.ConsoleAdapter`. Raises
    ConfigError when a platform's adapter module is missing.
    """
    out: dict[str, Adapter] = {}
    for platform in platforms if platforms is not None else enabled_platforms(config):
        if platform == "console":
            from adapters.console import ConsoleAdapter

            console.setdefault("transcript", transcript_path(config, database))
            out[platform] = ConsoleAdapter(**console)
            continue
        if platform not in PLATFORM_MODULES:
            raise ConfigError(f"unknown platform {platform!r}; known: console, {', '.join(PLATFORM_MODULES)}")
        module_name, factory_name = PLATFORM_MODULES[platform]
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            raise ConfigError(
                f"{platform}: its adapter ({module_name}) cannot be imported: {exc}; is digestbot fully installed?"
            ) from None
        factory = getattr(module, factory_name, None)
        if factory is None:
            raise ConfigError(f"{platform}: {module_name} has no {factory_name}(config) function")
        out[platform] = factory(config)
    return out


def command_servers(adapters: Mapping[str, Adapter]) -> dict[str, Callable[..., Coroutine[Any, Any, None]]]:
    """Return each chat platform's ``serve(config, store, adapter, *, stop, engine)`` (slash commands).

    Only platforms that receive commands have one; the console adapter does not.
    """
    out: dict[str, Callable[..., Coroutine[Any, Any, None]]] = {}
    for platform in adapters:
        if platform in PLATFORM_MODULES:
            module = importlib.import_module(PLATFORM_MODULES[platform][0])
            serve = getattr(module, "serve", None)
            if serve is not None:
                out[platform] = serve
    return out
