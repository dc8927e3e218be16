"""Verify cited spans against a gate's requirements, with a reason a model can act on for every miss.

A cited span meets a requirement when: it exists; its name matches; it belongs to the task
(unless `same_task: false`); its status holds; it comes from an accepted source; it was produced by
the named check *as that check is defined now*, by an accepted runner; its attestation verifies
(always for runner and gate spans, whose signature is their whole point, and for any span when
`attested: true`); every attribute predicate holds (numbers compare as numbers); it is young
enough and not from the future; it started after the task's latest `newer_than` span ended; and,
for `code: current`, it examined the code state the workspace is in now.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from otel_mcp.core.gates.definitions.checkspec import Check
from otel_mcp.core.gates.definitions.names import (
    ATTR_CHECK,
    ATTR_CHECK_DIGEST,
    ATTR_CODE_DIGEST,
    ATTR_RUNNER,
    CodeStateLike,
)
from otel_mcp.core.gates.definitions.spec import Gate, Requirement
from otel_mcp.core.gates.results import Citation, RequirementResult
from otel_mcp.errors import InvalidArgument
from otel_mcp.model import ATTR_ATTESTATION, TASK_STATUSES, SpanRecord, check_span_id, format_time

__all__ = ["MAX_CLOCK_SKEW_S", "CitedSpan", "Verifier", "evaluate", "read_citations"]

# Evidence may start this far after the decision (clocks of writers on other machines disagree a
# little); beyond it, a start time in the future is a forgery or a broken clock.
MAX_CLOCK_SKEW_S = 60.0
_SIGNED_SOURCES = ("runner", "gate")
_SOURCE_WORDS = {
    "agent": "an agent's own record (record_task)",
    "runner": "the server's check runner (run_check)",
    "external": "an external tool or CI",
    "gate": "a gate decision",
    "audit": "the tool-call audit trail",
}


def _age(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f}{unit}"
    return f"{seconds:.0f}s"


def _how_to_produce(req: Requirement) -> str:
    if req.check:
        return f"run run_check('{req.check}', task_id) and cite the span_id it returns"
    kind, _, status = req.span_name.rpartition("_")
    if kind and status in TASK_STATUSES and req.sources != ["runner"] and "agent" in (req.sources or ["agent"]):
        return f"record it with record_task(task_type='{kind}', status='{status}', attributes={{...}})"
    return f"produce a span named '{req.span_name}'"


@dataclass(slots=True)
class Verifier:
    """Checks one span against one requirement; `latest_named` finds the task's newest span of a name."""

    task_id: str
    now_ns: int
    verify_attestation: Callable[[SpanRecord], bool]
    latest_named: Callable[[str], SpanRecord | None]
    checks: Mapping[str, Check] = field(default_factory=dict)  # the checks as defined now
    code: CodeStateLike | None = None  # the workspace's code state now (None: no workspace)
    chain: Mapping[str, str] = field(default_factory=dict)  # span id -> why its writer's chain is broken
    _latest: dict[str, SpanRecord | None] = field(default_factory=dict)

    def _newest(self, name: str) -> SpanRecord | None:
        if name not in self._latest:
            self._latest[name] = self.latest_named(name)
        return self._latest[name]

    def reasons(self, req: Requirement, span: SpanRecord) -> list[str]:
        sid = span.span_id
        out: list[str] = []
        if span.name != req.span_name:
            # Nothing else about a span of the wrong kind is worth reading.
            return [
                f"span {sid} is named '{span.name}', but requirement '{req.name}' needs a span named "
                f"'{req.span_name}'; {_how_to_produce(req)}"
            ]
        if req.same_task and span.task_id != self.task_id:
            owner = f"task '{span.task_id}'" if span.task_id else "no task"
            out.append(
                f"span {sid} was recorded for {owner}, not for '{self.task_id}'; cite evidence recorded for this task"
            )
        if span.status_code == "Error" and req.status != "any":
            detail = f" ({span.status_message})" if span.status_message else ""
            out.append(
                f"span {sid} has status Error{detail}: the work it records failed; fix the cause, produce new "
                "evidence and cite that"
            )
        elif req.status == "ok" and span.status_code != "Ok":
            out.append(
                f"span {sid} has status {span.status_code}; requirement '{req.name}' needs status Ok "
                "(a record_task with status 'complete', or a check whose command succeeded)"
            )
        source = span.source
        if req.sources and source not in req.sources:
            allowed = " or ".join(_SOURCE_WORDS[s] for s in req.sources)
            out.append(
                f"span {sid} is {_SOURCE_WORDS.get(source, source)}; requirement '{req.name}' accepts only "
                f"evidence from {allowed}; {_how_to_produce(req)}"
            )
        if req.check and span.attributes.get(ATTR_CHECK) != req.check:
            made_by = span.attributes.get(ATTR_CHECK)
            by = f"check '{made_by}'" if made_by else "no check"
            out.append(f"span {sid} was produced by {by}, not by run_check('{req.check}'); {_how_to_produce(req)}")
        elif req.check:
            out.extend(self._definition(req, span))
        if req.runners and span.attributes.get(ATTR_RUNNER) not in req.runners:
            ran = span.attributes.get(ATTR_RUNNER) or "an unknown runner"
            out.append(
                f"span {sid} was run by {ran}; requirement '{req.name}' accepts only runs by "
                f"{' or '.join(req.runners)}; {_how_to_produce(req)}"
            )
        if source in _SIGNED_SOURCES or req.attested:
            if ATTR_ATTESTATION not in span.attributes:
                out.append(
                    f"span {sid} carries no attestation; requirement '{req.name}' needs evidence signed by the "
                    f"server; {_how_to_produce(req)}"
                )
            elif not self.verify_attestation(span):
                out.append(
                    f"span {sid} fails attestation: the attestation does not verify, so its recorded content was "
                    "altered after it was written (or it was signed with another key); it cannot be evidence. "
                    f"{_how_to_produce(req).capitalize()}"
                )
        if sid in self.chain:
            out.append(self.chain[sid])
        for predicate in req.predicates:
            holds, why = predicate.check(span.attributes.get(predicate.key))
            if not holds:
                out.append(f"span {sid}: {why}")
        ahead_s = (span.start_ns - self.now_ns) / 1e9
        if ahead_s > MAX_CLOCK_SKEW_S:
            out.append(
                f"span {sid} starts {_age(ahead_s)} in the future, beyond the {MAX_CLOCK_SKEW_S:.0f}s clock skew "
                "allowed; evidence cannot predate itself. Produce new evidence and cite it"
            )
        if req.code_current:
            out.extend(self._code(req, span))
        if req.max_age_seconds is not None:
            age_s = (self.now_ns - span.start_ns) / 1e9
            if age_s > req.max_age_seconds:
                out.append(
                    f"span {sid} is {_age(age_s)} old; requirement '{req.name}' accepts evidence at most "
                    f"{req.max_age} old; produce fresh evidence and cite it"
                )
        if req.newer_than:
            change = self._newest(req.newer_than)
            if change is not None and change.span_id != sid and span.start_ns <= change.end_ns:
                out.append(
                    f"span {sid} started before the task's latest '{req.newer_than}' span ({change.span_id} at "
                    f"{format_time(change.end_ns)} UTC): the evidence predates that change; produce new evidence "
                    "and cite it"
                )
        return out

    def _definition(self, req: Requirement, span: SpanRecord) -> list[str]:
        assert req.check is not None
        current = self.checks.get(req.check)
        if current is None:
            return [
                f"check '{req.check}' is not defined now (see list_gates), so no span can show it was run as "
                "defined; an admin must fix the gate files"
            ]
        if span.attributes.get(ATTR_CHECK_DIGEST) != current.digest():
            return [
                f"span {span.span_id} was produced by another definition of check '{req.check}' than the one in "
                f"force now (the check changed since, or ran from other gate files); {_how_to_produce(req)}"
            ]
        return []

    def _code(self, req: Requirement, span: SpanRecord) -> list[str]:
        sid = span.span_id
        if self.code is None:
            return [
                f"requirement '{req.name}' needs evidence from the current code, but this server has no workspace "
                "to compare with; set OTEL_MCP_WORKSPACE in its configuration"
            ]
        examined = span.attributes.get(ATTR_CODE_DIGEST)
        if not examined:
            return [
                f"span {sid} records no code state, so it cannot show it examined the current code; "
                f"{_how_to_produce(req)}"
            ]
        if examined != self.code.digest:
            return [
                f"the code changed since span {sid} examined it ({str(examined)[:16]}; the workspace is now "
                f"{self.code.digest[:16]}); run the check again and cite the new span"
            ]
        return []


