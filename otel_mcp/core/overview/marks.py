"""The latest gate decision of each gate and task, read in one query, and the gates guarding a task.

The graph and the Now screen show, for each task, the gates guarding its completion and where each
stands: one bulk read of the newest decisions instead of one look-up per task and gate.
"""

from __future__ import annotations

from otel_mcp.core.gates.assemble import Catalog
from otel_mcp.core.gates.decisions import ATTR_GATE_ATTEMPT
from otel_mcp.core.gates.guards import guarding
from otel_mcp.core.gates.standing import ATTR_GATE, ATTR_GATE_DECISION, ATTR_GATE_DEFINITION, DECISION_SPAN
from otel_mcp.core.overview.results import GateMark
from otel_mcp.core.report import as_int
from otel_mcp.model import SpanRecord
from otel_mcp.store.base import SpanFilter, Store

__all__ = ["DECISIONS_READ", "GateMarks"]

DECISIONS_READ = 20_000  # newest decisions read per view; older ones are history, not standing


class GateMarks:
    """Per task, the gates guarding its completion and the latest decision of each."""

    def __init__(self, store: Store, catalog: Catalog) -> None:
        self.catalog = catalog
        self.latest: dict[tuple[str, str], SpanRecord] = {}
        found = store.find_spans(SpanFilter(name=DECISION_SPAN, source="gate", limit=DECISIONS_READ))
        self.partial = len(found) >= DECISIONS_READ
        for span in found:  # newest first: the first seen per gate and task stands
            gate = span.attributes.get(ATTR_GATE)
            if gate is not None and span.task_id is not None:
                self.latest.setdefault((str(gate), span.task_id), span)

    def other_definition(self, span: SpanRecord) -> bool:
        """Whether a decision was taken under another definition than the one in force (as `report` flags)."""
        gate = str(span.attributes.get(ATTR_GATE) or "")
        decided = span.attributes.get(ATTR_GATE_DEFINITION)
        return bool(decided) and gate in self.catalog.gates and decided != self.catalog.definition(gate)

    def for_task(self, task_id: str, task_type: str | None) -> list[GateMark]:
        """The gates guarding the task's completion, plus any gate decided for it, each with its latest decision."""
        names = set(guarding(self.catalog, task_type, "complete"))
        names.update(gate for gate, task in self.latest if task == task_id)
        marks = []
        for gate in sorted(names):
            span = self.latest.get((gate, task_id))
            if span is None:
                marks.append(GateMark(gate=gate, decision="none"))
                continue
            marks.append(
                GateMark(
                    gate=gate,
                    decision="pass" if str(span.attributes.get(ATTR_GATE_DECISION)).lower() == "pass" else "fail",
                    attempt=as_int(span.attributes.get(ATTR_GATE_ATTEMPT)),
                    span_id=span.span_id,
                    other_definition=self.other_definition(span),
                )
            )
        return marks
