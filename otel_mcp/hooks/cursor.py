"""`otel-mcp hooks run cursor`: Cursor's hook protocol over the gates of the session's tasks.

Cursor runs the command with one JSON object on stdin (`hook_event_name`, `conversation_id`,
`workspace_roots`, ...) and reads one JSON object from stdout (https://cursor.com/docs/hooks). The
session's tasks are those its agent holds a live claim on plus `--task` (see `gatecheck`).

- `stop` / `subagentStop` with `status: "completed"`: while a gate guarding those tasks' completion
  (or a `--gate`) does not stand passed on the current code, answer `{"followup_message": ...}`,
  which Cursor sends as the next user message: which checks to run, which gate to submit, then
  record_task. Cursor counts the follow-ups it already sent in `loop_count` and stops honouring
  them at the entry's `loop_limit` (default 5); this hook stops asking at `--max-blocks` (default
  3), so set `loop_limit` no lower than that. Past the cap the agent may stop, and stderr (Cursor's
  Hooks output channel) says its work is not done. An aborted or failed run (`status` other than
  `completed`) is never followed up.
- `beforeShellExecution`: a command that would run `git commit` or `git push` (see `shellwords`;
  `--git` narrows it) gets `{"permission": "deny", "user_message": ..., "agent_message": ...}`
  while those gates fail. Every other command gets `{}`: no opinion, Cursor's own approval applies.

Failing open or closed: a payload that is not JSON, or an event this hook does not judge, gets
`{}` and a note on stderr. When the gates cannot be asked (store unreadable, bad options), a stop
gets no follow-up (fail open: the agent cannot repair otel-mcp's set-up), but `git commit` /
`git push` are denied (fail closed).
"""

from __future__ import annotations

import json
import os
from typing import Any, TextIO

from otel_mcp.hooks.payload import Malformed, read_payload, say, text_field

__all__ = ["main"]

_PROG = "otel-mcp hooks run cursor"
_HOST = "cursor"


def main(args: list[str], stdin: TextIO, stdout: TextIO, stderr: TextIO) -> int:
    answer: dict[str, Any] = {}
    try:
        payload = read_payload(stdin)
        event = payload.get("hook_event_name")
        if event == "beforeShellExecution":
            answer = _before_shell(payload, args, stderr)
        elif event in ("stop", "subagentStop"):
            answer = _stop(payload, args, stderr)
        else:
            say(stderr, f"{_PROG}: {str(event)[:40]!r} events are not judged; nothing was checked")
    except Malformed as exc:
        say(stderr, f"{_PROG}: {exc}; nothing was checked")
    except Exception as exc:  # a bug here must not stop the person's session: no opinion, and say so
        say(stderr, f"{_PROG}: internal error ({type(exc).__name__}: {exc}); the event was let through")
        answer = {}
    stdout.write(json.dumps(answer) + "\n")
    stdout.flush()
    return 0


def _where(payload: dict[str, Any]) -> str | None:
    roots = payload.get("workspace_roots")
    first = roots[0] if isinstance(roots, list) and roots and isinstance(roots[0], str) else None
    return first or text_field(payload, "cwd")


def _before_shell(payload: dict[str, Any], args: list[str], stderr: TextIO) -> dict[str, Any]:
    command = text_field(payload, "command")
    if command is None:
        say(stderr, f"{_PROG}: a beforeShellExecution payload without a command; nothing was checked")
        return {}
    from otel_mcp.hooks.gatecheck import OptionError, check_gates, parse_options
    from otel_mcp.hooks.shellwords import git_progress

    actions = git_progress(command)
    if not actions:
        return {}  # the common case: decided without opening anything
    try:
        options = parse_options(_PROG, args, os.environ)
    except OptionError as exc:  # fail closed for the progress the gates hold
        return _deny(stderr, exc, actions)
    actions = [a for a in actions if a in options.git]
    if not actions:
        return {}
    try:
        report = check_gates(options, os.environ, text_field(payload, "cwd") or _where(payload))
    except Exception as exc:
        return _deny(stderr, exc, actions)
    if report.passed:
        return {}
    from otel_mcp.hooks.answers import git_refusal

    return _deny(stderr, git_refusal(report, actions), actions)


def _deny(stderr: TextIO, why: str | BaseException, actions: list[str]) -> dict[str, Any]:
    from otel_mcp.hooks.answers import cannot_check

    reason = why if isinstance(why, str) else cannot_check(why, refusing=actions)
    say(stderr, reason)
    what = " and ".join(f"git {a}" for a in actions)
    return {
        "permission": "deny",
        "user_message": f"otel-mcp refused {what}: the task's gates have not passed on the current code.",
        "agent_message": reason,
    }


def _stop(payload: dict[str, Any], args: list[str], stderr: TextIO) -> dict[str, Any]:
    if payload.get("status") != "completed":
        return {}  # the person aborted it, or it failed: never push it on
    from otel_mcp.hooks.answers import cannot_check, decide_stop
    from otel_mcp.hooks.blocks import BlockCounter
    from otel_mcp.hooks.gatecheck import check_gates, parse_options

    try:
        options = parse_options(_PROG, args, os.environ)
        report = check_gates(options, os.environ, _where(payload))
    except Exception as exc:  # fail open: the agent cannot repair otel-mcp's set-up
        say(stderr, cannot_check(exc))
        return {}
    for note in report.notes:
        say(stderr, f"{_PROG}: {note}")
    loop_count = payload.get("loop_count")
    if isinstance(loop_count, int) and not isinstance(loop_count, bool) and loop_count >= 0:
        decision = decide_stop(report, prior=loop_count, max_blocks=options.max_blocks, counter=None)
    else:  # no loop_count (an older Cursor): count the follow-ups ourselves
        key = text_field(payload, "conversation_id") or "no-conversation"
        key += f"/subagent:{text_field(payload, 'subagent_id') or ''}"
        counter = BlockCounter(report.state_dir, _HOST, key)
        try:
            decision = decide_stop(report, prior=counter.count(), max_blocks=options.max_blocks, counter=counter)
        except OSError as exc:
            say(stderr, f"{_PROG}: cannot count follow-ups in {report.state_dir} ({exc.strerror or exc}); none sent")
            return {}
    if not decision.block:
        if decision.text:
            say(stderr, decision.text)
        return {}
    return {"followup_message": decision.text}
