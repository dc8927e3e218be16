"""How this otel-mcp was installed, for messages and files that must name a way to run it again.

`uvx` (`uv tool run`) runs a tool from an environment in uv's cache: disposable, removed by `uv
cache clean` or a cache prune, and recreated elsewhere on the next `uvx`. A path into it written
into a git hook breaks ("exec: …/bin/python: not found") once the cache is cleared. uv's cache is
`UV_CACHE_DIR`, else `$XDG_CACHE_HOME/uv`, else `~/.cache/uv`; its environments sit in versioned
buckets (`archive-v0` for the environments uvx caches, `builds-v0` for the ephemeral ones of
`uv run --with` / `uvx --with`), which also identify a cache moved elsewhere. `uv tool install`
puts tools in uv's tools directory instead, which stays. uv environments have no pip.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from importlib import metadata
from pathlib import Path

__all__ = ["direct_url", "has_pip", "in_pipx", "uv_cache_dirs", "uv_ephemeral"]

_BUCKETS = ("archive-v", "builds-v")


def uv_cache_dirs() -> list[Path]:
    """Where uv's cache may be, most specific first."""
    out = []
    if os.environ.get("UV_CACHE_DIR"):
        out.append(Path(os.environ["UV_CACHE_DIR"]).expanduser())
    if os.environ.get("XDG_CACHE_HOME"):
        out.append(Path(os.environ["XDG_CACHE_HOME"]).expanduser() / "uv")
    out.append(Path.home() / ".cache" / "uv")
    return out


def uv_ephemeral(prefix: str | None = None) -> bool:
    """Whether the environment at `prefix` (default: this one) lives in uv's cache (uvx, `uv run --with`)."""
    where = Path(os.path.abspath(prefix or sys.prefix))
    for cache in uv_cache_dirs():
        if where.is_relative_to(os.path.abspath(cache)):
            return True
    parts = where.parts
    return any(
        part == "uv" and i + 1 < len(parts) and parts[i + 1].startswith(_BUCKETS) for i, part in enumerate(parts)
    )


def in_pipx(prefix: str | None = None) -> bool:
    return "/pipx/venvs/" in (prefix or sys.prefix).replace("\\", "/")


def has_pip() -> bool:
    """Whether this interpreter can run `-m pip` (uv's environments, and some venvs, have none)."""
    return importlib.util.find_spec("pip") is not None


def direct_url() -> str | None:
    """Where this otel-mcp was installed from, when from a file or URL (PEP 610's direct_url.json)."""
    try:
        text = metadata.distribution("otel-mcp").read_text("direct_url.json")
    except metadata.PackageNotFoundError:
        return None
    if not text:
        return None
    try:
        url = json.loads(text).get("url")
    except (ValueError, AttributeError):
        return None
    if isinstance(url, str) and url.startswith("file://"):
        return url[len("file://") :]
    return url if isinstance(url, str) else None
