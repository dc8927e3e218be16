"""`otel-mcp audit [--json]`: is the record intact? Altered, forged and deleted rows, by signature and chain."""

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
        "audit",
        help="check every signed span of the store: altered rows, unsigned forgeries, gaps in writers' chains",
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
    if args.json:
        print(json.dumps({"store": str(where), "ok": report.ok, **_fields(report)}, indent=2))
    else:
        print(f"{where}: {report.checked} spans checked, {report.signed} signed by {report.writers} writer(s)")
        for problem in report.problems:
            print(f"problem: {problem}")
        if report.more_problems:
            print(f"... and {report.more_problems} more problems (--json lists the first 200)")
        print(
            "ok: nothing was altered, forged or deleted" if report.ok else "NOT OK: the store was altered",
            file=sys.stderr,
        )
    return 0 if report.ok else 1


def _fields(report: Any) -> dict[str, Any]:
    return {
        "checked": report.checked,
        "signed": report.signed,
        "writers": report.writers,
        "problems": report.problems,
        "more_problems": report.more_problems,
    }
