"""Warnings about gates that load but promise less than they seem to: what `otel-mcp gates lint` adds to errors."""

from __future__ import annotations

from otel_mcp.core.gates.checks.process import resolve_program
from otel_mcp.core.gates.definitions.catalog import Catalog
from otel_mcp.errors import NotFound

__all__ = ["lint_warnings"]


def lint_warnings(catalog: Catalog) -> list[str]:
    """One sentence per weak spot: requirements any command can meet, evidence not bound to code, missing tools."""
    warnings: list[str] = []
    for loaded in sorted(catalog.gates.values(), key=lambda g: g.gate.name):
        gate = loaded.gate
        for req in gate.requirements:
            where = f"{loaded.file}: gate '{gate.name}' requirement '{req.name}'"
            accepts_runner = req.sources is None or "runner" in req.sources
            if accepts_runner and req.check is None:
                warnings.append(
                    f"{where} accepts any runner span named '{req.span_name}' (it names no check:), so "
                    f"`otel-mcp run --span {req.span_name} --task T -- true` meets it; name the check that must "
                    "produce it"
                )
            if req.check is not None and req.code == "any":
                warnings.append(f"{where} accepts a run of '{req.check}' on any code (code: any), even on old code")
    for defined in sorted(catalog.checks.values(), key=lambda c: c.check.name):
        try:
            resolve_program(defined.check.command[0])
        except NotFound as exc:
            warnings.append(f"{defined.file}: check '{defined.check.name}': {exc}")
    return warnings
