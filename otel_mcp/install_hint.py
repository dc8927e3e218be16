"""The one command that installs a check's tools beside otel-mcp, for messages that say what to do.

`pip install 'otel-mcp[checks]'` is not it: "otel-mcp" on PyPI is another project, and the `pip` a
user's shell finds is often not the one of the environment otel-mcp runs from (pipx, a desktop
host's absolute path). So name this interpreter, and pipx's own command inside a pipx environment.
"""

from __future__ import annotations

import re
import shlex
import sys
from collections.abc import Sequence
from importlib import metadata

__all__ = ["CHECK_TOOLS", "install_command"]

# The `checks` extra: what the shipped example gates and the demo run.
CHECK_TOOLS = ("bandit", "pytest", "ruff")


def install_command(tools: Sequence[str] = CHECK_TOOLS) -> str:
    """A shell command installing `tools` (with the `checks` extra's version floors) where otel-mcp is installed."""
    floors = _check_extra()
    wanted = " ".join(shlex.quote(floors.get(tool, tool)) for tool in tools)
    if "/pipx/venvs/" in sys.prefix.replace("\\", "/"):
        return f"pipx inject otel-mcp {wanted}"
    return f"{shlex.quote(sys.executable)} -m pip install {wanted}"


def _check_extra() -> dict[str, str]:
    """tool name -> its requirement in the `checks` extra (`ruff>=0.15`); empty when not installed as a package."""
    try:
        requires = metadata.requires("otel-mcp") or []
    except metadata.PackageNotFoundError:
        return {}
    floors = {}
    for line in requires:
        requirement, _, marker = line.partition(";")
        name = re.match(r"[A-Za-z0-9_.-]+", requirement.strip())
        if name and re.search(r"""extra\s*==\s*["']checks["']""", marker):
            floors[name.group(0).lower()] = requirement.strip().replace(" ", "")
    return floors
