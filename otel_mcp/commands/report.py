"""`otel-mcp report [--since 7d] [--json]`: gate first-pass rates, per-agent activity, failed checks."""

from __future__ import annotations

import argparse
import time
from typing import Any

from otel_mcp.commands._text import plural
from otel_mcp.commands.common import add_store_flags, definitions_in_force, settings_from

__all__ = [
    "configure",
    "format_report",
    "run",
]


def configure(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "report", help="gate first-attempt pass rates, tasks per agent and status, failed checks, durations"
    )
    parser.add_argument("--since", help="only spans newer than this: '24h', '7d' or an ISO-8601 time")
    parser.add_argument("--json", action="store_true", help="print the report as JSON instead")
    add_store_flags(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from otel_mcp.core.report import build_report
    from otel_mcp.model import parse_since
    from otel_mcp.resolve import resolve
    from otel_mcp.store import open_for_reading, store_label

    since_ns = parse_since(args.since, time.time_ns()) if args.since else None
    settings = resolve(settings_from(args))
    store = open_for_reading(settings)
    try:
        report = build_report(store, since_ns, definitions_in_force(settings))
    finally:
        store.shutdown()
    if args.json:
        print(report.model_dump_json(indent=2))
    else:
        print(f"store: {store_label(settings)}")
        print(format_report(report.model_dump()))
    return 0


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.0f}%"


def format_report(report: dict[str, Any]) -> str:
    """A Report (as a dict) as a short text a person can scan."""
    lines: list[str] = []
    scope = f" since {report['since']} UTC" if report.get("since") else ""
    lines.append(f"otel-mcp report{scope}")
    if report.get("partial"):
        lines.append("(partial: some queries hit their cap; narrow with --since)")
    lines.append("")
    lines.append("Gates (first attempt = the evidence an agent brought unprompted)")
    if report["gates"]:
        width = max(len(g["gate"]) for g in report["gates"])
        for g in report["gates"]:
            lines.append(
                f"  {g['gate']:<{width}}  first-attempt pass {_rate(g['first_attempt_pass_rate']):>4} "
                f"({g['first_attempt_passes']}/{g['first_attempts']})   "
                f"all decisions {g['passes']}/{g['decisions']} pass"
            )
    else:
        lines.append("  no gate decisions recorded")
    for other in report.get("other_definitions") or []:
        lines.append(
            f"  ! {other['gate']} for {other['task_id'] or '?'}: latest decision ({other['decision']}, "
            f"{other['span_id']}) was taken under another definition of the gate than the one in force now"
        )
    lines.append("")
    statuses = ", ".join(f"{k} {v}" for k, v in report["tasks_by_status"].items()) or "none"
    lines.append(f"Tasks: {report['tasks']} ({statuses})")
    if report["agents"]:
        width = max(len(a["agent_id"]) for a in report["agents"])
        for a in report["agents"]:
            detail = ", ".join(f"{k} {v}" for k, v in a["by_status"].items())
            noun = plural(a["tasks"], "task").split(" ", 1)[1]
            lines.append(f"  {a['agent_id']:<{width}}  {a['tasks']:>4} {noun:<5}  ({detail})")
    median = report.get("median_task_duration_s")
    lines.append(
        "Median task duration (first started -> complete): "
        + (
            f"{median:.3f}s over {plural(report['timed_tasks'], 'task')}"
            if median is not None
            else "no task has both yet"
        )
    )
    lines.append("")
    failed = report["failed_checks"]
    lines.append(f"Failed checks: {len(failed)}")
    for f in failed[:50]:
        code = f"exit {f['exit_code']}" if f.get("exit_code") is not None else "error"
        task = f" [{f['task_id']}]" if f.get("task_id") else ""
        lines.append(
            f"  {f['start_time']}  {f['check']}{task}  {code}  by {f.get('agent_id') or '?'}  span {f['span_id']}"
        )
    if len(failed) > 50:
        lines.append(f"  ... and {len(failed) - 50} more (--json lists all)")
    host = report.get("host_telemetry") or []
    if host:
        lines.append("")
        lines.append("Hosts' own telemetry (OTLP, source=external; never evidence unless a gate opts in)")
        for h in host[:50]:
            who = h["agent_id"] or f"(no agent) session {h.get('session') or 'unknown'}"
            services = ", ".join(h["services"]) or "?"
            lines.append(
                f"  {who}  {plural(h['spans'], 'span')}, {plural(h['events'], 'event')} from {services}  "
                f"{h['first']} .. {h['last']}"
            )
    return "\n".join(lines)
