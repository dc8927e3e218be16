"""`otel-mcp hooks run git-pre-push`: refuse to push commits whose tasks' guarding gates have not passed on their code.

    otel-mcp hooks run git-pre-push [--require-task] [--] REMOTE URL     (git's ref lines on stdin)

Which tasks a pushed commit belongs to: those its message names in `Task:` trailers (`Task:
auth/login`; several trailers, or several ids in one, are allowed), and those whose records list
it in `task.commits` (`record_task(..., commits=[sha])`, full or abbreviated ids; found with
`Store.commit_records`, an indexed lookup on both stores). For each ref pushed, each task is
checked once, at the newest pushed commit that names it (earlier ones are its work in progress).

What is checked: the gates guarding the completion of the task's types (`guards: {task_types:
[...], status: complete}`, every type the task was recorded with: retyping does not unguard it)
must stand passed for the task on the code state of that commit, which is its tree: the digest a
clean working tree with the same files has, so a gate passed on the working tree before committing
counts. This is the
evaluation `otel-mcp gates status` makes (the latest decision, verified, under the definition in
force), judged on the commit's code instead of the working tree's.

What passes: commits that name no task, unless `--require-task` (then every pushed commit but a
merge that only joins its parents' code must name a task the store has records of; a merge that
resolves a conflict or carries an edit of its own must too); tasks with no records (a note is
printed: a typo, or a store other than the agents'); tasks whose type no gate guards. A `Task:` value that
is not a task id refuses the push (amend the message). Anything that stops the check itself (the
store, git, gate files with problems while a pushed task is known) refuses too: failing open would
make the hook decorative. Each
refusal says why and what to do, and that `git push --no-verify` is the human's escape hatch.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from otel_mcp.config import Settings
from otel_mcp.core.gates.verdicts.standing import Standing
from otel_mcp.core.workspace import CodeState, commit_state
from otel_mcp.errors import OtelMcpError
from otel_mcp.hooks._pushed import (
    PushedCommit,
    PushError,
    RefUpdate,
    advertised,
    merge_changes,
    pushed_commits,
    read_updates,
)
from otel_mcp.model import ATTR_COMMITS, SpanRecord
from otel_mcp.oneshot import OneShot
from otel_mcp.store.base import Store

__all__ = ["Failure", "PushCheck", "check_push", "main"]

_ESCAPE = "A person can skip this check with `git push --no-verify` (for agents, the gates are the way through)."


@dataclass(slots=True)
class Failure:
    """One commit and task whose guarding gates do not stand passed on the commit's code."""

    update: RefUpdate
    commit: PushedCommit
    task_id: str
    task_type: str
    failing: list[Standing]


@dataclass(slots=True)
class PushCheck:
    """What the hook found: failures and other refusals (any refuses the push), notes, and what passed."""

    failures: list[Failure] = field(default_factory=list)
    refusals: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    passed: list[str] = field(default_factory=list)

    @property
    def refused(self) -> bool:
        return bool(self.failures or self.refusals)


def _record_tasks(store: Store, shas: Sequence[str]) -> dict[str, list[str]]:
    """sha -> the tasks whose records list it in `task.commits` (full or abbreviated), newest record first."""
    out: dict[str, list[str]] = {}
    for i in range(0, len(shas), 100):
        chunk = shas[i : i + 100]
        for record in store.commit_records(chunk, limit=10_000):
            listed = record.attributes.get(ATTR_COMMITS)
            items = listed if isinstance(listed, tuple) else (listed,)
            for sha in chunk:
                if record.task_id and any(isinstance(c, str) and len(c) >= 7 and sha.startswith(c) for c in items):
                    tasks = out.setdefault(sha, [])
                    if record.task_id not in tasks:
                        tasks.append(record.task_id)
    return out


def check_push(
    session: OneShot, updates: Sequence[RefUpdate], remote: str, url: str, *, require_task: bool
) -> PushCheck:
    """Judge every commit the push sends (see the module docstring for the rules)."""
    result = PushCheck()
    remote_has = advertised(url) if any(not u.deletes for u in updates) else None
    sent = [(u, pushed_commits(u, remote_has)) for u in updates]
    shas = list(dict.fromkeys(c.sha for _, commits in sent for c in commits))
    by_records = _record_tasks(session.store, shas)
    # Per ref, each task at its newest pushed commit; the same commit and task is judged once.
    targets: dict[tuple[str, str], tuple[RefUpdate, PushedCommit]] = {}
    named: dict[str, list[str]] = {}
    for update, commits in sent:
        seen: set[str] = set()
        for commit in commits:  # newest first
            for bad in commit.bad_trailers:
                result.refusals.append(
                    f"commit {commit.short} ({commit.subject[:60]!r}) has a 'Task: {bad}' trailer that is not a task "
                    "id (letters, digits and _.:/@#+=- only); fix the message (`git commit --amend`, `git rebase -i`)"
                )
            tasks = list(dict.fromkeys([*commit.trailer_tasks, *by_records.get(commit.sha, [])]))
            named[commit.sha] = tasks
            for task in tasks:
                if task not in seen:
                    seen.add(task)
                    targets.setdefault((commit.sha, task), (update, commit))
    task_ids = sorted({task for tasks in named.values() for task in tasks})
    latest = session.store.latest_status(task_ids) if task_ids else {}
    for task in task_ids:
        if task not in latest:
            result.notes.append(
                f"task '{task}' (named by a pushed commit) has no records in the store "
                f"{session.settings.db_path}: nothing to check for it (a typo, or not the agents' store?)"
            )
    if require_task:
        for _, commits in sent:
            for commit in commits:
                if any(t in latest for t in named.get(commit.sha, [])):
                    continue
                if len(commit.parents) < 2:
                    result.refusals.append(
                        f"commit {commit.short} ({commit.subject[:60]!r}) names no task this store knows, and this "
                        "repository requires one: add a trailer (`git commit --amend --trailer 'Task: <task id>'`) "
                        "or list the commit in record_task(..., commits=[...])"
                    )
                elif own := merge_changes(commit.sha):
                    # A merge is exempt only while it brings nothing but its parents' code.
                    more = f" (and {len(own) - 1} more)" if len(own) > 1 else ""
                    result.refusals.append(
                        f"merge commit {commit.short} ({commit.subject[:60]!r}) changes {own[0][:120]}{more} beyond "
                        "what its parents bring (a conflict resolved or an edit made in the merge) and names no task "
                        "this store knows, and this repository requires one for such a merge: add a trailer "
                        "(`git commit --amend --trailer 'Task: <task id>'`) and pass that task's gates on the merge"
                    )
    _judge(session, targets, latest, result)
    return result