@dataclass(frozen=True, slots=True)
class CitedSpan:
    index: int
    citation: Citation
    span: SpanRecord | None
    problem: str | None  # why the citation cannot be used at all


def read_citations(
    gate: Gate, evidence: Sequence[Citation], lookup: Callable[[Sequence[str]], Mapping[str, SpanRecord]]
) -> list[CitedSpan]:
    """Validate citations and fetch their spans in one store round trip."""
    names = {r.name for r in gate.requirements}
    wellformed: list[str] = []
    problems: dict[int, str] = {}
    for i, citation in enumerate(evidence):
        try:
            check_span_id(citation.span_id, f"evidence[{i}].span_id")
        except InvalidArgument as exc:
            problems[i] = str(exc)
            continue
        if citation.requirement is not None and citation.requirement not in names:
            listed = ", ".join(sorted(names)) or "(none: it only requires other gates)"
            problems[i] = (
                f"evidence[{i}] names requirement '{citation.requirement}', but gate '{gate.name}' has no such "
                f"requirement; its requirements are: {listed}"
            )
            continue
        wellformed.append(citation.span_id)
    found = lookup(list(dict.fromkeys(wellformed))) if wellformed else {}
    out = []
    for i, citation in enumerate(evidence):
        span = found.get(citation.span_id) if i not in problems else None
        problem = problems.get(i)
        if problem is None and span is None:
            problem = (
                f"span {citation.span_id} does not exist in the store; cite only span ids a tool returned "
                "(run_check, record_task, find_completed) — never invent or retype one"
            )
        out.append(CitedSpan(i, citation, span, problem))
    return out


