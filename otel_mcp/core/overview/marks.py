"""The gates guarding a task and the latest decision of each, looked up per task and remembered per view.

The graph and the Now screen show, for each task drawn, the gates guarding its completion and where
each stands. Decisions are found by the task's own index (`name`, task id), one query per task drawn,
never by reading every decision in the store.
"""

from __future__ import annotations

from otel_mcp.core.gates.definitions.catalog import Catalog
from otel_mcp.core.gates.verdicts.decisions import ATTR_GATE_ATTEMPT
from otel_mcp.core.gates.verdicts.guards import guarding
from otel_mcp.core.gates.verdicts.standing import ATTR_GATE, ATTR_GATE_DECISION, ATTR_GATE_DEFINITION, DECISION_SPAN
from otel_mcp.core.overview.results import GateMark
from otel_mcp.core.report import as_int
from otel_mcp.model import SpanRecord
from otel_mcp.store.base import SpanFilter, Store

__all__ = ["DECISIONS_PER_TASK", "GateMarks"]

DECISIONS_PER_TASK = 200  # newest decisions read per task; older ones are history, not standing


class GateMarks:
    """Per task, the gates guarding its completion and the latest decision of each."""

    def __init__(self, store: Store, catalog: Catalog) -> None:
        self.store = store
        self.catalog = catalog
        self._latest: dict[str, dict[str, SpanRecord]] = {}  # task -> gate -> its newest decision

    def other_definition(self, span: SpanRecord) -> bool:
        """Whether a decision was taken under another definition than the one in force (as `report` flags)."""
        gate = str(span.attributes.get(ATTR_GATE) or "")
        decided = span.attributes.get(ATTR_GATE_DEFINITION)
        return bool(decided) and gate in self.catalog.gates and decided != self.catalog.definition(gate)

    def latest(self, task_id: str) -> dict[str, SpanRecord]:
        """gate -> the newest decision recorded for this task."""
        known = self._latest.get(task_id)
        if known is None:
            flt = SpanFilter(task_id=task_id, name=DECISION_SPAN, source="gate", limit=DECISIONS_PER_TASK)
            known = {}
            for span in self.store.find_spans(flt):  # newest first: the first seen per gate stands
                gate = span.attributes.get(ATTR_GATE)
                if gate is not None:
                    known.setdefault(str(gate), span)
            self._latest[task_id] = known
        return known

    def for_task(self, task_id: str, task_type: str | None) -> list[GateMark]:
        """The gates guarding the task's completion, plus any gate decided for it, each with its latest decision."""
        decided = self.latest(task_id)
        marks = []
        for gate in sorted(set(guarding(self.catalog, task_type, "complete")) | set(decided)):
            span = decided.get(gate)
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
