"""The check runner: run an admin-defined check (or, from the CLI, any command) and record a signed runner span.

The span is started before the command runs (its trace context is handed to the command as
TRACEPARENT), then carries the exit code, the output's digest and the attributes read from the
output, and is signed once complete. Store calls happen off the event loop when the store is
behind a network, so a check never stalls other clients of an HTTP server.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

import anyio
from opentelemetry.trace import format_span_id, format_trace_id

from otel_mcp.core.anchors import TaskAnchors
from otel_mcp.core.gates.catalog import Catalogue
from otel_mcp.core.gates.checks import CommandOutcome, ProgressFn, extract_attributes, run_command
from otel_mcp.core.gates.checkspec import Check
from otel_mcp.core.gates.evaluate import ATTR_CHECK
from otel_mcp.core.gates.results import CheckRun
from otel_mcp.errors import InvalidArgument
from otel_mcp.model import ATTR_SOURCE, ATTR_TASK_ID, AttrValue, check_task_id
from otel_mcp.store.base import Store
from otel_mcp.telemetry import SpanRef, Telemetry, ref

__all__ = ["ADHOC", "MAX_ADHOC_TIMEOUT_S", "CheckRunner", "parse_traceparent"]

ADHOC = "adhoc"
MAX_ADHOC_TIMEOUT_S = 3600.0
_TRACEPARENT = re.compile(r"[0-9a-f]{2}-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}")
T = TypeVar("T")


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


class CheckRunner:
    """Runs checks for one process and records what they found."""

    def __init__(
        self,
        store: Store,
        telemetry: Telemetry,
        anchors: TaskAnchors,
        catalogue: Catalogue,
        workdir: Path | None = None,
    ) -> None:
        self.store = store
        self.telemetry = telemetry
        self.anchors = anchors
        self.catalogue = catalogue
        self.workdir = workdir

    async def _blocking(self, fn: Callable[..., T], *args: object) -> T:
        if not self.store.blocking_io:
            return fn(*args)
        return await anyio.to_thread.run_sync(lambda: fn(*args))

    async def run_check(
        self,
        name: str,
        task_id: str,
        *,
        progress: ProgressFn | None = None,
        parent: SpanRef | None = None,
    ) -> CheckRun:
        """Run a check defined in the gate files and record its attested runner span."""
        check_task_id(task_id)
        check = self.catalogue.check(name)
        return await self._run(
            check.span_name,
            task_id,
            check.argv(sys.executable),
            check=check,
            timeout_s=check.timeout_seconds,
            max_output=check.max_output_bytes,
            ok_codes=tuple(check.ok_exit_codes),
            progress=progress,
            parent=parent,
        )

    async def run_adhoc(
        self,
        span_name: str,
        task_id: str,
        argv: Sequence[str],
        *,
        timeout_s: float = 600,
        progress: ProgressFn | None = None,
        parent: SpanRef | None = None,
    ) -> CheckRun:
        """`otel-mcp run --span NAME -- CMD`: any command, recorded with exit code and output digest."""
        check_task_id(task_id)
        if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_.:/ -]{0,127}", span_name or ""):
            raise InvalidArgument(
                f"span name {span_name!r} must start with a letter (letters, digits, _ . : / - space)"
            )
        if not argv:
            raise InvalidArgument(
                "give the command after '--', e.g. otel-mcp run --span lint_complete --task T -- ruff check ."
            )
        if not 0 < timeout_s <= MAX_ADHOC_TIMEOUT_S:
            raise InvalidArgument(f"timeout must be between 0 and {MAX_ADHOC_TIMEOUT_S:g} seconds")
        return await self._run(
            span_name,
            task_id,
            list(argv),
            check=None,
            timeout_s=timeout_s,
            max_output=8 * 1024 * 1024,
            ok_codes=(0,),
            progress=progress,
            parent=parent,
        )

    async def _run(
        self,
        span_name: str,
        task_id: str,
        argv: list[str],
        *,
        check: Check | None,
        timeout_s: float,
        max_output: int,
        ok_codes: tuple[int, ...],
        progress: ProgressFn | None,
        parent: SpanRef | None,
    ) -> CheckRun:
        check_name = check.name if check else ADHOC
        # Fail on a bad key, and find where the span hangs, before running anything (off the event
        # loop when the store is behind a network).
        await self._blocking(lambda: self.telemetry.attestor)
        if parent is None:
            parent = ref(await self._blocking(self.anchors.anchor, task_id))
        span = self.telemetry.spans.start(
            span_name, {ATTR_TASK_ID: task_id, ATTR_SOURCE: "runner", ATTR_CHECK: check_name}, parent=parent
        )
        ctx = span.get_span_context()
        env = {k: v for k, v in os.environ.items() if k not in ("OTEL_MCP_ATTESTATION_KEY", "TRACESTATE")}
        # Tools that speak OTel (and nested `otel-mcp run`) parent their spans under this one.
        env["TRACEPARENT"] = f"00-{format_trace_id(ctx.trace_id)}-{format_span_id(ctx.span_id)}-01"
        outcome = await run_command(
            argv,
            cwd=self.workdir or os.getcwd(),
            env=env,
            timeout_s=timeout_s,
            max_output_bytes=max_output,
            progress=progress,
            label=check_name if check else span_name,
        )
        extracted, errors = extract_attributes(check, outcome) if check else ({}, [])
        if outcome.timed_out:
            errors.insert(0, f"the command timed out after {timeout_s:g}s and was stopped")
        elif outcome.exit_code not in ok_codes:
            accepted = ", ".join(str(c) for c in ok_codes)
            errors.insert(0, f"the command exited with code {outcome.exit_code} (accepted: {accepted})")
        attrs: dict[str, AttrValue] = {**extracted, **self._runner_attributes(outcome)}
        span.set_attributes(attrs)
        error = _clip("; ".join(errors)) if errors else None
        record = await self._blocking(lambda: self.telemetry.spans.finish(span, error=error, ok=not error, sign=True))
        trace_id, span_id = record.trace_id, record.span_id
        return CheckRun(
            check=check_name,
            task_id=task_id,
            span_id=span_id,
            trace_id=trace_id,
            span_name=span_name,
            exit_code=outcome.exit_code,
            ok=not errors,
            timed_out=outcome.timed_out,
            duration_ms=round(((span.end_time or 0) - (span.start_time or 0)) / 1e6, 1),
            attributes={k: list(v) if isinstance(v, tuple) else v for k, v in extracted.items()},
            errors=errors,
            output_tail=outcome.tail(2000),
        )

    @staticmethod
    def _runner_attributes(outcome: CommandOutcome) -> dict[str, AttrValue]:
        attrs: dict[str, AttrValue] = {
            "process.command_args": tuple(_clip(a, 1000) for a in outcome.argv[:100]),
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
