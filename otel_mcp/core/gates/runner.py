"""The check runner: run an admin-defined check (or, from the CLI, any command) and record a signed runner span.

A check runs in the workspace root, on the code state it records: the state is digested before
the run and again after it, and a run during which the code changed is an error. The span also
says which definition ran (its digest), which program (absolute path and digest), who ran it
(server, cli, ci), how much it examined and which suppressions the examined files carry; it is
signed once complete. Store calls happen off the event loop when the store is behind a network,
so a check never stalls other clients of an HTTP server.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal, TypeVar

import anyio
from opentelemetry.trace import format_span_id, format_trace_id

from otel_mcp.core.anchors import TaskAnchors
from otel_mcp.core.gates.catalog import Catalogue
from otel_mcp.core.gates.checkspec import Check
from otel_mcp.core.gates.copying import copy_state
from otel_mcp.core.gates.examine import count_suppressions, links_outside, select_files, written_since
from otel_mcp.core.gates.extract import extract_attributes
from otel_mcp.core.gates.names import (
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
    CodeStateLike,
    WorkspaceLike,
    code_attributes,
)
from otel_mcp.core.gates.privilege import CheckUser, check_user, private_for
from otel_mcp.core.gates.process import (
    CommandOutcome,
    ProgressFn,
    check_environment,
    program_digest,
    resolve_program,
    run_command,
)
from otel_mcp.core.gates.results import CheckRun
from otel_mcp.errors import InvalidArgument, NotFound
from otel_mcp.model import ATTR_SOURCE, ATTR_TASK_ID, AttrValue, check_task_id
from otel_mcp.store.base import Store
from otel_mcp.telemetry import SpanRef, Telemetry, ref

__all__ = ["ADHOC", "MAX_ADHOC_TIMEOUT_S", "MAX_ARGV_BYTES", "CheckRunner", "RunnerName", "parse_traceparent"]

ADHOC = "adhoc"
MAX_ADHOC_TIMEOUT_S = 3600.0
MAX_ARGV_BYTES = 1024 * 1024  # well under Linux's ARG_MAX, so a long {files} list fails clearly
RunnerName = Literal["server", "cli", "ci"]
_TRACEPARENT = re.compile(r"[0-9a-f]{2}-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}")
_T = TypeVar("_T")


def parse_traceparent(value: str | None) -> SpanRef | None:
    """W3C `traceparent` text (as in the TRACEPARENT variable) -> (trace_id, span_id), or None."""
    if not value:
        return None
    match = _TRACEPARENT.fullmatch(value.strip().lower())
    if not match or set(match.group(1)) == {"0"} or set(match.group(2)) == {"0"}:
        return None
    return match.group(1), match.group(2)


def _clip(text: str, limit: int = 500) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _printable(arg: str) -> str:
    """An argument as UTF-8 text: a file name's undecodable bytes (surrogates) as backslash escapes."""
    return arg.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


class _Plan:
    """One run's prepared command: argv, private folder, files examined, user, code state before."""

    def __init__(self, argv: list[str], private: Path, report: Path, files: list[str] | None, user: CheckUser) -> None:
        self.argv = argv
        self.private = private
        self.report = report
        self.files = files
        self.user = user
        self.before: CodeStateLike | None = None
        self.cwd: str | None = None  # where it runs, when not the workspace root (a private copy)
        self.state: list[str] = []  # the files of `before`
        self.taken_ns = 0  # when `before` was taken

    def read_report(self, cap: int) -> bytes | None:
        try:
            with open(self.report, "rb") as handle:
                return handle.read(cap + 1)
        except OSError:
            return None


