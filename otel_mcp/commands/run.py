"""`otel-mcp run`: run a check (or any command) from a terminal or CI and record a signed runner span.

    otel-mcp run bandit --task auth/login              # a check defined in the gates in force
    otel-mcp run --span lint_complete --task T -- ruff check .   # any command, ad hoc

Prints the span id to cite. By default it exits with the command's exit code (124 on timeout, 1
when the command succeeded but its output could not be read); `--exit-code run` exits 0 whenever
the check itself ran as defined, findings or not, for a CI step that gates with `gates status`.
The span says it was run by the command line (`cli`), or by `ci` when the CI variable is set. The
check comes from the configured gates only: there is no flag to point at other definitions, and a
span from another definition of a check would not satisfy a gate anyway. When TRACEPARENT is set
(W3C trace context, as CI systems and `run_check` set it), the span joins that trace.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from otel_mcp.commands.common import add_store_flags, settings_from

__all__ = [
    "configure",
    "run",
]


def configure(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "run",
        help="run a check (or a command after --) and record a signed runner span",
        description="Two forms: `otel-mcp run CHECK --task T` runs a check the gates define; "
        "`otel-mcp run --span NAME --task T -- CMD [ARGS...]` runs any command.",
    )
    parser.add_argument("what", nargs="*", metavar="CHECK | -- CMD", help="a check name, or the command after --")
    parser.add_argument("--task", required=True, help="the task id the evidence is for")
    parser.add_argument("--span", help="record an ad-hoc command under this span name (command after --)")
    parser.add_argument("--timeout", type=float, default=600, help="seconds, for ad-hoc commands (default 600)")
    parser.add_argument(
        "--exit-code",
        choices=["tool", "run"],
        default="tool",
        help="tool: exit with the command's own code (default); run: 0 when the check ran as defined, "
        "whatever it found (let `otel-mcp gates status` decide)",
    )
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    # No --gates-dir: a check comes from the configured gates only (see the module docstring).
    add_store_flags(parser, gates=False)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import asyncio
    import os
    from dataclasses import replace

    from otel_mcp.core.gates.checks.traceparent import parse_traceparent
    from otel_mcp.errors import InvalidArgument, NotFound
    from otel_mcp.runtime import Runtime

    if args.span is None and len(args.what) != 1:
        raise InvalidArgument(
            "give one check name (otel-mcp run bandit --task T) or an ad-hoc command "
            "(otel-mcp run --span NAME --task T -- CMD ...)"
        )
    parent = parse_traceparent(os.environ.get("TRACEPARENT"))
    settings = settings_from(args)
    runner = "ci" if os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no") else "cli"
    runtime = Runtime.open(replace(settings, runner=runner), watch=False)
    try:
        if args.span is not None:
            coro = runtime.runner.run_adhoc(
                args.span, args.task, args.what, timeout_s=args.timeout, parent=parent, cwd=os.getcwd()
            )
        else:
            coro = runtime.runner.run_check(args.what[0], args.task, parent=parent)
        try:
            result = asyncio.run(coro)
        except NotFound as exc:
            print(f"otel-mcp: {exc}", file=sys.stderr)
            return 127
    finally:
        runtime.close()
    if args.json:
        print(json.dumps(result.model_dump(), indent=2))
    else:
        print(
            f"span_id={result.span_id} trace_id={result.trace_id} span={result.span_name} exit_code={result.exit_code}"
        )
        for key, value in result.attributes.items():
            print(f"  {key} = {value}")
        for error in result.errors:
            print(f"error: {error}", file=sys.stderr)
        if not result.ok and result.output_tail:
            print(result.output_tail, file=sys.stderr)
    if args.exit_code == "run":
        # ok: the exit code was one the check accepts, its output was read, it examined something.
        return 0 if result.ok else 1
    if result.timed_out:
        return 124
    if result.exit_code != 0:
        return result.exit_code if 0 < result.exit_code < 256 else 1
    return 0 if result.ok else 1
