"""What the demo's agents did, in the order it happened: one line per record, check, gate or claim."""

from __future__ import annotations

from typing import Any

from otel_mcp.commands._text import hang

__all__ = ["timeline"]


def timeline(store: Any, since_ns: int = 0, t0_ns: int | None = None, width: int | None = None) -> str:
    """Task records, check runs, gate decisions and claims, in the order they happened, one each.

    Times are seconds after `t0_ns` (default: the first span); each line names the agent and the task.
    With `width`, a long line wraps under its text.
    """
    from otel_mcp.store.base import SpanFilter

    spans = [
        s for s in store.find_spans(SpanFilter(since_ns=since_ns, oldest_first=True, limit=5000)) if s.source != "audit"
    ]
    if not spans:
        return "(no spans)"
    spans.sort(key=lambda s: (s.start_ns, s.end_ns, s.span_id))
    t0 = spans[0].start_ns if t0_ns is None else t0_ns
    agents = max(len(s.agent_id or "?") for s in spans)
    lines = []
    for s in spans:
        head = f"  +{(s.start_ns - t0) / 1e9:6.2f}s  {s.agent_id or '?':<{agents}}  "
        if width:
            lines.append(hang(_what(s), width, head, len(head) + 2))
        else:
            lines.append(head + _what(s))
    return "\n".join(lines)


def _what(span: Any) -> str:
    """One span in words; the task first, so a record on `demo/calc` never reads as `demo/calc` itself."""
    from otel_mcp.commands.trace import claim_words

    attrs = span.attributes
    task = span.task_id or "?"
    if span.source == "gate":
        decision = str(attrs.get("otel_mcp.gate.decision", "?")).upper()
        return f"{task}: gate {attrs.get('otel_mcp.gate')}, attempt {attrs.get('otel_mcp.gate.attempt')}: {decision}"
    if span.source == "runner":
        took = (span.end_ns - span.start_ns) / 1e9
        return (
            f"{task}: ran {attrs.get('otel_mcp.check')} ({took:.1f}s) -> {span.name}, "
            f"exit {attrs.get('process.exit.code')}"
        )
    if span.source == "external":  # the host's own telemetry, received over OTLP: never evidence
        service = attrs.get("service.name") or "a host"
        facts = " ".join(f"{k}={attrs[k]}" for k in ("tool_name", "success", "duration_ms") if k in attrs)
        return f"{task}: host telemetry from {service} (source=external): {span.name}" + (f" {facts}" if facts else "")
    if "otel_mcp.claim.action" in attrs:
        return f"{task}: " + claim_words({k: v for k, v in attrs.items() if k != "otel_mcp.claim.expires_at"})
    if span.task_status:
        after = f" (after {', '.join(span.depends_on)})" if span.task_status == "planned" and span.depends_on else ""
        return f"{task}: {span.task_type} {span.task_status}{after}"
    return f"{task}: {span.name}"
