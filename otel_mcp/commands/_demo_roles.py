"""The four roles the demo scripts: planner, coder, tester and security, each as one coroutine."""

from __future__ import annotations

import time

import anyio

from otel_mcp.commands._demo_agent import (
    DELIVERABLE,
    DemoResult,
    _Agent,
    _commit,
    _merge_coder,
    _push,
    _wait_for,
)
from otel_mcp.commands._demo_git import DemoRepo
from otel_mcp.commands._demo_host import HostTelemetry
from otel_mcp.commands._demo_project import _APP_V1, _APP_V2


async def _planner(a: _Agent, deadline: float, result: DemoResult, repo: DemoRepo | None) -> None:
    await a.record(DELIVERABLE, "plan", "planned", summary="Ship the calculator: implement, test, scan, release")
    graph = [
        ("demo/calc/implement", "code_generation", []),
        ("demo/calc/scan", "security_scan", ["demo/calc/implement"]),
        # Tested after the scan passes: a test run that a security fix overtakes speaks for old code.
        ("demo/calc/test", "test", ["demo/calc/scan"]),
        ("demo/calc/release", "release", ["demo/calc/test", "demo/calc/scan"]),
    ]
    for task_id, task_type, deps in graph:
        await a.record(task_id, task_type, "planned", parent_task_id=DELIVERABLE, depends_on=deps)
    a.say(f"planned {DELIVERABLE}: implement -> scan -> test -> release")

    task = await _wait_for(a, "release", deadline)
    await a.record(task, "release", "started", parent_task_id=DELIVERABLE)
    # The release is the coder's branch merged into this one: lint and the gate judge the merged tree.
    await _merge_coder(a, repo, message="Merge the calculator\n\nTask: " + DELIVERABLE)
    lint = await a.run_check("ruff")
    decision = await a.submit("release", "lint", lint["span_id"], result)
    if decision["decision"] == "fail" and any("gate 'tests'" in r for r in decision["reasons"]):
        # The tests passed before the security fix changed the code: they must pass again on this code.
        a.say("the tests passed on older code; running them again on the code as it is now")
        rerun = await a.run_check("pytest")
        await a.submit("tests", "pytest", rerun["span_id"], result)
        decision = await a.submit("release", "lint", lint["span_id"], result)
    status = "complete" if decision["decision"] == "pass" else "failed"
    await a.record(task, "release", status, parent_task_id=DELIVERABLE, attributes={"gate.release": status})
    await a.call("release_task", task_id=task)
    if status == "complete":
        await _push(a, repo, result)
    pre = await a.call("check_prerequisites", task_id=DELIVERABLE)
    await a.record(DELIVERABLE, "plan", "complete" if pre["ready"] else "failed", summary=pre["reason"])
    a.say(f"{DELIVERABLE}: {pre['reason']}")


async def _coder(a: _Agent, deadline: float, result: DemoResult, repo: DemoRepo | None, host: HostTelemetry) -> None:
    task = await _wait_for(a, "code_generation", deadline)
    await a.record(task, "code_generation", "started", parent_task_id=DELIVERABLE)
    took = time.monotonic()
    (a.worktree / "app" / "calc.py").write_text(_APP_V1)
    # Its host (Claude Code) reports the Write tool's result over OTLP, on its own, as it does for every tool.
    duration_ms = max(1, round((time.monotonic() - took) * 1000))
    await anyio.to_thread.run_sync(host.tool_result, a.name, task, "Write", duration_ms)
    a.say("wrote app/calc.py; its host sent a claude_code.tool_result event to otel-mcp collect (host telemetry)")
    await _commit(a, repo, "calculator")
    await a.record(
        task, "code_generation", "complete", parent_task_id=DELIVERABLE, attributes={"files.changed": ["app/calc.py"]}
    )
    await a.call("release_task", task_id=task)
    # Eager to ship: nothing has been checked yet, so the hook refuses the push.
    await _push(a, repo, result)

    fix = await _wait_for(a, "fix", deadline)
    (a.worktree / "app" / "calc.py").write_text(_APP_V2)
    await _commit(a, repo, "announce() without a shell")
    await a.record(
        fix,
        "fix",
        "complete",
        parent_task_id=DELIVERABLE,
        attributes={"files.changed": ["app/calc.py"]},
        summary="announce() no longer uses a shell",
    )
    await a.call("release_task", task_id=fix)
    a.say("fixed app/calc.py: subprocess without shell=True")


