"""The check runner: run an admin-defined check (or, from the CLI, any command) and record a signed runner span.

A check runs in the workspace root, on the code state it records: the state is digested before
the run and again after it, and a run during which the code changed is an error. The span also
says which definition ran (its digest), which program (absolute path and digest), who ran it
(server, cli, ci), how much it examined and which suppressions the examined files carry; it is
signed once complete. Store calls happen off the event loop when the store is behind a network,
so a check never stalls other clients of an HTTP server.
"""

from __future__ import annotations

import re
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

import anyio
from opentelemetry.trace import format_span_id, format_trace_id

from otel_mcp.core.anchors import TaskAnchors
from otel_mcp.core.gates.checks.describe import ADHOC, RunnerName, identity, outcome_attributes, verdict
from otel_mcp.core.gates.checks.examine import count_suppressions, written_since
from otel_mcp.core.gates.checks.extract import extract_attributes
from otel_mcp.core.gates.checks.plan import Plan, prepare
from otel_mcp.core.gates.checks.privilege import CheckUser
from otel_mcp.core.gates.checks.process import (
    CommandOutcome,
    ProgressFn,
    check_environment,
    resolve_program,
    run_command,
)
from otel_mcp.core.gates.definitions.checkspec import Check
from otel_mcp.core.gates.definitions.loading import CatalogLoader
from otel_mcp.core.gates.definitions.names import WorkspaceLike
from otel_mcp.core.gates.results import CheckRun, clip
from otel_mcp.core.workspace.leftovers import claim
from otel_mcp.errors import InvalidArgument, NotFound
from otel_mcp.model import AttrValue, check_task_id
from otel_mcp.store.base import Store
from otel_mcp.telemetry import SpanRef, Telemetry, ref

__all__ = ["MAX_ADHOC_TIMEOUT_S", "CheckRunner"]

MAX_ADHOC_TIMEOUT_S = 3600.0
_T = TypeVar("_T")


