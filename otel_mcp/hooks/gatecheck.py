"""What an agent-host hook asks the gates: do the session's tasks stand passed on the current code?

The session's tasks are the tasks its agent (`OTEL_MCP_AGENT_ID`, or `--agent-id`: the same id its
MCP server has) holds a live claim on, plus any named with `--task` or `OTEL_MCP_TASK`. For each,
the gates asked are those named with `--gate`, else those guarding the task's completion (its
`guards:`). Each gate's standing is the one verdict `otel-mcp gates status` and `record_task` use.
Nothing is imported or opened until a hook needs an answer, and the store is only read: a project
without a store has nothing to check.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from otel_mcp.hooks.shellwords import GIT_ACTIONS

if TYPE_CHECKING:
    from otel_mcp.core.gates.verdicts.standing import Standing
    from otel_mcp.store import Store

__all__ = [
    "DEFAULT_MAX_BLOCKS",
    "GateReport",
    "HookOptions",
    "OptionError",
    "check_gates",
    "options_help",
    "parse_options",
]

DEFAULT_MAX_BLOCKS = 3


class OptionError(ValueError):
    """The hook's own command line or environment is wrong (an admin's mistake, said in one sentence)."""


@dataclass(frozen=True, slots=True)
class HookOptions:
    tasks: tuple[str, ...] = ()
    gates: tuple[str, ...] = ()
    max_blocks: int = DEFAULT_MAX_BLOCKS
    git: frozenset[str] = frozenset(GIT_ACTIONS)
    agent_id: str | None = None
    workspace: str | None = None


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]  # never exit: answer in the protocol
        raise OptionError(f"{self.prog}: {message}")


def _parser(prog: str, description: str | None = None) -> _Parser:
    parser = _Parser(prog=prog, add_help=False, usage="%(prog)s [OPTIONS] < PAYLOAD.json", description=description)
    parser.add_argument(
        "--task", action="append", default=[], help="a task the session works on (repeatable; also OTEL_MCP_TASK)"
    )
    parser.add_argument("--gate", action="append", default=[], help="gate to ask (default: those guarding completion)")
    parser.add_argument(
        "--max-blocks", type=int, default=DEFAULT_MAX_BLOCKS, help="stop blocking after N in a row (default 3)"
    )
    parser.add_argument("--git", default=",".join(GIT_ACTIONS), help="git actions to refuse: commit,push or none")
    parser.add_argument("--agent-id", help="the agent whose claims count (OTEL_MCP_AGENT_ID)")
    parser.add_argument("--workspace", help="the project folder (OTEL_MCP_WORKSPACE)")
    return parser


def options_help(prog: str, description: str) -> str:
    """The options every agent-host hook takes, as `otel-mcp hooks run claude-code --help` shows them."""
    return _parser(prog, description).format_help()


def parse_options(prog: str, args: Sequence[str], env: Mapping[str, str]) -> HookOptions:
    """The hook's options: flags first, then `OTEL_MCP_TASK` / `OTEL_MCP_AGENT_ID` / `OTEL_MCP_WORKSPACE`."""
    ns = _parser(prog).parse_args(list(args))
    if not 0 <= ns.max_blocks <= 100:
        raise OptionError(f"{prog}: --max-blocks must be between 0 and 100, not {ns.max_blocks}")
    git = {a for a in ns.git.replace(",", " ").split() if a != "none"}
    if git - set(GIT_ACTIONS):
        raise OptionError(f"{prog}: --git takes commit, push or none, not {ns.git[:40]!r}")
    tasks = [*ns.task, *env.get("OTEL_MCP_TASK", "").replace(",", " ").split()]
    from otel_mcp.errors import InvalidArgument
    from otel_mcp.model import check_task_id

    try:
        for task in tasks:
            check_task_id(task, "--task / OTEL_MCP_TASK")
    except InvalidArgument as exc:
        raise OptionError(f"{prog}: {exc}") from None
    return HookOptions(
        tasks=tuple(dict.fromkeys(tasks)),
        gates=tuple(dict.fromkeys(ns.gate)),
        max_blocks=ns.max_blocks,
        git=frozenset(git),
        agent_id=(ns.agent_id or env.get("OTEL_MCP_AGENT_ID", "")).strip() or None,
        workspace=ns.workspace or env.get("OTEL_MCP_WORKSPACE") or None,
    )


@dataclass(slots=True)
class GateReport:
    """The gates that do not stand passed for the session's tasks, and where hook state may be kept."""

    state_dir: Path
    tasks: list[str] = field(default_factory=list)
    failing: list[Standing] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # why nothing was checked, for the person

    @property
    def passed(self) -> bool:
        return not self.failing

    def failures(self) -> str:
        """Each failing gate with its reasons and next step, one per line."""
        return "\n".join(
            f"- gate '{s.gate}' for task '{s.task_id}': {'; '.join(s.reasons)}."
            + (f" Next: {s.next_step}." if s.next_step else "")
            for s in self.failing
        )

    def failing_tasks(self) -> list[str]:
        return list(dict.fromkeys(s.task_id for s in self.failing))


def check_gates(options: HookOptions, env: Mapping[str, str], where: str | None) -> GateReport:
    """Ask the gates about the session's tasks. Raises (store unreadable, bad configuration) for the caller to map."""
    from otel_mcp.config import Settings
    from otel_mcp.resolve import resolve

    settings = Settings.from_env(env, default_agent="hook")
    if options.workspace:
        settings = replace(settings, workspace=Path(options.workspace))
    # Hooks start wherever the host likes: the host's project folder (or the payload's) is "here".
    here = env.get("CLAUDE_PROJECT_DIR") or env.get("CURSOR_PROJECT_DIR") or where or os.getcwd()
    settings = resolve(settings, Path(here))
    report = GateReport(state_dir=settings.db_path.parent / "hooks")
    if not options.agent_id and not options.tasks:
        report.notes.append("no agent id (OTEL_MCP_AGENT_ID or --agent-id) and no --task: nothing to check")
        return report
    if settings.backend == "sqlite" and not settings.db_path.exists() and not (options.tasks and options.gates):
        report.notes.append(f"no store at {settings.db_path}: nothing claimed, nothing to check")
        return report
    # A store and a judge, not a server's Runtime: the claim service, check runner and telemetry are
    # never used here, and importing them cost every hook call ~0.1 s of CPU (0.34 s against 0.25 s
    # to import); a Claude Code hook runs before each tool call.
    from otel_mcp.oneshot import OneShot

    runtime = OneShot.open(settings)
    try:
        report.tasks = list(dict.fromkeys([*options.tasks, *_held(runtime.store, options.agent_id)]))
        if not report.tasks:
            return report
        latest = runtime.store.latest_status(report.tasks)
        for task in report.tasks:
            record = latest.get(task)
            gates = list(options.gates) or runtime.judge.guarding(
                record.task_type if record else None, "complete", task
            )
            if gates:
                report.failing += [s for s in runtime.judge.verdicts(task, gates) if not s.passed]
    finally:
        runtime.close()
    return report


def _held(store: Store, agent_id: str | None) -> list[str]:
    """The tasks `agent_id` holds a live claim on now, by the lease fold every reader shares."""
    if not agent_id:
        return []
    from otel_mcp.core.claims.fold import MAX_LEASE_S, NS, fold_claims

    now = time.time_ns()
    folds = fold_claims(store.claim_events(active_since_ns=now - MAX_LEASE_S * NS)).tasks
    held = []
    for task_id, fold in folds.items():
        lease = fold.lease_at(now)
        if lease is not None and lease.holder == agent_id:
            held.append(task_id)
    return sorted(held)
