"""`otel-mcp hooks run claude-code`: Claude Code's hook protocol over the gates of the session's tasks.

Claude Code runs the command with one JSON object on stdin (`hook_event_name`, `session_id`, `cwd`,
...) and reads the exit code and stdout (https://code.claude.com/docs/en/hooks). The session's
tasks are those its agent holds a live claim on plus `--task` (see `gatecheck`).

- `Stop` / `SubagentStop`: while a gate guarding those tasks' completion (or a `--gate`) does not
  stand passed on the current code, answer `{"decision": "block", "reason": ...}`: the reason is
  the model's next instruction (which checks, which gate, then record_task). At most
  `--max-blocks` (default 3) blocks in a row per session (per subagent), counted in a file beside
  the store; then the stop goes through with a `systemMessage` telling the person the work is not
  done. `stop_hook_active` is not trusted to end a series (Claude Code has been seen to send false
  on re-entry); it is the fallback when the counter cannot be written: then only the first stop of
  a series is blocked.
- `TaskCompleted` (agent teams): the same verdict, answered with exit code 2 and the reason on
  stderr, which keeps the task open; capped the same way per session and task.
- `PreToolUse` for `Bash`: a command that would run `git commit` or `git push` (see `shellwords`;
  `--git` narrows it) is denied with `hookSpecificOutput.permissionDecision: "deny"` and the reason
  while those gates fail. Every other call gets no output at all, so Claude Code's own permission
  rules apply unchanged (never "allow").

Failing open or closed: a payload that is not JSON, or an event or tool this hook does not judge,
passes (exit 0, a note on stderr). When the gates cannot be asked (store unreadable, bad options),
a stop or task completion passes with a `systemMessage` saying so (fail open: an agent cannot repair
otel-mcp's set-up, and blocking would only loop), but `git commit` / `git push` are refused (fail
closed: a commit or push is the progress the gates exist to hold).
"""

from __future__ import annotations

import json
import os
from typing import Any, TextIO

from otel_mcp.hooks.payload import Malformed, read_payload, say, text_field

__all__ = ["main"]

_PROG = "otel-mcp hooks run claude-code"
_HOST = "claude-code"


def main(args: list[str], stdin: TextIO, stdout: TextIO, stderr: TextIO) -> int:
    try:
        payload = read_payload(stdin)
    except Malformed as exc:
        say(stderr, f"{_PROG}: {exc}; nothing was checked")
        return 0
    event = payload.get("hook_event_name")
    try:
        if event == "PreToolUse":
            return _pre_tool_use(payload, args, stdout, stderr)
        if event in ("Stop", "SubagentStop", "TaskCompleted"):
            return _stopping(str(event), payload, args, stdout, stderr)
    except Exception as exc:  # a bug here must not stop the person's session: pass, and say so
        say(stderr, f"{_PROG}: internal error ({type(exc).__name__}: {exc}); the {event} event was let through")
        return 0
    say(stderr, f"{_PROG}: {str(event)[:40]!r} events are not judged; nothing was checked")
    return 0


def _emit(stdout: TextIO, answer: dict[str, Any]) -> None:
    stdout.write(json.dumps(answer) + "\n")
    stdout.flush()


def _pre_tool_use(payload: dict[str, Any], args: list[str], stdout: TextIO, stderr: TextIO) -> int:
    if payload.get("tool_name") != "Bash":
        return 0
    command = text_field(payload, "tool_input", "command")
    if command is None:
        say(stderr, f"{_PROG}: a Bash PreToolUse payload without tool_input.command; nothing was checked")
        return 0
    from otel_mcp.hooks.gatecheck import OptionError, check_gates, parse_options
    from otel_mcp.hooks.shellwords import git_progress

    actions = git_progress(command)
    if not actions:
        return 0  # the common case: decided without opening anything
    try:
        options = parse_options(_PROG, args, os.environ)
    except OptionError as exc:  # fail closed for the progress the gates hold
        return _deny(stdout, stderr, exc, actions)
    actions = [a for a in actions if a in options.git]
    if not actions:
        return 0
    try:
        report = check_gates(options, os.environ, text_field(payload, "cwd"))
    except Exception as exc:
        return _deny(stdout, stderr, exc, actions)
    if report.passed:
        return 0
    from otel_mcp.hooks.answers import git_refusal

    return _deny(stdout, stderr, git_refusal(report, actions), actions)


def _deny(stdout: TextIO, stderr: TextIO, why: str | BaseException, actions: list[str]) -> int:
    from otel_mcp.hooks.answers import cannot_check

    reason = why if isinstance(why, str) else cannot_check(why, refusing=actions)
    say(stderr, reason)
    _emit(
        stdout,
        {
            "hookSpecificOutput": {
                "hookEventName": "PreToolUse",
                "permissionDecision": "deny",
                "permissionDecisionReason": reason,
            }
        },
    )
    return 0


def _stopping(event: str, payload: dict[str, Any], args: list[str], stdout: TextIO, stderr: TextIO) -> int:
    from otel_mcp.hooks.answers import cannot_check, decide_stop
    from otel_mcp.hooks.blocks import BlockCounter
    from otel_mcp.hooks.gatecheck import check_gates, parse_options

    try:
        options = parse_options(_PROG, args, os.environ)
        report = check_gates(options, os.environ, text_field(payload, "cwd"))
    except Exception as exc:  # fail open: the agent cannot repair otel-mcp's set-up
        letting = "the task completion" if event == "TaskCompleted" else "the stop"
        return _let_stop(stdout, stderr, cannot_check(exc, letting=letting))
    for note in report.notes:
        say(stderr, f"{_PROG}: {note}")
    key = text_field(payload, "session_id") or "no-session"
    if event == "SubagentStop":
        key += f"/agent:{text_field(payload, 'agent_id') or '?'}"
    elif event == "TaskCompleted":
        key += f"/task:{text_field(payload, 'task_id') or '?'}"
    counter = BlockCounter(report.state_dir, _HOST, key)
    try:
        decision = decide_stop(report, prior=counter.count(), max_blocks=options.max_blocks, counter=counter)
    except OSError as exc:  # no counter: stop_hook_active alone bounds the series
        say(stderr, f"{_PROG}: cannot count blocks in {report.state_dir} ({exc.strerror or exc})")
        prior = options.max_blocks if payload.get("stop_hook_active") is True else 0
        decision = decide_stop(report, prior=prior, max_blocks=options.max_blocks, counter=None)
    if not decision.block:
        return _let_stop(stdout, stderr, decision.text) if decision.text else 0
    if event == "TaskCompleted":  # exit 2 keeps the task open; stderr is the model's feedback
        subject = text_field(payload, "task_subject")
        say(stderr, (f"Task '{subject[:200]}' cannot be marked completed yet. " if subject else "") + decision.text)
        return 2
    _emit(stdout, {"decision": "block", "reason": decision.text})
    return 0


def _let_stop(stdout: TextIO, stderr: TextIO, note: str) -> int:
    say(stderr, note)
    _emit(stdout, {"systemMessage": note})
    return 0
