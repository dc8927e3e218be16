"""`otel-mcp hooks install|uninstall`: the git hooks that ask the gates before a commit or a push."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from otel_mcp.commands.common import add_store_flags

__all__ = ["configure", "run_install", "run_uninstall"]

_HOOKS = ("pre-commit", "pre-push")


def configure(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "hooks", help="install or remove the git hooks (pre-commit, pre-push) that enforce the gates"
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


def _chosen(args: argparse.Namespace) -> tuple[str, ...]:
    from otel_mcp.errors import InvalidArgument

    for hook in args.hooks:
        if hook not in _HOOKS:
            raise InvalidArgument(f"HOOK: {hook[:40]!r} is not one otel-mcp installs; choose from {', '.join(_HOOKS)}")
    return tuple(dict.fromkeys(args.hooks)) or _HOOKS


def run_install(args: argparse.Namespace) -> int:
    from otel_mcp.hooks.install import install

    if args.workspace:
        os.environ["OTEL_MCP_WORKSPACE"] = args.workspace
    done = install(
        Path(args.repo),
        hooks=_chosen(args),
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
