"""Whether a gate stands passed for a task now: the one verdict every enforcement point asks.

A gate stands passed when its latest decision for the task is a pass that is still what it says
it is and still applies: the decision verifies (signed, unaltered), was recorded for this very
task (by its signed content, not by an unsigned column), was taken under the gate's definition in
force now, and on the code state the workspace is in now. `requires_gates`, `otel-mcp gates
verify`, guarded transitions and the git and host hooks all read this, so they cannot disagree.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from otel_mcp.core.gates.definitions.catalog import Catalog
from otel_mcp.core.gates.definitions.names import ATTR_CODE_DIGEST, CodeStateLike
from otel_mcp.core.gates.verdicts.integrity import chain_problems
from otel_mcp.model import SpanRecord
from otel_mcp.store.base import SpanFilter, Store
from otel_mcp.store.predicates import Predicate

__all__ = [
    "ATTR_GATE",
    "ATTR_GATE_DECISION",
    "ATTR_GATE_DEFINITION",
    "DECISION_SPAN",
    "Standing",
    "latest_decision",
    "standing",
]

DECISION_SPAN = "gate_decision"
ATTR_GATE = "otel_mcp.gate"
ATTR_GATE_DECISION = "otel_mcp.gate.decision"
ATTR_GATE_DEFINITION = "otel_mcp.gate.definition"  # digest of the gate, its requirements and their checks


@dataclass(frozen=True, slots=True)
class Standing:
    """A gate's standing for a task: passed or not, why not, and what to do."""

    gate: str
    task_id: str
    passed: bool
    reasons: list[str] = field(default_factory=list)
    next_step: str = ""
    decision: SpanRecord | None = None


def latest_decision(store: Store, gate: str, task_id: str) -> SpanRecord | None:
    """The newest decision span recorded for this gate and task."""
    # By the decision's own signed task id: a rewritten task_id column neither hides nor moves one.
    where = (Predicate(ATTR_GATE, "==", gate),)
    flt = SpanFilter(task_id=task_id, name=DECISION_SPAN, source="gate", where=where, signed=True, limit=1)
    found = store.find_spans(flt)
    return found[0] if found else None


def _steps(gate: str, catalog: Catalog, seen: set[str]) -> list[str]:
    """The calls that pass `gate`: first the gates it requires (theirs first), then its checks, then it."""
    if gate in seen:
        return []
    seen.add(gate)
    loaded = catalog.gates.get(gate)
    if loaded is None:
        return [f"submit_gate_evidence('{gate}')"]
    steps = [step for required in loaded.gate.requires_gates for step in _steps(required, catalog, seen)]
    steps += [f"run_check('{c}')" for c in sorted({r.check for r in loaded.gate.requirements if r.check})]
    return [*steps, f"submit_gate_evidence('{gate}')"]


def _how(gate: str, catalog: Catalog) -> str:
    *first, last = _steps(gate, catalog, set())
    lead = f"{', '.join(first)}, then " if first else ""
    return f"{lead}{last} citing the new span ids (list_gates says what each needs)"


def standing(
    store: Store,
    catalog: Catalog,
    gate: str,
    task_id: str,
    *,
    verify: Callable[[SpanRecord], bool],
    code: CodeStateLike | None,
    code_label: str | None = None,
) -> Standing:
    """The gate's standing for the task now (see the module docstring for what 'passed' means).

    `code` is the code state to judge, normally the workspace's now; a pre-push hook passes a
    commit's and names it in `code_label` ("commit 1a2b3c4d"), which reasons then quote.
    """
    if gate not in catalog.gates:
        why = "it is not defined" + (f": {catalog.broken[gate]}" if gate in catalog.broken else "")
        return Standing(gate, task_id, False, [why], "an admin must fix the gate files (`otel-mcp gates lint`)")
    latest = latest_decision(store, gate, task_id)
    how = _how(gate, catalog)
    # Each reason completes "gate G does not stand passed for task T: ..." and "..., and ...".
    if latest is None:
        return Standing(gate, task_id, False, [f"it has no decision for task '{task_id}' yet"], how)
    sid = latest.span_id
    if not verify(latest):
        return Standing(
            gate,
            task_id,
            False,
            [f"its latest decision ({sid}) fails attestation: it was altered in the store"],
            how,
            latest,
        )
    reasons: list[str] = []
    broken = chain_problems(store, [latest]).get(sid)
    if broken:
        reasons.append(broken)
    if latest.task_id != task_id:
        reasons.append(f"its latest decision ({sid}) was signed for task '{latest.task_id}': the store was altered")
    if latest.attributes.get(ATTR_GATE_DECISION) != "pass":
        reasons.append(f"its latest decision ({sid}) is fail")
    if latest.attributes.get(ATTR_GATE_DEFINITION) != catalog.definition(gate):
        reasons.append(
            f"its latest decision ({sid}) was taken under another definition of the gate than the one in force now"
        )
    if code is not None:
        decided_on = latest.attributes.get(ATTR_CODE_DIGEST)
        if decided_on != code.digest and code_label is None:
            reasons.append(
                f"its latest decision ({sid}) was on other code than the workspace holds now "
                f"({str(decided_on or 'unknown')[:16]}, now {code.digest[:16]}): the code changed since"
            )
        elif decided_on != code.digest:
            reasons.append(
                f"its latest decision ({sid}) was on other code ({str(decided_on or 'unknown')[:16]}) than "
                f"{code_label} ({code.digest[:16]})"
            )
    return Standing(gate, task_id, not reasons, reasons, "" if not reasons else how, latest)
