"""`otel-mcp trace TASK_ID|TRACE_ID [--json]`: who did what, when, as an indented tree."""

from __future__ import annotations

import argparse
from datetime import datetime
from typing import Any

from otel_mcp.commands._text import plural
from otel_mcp.commands.common import add_store_flags, definitions_in_force, settings_from

__all__ = [
    "claim_words",
    "configure",
    "format_trace",
    "run",
]

# Shown elsewhere on the line, or noise to a person reading the tree.
_HIDDEN_PREFIXES = ("otel_mcp.", "task.id.")
_MAX_ATTRS = 6
_MAX_VALUE = 60


def configure(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "trace", help="show a task's (or a trace's) spans as a readable tree"
    )
    parser.add_argument("ref", metavar="TASK_ID|TRACE_ID", help="a task id, or a trace id (32 hex characters)")
    parser.add_argument("--json", action="store_true", help="print the tree as JSON instead")
    add_store_flags(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from otel_mcp.core.report import load_trace
    from otel_mcp.resolve import resolve
    from otel_mcp.runtime import Runtime
    from otel_mcp.store import open_for_reading, store_label

    settings = resolve(settings_from(args))
    store = open_for_reading(settings)
    runtime = Runtime(settings, store, Runtime.telemetry_for(settings, store))
    try:
        result = load_trace(runtime.coordinator, args.ref)
    finally:
        runtime.close()
    if args.json:
        print(result.model_dump_json(indent=2))
    else:
        print(f"store: {store_label(settings)}")
        print(format_trace(result.model_dump(), definitions_in_force(settings)))
    return 0


def _start(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S.%f")


def _value(value: Any) -> str:
    text = ",".join(str(v) for v in value) if isinstance(value, list | tuple) else str(value)
    return text if len(text) <= _MAX_VALUE else text[: _MAX_VALUE - 3] + "..."


def _list(value: Any) -> list[str]:
    from otel_mcp.core.report import as_list

    return as_list(tuple(value) if isinstance(value, list) else value)


def _duration(ms: float) -> str:
    if ms < 1:
        return ""
    return f"{ms:.0f}ms" if ms < 1000 else f"{ms / 1000:.1f}s"


def _line(span: dict[str, Any], offset_s: float, definitions: dict[str, str] | None = None) -> tuple[str, list[str]]:
    attrs: dict[str, Any] = span.get("attributes") or {}
    who = span.get("agent_id") or "?"
    name = span["name"]
    extra: list[str] = []
    if name == "gate_decision" or span.get("source") == "gate":
        decision = str(attrs.get("otel_mcp.gate.decision", "?")).upper()
        mark = "PASS" if decision == "PASS" else "FAIL" if decision == "FAIL" else decision
        attempt = attrs.get("otel_mcp.gate.attempt")
        head = f"gate {attrs.get('otel_mcp.gate', '?')}: {mark}" + (f" (attempt {attempt})" if attempt else "")
        extra = [f"- {reason}" for reason in _list(attrs.get("otel_mcp.gate.reasons"))]
        gate, decided = str(attrs.get("otel_mcp.gate", "")), attrs.get("otel_mcp.gate.definition")
        if definitions is not None and decided != definitions.get(gate):
            extra.append("! taken under another definition of the gate than the one in force now")
        parts = [head, who]
    elif "otel_mcp.claim.action" in attrs:
        parts = [claim_words(attrs), who]
    else:
        status = span.get("task_status") or (span["status_code"] if span.get("status_code") != "Unset" else "")
        if span.get("source") == "runner" and "process.exit.code" in attrs:
            status = f"{status} exit={attrs['process.exit.code']}".strip()
        if attrs.get("otel_mcp.check") and attrs["otel_mcp.check"] != name:
            name = f"{name} (check {attrs['otel_mcp.check']})"
        parts = [name, who, status]
        if span.get("depends_on"):
            parts.append("after " + ",".join(span["depends_on"]))
    if span.get("task_id"):
        parts.insert(1, f"[{span['task_id']}]")
    duration = _duration(span.get("duration_ms") or 0)
    if duration:
        parts.append(duration)
    shown = [
        f"{k}={_value(v)}"
        for k, v in attrs.items()
        if not k.startswith(_HIDDEN_PREFIXES) and k not in ("process.exit.code", "task.summary")
    ]
    if len(shown) > _MAX_ATTRS:
        shown = [*shown[:_MAX_ATTRS], f"(+{len(shown) - _MAX_ATTRS} more)"]
    if span.get("status_code") == "Error" and not extra:
        message = attrs.get("task.summary")
        if message:
            extra = [f"! {_value(message)}"]
    indent = "  " * span.get("depth", 0)
    text = f"{offset_s:+9.3f}s  {indent}" + "  ".join(p for p in parts if p)
    if shown:
        text += "  " + " ".join(shown)
    return text, [f"{' ' * 12}{indent}    {e}" for e in extra]


# What a claim span's action and outcome mean, in words ("release released" said it twice).
_CLAIM_WORDS = {
    ("claim", "granted"): "claimed",
    ("claim", "renewed"): "renewed claim",
    ("claim", "denied"): "claim denied",
    ("release", "released"): "released",
    ("release", "refused"): "release refused",
}


def claim_words(attrs: dict[str, Any]) -> str:
    """'claimed until …', 'claim denied (held by …)', 'released': one claim span in words."""
    action = str(attrs.get("otel_mcp.claim.action", "claim"))
    outcome = str(attrs.get("otel_mcp.claim.outcome", ""))
    # An append-only store records the attempt before its outcome is known: say what was asked.
    words = _CLAIM_WORDS.get((action, outcome), f"{action} {outcome}".strip())
    if outcome in ("granted", "renewed") and attrs.get("otel_mcp.claim.expires_at"):
        words += f" until {attrs['otel_mcp.claim.expires_at']}"
    elif outcome in ("denied", "refused") and attrs.get("otel_mcp.claim.holder"):
        words += f" (held by {attrs['otel_mcp.claim.holder']})"
    return words


def format_trace(result: dict[str, Any], definitions: dict[str, str] | None = None) -> str:
    """A TraceResult (as a dict) as lines a person can read: offset, indent by depth, what happened.

    With `definitions` (gate -> digest in force), decisions taken under another definition are flagged.
    """
    spans = result.get("spans") or []
    if not spans:
        return f"trace {result.get('trace_id')}: no spans"
    t0 = min(_start(s["start_time"]) for s in spans)
    agents = sorted({s.get("agent_id") or "?" for s in spans})
    lines = [
        f"trace {result['trace_id']}  {plural(len(spans), 'span')}  agents: {', '.join(agents)}  "
        f"started {spans[0]['start_time']} UTC"
    ]
    for span in spans:
        text, extra = _line(span, (_start(span["start_time"]) - t0).total_seconds(), definitions)
        lines.append(text)
        lines.extend(extra)
    if result.get("truncated"):
        lines.append("... truncated: the trace has more spans than shown (use query_spans for the rest)")
    return "\n".join(lines)
