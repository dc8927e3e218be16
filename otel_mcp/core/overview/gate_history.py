"""The Gates screen: per gate, first-attempt pass rate over time and why decisions failed; each decision
with the evidence it cited, the code state it was taken on and the checks' output digests.

Counted as `otel-mcp report` counts (attempt 1 per gate and task; a decision whose definition digest
differs from the one in force is flagged), over the decisions in the window, newest first.
"""

from __future__ import annotations

from collections import Counter, defaultdict

from otel_mcp.core.gates.definitions.names import ATTR_CHECK, ATTR_CODE_DIGEST, ATTR_CODE_HEAD
from otel_mcp.core.gates.verdicts.decisions import (
    ATTR_GATE_ATTEMPT,
    ATTR_GATE_EVIDENCE,
    ATTR_GATE_FAILED,
    ATTR_GATE_REASONS,
)
from otel_mcp.core.gates.verdicts.standing import ATTR_GATE, ATTR_GATE_DECISION, DECISION_SPAN
from otel_mcp.core.overview.filters import ViewFilter
from otel_mcp.core.overview.marks import GateMarks
from otel_mcp.core.overview.results import (
    DecisionRow,
    EvidenceRef,
    GateSummary,
    GatesView,
    RateBucket,
    ReasonCount,
)
from otel_mcp.core.report import ATTR_EXIT_CODE, as_int, as_list
from otel_mcp.model import SpanRecord
from otel_mcp.store.base import SpanFilter, Store

__all__ = ["ATTR_OUTPUT_SHA256", "DECISIONS_SHOWN", "GATE_DECISIONS_READ", "build_gates"]

ATTR_OUTPUT_SHA256 = "otel_mcp.output.sha256"  # a check's stdout digest (see core.gates.checks.describe)
GATE_DECISIONS_READ = 10_000
DECISIONS_SHOWN = 200
_BUCKETS = 12


def _evidence(span_id: str, cited: dict[str, SpanRecord]) -> EvidenceRef:
    span = cited.get(span_id)
    if span is None:
        return EvidenceRef(span_id=span_id, found=False)
    attrs = span.attributes
    return EvidenceRef(
        span_id=span_id,
        found=True,
        name=span.name,
        check=str(attrs[ATTR_CHECK]) if ATTR_CHECK in attrs else None,
        exit_code=as_int(attrs.get(ATTR_EXIT_CODE)),
        output_sha256=str(attrs[ATTR_OUTPUT_SHA256]) if ATTR_OUTPUT_SHA256 in attrs else None,
        code_digest=str(attrs[ATTR_CODE_DIGEST]) if ATTR_CODE_DIGEST in attrs else None,
        start_ms=span.start_ns / 1e6,
    )


def build_gates(store: Store, marks: GateMarks, flt: ViewFilter, shown: int = DECISIONS_SHOWN) -> GatesView:
    found = store.find_spans(
        SpanFilter(name=DECISION_SPAN, source="gate", since_ns=flt.since_ns, limit=GATE_DECISIONS_READ)
    )
    partial = len(found) >= GATE_DECISIONS_READ
    decisions = [
        s
        for s in found
        if flt.task_matches(s.task_id) and flt.agent_matches(s.agent_id) and flt.time_matches(s.start_ns)
    ]
    by_gate: dict[str, list[SpanRecord]] = defaultdict(list)
    for span in decisions:
        by_gate[str(span.attributes.get(ATTR_GATE) or "unknown")].append(span)

    summaries = []
    for gate, spans in sorted(by_gate.items()):
        firsts = [s for s in spans if as_int(s.attributes.get(ATTR_GATE_ATTEMPT)) == 1]
        first_passes = sum(_passed(s) for s in firsts)
        reasons: Counter[str] = Counter()
        for s in spans:
            if not _passed(s):
                reasons.update(as_list(s.attributes.get(ATTR_GATE_REASONS)) or [s.status_message or "failed"])
        summaries.append(
            GateSummary(
                gate=gate,
                first_attempts=len(firsts),
                first_attempt_passes=first_passes,
                first_attempt_pass_rate=round(first_passes / len(firsts), 4) if firsts else None,
                decisions=len(spans),
                passes=sum(_passed(s) for s in spans),
                other_definition=sum(marks.other_definition(s) for s in spans),
                over_time=_buckets(firsts),
                failure_reasons=[ReasonCount(reason=r, count=n) for r, n in reasons.most_common(20)],
            )
        )

    rows = decisions[:shown]
    cited_ids = list(dict.fromkeys(i for s in rows for i in as_list(s.attributes.get(ATTR_GATE_EVIDENCE))))
    cited = store.get_spans(cited_ids[:5000]) if cited_ids else {}
    table = [
        DecisionRow(
            gate=str(s.attributes.get(ATTR_GATE) or "unknown"),
            task_id=s.task_id,
            agent_id=s.agent_id,
            decision="pass" if _passed(s) else "fail",
            attempt=as_int(s.attributes.get(ATTR_GATE_ATTEMPT)),
            at_ms=s.start_ns / 1e6,
            at=s.start_time,
            span_id=s.span_id,
            trace_id=s.trace_id,
            reasons=as_list(s.attributes.get(ATTR_GATE_REASONS)),
            failed_requirements=as_list(s.attributes.get(ATTR_GATE_FAILED)),
            evidence=[_evidence(i, cited) for i in as_list(s.attributes.get(ATTR_GATE_EVIDENCE))],
            code_digest=_text(s, ATTR_CODE_DIGEST),
            code_head=_text(s, ATTR_CODE_HEAD),
            other_definition=marks.other_definition(s),
        )
        for s in rows
    ]
    return GatesView(gates=summaries, decisions=table, partial=partial)


def _passed(span: SpanRecord) -> bool:
    return str(span.attributes.get(ATTR_GATE_DECISION, "")).lower() == "pass"


def _text(span: SpanRecord, key: str) -> str | None:
    value = span.attributes.get(key)
    return None if value is None else str(value)


def _buckets(firsts: list[SpanRecord]) -> list[RateBucket]:
    """First attempts in up to `_BUCKETS` equal slices of the time they span, oldest first."""
    if not firsts:
        return []
    lo = min(s.start_ns for s in firsts)
    hi = max(s.start_ns for s in firsts)
    width = max((hi - lo) // _BUCKETS + 1, 1)
    counts: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for s in firsts:
        slot = (s.start_ns - lo) // width
        counts[slot][0] += 1
        counts[slot][1] += _passed(s)
    return [
        RateBucket(start_ms=(lo + slot * width) / 1e6, first_attempts=c[0], first_attempt_passes=c[1])
        for slot, c in sorted(counts.items())
    ]
