"""`otel-mcp gates check|list`: lint the gate files, or show what a server would load from them."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

__all__ = ["configure"]


def configure(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser("gates", help="check or list gate definitions")
    actions = parser.add_subparsers(dest="gates_action", metavar="ACTION", required=True)
    check = actions.add_parser("check", help="validate every gate file; exit 1 on any problem")
    list_ = actions.add_parser("list", help="show the gates and checks, each requirement in words")
    for sub in (check, list_):
        sub.add_argument("--gates-dir", help="gate YAML directory (OTEL_MCP_GATES_DIR, default gates)")
    list_.add_argument("--json", action="store_true", help="print the list as JSON")
    check.set_defaults(func=run_check)
    list_.set_defaults(func=run_list)


def _loader(args: argparse.Namespace) -> Any:
    from pathlib import Path

    from otel_mcp.config import Settings
    from otel_mcp.core.gates.loader import GateLoader

    directory = Path(args.gates_dir) if args.gates_dir else Settings.from_env().gates_dir
    # No fallback to the bundled examples here: linting must look at the directory asked for.
    return GateLoader(directory)


def run_check(args: argparse.Namespace) -> int:
    import os

    from otel_mcp.core.gates.checks import resolve_program
    from otel_mcp.errors import NotFound

    catalog = _loader(args).catalog()
    for problem in catalog.problems:
        print(f"error: {problem}", file=sys.stderr)
    for loaded in catalog.checks.values():
        program = loaded.check.argv(sys.executable)[0]
        try:
            resolve_program(program, os.environ)
        except NotFound:
            print(
                f"warning: {loaded.file}: check '{loaded.check.name}' runs '{program}', which is not installed here",
                file=sys.stderr,
            )
    if catalog.problems:
        print(f"{len(catalog.problems)} problem(s) in {catalog.directory}", file=sys.stderr)
        return 1
    print(f"ok: {len(catalog.gates)} gates and {len(catalog.checks)} checks in {catalog.directory}")
    return 0


def run_list(args: argparse.Namespace) -> int:
    from otel_mcp.core.gates.service import GateService

    catalog = _loader(args).catalog()
    listing = GateService.describe(catalog)
    if args.json:
        print(json.dumps(listing.model_dump(), indent=2))
        return 1 if catalog.problems else 0
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
    for problem in listing.problems:
        print(f"error: {problem}", file=sys.stderr)
    return 1 if catalog.problems else 0
