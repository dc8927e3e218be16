"""`otel-mcp hook ACTION`: what git and agent hosts run to ask the gates before progress happens.

Each action is a module under `otel_mcp.hooks` exposing `main(args, stdin, stdout, stderr) -> int`
(args: the words after the action). The exit code and output follow the caller's protocol: git's
(non-zero refuses), Claude Code's and Cursor's (JSON on stdout, exit 2 to block). Modules are
imported only when their action runs: a hook must start fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Any

__all__ = [
    "ACTIONS",
    "configure",
    "run",
]

# action -> (module, one line for --help)
ACTIONS: dict[str, tuple[str, str]] = {
    "git-pre-commit": ("otel_mcp.hooks.git_pre_commit", "refuse a commit touching paths another agent holds"),
    "git-pre-push": ("otel_mcp.hooks.git_pre_push", "refuse pushing commits whose tasks' gates have not passed"),
    "claude-code": ("otel_mcp.hooks.claude_code", "Claude Code hook: read its JSON on stdin, answer in its protocol"),
    "cursor": ("otel_mcp.hooks.cursor", "Cursor hook: read its JSON on stdin, answer in its protocol"),
}


def configure(commands: Any) -> None:
    listed = "; ".join(f"{name}: {about}" for name, (_, about) in ACTIONS.items())
    parser: argparse.ArgumentParser = commands.add_parser(
        "hook", help="run a git or agent-host hook (installed by `otel-mcp hooks install`)", description=listed
    )
    parser.add_argument("action", choices=sorted(ACTIONS), metavar="ACTION", help=listed)
    parser.add_argument("args", nargs=argparse.REMAINDER, help="what the caller passes (git's hook arguments)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    module = importlib.import_module(ACTIONS[args.action][0])
    return int(module.main(list(args.args), sys.stdin, sys.stdout, sys.stderr))
