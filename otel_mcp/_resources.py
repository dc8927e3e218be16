"""Find the repo's `prompts/` and `gates/` whether installed from a wheel or run from a checkout."""

from __future__ import annotations

from importlib import resources
from importlib.abc import Traversable
from pathlib import Path

__all__ = ["bundled"]


def bundled(name: str) -> Traversable:
    """`prompts` or `example_gates`: the packaged copy, else the checkout's directory (editable installs)."""
    try:
        return resources.files(f"otel_mcp.{name}")
    except ModuleNotFoundError:
        checkout = {"prompts": "prompts", "example_gates": "gates"}[name]
        return Path(__file__).resolve().parent.parent / checkout
