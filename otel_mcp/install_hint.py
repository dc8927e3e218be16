"""The one command that installs a check's tools beside otel-mcp, for messages that say what to do.

`pip install 'otel-mcp[checks]'` is not it: "otel-mcp" on PyPI is another project, and the `pip` a
user's shell finds is often not the one of the environment otel-mcp runs from (pipx, a desktop
host's absolute path). So name this interpreter, and pipx's own command inside a pipx environment.
Never a python without pip: uvx's environments (and other uv-made ones) have none, so there the
command is uvx's own `--with` (or `uv pip install --python`), and elsewhere pip is bootstrapped first.
"""

from __future__ import annotations

import re
import shlex
import shutil
import sys
from collections.abc import Sequence
from importlib import metadata

from otel_mcp.installation import direct_url, has_pip, in_pipx, uv_ephemeral

__all__ = ["CHECK_TOOLS", "install_command"]

# The `checks` extra: what the shipped example gates and the demo run.
CHECK_TOOLS = ("bandit", "pytest", "ruff")


def install_command(tools: Sequence[str] = CHECK_TOOLS) -> str:
    """A shell command installing `tools` (with the `checks` extra's version floors) where otel-mcp is installed."""
    floors = _check_extra()
    specs = [shlex.quote(floors.get(tool, tool)) for tool in tools]
    wanted = " ".join(specs)
    python = shlex.quote(sys.executable)
    if in_pipx():
        return f"pipx inject otel-mcp {wanted}"
    if uv_ephemeral():
        # Nothing installed into uvx's cached environment stays: run otel-mcp with the tools instead.
        source = shlex.quote(direct_url() or "<what you gave uvx --from>")
        return f"uvx {' '.join(f'--with {s}' for s in specs)} --from {source} otel-mcp"
    if has_pip():
        return f"{python} -m pip install {wanted}"
    if shutil.which("uv"):
        return f"uv pip install --python {python} {wanted}"
    return f"{python} -m ensurepip --upgrade && {python} -m pip install {wanted}"


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
