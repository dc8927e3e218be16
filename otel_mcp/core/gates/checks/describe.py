"""What a runner span says: who ran what on which code before the run, and what the run did after it."""

from __future__ import annotations

import contextlib
from typing import Literal

from otel_mcp.core.gates.checks.plan import Plan
from otel_mcp.core.gates.checks.process import CommandOutcome, program_digest
from otel_mcp.core.gates.definitions.checkspec import Check
from otel_mcp.core.gates.definitions.loading import CatalogLoader
from otel_mcp.core.gates.definitions.names import (
    ATTR_CHECK,
    ATTR_CHECK_DIGEST,
    ATTR_CHECK_FILES,
    ATTR_CHECK_USER,
    ATTR_CHECK_USER_NOTE,
    ATTR_GATES_COMMIT,
    ATTR_GATES_SOURCE,
    ATTR_PROGRAM,
    ATTR_PROGRAM_SHA256,
    ATTR_RUNNER,
    code_attributes,
)
from otel_mcp.core.gates.results import clip
from otel_mcp.model import ATTR_SOURCE, ATTR_TASK_ID, AttrValue

__all__ = ["ADHOC", "RunnerName", "identity", "outcome_attributes", "verdict"]

ADHOC = "adhoc"
RunnerName = Literal["server", "cli", "ci"]


def _printable(arg: str) -> str:
    """An argument as UTF-8 text: a file name's undecodable bytes (surrogates) as backslash escapes."""
    return arg.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def identity(
    runner: RunnerName, catalog_loader: CatalogLoader, task_id: str, check: Check, plan: Plan, adhoc: bool
) -> dict[str, AttrValue]:
    """What the span says before the run: task, check and definition, runner, program, code state."""
    attrs: dict[str, AttrValue] = {
        ATTR_TASK_ID: task_id,
        ATTR_SOURCE: "runner",
        ATTR_CHECK: ADHOC if adhoc else check.name,
        ATTR_RUNNER: runner,
        ATTR_PROGRAM: plan.argv[0],
        # A check run is a tool execution in the OTel GenAI conventions' terms.
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": ADHOC if adhoc else check.name,
    }
    with contextlib.suppress(OSError):
        attrs[ATTR_PROGRAM_SHA256] = program_digest(plan.argv[0])
    if not adhoc:
        attrs[ATTR_CHECK_DIGEST] = check.digest()
        catalog = catalog_loader.catalog()
        attrs[ATTR_GATES_SOURCE] = catalog.source
        if catalog.commit:
            attrs[ATTR_GATES_COMMIT] = catalog.commit
    if plan.files is not None:
        attrs[ATTR_CHECK_FILES] = len(plan.files)
    if plan.dynamic:
        # Why excluded files were examined: imports only run time resolves (at most 20 named).
        attrs["otel_mcp.check.dynamic_imports"] = tuple(clip(site, 300) for site in plan.dynamic[:20])
    if not adhoc:
        attrs[ATTR_CHECK_USER] = plan.user.name
        if plan.user.note:
            attrs[ATTR_CHECK_USER_NOTE] = plan.user.note
    if plan.before is not None:
        attrs.update(code_attributes(plan.before))
    return attrs


def verdict(
    check: Check, outcome: CommandOutcome, extracted: dict[str, AttrValue], root: str, adhoc: bool
) -> list[str]:
    """Why the run itself failed, before anything its output says: time, exit code, nothing examined."""
    if outcome.timed_out:
        return [f"the command timed out after {check.timeout_seconds:g}s and was stopped"]
    ok_codes = (0,) if adhoc else tuple(check.ok_exit_codes)
    if outcome.exit_code not in ok_codes:
        accepted = ", ".join(str(c) for c in ok_codes)
        meaning = check.exit_reasons.get(outcome.exit_code)
        return [
            f"the command exited with code {outcome.exit_code}"
            + (f" ({meaning})" if meaning else f" (accepted: {accepted})")
        ]
    if check.examined and check.examined != ATTR_CHECK_FILES:
        amount = extracted.get(check.examined)
        if amount in (None, 0, 0.0):
            return [
                f"the check examined nothing ({check.examined} = {amount if amount is not None else 'missing'}) "
                f"in {root}; is OTEL_MCP_WORKSPACE the folder with your code?"
            ]
    return []


def outcome_attributes(outcome: CommandOutcome) -> dict[str, AttrValue]:
    attrs: dict[str, AttrValue] = {
        "process.command_args": tuple(clip(_printable(a), 1000) for a in outcome.argv[:100]),
        "process.exit.code": outcome.exit_code,
        "otel_mcp.output.sha256": outcome.stdout_sha256,
        "otel_mcp.stderr.sha256": outcome.stderr_sha256,
        "otel_mcp.output.bytes": outcome.output_bytes,
    }
    if outcome.truncated:
        attrs["otel_mcp.output.truncated"] = True
    if outcome.timed_out:
        attrs["otel_mcp.check.timed_out"] = True
    return attrs
