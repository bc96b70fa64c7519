"""Every property test runs without a wall-clock deadline: a loaded 2-core CI machine is not a bug."""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path
from types import ModuleType

from hypothesis import settings

TESTS = Path(__file__).resolve().parent


def _test_modules() -> list[ModuleType]:
    modules = []
    for path in sorted(TESTS.rglob("test_*.py")):
        if "@given" not in path.read_text(encoding="utf-8"):
            continue
        name = ".".join(path.relative_to(TESTS.parent).with_suffix("").parts)
        modules.append(importlib.import_module(name))
    return modules


def test_every_property_test_has_no_deadline() -> None:
    found = []
    for module in _test_modules():
        for name, fn in inspect.getmembers(module, inspect.isfunction):
            if getattr(fn, "is_hypothesis_test", False):
                effective = getattr(fn, "_hypothesis_internal_use_settings", None) or settings.default
                found.append((f"{module.__name__}.{name}", effective.deadline))
    assert len(found) >= 8  # the walk really found the property tests
    assert [(name, deadline) for name, deadline in found if deadline is not None] == []
