"""The gate catalogue: what is defined, as the agent-facing listing, and lookups that explain a miss."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from otel_mcp._resources import example_gates_dir
from otel_mcp.core.gates.checkspec import Check
from otel_mcp.core.gates.loader import Catalog, GateLoader
from otel_mcp.core.gates.results import CheckInfo, GateInfo, GateList, RequirementInfo
from otel_mcp.errors import NotFound

__all__ = [
    "Catalogue",
    "describe",
    "unknown",
]


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
        ref=f"{catalog.ref} ({catalog.ref_reason})" if catalog.ref else "",
        uncommitted=list(catalog.uncommitted),
    )


class Catalogue:
    """The gate directory of one process, always current, with lookups that say what to do on a miss."""

    def __init__(
        self, gates_dir: Path | None, *, configured: bool = True, watch: bool = False, ref: str | None = None
    ) -> None:
        self.loader = GateLoader(gates_dir, configured=configured, fallback=example_gates_dir(), watch=watch, ref=ref)

    def catalog(self) -> Catalog:
        return self.loader.catalog()

    def list_gates(self) -> GateList:
        return describe(self.catalog())

    def check(self, name: str) -> Check:
        """The check defined under `name`, or NotFound listing the ones that are."""
        catalog = self.catalog()
        loaded = catalog.checks.get(name)
        if loaded is None:
            raise unknown("check", name, catalog, list(catalog.checks))
        return loaded.check


def unknown(kind: str, name: str, catalog: Catalog, known: Sequence[str]) -> NotFound:
    """Why `name` cannot be used: broken in its file, or not defined (listing what is)."""
    if name in catalog.broken:
        return NotFound(
            f"{kind} '{name}' is defined but could not be loaded: {catalog.broken[name]}. An admin must fix the "
            "file (`otel-mcp gates check` lists every problem)"
        )
    listed = ", ".join(sorted(known)) or "none"
    return NotFound(f"{kind} '{name}' is not defined; the {kind}s are: {listed} (see list_gates)")