class CheckRunner:
    """Runs checks for one process and records what they found."""

    def __init__(
        self,
        store: Store,
        telemetry: Telemetry,
        anchors: TaskAnchors,
        catalog_loader: CatalogLoader,
        workspace: WorkspaceLike | None = None,
        runner: RunnerName = "server",
        check_user: str | None = None,
    ) -> None:
        self.store = store
        self.telemetry = telemetry
        self.anchors = anchors
        self.catalog_loader = catalog_loader
        self.workspace = workspace
        self.runner = runner
        self.check_user = check_user

    async def _blocking(self, fn: Callable[..., _T], *args: object) -> _T:
        if not self.store.blocking_io:
            return fn(*args)
        return await anyio.to_thread.run_sync(lambda: fn(*args))

    def _root(self) -> str:
        if self.workspace is None:
            raise InvalidArgument(
                "this server has no workspace, so there is no code to check: set OTEL_MCP_WORKSPACE to your "
                "project's folder in the server's configuration (hosts such as Claude Desktop start servers in '/')"
            )
        return self.workspace.current().root

    async def run_check(
        self, name: str, task_id: str, *, progress: ProgressFn | None = None, parent: SpanRef | None = None
    ) -> CheckRun:
        """Run a check defined in the gate files and record its signed runner span."""
        check_task_id(task_id)
        check = self.catalog_loader.check(name)
        program = resolve_program(check.command[0])
        root = await anyio.to_thread.run_sync(self._root)
        assert self.workspace is not None  # _root raised otherwise
        plan = await anyio.to_thread.run_sync(prepare, self.workspace, self.check_user, check, program, root)
        try:
            return await self._run(check.span_name, task_id, plan, check, root, progress, parent)
        finally:
            shutil.rmtree(plan.private, ignore_errors=True)

    async def run_adhoc(
        self,
        span_name: str,
        task_id: str,
        argv: Sequence[str],
        *,
        timeout_s: float = 600,
        progress: ProgressFn | None = None,
        parent: SpanRef | None = None,
        cwd: str | None = None,
    ) -> CheckRun:
        """`otel-mcp run --span NAME -- CMD`: any command, recorded with exit code, output digest and code state."""
        check_task_id(task_id)
        if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_.:/ -]{0,127}", span_name or ""):
            raise InvalidArgument(
                f"span name {span_name[:60]!r} must start with a letter (letters, digits, _ . : / - space)"
            )
        if not argv:
            raise InvalidArgument(
                "give the command after '--', e.g. otel-mcp run --span lint_complete --task T -- ruff check ."
            )
        if not 0 < timeout_s <= MAX_ADHOC_TIMEOUT_S:
            raise InvalidArgument(f"timeout must be between 0 and {MAX_ADHOC_TIMEOUT_S:g} seconds")
        # The person at the terminal chose this command: it is found on their PATH, and recorded
        # by absolute path and digest. Only checks defined in the gates are resolved strictly.
        program = shutil.which(argv[0]) if not Path(argv[0]).is_absolute() else argv[0]
        if program is None:
            raise NotFound(f"'{argv[0][:80]}' is not a command on PATH")
        private = Path(tempfile.mkdtemp(prefix="otel-mcp-run-"))
        claim(private)  # removed at a later start should this server be killed mid-run
        plan = Plan([program, *argv[1:]], private, private / "report", None, CheckUser("self"))
        # Not validated as a check definition: the command is the person's own, placeholders and all.
        adhoc = Check.model_construct(name=ADHOC, span_name=span_name, command=list(argv), timeout_seconds=timeout_s)
        try:
            root = cwd if cwd is not None else await anyio.to_thread.run_sync(self._root) if self.workspace else "."
            return await self._run(span_name, task_id, plan, adhoc, root, progress, parent, adhoc=True)
        finally:
            shutil.rmtree(private, ignore_errors=True)

    async def _run(
        self,
        span_name: str,
        task_id: str,
        plan: Plan,
        check: Check,
        root: str,
        progress: ProgressFn | None,
        parent: SpanRef | None,
        *,
        adhoc: bool = False,
    ) -> CheckRun:
        check_name = ADHOC if adhoc else check.name
        # Fail on a bad key, and find where the span hangs, before running anything (off the event
        # loop when the store is behind a network).
        await self._blocking(lambda: self.telemetry.attestor)
        if parent is None:
            parent = ref(await self._blocking(self.anchors.anchor, task_id))
        if self.workspace is not None and plan.before is None:
            plan.taken_ns = time.time_ns()
            plan.before, plan.state = await anyio.to_thread.run_sync(self.workspace.snapshot)
        span = self.telemetry.spans.start(
            span_name, identity(self.runner, self.catalog_loader, task_id, check, plan, adhoc), parent=parent
        )
        ctx = span.get_span_context()
        # Tools that speak OTel (and nested `otel-mcp run`) parent their spans under this one.
        traceparent = f"00-{format_trace_id(ctx.trace_id)}-{format_span_id(ctx.span_id)}-01"
        errors: list[str] = []
        extracted: dict[str, AttrValue] = {}
        outcome: CommandOutcome | None = None
        if plan.files is not None and not plan.files:
            errors.append(
                f"the check examined nothing: no file in the workspace ({root}) matches {', '.join(check.files)}"
                + (f" outside {', '.join(check.exclude)}" if check.exclude else "")
                + "; is OTEL_MCP_WORKSPACE the folder with your code?"
            )
        else:
            outcome = await run_command(
                plan.argv,
                cwd=plan.cwd or root,
                env=check_environment(plan.private, {"TRACEPARENT": traceparent}),
                timeout_s=check.timeout_seconds,
                max_output_bytes=check.max_output_bytes,
                progress=progress,
                label=span_name if adhoc else check_name,
                user=plan.user.uid,
                group=plan.user.gid,
            )
            remaining = check.timeout_seconds - (outcome.end_ns - outcome.start_ns) / 1e9
            if not adhoc:
                report = plan.read_report(check.max_output_bytes) if check.uses_report else None
                extracted, errors = await extract_attributes(check, outcome, report, timeout_s=remaining)
            errors[:0] = verdict(check, outcome, extracted, root, adhoc)
        attrs: dict[str, AttrValue] = dict(extracted)
        if check.suppressions and plan.files:
            attrs.update(await anyio.to_thread.run_sync(count_suppressions, root, plan.files, check.suppressions))
        if outcome is not None:
            attrs.update(outcome_attributes(outcome))
        if plan.before is not None and self.workspace is not None:
            after = await anyio.to_thread.run_sync(self.workspace.current)
            # Same state after as before is not enough: code swapped in for the run and back leaves it.
            written = (
                await anyio.to_thread.run_sync(written_since, plan.before.root, plan.state, plan.taken_ns)
                if after.digest == plan.before.digest
                else []
            )
            if after.digest != plan.before.digest or written:
                what = f"{written[0]} was written" if written else "a file in the workspace was written"
                more = f" (and {len(written) - 1} more)" if len(written) > 1 else ""
                errors.append(
                    f"the code changed while the check ran ({what}{more} meanwhile), so this run does not speak "
                    "for any one state of it; run the check again"
                )
        span.set_attributes(attrs)
        error = clip("; ".join(errors)) if errors else None
        record = await self._blocking(lambda: self.telemetry.spans.finish(span, error=error, ok=not error, sign=True))
        return CheckRun(
            check=check_name,
            task_id=task_id,
            span_id=record.span_id,
            trace_id=record.trace_id,
            span_name=span_name,
            exit_code=outcome.exit_code if outcome else -1,
            ok=not errors,
            timed_out=outcome.timed_out if outcome else False,
            duration_ms=round(((span.end_time or 0) - (span.start_time or 0)) / 1e6, 1),
            attributes={k: list(v) if isinstance(v, tuple) else v for k, v in attrs.items() if k in extracted},
            errors=errors,
            output_tail=outcome.tail(2000) if outcome else "",
            code_digest=plan.before.digest if plan.before else "",
            files_examined=len(plan.files) if plan.files is not None else None,
        )
