"""`otel-mcp audit [--json]`: is the record intact? Altered, forged and deleted rows, by signature and chain.

Exit statuses, for CI: 0 intact; 3 intact, with task records written before signing existed (a
store upgraded from an older otel-mcp: not forged, but not provable either); 1 altered, forged or
deleted rows. The store is opened read-only: auditing never changes it.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from otel_mcp.commands.common import add_store_flags, settings_from

__all__ = [
    "EXIT_ALTERED",
    "EXIT_LEGACY",
    "EXIT_OK",
    "configure",
    "run",
]

EXIT_OK, EXIT_ALTERED, EXIT_LEGACY = 0, 1, 3

_EPILOG = """exit status:
  0  OK: every signed span verifies, no row is forged, no writer's chain has a gap
  3  OK with legacy rows: as 0, and some task records were written before signing existed (the store
     was upgraded from an older otel-mcp); they are counted and named, not called forged
  1  NOT OK: the store was altered (altered, forged or deleted rows, or a changed schema)
"""


def configure(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "audit",
        help="check every signed span of the store: altered rows, unsigned forgeries, gaps in writers' chains",
        description="Check every signed span of the store, read-only: altered rows, unsigned forgeries, gaps in "
        "writers' chains, and rows written before signing existed.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--json", action="store_true", help="print the findings as JSON")
    add_store_flags(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from otel_mcp.core.gates.verdicts.audit_chain import audit_store
    from otel_mcp.resolve import resolve
    from otel_mcp.store import open_for_reading, require_store
    from otel_mcp.telemetry.attestation import Attestor

    settings = resolve(settings_from(args))
    require_store(settings)  # first: "no store here" says more than "no key next to it"
    attestor = Attestor.from_settings(settings.attestation_key, settings.db_path, create=False)
    store = open_for_reading(settings)
    try:
        report = audit_store(store, attestor.verify)
    finally:
        store.shutdown()
    where = settings.db_path if settings.backend == "sqlite" else settings.clickhouse_url
    status = EXIT_ALTERED if not report.ok else EXIT_LEGACY if report.legacy else EXIT_OK
    legacy = f"{report.legacy} task record(s) written before signing existed, by {report.legacy_from}"
    if (earlier := settings.earlier_store_note()) is not None:
        print(f"note: {earlier}", file=sys.stderr)
    if args.json:
        print(json.dumps({"store": str(where), "ok": report.ok, "exit_status": status, **_fields(report)}, indent=2))
    else:
        print(f"{where}: {report.checked} spans checked, {report.signed} signed by {report.writers} writer(s)")
        if report.legacy:
            print(f"legacy: {legacy}: not forged, but unsigned, so nothing proves them unaltered")
        for problem in report.problems:
            print(f"problem: {problem}")
        if report.more_problems:
            print(f"... and {report.more_problems} more problems (--json lists the first 200)")
        verdict = {
            EXIT_OK: "ok: nothing was altered, forged or deleted",
            EXIT_LEGACY: f"ok with legacy rows: nothing was altered, forged or deleted; {legacy}",
            EXIT_ALTERED: "NOT OK: the store was altered",
        }
        print(verdict[status], file=sys.stderr)
    return status


def _fields(report: Any) -> dict[str, Any]:
    return {
        "checked": report.checked,
        "signed": report.signed,
        "writers": report.writers,
        "problems": report.problems,
        "more_problems": report.more_problems,
        "legacy": report.legacy,
        "legacy_from": report.legacy_from,
    }
