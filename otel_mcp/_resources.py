"""Find the repo's `prompts/` and `gates/` whether installed from a wheel or run from a checkout."""

from __future__ import annotations

import importlib
from importlib import resources
from importlib.abc import Traversable
from pathlib import Path

__all__ = ["bundled", "example_gates_dir"]


def bundled(name: str) -> Traversable:
    """`prompts` or `example_gates`: the packaged copy, else the checkout's directory (editable installs)."""
    try:
        return resources.files(f"otel_mcp.{name}")
    except ModuleNotFoundError:
        checkout = {"prompts": "prompts", "example_gates": "gates"}[name]
        return Path(__file__).resolve().parent.parent / checkout


def example_gates_dir() -> Path | None:
    """The bundled example gates as a real directory, or None.

    The packaged folder has no `__init__.py`, so it is a namespace package and `resources.files`
    gives a MultiplexedPath (see FIELD-NOTES), whose text is not a path: the package's own
    `__path__` names its real directories.
    """
    try:
        package = importlib.import_module("otel_mcp.example_gates")
    except ModuleNotFoundError:
        package = None
    for entry in getattr(package, "__path__", None) or []:
        if Path(entry).is_dir():
            return Path(entry)
    checkout = Path(__file__).resolve().parent.parent / "gates"  # an editable install without the mapping
    return checkout if checkout.is_dir() else None
