"""The agent-facing listing of a catalog: what `list_gates` returns and `otel-mcp gates list` prints."""

from __future__ import annotations

from otel_mcp.core.gates.definitions.catalog import Catalog
from otel_mcp.core.gates.results import CheckInfo, GateInfo, GateList, RequirementInfo

__all__ = ["describe"]


def describe(catalog: Catalog) -> GateList:
    """A catalog as the agent-facing listing (also what `otel-mcp gates list` prints)."""
    gates = [
        GateInfo(
            name=g.gate.name,
            description=g.gate.description,
            requires_gates=list(g.gate.requires_gates),
            requirements=[
                RequirementInfo(name=r.name, span_name=r.span_name, expects=r.describe(), check=r.check)
                for r in g.gate.requirements
            ],
            file=g.file,
        )
        for g in sorted(catalog.gates.values(), key=lambda g: g.gate.name)
    ]
    checks = [
        CheckInfo(
            name=c.check.name,
            description=c.check.description,
            span_name=c.check.span_name,
            command=c.check.argv("python"),
            timeout_seconds=c.check.timeout_seconds,
            attributes={e.attribute: e.describe() for e in c.check.extractors},
        )
        for c in sorted(catalog.checks.values(), key=lambda c: c.check.name)
    ]
    return GateList(
        gates=gates,
        checks=checks,
        problems=[str(p) for p in catalog.problems],
        note=catalog.note,
        source=catalog.source,
        directory=catalog.directory,
        commit=catalog.commit or "",
        uncommitted=list(catalog.uncommitted),
    )