def _result(req: Requirement, passed: bool, span_id: str | None, reasons: list[str]) -> RequirementResult:
    return RequirementResult(
        requirement=req.name,
        passed=passed,
        span_id=span_id or "",
        reasons=list(dict.fromkeys(reasons)),
        expects="" if passed else req.describe(),
    )


def evaluate(gate: Gate, cited: Sequence[CitedSpan], verifier: Verifier) -> list[RequirementResult]:
    """One result per requirement. Named citations are tried first; unnamed ones are tried against any."""
    results: list[RequirementResult] = []
    unnamed = [c for c in cited if c.citation.requirement is None]
    for req in gate.requirements:
        named = [c for c in cited if c.citation.requirement == req.name]
        pool = named or unnamed
        reasons: list[str] = []
        examined: str | None = None
        passed = False
        for item in pool:
            if item.span is None:
                if named:
                    reasons.append(item.problem or "")
                continue
            why = verifier.reasons(req, item.span)
            if not why:
                passed, examined, reasons = True, item.span.span_id, []
                break
            # From an unnamed pool, only spans of the right name say anything about this requirement.
            if named or item.span.name == req.span_name:
                examined = examined or item.span.span_id
                reasons.extend(why)
        if not passed and not reasons:
            if not cited:
                reasons.append(f"no evidence was cited; {_how_to_produce(req)}")
            else:
                seen = sorted({c.span.name for c in pool if c.span is not None})
                got = f" (the cited spans are named: {', '.join(seen)})" if seen else ""
                reasons.append(
                    f"no cited span is named '{req.span_name}'{got}; {_how_to_produce(req)}, then cite it with "
                    f"requirement '{req.name}'"
                )
        results.append(_result(req, passed, examined, reasons))
    return results