class CheckRunner:
    """Runs checks for one process and records what they found."""

    def __init__(
        self,
        store: Store,
        telemetry: Telemetry,
        anchors: TaskAnchors,
        catalogue: Catalogue,
        workspace: WorkspaceLike | None = None,
        runner: RunnerName = "server",
        check_user: str | None = None,
    ) -> None:
        self.store = store
        self.telemetry = telemetry
        self.anchors = anchors
        self.catalogue = catalogue
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
        check = self.catalogue.check(name)
        program = resolve_program(check.command[0])
        root = await anyio.to_thread.run_sync(self._root)
        plan = await anyio.to_thread.run_sync(self._prepare, check, program, root)
        try:
            return await self._run(check.span_name, task_id, plan, check, root, progress, parent)
        finally:
            shutil.rmtree(plan.private, ignore_errors=True)

    def _prepare(self, check: Check, program: str, root: str) -> _Plan:
        assert self.workspace is not None
        private = Path(tempfile.mkdtemp(prefix="otel-mcp-check-"))
        # The files to examine and the state the span names come from one snapshot: a file written
        # between choosing the files and digesting the state would be named but never examined.
        taken_ns = time.time_ns()
        before, state = self.workspace.snapshot()
        files = select_files(state, check.files, check.exclude) if check.files else None
        outside = links_outside(root, files, state) if files else []
        run_root = root
        if check.runs_in == "copy" and not outside:
            run_root = str(copy_state(root, state, private / "code"))
        config = {}
        for file_name, text in check.config.items():
            path = private / "config" / file_name
            path.parent.mkdir(exist_ok=True)
            # The only placeholder a config file may use: tools resolve some paths relative to the file.
            path.write_text(text.replace("{workspace}", run_root), encoding="utf-8")
            config[file_name] = str(path)
        if outside:
            shutil.rmtree(private, ignore_errors=True)
            link, target = outside[0]
            more = f" (and {len(outside) - 1} more)" if len(outside) > 1 else ""
            raise InvalidArgument(
                f"check '{check.name}' would examine {link}, a symbolic link to {target}{more}, which is outside the "
                "code state (outside the workspace, ignored, or not a file): it can change without changing the code "
                "state, so no run can speak for it; replace the link with the file it points to"
            )
        report = private / "report"
        cache = private / "cache"
        cache.mkdir()
        argv = check.argv(
            sys.executable, workspace=run_root, files=files, report=str(report), cache=str(cache), config=config
        )
        argv[0] = program
        try:
            if sum(len(a) + 1 for a in argv) > MAX_ARGV_BYTES:
                raise InvalidArgument(
                    f"check '{check.name}' would get {len(files or [])} files on one command line, more than the "
                    "system allows; an admin must narrow its files: or exclude:"
                )
            user = check_user(self.check_user, program, root)
            private_for(private, user)
        except BaseException:
            shutil.rmtree(private, ignore_errors=True)
            raise
        plan = _Plan(argv, private, report, files, user)
        plan.before, plan.state, plan.taken_ns, plan.cwd = before, state, taken_ns, run_root
        return plan

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
        plan = _Plan([program, *argv[1:]], private, private / "report", None, CheckUser("self"))
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
        plan: _Plan,
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
        span = self.telemetry.spans.start(span_name, self._identity(task_id, check, plan, adhoc), parent=parent)
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
            errors[:0] = self._verdict(check, outcome, extracted, root, adhoc)
        attrs: dict[str, AttrValue] = dict(extracted)
        if check.suppressions and plan.files:
            attrs.update(await anyio.to_thread.run_sync(count_suppressions, root, plan.files, check.suppressions))
        if outcome is not None:
            attrs.update(self._outcome_attributes(outcome))
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
        error = _clip("; ".join(errors)) if errors else None
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

    def _identity(self, task_id: str, check: Check, plan: _Plan, adhoc: bool) -> dict[str, AttrValue]:
        """What the span says before the run: task, check and definition, runner, program, code state."""
        attrs: dict[str, AttrValue] = {
            ATTR_TASK_ID: task_id,
            ATTR_SOURCE: "runner",
            ATTR_CHECK: ADHOC if adhoc else check.name,
            ATTR_RUNNER: self.runner,
            ATTR_PROGRAM: plan.argv[0],
        }
        with contextlib.suppress(OSError):
            attrs[ATTR_PROGRAM_SHA256] = program_digest(plan.argv[0])
        if not adhoc:
            attrs[ATTR_CHECK_DIGEST] = check.digest()
            catalog = self.catalogue.catalog()
            attrs[ATTR_GATES_SOURCE] = catalog.source
            if catalog.commit:
                attrs[ATTR_GATES_COMMIT] = catalog.commit
        if plan.files is not None:
            attrs[ATTR_CHECK_FILES] = len(plan.files)
        if not adhoc:
            attrs[ATTR_CHECK_USER] = plan.user.name
            if plan.user.note:
                attrs[ATTR_CHECK_USER_NOTE] = plan.user.note
        if plan.before is not None:
            attrs.update(code_attributes(plan.before))
        return attrs

    @staticmethod
    def _verdict(
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

    @staticmethod
    def _outcome_attributes(outcome: CommandOutcome) -> dict[str, AttrValue]:
        attrs: dict[str, AttrValue] = {
            "process.command_args": tuple(_clip(_printable(a), 1000) for a in outcome.argv[:100]),
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
