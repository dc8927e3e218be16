"""GateService: gate definitions, evidence verification, check runs and decisions over one store.

Runner spans and decision spans are written here rather than through `Coordinator.emit`, because
their attestation must cover the span's own ids, which exist only once the span has started:
the span is started, its content signed, and only then ended (and so stored).
"""

from __future__ import annotations

import os
import re
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from opentelemetry.sdk.trace import Span
from opentelemetry.trace import (
    format_span_id,
    format_trace_id,
)

from otel_mcp._resources import bundled
from otel_mcp.core.gates.attestation import Attestor
from otel_mcp.core.gates.checks import CommandOutcome, ProgressFn, extract_attributes, run_command
from otel_mcp.core.gates.evaluate import ATTR_CHECK, Verifier, evaluate, read_citations
from otel_mcp.core.gates.loader import Catalog, GateLoader
from otel_mcp.core.gates.results import (
    CheckInfo,
    CheckRun,
    Citation,
    GateDecision,
    GateInfo,
    GateList,
    RequirementInfo,
)
from otel_mcp.core.gates.spec import Check
from otel_mcp.core.tasks import Coordinator
from otel_mcp.errors import InvalidArgument, NotFound
from otel_mcp.model import ATTR_ATTESTATION, ATTR_SOURCE, ATTR_TASK_ID, AttrValue, SpanRecord, check_task_id
from otel_mcp.store.base import SpanFilter, Store
from otel_mcp.store.predicates import Predicate

__all__ = [
    "ATTR_GATE",
    "ATTR_GATE_ATTEMPT",
    "ATTR_GATE_DECISION",
    "ATTR_GATE_EVIDENCE",
    "ATTR_GATE_REASONS",
    "DECISION_SPAN",
    "GateService",
    "parse_traceparent",
]

DECISION_SPAN = "gate_decision"
ATTR_GATE = "otel_mcp.gate"
ATTR_GATE_ATTEMPT = "otel_mcp.gate.attempt"
ATTR_GATE_DECISION = "otel_mcp.gate.decision"
ATTR_GATE_EVIDENCE = "otel_mcp.gate.evidence"
ATTR_GATE_REASONS = "otel_mcp.gate.reasons"
ATTR_GATE_DIGEST = "otel_mcp.gate.digest"
ATTR_GATE_FAILED = "otel_mcp.gate.failed_requirements"
ADHOC = "adhoc"
MAX_CITATIONS = 50
MAX_REASONS = 50
MAX_ADHOC_TIMEOUT_S = 3600.0
_ANCHOR_CACHE = 4096
_TRACEPARENT = re.compile(r"[0-9a-f]{2}-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}")


def parse_traceparent(value: str | None) -> tuple[str, str] | None:
    """W3C `traceparent` text (as in the TRACEPARENT variable) -> (trace_id, span_id), or None."""
    if not value:
        return None
    match = _TRACEPARENT.fullmatch(value.strip().lower())
    if not match or set(match.group(1)) == {"0"} or set(match.group(2)) == {"0"}:
        return None
    return match.group(1), match.group(2)


def _clip(text: str, limit: int = 500) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _as_citations(evidence: Sequence[Citation | Mapping[str, Any] | str] | None) -> list[Citation]:
    if evidence is None:
        return []
    if isinstance(evidence, str | Mapping) or not isinstance(evidence, Sequence):
        raise InvalidArgument('evidence must be a list like [{"requirement": "scan", "span_id": "00f067aa0ba902b7"}]')
    if len(evidence) > MAX_CITATIONS:
        raise InvalidArgument(f"{len(evidence)} citations given; the limit is {MAX_CITATIONS}")
    out = []
    for i, item in enumerate(evidence):
        if isinstance(item, Citation):
            out.append(item)
        elif isinstance(item, str):
            out.append(Citation(span_id=item))
        elif isinstance(item, Mapping) and isinstance(item.get("span_id"), str):
            requirement = item.get("requirement")
            out.append(Citation(requirement=str(requirement) if requirement else None, span_id=item["span_id"]))
        else:
            raise InvalidArgument(f'evidence[{i}] must be {{"requirement": "<name>", "span_id": "<16 hex>"}}')
    return out


