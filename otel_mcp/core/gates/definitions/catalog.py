"""The catalog: every gate and check of a gates directory, assembled across files, failing closed.

A name defined twice is an error, and neither definition is used: otherwise a file an agent adds
could win the tie (first file, or last) and quietly redefine `bandit` as `true`. Each gate gets a
definition digest over the gate, its requirements and the checks they name, recorded on every
decision so a decision taken under another definition can be told apart.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field

from otel_mcp.core.gates.definitions.checkspec import Check
from otel_mcp.core.gates.definitions.parse import FileSpec, Problem
from otel_mcp.core.gates.definitions.spec import Gate
from otel_mcp.errors import NotFound

__all__ = ["Catalog", "LoadedCheck", "LoadedGate", "assemble", "unknown"]


@dataclass(frozen=True, slots=True)
class LoadedGate:
    gate: Gate
    file: str
    line: int | None


@dataclass(frozen=True, slots=True)
class LoadedCheck:
    check: Check
    file: str
    line: int | None


@dataclass(slots=True)
class Catalog:
    """Everything defined, after cross-file checks, and where it came from."""

    directory: str
    gates: dict[str, LoadedGate] = field(default_factory=dict)
    checks: dict[str, LoadedCheck] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    broken: dict[str, str] = field(default_factory=dict)  # name -> why it did not load
    note: str = ""
    source: str = "directory"  # commit | directory | bundled | none
    commit: str | None = None  # the commit the definitions were read from (source == commit)
    uncommitted: list[str] = field(default_factory=list)  # edits not in force until committed
    definitions: dict[str, str] = field(default_factory=dict)  # gate -> digest of its full definition

    def definition(self, gate: str) -> str:
        """The digest of a gate's full definition ('' if the gate is not loaded)."""
        return self.definitions.get(gate, "")


def _definition_digest(gate: Gate, checks: dict[str, LoadedCheck]) -> str:
    parts = [f"gate:{gate.digest()}"]
    for name in sorted({r.check for r in gate.requirements if r.check}):
        loaded = checks.get(name)
        parts.append(f"check:{name}:{loaded.check.digest() if loaded else 'missing'}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def _unique(
    catalog: Catalog, kind: str, defined: Sequence[tuple[str, str, int | None]]
) -> dict[str, tuple[str, int | None]]:
    """name -> (file, line) for names defined once; names defined more often are broken, all of them."""
    where: dict[str, list[tuple[str, int | None]]] = {}
    for name, file, line in defined:
        where.setdefault(name, []).append((file, line))
    unique = {}
    for name, places in where.items():
        if len(places) == 1:
            unique[name] = places[0]
            continue
        listed = ", ".join(f"{f}:{ln}" if ln else f for f, ln in places)
        why = (
            f"{kind} {name!r} is defined {len(places)} times ({listed}); none of them is used until an admin "
            "keeps exactly one"
        )
        catalog.broken[name] = why
        for file, line in places:
            catalog.problems.append(Problem(file, line, why))
    return unique


def _cycles(gates: dict[str, LoadedGate]) -> list[str]:
    """Gates that (transitively) require themselves."""
    looping: list[str] = []
    for start in gates:
        stack, seen = list(gates[start].gate.requires_gates), set()
        while stack:
            name = stack.pop()
            if name == start:
                looping.append(start)
                break
            if name in seen or name not in gates:
                continue
            seen.add(name)
            stack.extend(gates[name].gate.requires_gates)
    return looping


def _cross_checks(catalog: Catalog) -> None:
    for loaded in catalog.gates.values():
        gate = loaded.gate
        for required in gate.requires_gates:
            if required not in catalog.gates:
                catalog.problems.append(
                    Problem(
                        loaded.file, loaded.line, f"gate {gate.name!r} requires gate {required!r}, which is not defined"
                    )
                )
        for req in gate.requirements:
            if req.check is None:
                continue
            check_entry = catalog.checks.get(req.check)
            if check_entry is None:
                catalog.problems.append(
                    Problem(
                        loaded.file,
                        loaded.line,
                        f"gate {gate.name!r} requirement {req.name!r} names check {req.check!r}, which is not defined",
                    )
                )
            elif check_entry.check.span_name != req.span_name:
                catalog.problems.append(
                    Problem(
                        loaded.file,
                        loaded.line,
                        f"gate {gate.name!r} requirement {req.name!r} wants spans named {req.span_name!r}, but "
                        f"check {req.check!r} records spans named {check_entry.check.span_name!r}",
                    )
                )
    for name in _cycles(catalog.gates):
        loaded = catalog.gates[name]
        catalog.problems.append(
            Problem(loaded.file, loaded.line, f"gate {name!r} requires itself through requires_gates")
        )


def assemble(catalog: Catalog, files: Sequence[tuple[str, FileSpec]]) -> Catalog:
    """Fill `catalog` from each file's parsed spec (in file order) and check them against each other."""
    for _, spec in files:
        catalog.problems.extend(spec.problems)
        catalog.broken.update(spec.broken_names)
    gate_defs = [(g.name, display, line) for display, spec in files for g, line in spec.gates]
    check_defs = [(c.name, display, line) for display, spec in files for c, line in spec.checks]
    unique_gates = _unique(catalog, "gate", gate_defs)
    unique_checks = _unique(catalog, "check", check_defs)
    for display, spec in files:
        for gate, line in spec.gates:
            if unique_gates.get(gate.name) == (display, line):
                catalog.gates[gate.name] = LoadedGate(gate, display, line)
        for check, line in spec.checks:
            if unique_checks.get(check.name) == (display, line):
                catalog.checks[check.name] = LoadedCheck(check, display, line)
    for name in list(catalog.broken):
        if name in catalog.gates or name in catalog.checks:
            del catalog.broken[name]
    _cross_checks(catalog)
    catalog.definitions = {name: _definition_digest(g.gate, catalog.checks) for name, g in catalog.gates.items()}
    return catalog


def unknown(kind: str, name: str, catalog: Catalog, known: Sequence[str]) -> NotFound:
    """Why `name` cannot be used: broken in its file, or not defined (listing what is)."""
    if name in catalog.broken:
        return NotFound(
            f"{kind} '{name}' is defined but could not be loaded: {catalog.broken[name]}. An admin must fix the "
            "file (`otel-mcp gates lint` lists every problem)"
        )
    listed = ", ".join(sorted(known)) or "none"
    return NotFound(f"{kind} '{name}' is not defined; the {kind}s are: {listed} (see list_gates)")
