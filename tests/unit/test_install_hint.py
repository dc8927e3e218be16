"""Messages that say how to install the checks' tools name a command that installs them beside otel-mcp."""

from __future__ import annotations

import shlex
import sys
import tomllib

import pytest

from otel_mcp.install_hint import CHECK_TOOLS, install_command
from tests.conftest import REPO


def test_the_command_uses_this_interpreters_pip_with_the_checks_extras_floors() -> None:
    extra = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]["checks"]
    words = shlex.split(install_command())
    assert words[:4] == [sys.executable, "-m", "pip", "install"]
    assert sorted(words[4:]) == sorted(extra)
    assert {w.split(">")[0] for w in words[4:]} == set(CHECK_TOOLS)


def test_inside_a_pipx_environment_the_command_is_pipx_inject(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "prefix", "/home/ada/.local/share/pipx/venvs/otel-mcp")
    words = shlex.split(install_command(["ruff"]))
    assert words == ["pipx", "inject", "otel-mcp", "ruff>=0.15"]


def test_a_tool_outside_the_extra_is_named_as_is() -> None:
    assert install_command(["semgrep"]).endswith("-m pip install semgrep")
