"""Every `otel-mcp ... --help` says what the command does, and asking for help never runs anything."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from otel_mcp.cli import build_parser
from otel_mcp.commands.hooks import HOSTS


def _sub_commands(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], str]]:
    """(command words, the one line its parent lists it with) for every sub-command, nested ones included."""
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            summaries = {choice.dest: choice.help for choice in action._choices_actions}
            for name, sub in action.choices.items():
                found.append(((*path, name), str(summaries.get(name) or "")))
                found.extend(_sub_commands(sub, (*path, name)))
    return found


def test_every_sub_command_help_opens_with_the_line_its_parent_lists_it_with() -> None:
    commands = _sub_commands(build_parser())
    assert {("serve",), ("demo",), ("gates", "status"), ("hooks", "install"), ("hooks", "run"), ("audit",)} <= {
        c for c, _ in commands
    }
    for words, summary in commands:
        assert summary, f"`otel-mcp {' '.join(words)}` has no one-line help"
        parser = build_parser()
        text = _help_of(parser, words)
        first_paragraph = " ".join(text.split("\n\n")[1].split())
        assert first_paragraph.lower().startswith(summary.lower()[:30]), (words, first_paragraph)


def _help_of(parser: argparse.ArgumentParser, words: tuple[str, ...]) -> str:
    for word in words:
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        parser = sub.choices[word]
    return parser.format_help()


@pytest.mark.parametrize("host", sorted(HOSTS))
def test_hook_help_explains_the_hook_and_runs_nothing(host: str, tmp_path: Path) -> None:
    # Outside any repository and with no payload: the hook itself would complain (exit 2, or "no payload").
    done = subprocess.run(
        [sys.executable, "-m", "otel_mcp", "hooks", "run", host, "--help"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"usage: otel-mcp hooks run {host}"), done.stdout
    assert done.stderr == ""
    assert max(len(line) for line in done.stdout.splitlines()) <= 80
    if host in ("claude-code", "cursor"):
        assert "--agent-id" in done.stdout and "--max-blocks" in done.stdout
