"""`otel-mcp gates lint|list|status`: lint the gate files, show the gates in force, or ask where a task stands."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from otel_mcp.commands.common import add_gates_dir_flag, add_store_flags, settings_from

__all__ = [
    "configure",
    "run_lint",
    "run_list",
    "run_status",
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
    in_force = CatalogLoader(settings.gates_dir).catalog()
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
    with OneShot.open(settings, digest_early=True) as session:
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
    loader = CatalogLoader(settings.gates_dir, configured=settings.gates_configured, fallback=example_gates_dir())
    listing = describe(loader.catalog())
    if args.json:
        print(json.dumps(listing.model_dump(), indent=2))
        return 1 if listing.problems else 0
    origin = {
        "commit": f"committed at {listing.commit[:12]}" if listing.commit else "from git HEAD",
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
