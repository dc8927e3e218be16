"""What a host hook says, whatever the host: keep working and how, stop anyway and why, or no commit.

The texts tell the model exactly what to do next (which checks to run, which gate to submit, then
what to record) and tell the person when the agent is let go although its gates still fail. The
loop cap lives here too: after `max_blocks` blocks in a row the agent may stop, and the person is
told its work is not done.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from otel_mcp.hooks.blocks import BlockCounter
from otel_mcp.hooks.gatecheck import GateReport

__all__ = ["StopDecision", "cannot_check", "decide_stop", "git_refusal"]


@dataclass(frozen=True, slots=True)
class StopDecision:
    """Block (with the model's instructions) or let the agent stop (with a note for the person, maybe "")."""

    block: bool
    text: str


def decide_stop(report: GateReport, *, prior: int, max_blocks: int, counter: BlockCounter | None) -> StopDecision:
    """Block while the gates fail, at most `max_blocks` times in a row (`prior`: blocks so far in this series).

    With a counter, a block is counted (OSError if it cannot be) and any stop resets the series.
    """
    if report.passed:
        if counter is not None:
            counter.reset()
        return StopDecision(False, "")
    if prior >= max_blocks:
        if counter is not None:
            counter.reset()
        return StopDecision(False, _given_up(report, prior))
    if counter is not None:
        counter.record()
    return StopDecision(True, _keep_working(report, prior + 1, max_blocks))


def _tasks(report: GateReport) -> str:
    tasks = report.failing_tasks()
    return ("task " if len(tasks) == 1 else "tasks ") + ", ".join(f"'{t}'" for t in tasks)


def _verify_hint(report: GateReport) -> str:
    return " / ".join(f"`otel-mcp gates status --task {t}`" for t in report.failing_tasks())


def _keep_working(report: GateReport, attempt: int, max_blocks: int) -> str:
    tasks = report.failing_tasks()
    record = " and ".join(f"record_task(task_id='{t}', status='complete', ...)" for t in tasks)
    return (
        f"otel-mcp: you are not done. The gates of {_tasks(report)} you are working on have not passed "
        "on the code as it is now:\n"
        f"{report.failures()}\n"
        "Fix the code where a check fails, run the checks and submit the evidence as above, then "
        f"{record}. If you cannot make them pass, tell the user why, record the task as 'blocked' and "
        f"release_task it. (otel-mcp stop check {attempt} of {max_blocks}.)"
    )


def _given_up(report: GateReport, blocks: int) -> str:
    return (
        f"otel-mcp: letting the agent stop after {blocks} block(s) in a row, but its work is NOT done: "
        f"the gates of {_tasks(report)} have not passed on the current code.\n{report.failures()}\n"
        f"See {_verify_hint(report)}."
    )


def git_refusal(report: GateReport, actions: Sequence[str]) -> str:
    """Why `git commit` / `git push` is refused now, and what makes it possible."""
    what = " and ".join(f"`git {a}`" for a in actions)
    return (
        f"otel-mcp refused {what}: the gates of {_tasks(report)} you are working on have not passed on "
        f"the code as it is now:\n{report.failures()}\n"
        f"Make them pass (fix the code, run the checks, submit the evidence), then run {what} again. "
        f"{_verify_hint(report)} shows the verdict."
    )


def cannot_check(error: BaseException, *, refusing: Sequence[str] = (), letting: str = "the stop") -> str:
    """The gates could not be asked: refuse the git actions (fail closed) or let a stop through (fail open)."""
    # otel-mcp's own errors are sentences meant to be shown; anything else is named by its type.
    ours = type(error).__module__.startswith("otel_mcp")
    why = str(error) if ours else f"{type(error).__name__}: {error}"
    if refusing:
        what = " and ".join(f"`git {a}`" for a in refusing)
        return (
            f"otel-mcp refused {what}: it could not check the gates of the tasks you are working on ({why}). "
            "Tell the user; they can fix otel-mcp's set-up (`otel-mcp gates status --task T` shows the same "
            "problem) or commit and push themselves. Do not work around this check."
        )
    return f"otel-mcp could not check the gates of the agent's tasks ({why}); {letting} was let through."
