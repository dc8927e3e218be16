"""`otel-mcp demo`: real agent processes coordinating through the embedded store, end to end."""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

__all__ = ["configure", "timeline"]


def configure(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "demo", help="watch four agent processes plan, claim, build, check and pass gates (a few seconds)"
    )
    parser.add_argument("--workspace", help="scratch directory to use (default: a new temporary one)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary workspace afterwards")
    parser.set_defaults(func=run)


def timeline(store: Any, since_ns: int = 0) -> str:
    """What each agent did, in order: task records, check runs, gate decisions and claims."""
    from otel_mcp.store.base import SpanFilter

    spans = [
        s for s in store.find_spans(SpanFilter(since_ns=since_ns, oldest_first=True, limit=5000)) if s.source != "audit"
    ]
    if not spans:
        return "(no spans)"
    t0 = spans[0].start_ns
    by_agent: dict[str, list[str]] = {}
    for s in spans:
        attrs = s.attributes
        if s.source == "gate":
            what = (
                f"gate {attrs.get('otel_mcp.gate')} attempt {attrs.get('otel_mcp.gate.attempt')}: "
                + str(attrs.get("otel_mcp.gate.decision", "?")).upper()
            )
        elif s.source == "runner":
            what = f"ran {attrs.get('otel_mcp.check')} -> {s.name} (exit {attrs.get('process.exit.code')})"
        elif s.task_status:
            what = f"{s.task_status:<9} {s.task_id} ({s.task_type})"
        else:
            what = f"{s.name} {s.task_id or ''}".strip()
        by_agent.setdefault(s.agent_id or "?", []).append(f"  +{(s.start_ns - t0) / 1e9:6.2f}s  {what}")
    out = []
    for agent, lines in by_agent.items():
        out.append(f"{agent}")
        out.extend(lines)
    return "\n".join(out)


def run(args: argparse.Namespace) -> int:
    import anyio

    from otel_mcp.commands._demo_agents import explain, run_demo
    from otel_mcp.commands.report import format_report
    from otel_mcp.core.report import build_report
    from otel_mcp.store.sqlite import SQLiteStore

    temporary = args.workspace is None
    workspace = Path(args.workspace or tempfile.mkdtemp(prefix="otel-mcp-demo-")).resolve()
    started = time.monotonic()
    print(explain(), end="\n\n")
    print(f"workspace: {workspace}\n", flush=True)

    def say(agent: str, text: str) -> None:
        print(f"[{time.monotonic() - started:6.2f}s] {agent:<9} {text}", flush=True)

    try:
        result = anyio.run(run_demo, workspace, say)
        store = SQLiteStore(result.db_path)
        try:
            print("\n=== Timeline per agent ===")
            print(timeline(store))
            print("\n=== Report ===")
            print(format_report(build_report(store).model_dump()))
        finally:
            store.shutdown()
        first = ", ".join(f"{g} {d}" for g, d in sorted(result.first_attempts.items()))
        final = ", ".join(f"{g} {d}" for g, d in sorted(result.final.items()))
        print(f"\nfirst attempts: {first}\nfinal decisions: {final}\ndone in {result.seconds:.1f}s")
        ok = bool(result.final) and all(d == "pass" for d in result.final.values())
        if not ok:
            print("otel-mcp demo: a gate did not pass in the end", file=sys.stderr)
        return 0 if ok else 1
    finally:
        if temporary and not args.keep:
            shutil.rmtree(workspace, ignore_errors=True)
        elif temporary:
            print(f"(kept {workspace}; `otel-mcp trace demo/calc --db {workspace}/.otel-mcp/telemetry.db`)")
