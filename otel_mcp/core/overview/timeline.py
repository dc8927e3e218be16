"""The timeline: spans in a time window, one lane per agent, each span labelled by what it was.

Windowed, never everything: at most `limit` spans are read. Without an end the window is the latest
activity (newest first from the end backwards, so a live page sees what just happened); with one,
the window is read forwards from its start. Host telemetry the store received (`source=external`)
sits in the lane of the agent it names, beside the agent's own records, tool calls and checks.
"""

from __future__ import annotations

from collections import defaultdict

from otel_mcp.core.gates.definitions.names import ATTR_CHECK
from otel_mcp.core.gates.verdicts.decisions import ATTR_GATE_ATTEMPT
from otel_mcp.core.gates.verdicts.standing import ATTR_GATE, ATTR_GATE_DECISION
from otel_mcp.core.overview.filters import ViewFilter
from otel_mcp.core.overview.results import Lane, TimelineSpan, TimelineView
from otel_mcp.core.report import ATTR_EXIT_CODE
from otel_mcp.model import SpanRecord
from otel_mcp.store.base import CLAIM_ACTION_ATTR, SpanFilter, Store

__all__ = ["DEFAULT_WINDOW_S", "TIMELINE_LIMIT", "UNATTRIBUTED", "build_timeline", "span_kind"]

TIMELINE_LIMIT = 2_000
DEFAULT_WINDOW_S = 15 * 60
UNATTRIBUTED = "(no agent)"


def span_kind(span: SpanRecord) -> str:
    source = span.source
    if source == "gate":
        return "gate"
    if source == "runner":
        return "check"
    if source == "audit":
        return "tool"
    if CLAIM_ACTION_ATTR in span.attributes:
        return "claim"
    if span.task_status:
        return "task"
    if source == "external":
        return "external"
    return "other"


def _label(span: SpanRecord, kind: str) -> str:
    attrs = span.attributes
    task = span.task_id or ""
    if kind == "gate":
        return (
            f"gate {attrs.get(ATTR_GATE)} #{attrs.get(ATTR_GATE_ATTEMPT)}: "
            f"{str(attrs.get(ATTR_GATE_DECISION, '?')).upper()} {task}"
        )
    if kind == "check":
        return f"check {attrs.get(ATTR_CHECK) or span.name} exit {attrs.get(ATTR_EXIT_CODE)} {task}"
    if kind == "claim":
        return f"{attrs.get(CLAIM_ACTION_ATTR)} {task}"
    if kind == "task":
        return f"{task} {span.task_status}"
    return f"{span.name} {task}".strip()


def build_timeline(
    store: Store, now_ns: int, flt: ViewFilter, limit: int = TIMELINE_LIMIT, window_s: float = DEFAULT_WINDOW_S
) -> TimelineView:
    until_ns = flt.until_ns
    since_ns = flt.since_ns
    if until_ns is None and since_ns is None:
        # No window asked for: the latest `window_s` of activity, wherever it was (a kept demo store is old).
        newest = store.find_spans(SpanFilter(agent_id=flt.agent, since_ns=0, limit=1))  # by the time index
        until_ns = max(newest[0].end_ns, newest[0].start_ns) if newest else now_ns
        since_ns = until_ns - int(window_s * 1e9)
        live = True
    else:
        live = until_ns is None
        if since_ns is None:
            since_ns = (until_ns or now_ns) - int(window_s * 1e9)
    read = store.find_spans(SpanFilter(agent_id=flt.agent, since_ns=since_ns, oldest_first=not live, limit=limit + 1))
    truncated = len(read) > limit
    end = until_ns if until_ns is not None else now_ns
    lanes: dict[str, list[TimelineSpan]] = defaultdict(list)
    count = 0
    for span in read[:limit]:
        if span.start_ns > end or not flt.task_matches(span.task_id):
            continue
        kind = span_kind(span)
        lanes[span.agent_id or UNATTRIBUTED].append(
            TimelineSpan(
                span_id=span.span_id,
                trace_id=span.trace_id,
                parent_span_id=span.parent_span_id,
                name=span.name,
                kind=kind,
                label=_label(span, kind),
                task_id=span.task_id,
                status_code=span.status_code,
                start_ms=span.start_ns / 1e6,
                end_ms=max(span.end_ns, span.start_ns) / 1e6,
                decision=str(span.attributes.get(ATTR_GATE_DECISION)) if kind == "gate" else None,
            )
        )
        count += 1
    for spans in lanes.values():
        spans.sort(key=lambda s: (s.start_ms, s.span_id))
    return TimelineView(
        since_ms=since_ns / 1e6,
        until_ms=(until_ns if until_ns is not None else now_ns) / 1e6,
        lanes=[Lane(agent_id=a, spans=s) for a, s in sorted(lanes.items())],
        count=count,
        truncated=truncated,
    )
