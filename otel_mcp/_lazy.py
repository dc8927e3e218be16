"""Lazy package exports (PEP 562), for packages whose one-shot users need only a few of their parts.

A package lists where each public name lives (`{name: submodule}`) and sets
`__getattr__ = lazy_exports(__name__, homes)`: a name's submodule is imported on first use and
the value cached in the package, so `otel-mcp gates status` and the git hooks do not pay at start
for the check runner, pydantic result models or OpenTelemetry's SDK. Imports nothing of otel-mcp.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(package: str, homes: Mapping[str, str]) -> Callable[[str], Any]:
    """A module `__getattr__` that resolves `name` from `package.<homes[name]>` and caches it."""

    def __getattr__(name: str) -> Any:
        if name not in homes:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{homes[name]}"), name)
        setattr(sys.modules[package], name, value)
        return value

    return __getattr__
