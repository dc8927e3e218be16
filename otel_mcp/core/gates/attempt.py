"""Passing a gate in one go: run each requirement's check, then submit the spans they made.

What `otel-mcp gates run GATE --task T` does for a person at a terminal, with nothing of its own:
the checks run through `CheckRunner.run_check` and the decisions are taken by
`GateDecisions.submit`, exactly as the `run_check` and `submit_gate_evidence` tools do, so the
rules, the signing and the records are the same. The gates GATE requires are attempted first
(theirs first), since a gate does not pass before the gates it requires; a check several
requirements name runs once. Requirements no check produces (an agent's own records, a review)
are cited from `extra` (by requirement name) or left to the gate to report missing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from otel_mcp.core.gates.checks.runner import CheckRunner
from otel_mcp.core.gates.definitions.catalog import Catalog, unknown
from otel_mcp.core.gates.results import CheckRun, Citation, GateDecision
from otel_mcp.core.gates.verdicts.decisions import GateDecisions
from otel_mcp.errors import InvalidArgument

__all__ = ["Attempt", "attempt_gate", "attempt_order"]


@dataclass(slots=True)
class Attempt:
    """The checks run and the decisions taken, in order; the last decision is the gate asked for
    unless a gate it requires failed first."""

    runs: list[CheckRun] = field(default_factory=list)
    decisions: list[GateDecision] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return bool(self.decisions) and all(d.decision == "pass" for d in self.decisions)


def attempt_order(gate: str, catalog: Catalog) -> list[str]:
    """`gate` after the gates it requires, theirs first, each once (unknown names are left to submit)."""
    out: list[str] = []

    def visit(name: str, path: tuple[str, ...]) -> None:
        if name in out or name in path:
            return
        loaded = catalog.gates.get(name)
        for required in loaded.gate.requires_gates if loaded else ():
            visit(required, (*path, name))
        out.append(name)

    visit(gate, ())
    return out


async def attempt_gate(
    runner: CheckRunner, decisions: GateDecisions, gate: str, task_id: str, extra: Sequence[Citation] = ()
) -> Attempt:
    """Run the checks `gate` (and the gates it requires) need for `task_id`, and submit their spans.

    Stops at the first gate that fails: those that build on it would fail for that reason too.
    """
    done = Attempt()
    catalog = decisions.catalog_loader.catalog()
    if gate not in catalog.gates:  # before running anything
        raise InvalidArgument(str(unknown("gate", gate, catalog, list(catalog.gates))))
    spans: dict[str, str] = {}  # check -> the span its run made
    for name in attempt_order(gate, catalog):
        loaded = catalog.gates.get(name)
        cited: list[Citation] = []
        for requirement in loaded.gate.requirements if loaded else ():
            if requirement.check is None:
                continue
            if requirement.check not in spans:
                run = await runner.run_check(requirement.check, task_id)
                done.runs.append(run)
                spans[requirement.check] = run.span_id
            cited.append(Citation(requirement=requirement.name, span_id=spans[requirement.check]))
        names = {r.name for r in loaded.gate.requirements} if loaded else set()
        cited += [c for c in extra if c.requirement in names]
        decision = decisions.submit(name, task_id, cited)
        done.decisions.append(decision)
        if decision.decision != "pass":
            break
    return done