class GateService:
    """Everything about gates for one server or CLI process."""

    def __init__(
        self,
        store: Store,
        coordinator: Coordinator,
        gates_dir: Path,
        *,
        attestation_key: str | None,
        db_path: Path,
        workdir: Path | None = None,
    ) -> None:
        self.store = store
        self.coordinator = coordinator
        self.workdir = workdir
        fallback = bundled("example_gates")
        self.loader = GateLoader(Path(gates_dir), fallback=Path(str(fallback)) if fallback else None)
        self._key_text = attestation_key
        self._db_path = Path(db_path)
        self._attestor: Attestor | None = None
        self._attestor_lock = threading.Lock()
        self._anchors: dict[str, tuple[str, str]] = {}

    # -- definitions ---------------------------------------------------------------------------

    @property
    def attestor(self) -> Attestor:
        # Made on first use: a server that never gates never creates a key file.
        with self._attestor_lock:
            if self._attestor is None:
                self._attestor = Attestor.from_settings(self._key_text, self._db_path)
            return self._attestor

    def catalog(self) -> Catalog:
        return self.loader.catalog()

    def problems(self) -> list[str]:
        return [str(p) for p in self.catalog().problems]

    def list_gates(self) -> GateList:
        return self.describe(self.catalog())

    @staticmethod
    def describe(catalog: Catalog) -> GateList:
        """A catalog as the agent-facing listing (also what `otel-mcp gates list` prints)."""
        gates = [
            GateInfo(
                name=g.gate.name,
                description=g.gate.description,
                requires_gates=list(g.gate.requires_gates),
                requirements=[
                    RequirementInfo(name=r.name, span_name=r.span_name, expects=r.describe(), check=r.check)
                    for r in g.gate.requirements
                ],
                file=g.file,
            )
            for g in sorted(catalog.gates.values(), key=lambda g: g.gate.name)
        ]
        checks = [
            CheckInfo(
                name=c.check.name,
                description=c.check.description,
                span_name=c.check.span_name,
                command=c.check.argv("python"),
                timeout_seconds=c.check.timeout_seconds,
                attributes={e.attribute: e.describe() for e in c.check.extractors},
            )
            for c in sorted(catalog.checks.values(), key=lambda c: c.check.name)
        ]
        return GateList(gates=gates, checks=checks, problems=[str(p) for p in catalog.problems], note=catalog.note)

    def _unknown(self, kind: str, name: str, catalog: Catalog, known: Sequence[str]) -> NotFound:
        if name in catalog.broken:
            return NotFound(
                f"{kind} '{name}' is defined but could not be loaded: {catalog.broken[name]}. An admin must fix the "
                "file (`otel-mcp gates check` lists every problem)"
            )
        listed = ", ".join(sorted(known)) or "none"
        return NotFound(f"{kind} '{name}' is not defined; the {kind}s are: {listed} (see list_gates)")

    # -- writing signed spans ------------------------------------------------------------------

    def _start(
        self,
        name: str,
        attributes: Mapping[str, AttrValue],
        *,
        parent: tuple[str, str] | None,
        links: Sequence[tuple[str, str]] = (),
    ) -> Span:
        return self.coordinator.start_span(name, attributes, parent=parent, links=links)

    def _finish(self, span: Span, attributes: Mapping[str, AttrValue], error: str | None) -> tuple[str, str]:
        """Set the last attributes and status, sign the whole content, end (and so store) the span."""
        span.set_attributes(dict(attributes))

        def sign(finished: Span) -> None:
            # Signed once the span's ids and final attributes exist, just before it is stored.
            ctx = finished.get_span_context()
            signature = self.attestor.sign(
                span_id=format_span_id(ctx.span_id),
                trace_id=format_trace_id(ctx.trace_id),
                name=finished.name,
                start_ns=finished.start_time or 0,
                status_code="Error" if error else "Ok",
                attributes=dict(finished.attributes or {}),
            )
            finished.set_attribute(ATTR_ATTESTATION, signature)

        record = self.coordinator.finish_span(
            span, error=_clip(error) if error else None, ok=not error, before_end=sign
        )
        return record.trace_id, record.span_id

    def _parent(self, task_id: str, parent: tuple[str, str] | None) -> tuple[str, str] | None:
        if parent is not None:
            return parent
        # A task's first record never changes once written, so it is remembered (never its absence).
        cached = self._anchors.get(task_id)
        if cached is not None:
            return cached
        anchor = self.coordinator.anchor(task_id)
        if anchor is None:
            return None
        if len(self._anchors) >= _ANCHOR_CACHE:
            self._anchors.clear()
        self._anchors[task_id] = (anchor.trace_id, anchor.span_id)
        return self._anchors[task_id]

    # -- decisions -----------------------------------------------------------------------------

    def latest_decision(self, gate: str, task_id: str) -> SpanRecord | None:
        found = self.store.find_spans(
            SpanFilter(
                task_id=task_id, name=DECISION_SPAN, source="gate", where=(Predicate(ATTR_GATE, "==", gate),), limit=1
            )
        )
        return found[0] if found else None

    def _required_gate_reasons(
        self, gate_name: str, requires: Sequence[str], task_id: str, catalog: Catalog
    ) -> list[str]:
        reasons = []
        for required in requires:
            if required not in catalog.gates:
                reasons.append(
                    f"gate '{gate_name}' requires gate '{required}', which is not defined; an admin must fix the gate "
                    "files (`otel-mcp gates check`)"
                )
                continue
            latest = self.latest_decision(required, task_id)
            if latest is None:
                reasons.append(
                    f"gate '{gate_name}' requires gate '{required}' to pass first for task '{task_id}', and it has no "
                    f"decision yet; submit evidence for '{required}' first"
                )
            elif not self.attestor.verify(latest):
                reasons.append(
                    f"gate '{required}''s latest decision for task '{task_id}' ({latest.span_id}) fails attestation; "
                    f"submit evidence for '{required}' again"
                )
            elif latest.attributes.get(ATTR_GATE_DECISION) != "pass":
                reasons.append(
                    f"gate '{gate_name}' requires gate '{required}' to pass first for task '{task_id}', but its latest "
                    f"decision ({latest.span_id}) is fail; fix that gate's reasons and pass it first"
                )
        return reasons

    def submit(
        self, gate_name: str, task_id: str, evidence: Sequence[Citation | Mapping[str, Any] | str] | None
    ) -> GateDecision:
        """Verify cited spans against the gate, record the decision as a span, and return it."""
        check_task_id(task_id)
        citations = _as_citations(evidence)
        catalog = self.catalog()
        loaded = catalog.gates.get(gate_name)
        if loaded is None:
            raise self._unknown("gate", gate_name, catalog, list(catalog.gates))
        gate = loaded.gate
        now_ns = time.time_ns()

        def latest_named(name: str) -> SpanRecord | None:
            found = self.store.find_spans(SpanFilter(task_id=task_id, name=name, limit=1))
            return found[0] if found else None

        cited = read_citations(gate, citations, self.store.get_spans)
        verifier = Verifier(task_id, now_ns, self.attestor.verify, latest_named)
        results = evaluate(gate, cited, verifier)
        reasons = [c.problem for c in cited if c.problem]
        reasons += self._required_gate_reasons(gate.name, gate.requires_gates, task_id, catalog)
        reasons += [why for r in results for why in r.reasons]
        reasons = list(dict.fromkeys(reasons))
        passed = not reasons and all(r.passed for r in results)

        previous = self.latest_decision(gate.name, task_id)
        attempt = 1
        if previous is not None:
            try:
                attempt = int(previous.attributes.get(ATTR_GATE_ATTEMPT, 0)) + 1  # type: ignore[arg-type]
            except (TypeError, ValueError):
                attempt = 1
        failed = [r.requirement for r in results if not r.passed]
        attrs: dict[str, AttrValue] = {
            ATTR_TASK_ID: task_id,
            ATTR_SOURCE: "gate",
            ATTR_GATE: gate.name,
            ATTR_GATE_ATTEMPT: attempt,
            ATTR_GATE_DECISION: "pass" if passed else "fail",
            ATTR_GATE_DIGEST: gate.digest(),
        }
        if citations:
            attrs[ATTR_GATE_EVIDENCE] = tuple(_clip(c.span_id, 64) for c in citations)
        if reasons:
            attrs[ATTR_GATE_REASONS] = tuple(_clip(r) for r in reasons[:MAX_REASONS])
        if failed:
            attrs[ATTR_GATE_FAILED] = tuple(failed)
        links = [(c.span.trace_id, c.span.span_id) for c in cited if c.span is not None][:32]
        span = self._start(DECISION_SPAN, attrs, parent=self._parent(task_id, None), links=links)
        _, decision_span_id = self._finish(span, {}, None if passed else reasons[0])

        if passed:
            followers = sorted(g.gate.name for g in catalog.gates.values() if gate.name in g.gate.requires_gates)
            then = f"; gates that build on it: {', '.join(followers)}" if followers else ""
            next_step = f"gate '{gate.name}' passed for task '{task_id}'{then}"
        else:
            next_step = (
                "fix what each reason says, produce new evidence (run_check for checks, record_task for your own "
                "records), then call submit_gate_evidence again citing the new span ids"
            )
        return GateDecision(
            gate=gate.name,
            task_id=task_id,
            decision="pass" if passed else "fail",
            decision_span_id=decision_span_id,
            attempt=attempt,
            requirements=results,
            reasons=reasons,
            next_step=next_step,
        )

    # -- running checks ------------------------------------------------------------------------

    def check(self, name: str) -> Check:
        catalog = self.catalog()
        loaded = catalog.checks.get(name)
        if loaded is None:
            raise self._unknown("check", name, catalog, list(catalog.checks))
        return loaded.check

    async def run_check(
        self,
        name: str,
        task_id: str,
        *,
        progress: ProgressFn | None = None,
        parent: tuple[str, str] | None = None,
    ) -> CheckRun:
        """Run a check defined in the gate files and record its attested runner span."""
        check_task_id(task_id)
        check = self.check(name)
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
        parent: tuple[str, str] | None = None,
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
        parent: tuple[str, str] | None,
    ) -> CheckRun:
        check_name = check.name if check else ADHOC
        self.attestor  # noqa: B018 - fail on a bad key before running anything
        span = self._start(
            span_name,
            {ATTR_TASK_ID: task_id, ATTR_SOURCE: "runner", ATTR_CHECK: check_name},
            parent=self._parent(task_id, parent),
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
        trace_id, span_id = self._finish(span, attrs, "; ".join(errors) if errors else None)
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