async def _tester(a: _Agent, deadline: float, result: DemoResult, repo: DemoRepo | None) -> None:
    task = await _wait_for(a, "test", deadline)
    await a.record(task, "test", "started", parent_task_id=DELIVERABLE)
    await _merge_coder(a, repo)
    for _ in range(3):
        run = await a.run_check("pytest")
        decision = await a.submit("tests", "pytest", run["span_id"], result)
        # Another agent editing the code meanwhile makes a run speak for no one state of it: run again.
        if decision["decision"] == "pass" or not any("code changed" in r for r in decision["reasons"]):
            break
        a.say("the code changed while the tests ran; running them again")
    status = "complete" if decision["decision"] == "pass" else "failed"
    await a.record(
        task,
        "test",
        status,
        parent_task_id=DELIVERABLE,
        attributes={"tests.collected": run["attributes"].get("tests.collected", 0)},
    )
    await a.call("release_task", task_id=task)


async def _security(a: _Agent, deadline: float, result: DemoResult, repo: DemoRepo | None) -> None:
    task = await _wait_for(a, "security_scan", deadline)
    await a.record(task, "security_scan", "started", parent_task_id=DELIVERABLE)
    for attempt in range(1, 4):
        await _merge_coder(a, repo)  # the coder's code as it is now, the fix included after the first round
        scan = await a.run_check("bandit")
        decision = await a.submit("security", "scan", scan["span_id"], result)
        if decision["decision"] == "pass":
            if attempt > 1:
                result.accepted.append("completion")
                a.say("the security gate passed on the fixed code: recording the scan complete is accepted now")
            await a.record(
                task,
                "security_scan",
                "complete",
                parent_task_id=DELIVERABLE,
                attributes={"vulnerabilities.high": 0, "attempts": attempt},
            )
            await a.call("release_task", task_id=task)
            return
        if attempt == 1:
            # A hasty agent would call it done anyway: the gate guards that transition.
            refused = await a.attempt(
                "record_task", task_id=task, task_type="security_scan", status="complete", parent_task_id=DELIVERABLE
            )
            if refused is not None:
                result.refusals.append("completion")
                a.say("record_task(complete) refused: " + _first_sentence(refused))
        # Not our code to change: hand a fix to whoever writes code, and wait for it in the record.
        fix = f"demo/calc/fix-{attempt}"
        await a.record(fix, "fix", "planned", parent_task_id=DELIVERABLE, summary="; ".join(decision["reasons"])[:1900])
        await a.record(
            task, "security_scan", "blocked", parent_task_id=DELIVERABLE, depends_on=[fix], summary=f"waiting on {fix}"
        )
        a.say(f"asked for {fix}; waiting for it in the shared record")
        while time.monotonic() < deadline:
            pre = await a.call("check_prerequisites", task_id=task)
            if pre["ready"]:
                break
            await anyio.sleep(0.05)
        else:
            raise TimeoutError("the fix never arrived")
        await a.call("claim_task", task_id=task, lease_seconds=120)  # renew before scanning again
    raise RuntimeError("the security gate still fails after three fixes")


def _first_sentence(text: str) -> str:
    """A refusal's gist for the demo's log: up to the first gate's reason."""
    text = text.removeprefix("Error executing tool record_task: ")
    return text if len(text) <= 160 else text[:157] + "..."
