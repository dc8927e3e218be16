"""`otel-mcp gates lint|list|status|submit|run`: lint the gate files, show the gates in force, ask where
a task stands, and pass a gate from a terminal (the `submit_gate_evidence` and `run_check` tools'
work, by the same core code: same rules, signatures and records)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from otel_mcp.commands.common import add_gates_dir_flag, add_store_flags, settings_from

__all__ = [
    "configure",
    "run_attempt",
    "run_lint",
    "run_list",
    "run_status",
    "run_submit",
]


def configure(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "gates", help="lint or list gate definitions, or ask whether a task's gates stand passed"
    )
    actions = parser.add_subparsers(dest="gates_action", metavar="ACTION", required=True)
    lint = actions.add_parser(
        "lint", help="validate every gate file as it is in the working tree; exit 1 on any problem"
    )
    list_ = actions.add_parser("list", help="show the gates in force and checks, each requirement in words")
    status = actions.add_parser(
        "status",
        help="exit 0 only if the gate(s) stand passed for the task on the current code",
        description="With no GATE, the gates guarding the completion of the task's type. Exit 0 when every one "
        "stands passed for the task on the code as it is now; 1 otherwise, with each reason and the next step. "
        "This is what CI, git hooks and host hooks call.",
    )
    status.add_argument("gates", nargs="*", metavar="GATE", help="gate names (default: those guarding the task)")
    status.add_argument("--task", required=True, help="the task id")
    for sub in (lint, list_):
        add_gates_dir_flag(sub)
    for sub in (list_, status):
        sub.add_argument("--json", action="store_true", help="print the result as JSON")
    add_store_flags(status)
    submit = actions.add_parser(
        "submit",
        help="ask a gate to pass a task, citing span ids (what the submit_gate_evidence tool does)",
        description="Every cited span is verified as for the submit_gate_evidence tool; the decision is recorded "
        "(signed) and printed. Exit 0 on pass, 1 on fail.",
    )
    submit.add_argument("gate", metavar="GATE", help="the gate's name (otel-mcp gates list)")
    attempt = actions.add_parser(
        "run",
        help="run each check the gate's requirements name, then submit the spans they made (and the gates it "
        "requires first)",
        description="For a person at a terminal: the run_check and submit_gate_evidence tools in one go. The gates "
        "GATE requires are passed first; requirements no check produces are cited with --evidence REQ=SPAN_ID. "
        "Exit 0 when every decision is a pass, 1 otherwise.",
    )
    attempt.add_argument("gate", metavar="GATE", help="the gate's name (otel-mcp gates list)")
    for sub in (submit, attempt):
        sub.add_argument("--task", required=True, help="the task id the evidence is for")
        sub.add_argument(
            "--evidence",
            action="append",
            default=[],
            metavar="REQ=SPAN_ID",
            help="a cited span, with the requirement it is for (repeatable; `submit` also takes a bare SPAN_ID)",
        )
        sub.add_argument("--json", action="store_true", help="print the decision(s) as JSON")
        add_store_flags(sub)
    submit.set_defaults(func=run_submit)
    attempt.set_defaults(func=run_attempt)
    lint.set_defaults(func=run_lint)
    list_.set_defaults(func=run_list)
    status.set_defaults(func=run_status)


def _settings(args: argparse.Namespace) -> Any:
    from otel_mcp.resolve import resolve

    return resolve(settings_from(args))


def run_lint(args: argparse.Namespace) -> int:
    from otel_mcp.core.gates.checks.lint import lint_warnings
    from otel_mcp.core.gates.definitions.loading import CatalogLoader

    settings = _settings(args)
    if not settings.gates_configured and not settings.gates_dir.is_dir():
        print(
            f"otel-mcp gates lint: no gates directory to lint: {settings.gates_dir} does not exist and none is "
            "configured (--gates-dir or OTEL_MCP_GATES_DIR); servers here use the bundled examples "
            "(`otel-mcp gates list`)",
            file=sys.stderr,
        )
        return 1
    # The files as they are, not HEAD's: linting is what an admin does before committing. No
    # fallback to the bundled examples: linting must look at the directory asked for.
    catalog = CatalogLoader(settings.gates_dir, working_tree=True).catalog()
    in_force = CatalogLoader(settings.gates_dir, ref=settings.gates_ref).catalog()
    for problem in catalog.problems:
        print(f"error: {problem}", file=sys.stderr)
    for warning in lint_warnings(catalog):
        print(f"warning: {warning}", file=sys.stderr)
    for note in in_force.uncommitted:
        print(f"note: {note}", file=sys.stderr)
    if catalog.problems:
        print(f"{len(catalog.problems)} problem(s) in {catalog.directory}", file=sys.stderr)
        return 1
    print(f"ok: {len(catalog.gates)} gates and {len(catalog.checks)} checks in {catalog.directory}")
    return 0


def run_status(args: argparse.Namespace) -> int:
    from otel_mcp.oneshot import OneShot
    from otel_mcp.store import require_store

    settings = _settings(args)
    require_store(settings)  # a verdict only reads: never leave an empty store in the wrong folder
    # Not a Runtime: no telemetry, check runner or watcher; the code is digested once, starting
    # before the gate modules are imported (verify_task's import below loads them).
    with OneShot.open(settings, digest_early=True, read_only=True) as session:
        from otel_mcp.core.gates.verdicts.verify import verify_task

        outcome = verify_task(session.store, session.judge, args.task, args.gates)
    if args.json:
        print(json.dumps(outcome.as_dict(), indent=2))
    else:
        print(outcome.text())
    return 0 if outcome.passed else 1


def run_list(args: argparse.Namespace) -> int:
    from otel_mcp._resources import example_gates_dir
    from otel_mcp.core.gates.definitions.listing import describe
    from otel_mcp.core.gates.definitions.loading import CatalogLoader

    settings = _settings(args)
    loader = CatalogLoader(
        settings.gates_dir, configured=settings.gates_configured, fallback=example_gates_dir(), ref=settings.gates_ref
    )
    listing = describe(loader.catalog())
    if args.json:
        print(json.dumps(listing.model_dump(), indent=2))
        return 1 if listing.problems else 0
    origin = {
        "commit": f"committed at {listing.commit[:12]} on {listing.ref}"
        if listing.commit
        else f"from git {listing.ref}",
        "directory": "as the files are",
        "bundled": "the bundled examples",
        "none": "none in force",
    }.get(listing.source, listing.source)
    print(f"gates in {listing.directory} ({origin})")
    if listing.note:
        print(f"note: {listing.note}")
    for gate in listing.gates:
        print(f"gate {gate.name}  ({gate.file})")
        if gate.description:
            print(f"  {gate.description}")
        if gate.requires_gates:
            print(f"  requires gates: {', '.join(gate.requires_gates)}")
        for req in gate.requirements:
            print(f"  - {req.name}: {req.expects}")
    for check in listing.checks:
        print(f"check {check.name}: {' '.join(check.command)}  -> span '{check.span_name}'")
        for attribute, source in check.attributes.items():
            print(f"  {attribute} <- {source}")
    for note in listing.uncommitted:
        print(f"note: {note}", file=sys.stderr)
    for problem in listing.problems:
        print(f"error: {problem}", file=sys.stderr)
    return 1 if listing.problems else 0


def _citations(values: list[str], *, bare: bool) -> list[Any]:
    """`--evidence` values as citations: `REQ=SPAN_ID`, or (where `bare`) a span id the gate matches itself."""
    from otel_mcp.core.gates.results import Citation
    from otel_mcp.errors import InvalidArgument

    out = []
    for value in values:
        requirement, sep, span_id = value.partition("=")
        if not sep and bare:
            requirement, span_id = "", value
        if not span_id.strip() or (sep and not requirement.strip()) or (not sep and not bare):
            raise InvalidArgument(
                f"--evidence: {value[:40]!r} is not REQ=SPAN_ID (a requirement name from `otel-mcp gates list`, "
                "then the span id a check or record printed)"
            )
        try:
            out.append(Citation(requirement=requirement.strip() or None, span_id=span_id.strip()))
        except ValueError:
            raise InvalidArgument(f"--evidence: {value[:40]!r} is too long for a requirement and a span id") from None
    return out


def _gate_runtime(args: argparse.Namespace) -> Any:
    """A runtime that signs what it records as the command line (or `ci`), like `otel-mcp run`."""
    from dataclasses import replace

    from otel_mcp.commands.common import cli_runner
    from otel_mcp.runtime import Runtime

    return Runtime.open(replace(settings_from(args), runner=cli_runner()), watch=False)


def _audit(runtime: Any, command: str, args: dict[str, Any], ok: bool) -> None:
    """The trail a tool call leaves in a server (`tools/call NAME`), for the same work done from a terminal."""
    from otel_mcp.model import ATTR_SOURCE, ATTR_TASK_ID

    attributes = {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": command,
        ATTR_SOURCE: "audit",
        "otel_mcp.cli.command": f"otel-mcp gates {command}",
        "otel_mcp.tool.arguments": json.dumps(args, ensure_ascii=False)[:1024],
        ATTR_TASK_ID + ".argument": str(args.get("task_id", ""))[:1024],
    }
    from opentelemetry.trace import Status, StatusCode

    span = runtime.telemetry.tracer.start_span(f"cli gates {command}", attributes=attributes)
    span.set_status(Status(StatusCode.OK if ok else StatusCode.ERROR))
    span.end()
    runtime.telemetry.flush_audit()


def _print_decisions(decisions: list[Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps([d.model_dump() for d in decisions], indent=2))
        return
    for d in decisions:
        print(f"{d.decision.upper():<5} gate {d.gate} for {d.task_id} (decision {d.decision_span_id})")
        for reason in d.reasons:
            print(f"      - {reason}")
        if d.decision != "pass":
            print(f"      next: {d.next_step}")


def run_submit(args: argparse.Namespace) -> int:
    citations = _citations(args.evidence, bare=True)
    runtime = _gate_runtime(args)
    try:
        decision = runtime.decisions.submit(args.gate, args.task, citations)
        cited = [c.model_dump(exclude_none=True) for c in citations]
        _audit(
            runtime, "submit", {"gate": args.gate, "task_id": args.task, "evidence": cited}, decision.decision == "pass"
        )
    finally:
        runtime.close()
    _print_decisions([decision], args.json)
    return 0 if decision.decision == "pass" else 1


def run_attempt(args: argparse.Namespace) -> int:
    import asyncio

    from otel_mcp.core.gates.attempt import attempt_gate
    from otel_mcp.errors import NotFound

    extra = _citations(args.evidence, bare=False)
    runtime = _gate_runtime(args)
    try:
        try:
            done = asyncio.run(attempt_gate(runtime.runner, runtime.decisions, args.gate, args.task, extra))
        except NotFound as exc:
            print(f"otel-mcp gates run: {exc}", file=sys.stderr)
            return 127
        _audit(runtime, "run", {"gate": args.gate, "task_id": args.task, "evidence": args.evidence}, done.passed)
    finally:
        runtime.close()
    if not args.json:
        for run in done.runs:
            print(f"ran check {run.span_name}: span_id={run.span_id} exit_code={run.exit_code}")
            for error in run.errors:
                print(f"      error: {error}", file=sys.stderr)
    _print_decisions(done.decisions, args.json)
    return 0 if done.passed else 1
