"""A command's flags are spelled like the variables they override, and reach it as values, never through os.environ."""

from __future__ import annotations

import argparse
import os
import re
from pathlib import Path

import pytest

from otel_mcp.cli import build_parser, main
from otel_mcp.commands.common import settings_from
from otel_mcp.config import Settings
from otel_mcp.hooks.gatecheck import _parser as host_hook_parser

REPO = Path(__file__).resolve().parents[3]


def _options(parser: argparse.ArgumentParser, words: str = "otel-mcp") -> list[tuple[str, argparse.Action]]:
    """(command words, option) for every option of every command, nested ones included."""
    found = [(words, action) for action in parser._actions if action.option_strings]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found += _options(sub, f"{words} {name}")
    return found


def test_every_flag_that_names_a_variable_is_spelled_like_it() -> None:
    options = _options(build_parser()) + _options(host_hook_parser("otel-mcp hooks run claude-code"))
    checked = 0
    for words, action in options:
        named = set(re.findall(r"OTEL_MCP_[A-Z_]*[A-Z]", action.help or ""))
        if not named:
            continue
        flag = next(o for o in action.option_strings if o.startswith("--"))
        assert named == {"OTEL_MCP_" + flag[2:].upper().replace("-", "_")}, f"`{words} {flag}` names {named}"
        checked += 1
    assert checked >= 20


def _settings(monkeypatch: pytest.MonkeyPatch, words: list[str], **env: str) -> Settings:
    for name in [n for n in os.environ if n.startswith("OTEL_MCP_")]:
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    before = dict(os.environ)
    settings = settings_from(build_parser().parse_args(words), default_agent=None)
    assert dict(os.environ) == before
    return settings


def test_a_flag_overrides_its_variable_without_writing_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    words = ["serve", "--db", str(tmp_path / "flag.db"), "--agent-id", "from-flag", "--allowed-hosts", "a.example,"]
    words += ["--allowed-hosts", "b.example c.example", "--gates-dir", str(tmp_path / "g")]
    (tmp_path / "g").mkdir()  # a named gates directory must exist
    settings = _settings(
        monkeypatch,
        words,
        OTEL_MCP_DB=str(tmp_path / "env.db"),
        OTEL_MCP_AGENT_ID="from-env",
        OTEL_MCP_ALLOWED_HOSTS="env.example",
        OTEL_MCP_TOKENS_FILE=str(tmp_path / "tokens.json"),
    )
    assert settings.db_path == tmp_path / "flag.db" and settings.db_configured
    assert settings.gates_dir == tmp_path / "g" and settings.gates_configured
    assert settings.agent_id == "from-flag"
    assert settings.allowed_hosts == ("a.example", "b.example", "c.example")
    assert settings.tokens_file == tmp_path / "tokens.json"


def test_without_its_flag_a_variable_stands_even_for_an_on_off_flag(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = _settings(
        monkeypatch, ["serve"], OTEL_MCP_ALLOW_READABLE_TOKENS="1", OTEL_MCP_ALLOWED_ORIGINS="https://x.example"
    )
    assert settings.allow_readable_tokens and settings.allowed_origins == ("https://x.example",)
    assert not settings.db_configured and not settings.gates_configured


def test_a_command_run_with_flags_leaves_the_process_environment_as_it_was(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    before = dict(os.environ)
    assert main(["gates", "list", "--gates-dir", str(REPO / "gates")]) == 0
    assert main(["gates", "lint", "--gates-dir", str(tmp_path / "nope")]) == 2  # a named directory that is missing
    assert "gate release" in capsys.readouterr().out
    assert dict(os.environ) == before
