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
import textwrap
from typing import Any

__all__ = [
    "ACTIONS",
    "action_help",
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

# What `otel-mcp hook ACTION --help` adds to the one line: how the caller runs it, and what it answers.
_DETAILS: dict[str, str] = {
    "git-pre-commit": "What the git pre-commit hook that `otel-mcp hooks install` writes runs. Exit 1 when a staged "
    "file falls under another agent's live reserved paths (naming file, holder, task and expiry), 2 when the check "
    "cannot run, 0 otherwise. The committer is OTEL_MCP_AGENT_ID (unset: a person, bound by every reservation). "
    "`git commit --no-verify` skips it.",
    "git-pre-push": "What the git pre-push hook that `otel-mcp hooks install` writes runs, with git's arguments and "
    "its ref lines on stdin. Exit 1 refuses the push when a pushed commit's task (a `Task:` trailer, or a record "
    "naming the commit) has guarding gates that have not passed on that commit's code; --require-task also refuses "
    "commits that name no task. `git push --no-verify` skips it.",
    "claude-code": "A Claude Code command hook (.claude/settings.json; events Stop, SubagentStop, TaskCompleted, "
    "PreToolUse on Bash): blocks stopping while the session's tasks' gates fail, and denies `git commit` / "
    "`git push` in Bash commands. See the README's Enforcing gates section.",
    "cursor": "A Cursor hook (.cursor/hooks.json; events stop, subagentStop, beforeShellExecution): a follow-up "
    "message while the session's tasks' gates fail, and a deny for `git commit` / `git push`. See the README's "
    "Enforcing gates section.",
}
_USAGE = {
    "git-pre-commit": "otel-mcp hook git-pre-commit",
    "git-pre-push": "otel-mcp hook git-pre-push [--require-task] REMOTE URL < REF-LINES",
}


_MORE = "`otel-mcp hook ACTION --help` for one"
_SUMMARY = "what git hooks and agent hosts (Claude Code, Cursor) run"


def configure(commands: Any) -> None:
    listed = "\n".join(f"  {name:<15} {about}" for name, (_, about) in ACTIONS.items())
    parser: argparse.ArgumentParser = commands.add_parser(
        "hook",
        help=_SUMMARY,
        description=f"{_SUMMARY},\nanswering in the caller's protocol ({_MORE}):\n{listed}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("action", choices=sorted(ACTIONS), metavar="ACTION", help="one of the actions above")
    parser.add_argument("args", nargs=argparse.REMAINDER, help="what the caller passes (git's hook arguments)")
    parser.set_defaults(func=run)


def action_help(action: str) -> str:
    """What `otel-mcp hook ACTION --help` prints: how the action is run, and for host hooks their options."""
    if action in _USAGE:
        return f"usage: {_USAGE[action]}\n\n{textwrap.fill(_DETAILS[action], 79)}\n"
    from otel_mcp.hooks.gatecheck import options_help

    return options_help(f"otel-mcp hook {action}", _DETAILS[action])


def run(args: argparse.Namespace) -> int:
    if {"-h", "--help"} & set(args.args):  # no host or git passes these: a person asking
        print(action_help(args.action), end="")
        return 0
    module = importlib.import_module(ACTIONS[args.action][0])
    return int(module.main(list(args.args), sys.stdin, sys.stdout, sys.stderr))
