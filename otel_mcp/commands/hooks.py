"""`otel-mcp hooks install|uninstall|run`: the hooks that ask the gates before progress happens.

`install` / `uninstall` write and remove the git hooks (pre-commit, pre-push). `run HOST` is what
git and agent hosts run: each HOST is a module under `otel_mcp.hooks` exposing
`main(args, stdin, stdout, stderr) -> int` (args: the words after HOST). The exit code and output
follow the caller's protocol: git's (non-zero refuses), Claude Code's and Cursor's (JSON on stdout,
exit 2 to block). Modules are imported only when their hook runs: a hook must start fast.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import textwrap
from pathlib import Path
from typing import Any

from otel_mcp.commands.common import add_store_flags, flag_variables

__all__ = ["HOSTS", "configure", "host_help", "run_hook", "run_install", "run_uninstall"]

_HOOKS = ("pre-commit", "pre-push")

# host -> (module, one line for --help)
HOSTS: dict[str, tuple[str, str]] = {
    "git-pre-commit": ("otel_mcp.hooks.git_pre_commit", "refuse a commit touching paths another agent holds"),
    "git-pre-push": ("otel_mcp.hooks.git_pre_push", "refuse pushing commits whose tasks' gates have not passed"),
    "claude-code": ("otel_mcp.hooks.claude_code", "Claude Code hook: read its JSON on stdin, answer in its protocol"),
    "cursor": ("otel_mcp.hooks.cursor", "Cursor hook: read its JSON on stdin, answer in its protocol"),
}

# What `otel-mcp hooks run HOST --help` adds to the one line: how the caller runs it, and what it answers.
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
    "git-pre-commit": "otel-mcp hooks run git-pre-commit",
    "git-pre-push": "otel-mcp hooks run git-pre-push [--require-task] REMOTE URL < REF-LINES",
}
_RUN = "what git hooks and agent hosts (Claude Code, Cursor) run"


def configure(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "hooks", help="install the git hooks that enforce the gates, or run a hook as git or an agent host does"
    )
    actions = parser.add_subparsers(dest="hooks_action", metavar="ACTION", required=True)
    install = actions.add_parser(
        "install",
        help="write the pre-commit and pre-push hooks into this repository (idempotent; chains existing hooks)",
        description="pre-push refuses commits whose tasks' guarding gates have not passed on that code; pre-commit "
        "refuses commits touching paths another agent holds. A hook already there is kept and run first. The store, "
        "gates and workspace this command is given (flags or OTEL_MCP_* variables) are written into the hooks.",
    )
    uninstall = actions.add_parser("uninstall", help="remove the hooks and restore the ones they chained")
    for sub in (install, uninstall):
        sub.add_argument("hooks", nargs="*", metavar="HOOK", help="pre-commit and/or pre-push (default: both)")
        sub.add_argument("--repo", default=".", help="the repository (default: the current directory's)")
    install.add_argument("--workspace", help="the workspace root servers use (OTEL_MCP_WORKSPACE)")
    install.add_argument("--require-task", action="store_true", help="pre-push also refuses commits that name no task")
    add_store_flags(install)
    install.set_defaults(func=run_install)
    uninstall.set_defaults(func=run_uninstall)
    listed = "\n".join(f"  {name:<15} {about}" for name, (_, about) in HOSTS.items())
    run = actions.add_parser(
        "run",
        help=_RUN,
        description=f"{_RUN},\nanswering in the caller's protocol (`otel-mcp hooks run HOST --help` for one):\n"
        f"{listed}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run.add_argument("host", choices=sorted(HOSTS), metavar="HOST", help="one of the hosts above")
    run.add_argument("args", nargs=argparse.REMAINDER, help="what the caller passes (git's hook arguments)")
    run.set_defaults(func=run_hook)


def _chosen(args: argparse.Namespace) -> tuple[str, ...]:
    from otel_mcp.errors import InvalidArgument

    for hook in args.hooks:
        if hook not in _HOOKS:
            raise InvalidArgument(f"HOOK: {hook[:40]!r} is not one otel-mcp installs; choose from {', '.join(_HOOKS)}")
    return tuple(dict.fromkeys(args.hooks)) or _HOOKS


def run_install(args: argparse.Namespace) -> int:
    from otel_mcp.hooks.install import install

    done = install(
        Path(args.repo),
        hooks=_chosen(args),
        # The scripts carry the variables as this command sees them, its flags included.
        env={**os.environ, **flag_variables(args)},
        push_options=["--require-task"] if args.require_task else [],
    )
    for hook in done.written:
        chained = f" (runs the hook that was there first: {hook}.before-otel-mcp)" if hook in done.kept else ""
        print(f"installed {done.directory / hook}{chained}")
    for note in done.notes:
        print(f"note: {note}")
    print("`git commit --no-verify` / `git push --no-verify` skip them; `otel-mcp hooks uninstall` removes them")
    return 0


def run_uninstall(args: argparse.Namespace) -> int:
    from otel_mcp.hooks.install import uninstall

    done = uninstall(Path(args.repo), hooks=_chosen(args))
    for hook in done.restored:
        print(f"restored the {hook} hook that was there before ({done.directory / hook})")
    for hook in done.removed:
        print(f"removed {done.directory / hook}")
    for note in done.notes:
        print(f"note: {note}")
    if not (done.restored or done.removed):
        print(f"no otel-mcp hooks in {done.directory}")
    return 0


def host_help(host: str) -> str:
    """What `otel-mcp hooks run HOST --help` prints: how the hook is run, and for agent hosts their options."""
    if host in _USAGE:
        return f"usage: {_USAGE[host]}\n\n{textwrap.fill(_DETAILS[host], 79)}\n"
    from otel_mcp.hooks.gatecheck import options_help

    return options_help(f"otel-mcp hooks run {host}", _DETAILS[host])


def run_hook(args: argparse.Namespace) -> int:
    if {"-h", "--help"} & set(args.args):  # no host or git passes these: a person asking
        print(host_help(args.host), end="")
        return 0
    module = importlib.import_module(HOSTS[args.host][0])
    return int(module.main(list(args.args), sys.stdin, sys.stdout, sys.stderr))