def _judge(
    session: OneShot,
    targets: dict[tuple[str, str], tuple[RefUpdate, PushedCommit]],
    latest: dict[str, SpanRecord],
    result: PushCheck,
) -> None:
    root = session.settings.workspace
    states: dict[str, CodeState] = {}
    problems = session.catalog().problems
    if problems and any(task in latest for _, task in targets):
        # One of the broken files may be the one that guards these tasks: refuse rather than guess.
        result.refusals.append(
            f"the gate files in force have {len(problems)} problem(s), so which gates guard the pushed tasks is not "
            f"known: {'; '.join(str(p) for p in problems[:3])}; fix them (`otel-mcp gates lint`) and commit"
        )
        return
    for (sha, task), (update, commit) in targets.items():
        record = latest.get(task)
        if record is None:
            continue  # noted already: a task with no records has no type, so nothing guards it
        gates = session.judge.guarding(record.task_type, "complete", task)
        if not gates:
            continue
        if root is None:
            raise PushError(
                "there is no workspace to read commits from: set OTEL_MCP_WORKSPACE (or reinstall the hooks "
                "with `otel-mcp hooks install`)"
            )
        if sha not in states:
            states[sha] = commit_state(Path(root), sha)
        label = f"commit {commit.short}"
        verdicts = session.judge.verdicts(task, gates, states[sha], code_label=label)
        failing = [v for v in verdicts if not v.passed]
        if failing:
            result.failures.append(Failure(update, commit, task, str(record.task_type), failing))
        else:
            result.passed.append(f"{commit.short} {task}: {', '.join(gates)}")


def _explain(check: PushCheck, remote: str) -> str:
    lines = ["otel-mcp pre-push: push refused."]
    for failure in check.failures:
        c = failure.commit
        lines.append(
            f"  commit {c.short} ({c.subject[:60]!r}) -> {failure.update.remote_ref}, task {failure.task_id} "
            f"({failure.task_type}): its guarding gates have not passed on this commit's code"
        )
        for standing in failure.failing:
            lines.append(f"    - gate {standing.gate}: {'; '.join(standing.reasons)}")
            if standing.next_step:
                lines.append(f"      next: {standing.next_step}")
    for refusal in check.refusals:
        lines.append(f"  {refusal}")
    if check.failures:
        oldest = check.failures[-1]
        without = f"{oldest.commit.short}~1:{oldest.update.remote_ref}"
        lines += [
            "  To fix: with exactly that commit's code in the workspace (a clean working tree before committing, or",
            "  `git checkout <commit>`), run the checks and submit the evidence as the next steps say; a pass on",
            "  a working tree with the same files counts for the commit. Then push again. Or push without the",
            f"  commit, e.g. `git push {remote or '<remote>'} {without}`.",
        ]
    lines.append(f"  {_ESCAPE}")
    return "\n".join(lines) + "\n"


def _parse(args: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="otel-mcp hooks run git-pre-push", add_help=False)
    parser.add_argument("--require-task", action="store_true")
    parser.add_argument("remote", nargs="?", default="")
    parser.add_argument("url", nargs="?", default="")
    return parser.parse_args(list(args))


def main(args: list[str], stdin: TextIO, stdout: TextIO, stderr: TextIO) -> int:
    """git's pre-push hook: exit 0 lets the push go on, 1 refuses it (the reasons on stderr)."""
    try:
        options = _parse(args)
    except SystemExit:
        stderr.write("otel-mcp pre-push: usage: otel-mcp hooks run git-pre-push [--require-task] [--] REMOTE URL\n")
        return 2
    try:
        updates = read_updates(stdin.read())
        with OneShot.open(Settings.from_env(default_agent="cli")) as session:
            check = check_push(session, updates, options.remote, options.url, require_task=options.require_task)
    except (PushError, OtelMcpError) as exc:
        stderr.write(f"otel-mcp pre-push: push refused: the gates could not be checked: {exc}\n  {_ESCAPE}\n")
        return 1
    for note in check.notes:
        stderr.write(f"otel-mcp pre-push: note: {note}\n")
    if check.refused:
        stderr.write(_explain(check, options.remote))
        return 1
    for line in check.passed:
        stderr.write(f"otel-mcp pre-push: gates stand passed: {line}\n")
    return 0
