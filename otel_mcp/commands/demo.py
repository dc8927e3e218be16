"""`otel-mcp demo`: real agent processes coordinating through the embedded store, end to end."""

from __future__ import annotations

import argparse
import shlex
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from otel_mcp.commands._text import hang, terminal_width, wrap
from otel_mcp.commands._timeline import timeline

__all__ = [
    "configure",
    "run",
]

_TIMEOUT_S = 120.0


def configure(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "demo", help="watch four agent processes plan, claim, build, check and pass gates (about 20 seconds)"
    )
    # Not --workspace: that names the project (OTEL_MCP_WORKSPACE); this is a scratch folder the
    # demo makes a repository, its agents' worktrees nested inside it.
    parser.add_argument("--dir", help="scratch folder to run in and keep (default: a temporary one)")
    parser.add_argument(
        "--keep", action="store_true", help="keep the temporary folder, to look at it with trace and report"
    )
    parser.add_argument(
        "--timeout", type=float, default=_TIMEOUT_S, help=f"give up after this many seconds (default {_TIMEOUT_S:g})"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from otel_mcp.commands._demo_project import missing_programs
    from otel_mcp.install_hint import install_command

    # Line by line, so this output and the servers' stderr interleave in the order they happened.
    reconfigure = getattr(sys.stdout, "reconfigure", None)
    if reconfigure is not None:
        reconfigure(line_buffering=True)
    missing = missing_programs()
    if missing:
        print(
            f"otel-mcp demo: the agents run {_listed(missing)} as checks, and "
            f"{'it is' if len(missing) == 1 else 'they are'} not installed for {sys.executable}.\n"
            f"Install {'it' if len(missing) == 1 else 'them'} beside otel-mcp: {install_command(missing)}",
            file=sys.stderr,
        )
        return 2
    temporary = args.dir is None
    workspace = Path(args.dir or tempfile.mkdtemp(prefix="otel-mcp-demo-")).resolve()
    try:
        return _run(args, workspace, temporary)
    finally:
        _farewell(workspace, delete=temporary and not args.keep)


def _run(args: argparse.Namespace, workspace: Path, temporary: bool) -> int:
    import anyio

    from otel_mcp.commands._demo_agents import explain, run_demo
    from otel_mcp.commands.report import format_report
    from otel_mcp.core.report import build_report
    from otel_mcp.store.sqlite import SQLiteStore

    width = terminal_width()
    print(wrap(explain(), width), end="\n\n")
    if temporary and not args.keep:
        print(wrap(f"workspace: {workspace} (a scratch folder, deleted at the end; --keep keeps it)", width))
    else:
        print(wrap(f"workspace: {workspace}", width))
    print()
    started, started_ns = time.monotonic(), time.time_ns()
    prefix = 20  # "[  9.35s] security  "

    def say(agent: str, text: str) -> None:
        head = f"[{time.monotonic() - started:6.2f}s] {agent:<9} "
        print(hang(text, width, head, prefix))

    try:
        result = anyio.run(run_demo, workspace, say, args.timeout)
    except Exception as exc:
        print(f"otel-mcp demo: {_failure(exc, args.timeout)}", file=sys.stderr)
        return 1
    store = SQLiteStore(result.db_path)
    try:
        print("\n=== Timeline: what each agent did, in order ===")
        print(timeline(store, t0_ns=started_ns, width=width))
        print("\n=== Report ===")
        for line in format_report(build_report(store).model_dump()).splitlines():
            # Only a line too long for the window is wrapped, under its own indentation.
            text = line.lstrip()
            head = line[: len(line) - len(text)]
            print(hang(text, width, head, len(head) + 2) if len(line) > width else line)
    finally:
        store.shutdown()
    first = ", ".join(f"{g} {d}" for g, d in sorted(result.first_attempts.items()))
    final = ", ".join(f"{g} {d}" for g, d in sorted(result.final.items()))
    print(f"\nfirst attempts: {first}\nfinal decisions: {final}\ndone in {result.seconds:.1f}s")
    ok = bool(result.final) and all(d == "pass" for d in result.final.values())
    if not ok:
        print("otel-mcp demo: a gate did not pass in the end", file=sys.stderr)
    return 0 if ok else 1


def _failure(exc: BaseException, timeout_s: float) -> str:
    """Why the agents stopped, as one line: a timeout, a refused tool call or a server that went away.

    Anything else is a bug in the demo and keeps its traceback (re-raised).
    """
    from mcp.shared.exceptions import MCPError

    leaves = _leaves(exc)
    for leaf in leaves:
        if isinstance(leaf, BrokenPipeError | KeyboardInterrupt):
            raise leaf  # the reader of stdout went away, or the user stopped it: the CLI's own handling
    lines = []
    for leaf in leaves:
        if isinstance(leaf, TimeoutError):
            detail = str(leaf) or f"the agents did not finish within {timeout_s:g}s"
            lines.append(f"timed out: {detail} (a slow machine? try --timeout {timeout_s * 2:g})")
        elif isinstance(leaf, RuntimeError | MCPError):
            lines.append(" ".join(str(leaf).split()) or type(leaf).__name__)
        else:
            raise exc
    return "; ".join(dict.fromkeys(lines))


def _leaves(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for inner in exc.exceptions for leaf in _leaves(inner)]
    return [exc]


def _listed(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def _farewell(workspace: Path, *, delete: bool) -> None:
    """Say what happens to the workspace: deleted (and how to keep it), or how to look into it."""
    width = terminal_width()
    if delete:
        shutil.rmtree(workspace, ignore_errors=True)
        print()
        print(
            wrap(
                f"Deleted the scratch workspace {workspace}. Run `otel-mcp demo --keep` to keep it and "
                "look at what the agents recorded with `otel-mcp trace` and `otel-mcp report`.",
                width,
            )
        )
        return
    from otel_mcp.resolve import SHARED_STORE, WORKTREE_STORE

    shared = workspace / ".git" / SHARED_STORE  # the agents' worktrees share the repository's store
    db = shared if shared.is_file() else workspace / WORKTREE_STORE
    if db.is_file():
        print()
        print(wrap(f"Kept {workspace}. What the agents recorded:", width))
        # The demo's own gates too: read against other gates, every decision would be flagged as
        # "taken under another definition of the gate than the one in force now".
        where = f"--db {shlex.quote(str(db))} --gates-dir {shlex.quote(str(workspace / 'gates'))}"
        print(f"  otel-mcp trace demo/calc {where}")
        print(f"  otel-mcp report {where}")
