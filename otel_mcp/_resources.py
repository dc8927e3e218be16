"""Find the repo's `prompts/` and `gates/` whether installed from a wheel or run from a checkout."""

from __future__ import annotations

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
    """The bundled example gates as a real directory, or None (a packaged copy may be a MultiplexedPath,
    see FIELD-NOTES: only a real directory can be served)."""
    found = bundled("example_gates")
    return Path(str(found)) if found is not None and Path(str(found)).is_dir() else None
