"""Gate decisions: verify cited spans against a gate, record the decision as a signed span, say what next.

A failed gate is not an error: it is a recorded decision with a reason for every miss, returned
so the agent can read them and try again. Every decision is signed (source=gate), so first-attempt
pass rates are a query away and a decision altered in the store no longer counts.

A decision judges the code state proven by the workspace's events (`Workspace.current(proof=
"events")`, a poll and a probe of held files) and records its digest. That proof cannot see a
write through a hard link made from outside the workspace after the watch began; the decision then
names the state it judged, never the one on disk, and every use of its pass (a guard through
`Judge`, `requires_gates` in a later decision, the hooks, `gates status`) compares that digest with
a state proven by a full stat seal, so the write shows there.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from otel_mcp.core.anchors import TaskAnchors
from otel_mcp.core.gates.definitions.catalog import Catalog, unknown
from otel_mcp.core.gates.definitions.loading import CatalogLoader
from otel_mcp.core.gates.definitions.names import (
    ATTR_GATES_COMMIT,
    ATTR_GATES_SOURCE,
    CodeStateLike,
    WorkspaceLike,
    code_attributes,
)
from otel_mcp.core.gates.results import Citation, GateDecision, clip
from otel_mcp.core.gates.verdicts.evaluate import Verifier, evaluate, read_citations
from otel_mcp.core.gates.verdicts.integrity import chain_problems
from otel_mcp.core.gates.verdicts.standing import (
    ATTR_GATE,
    ATTR_GATE_DECISION,
    ATTR_GATE_DEFINITION,
    DECISION_SPAN,
    Standing,
    latest_decision,
    standing,
)
from otel_mcp.core.workspace.state import Proof
from otel_mcp.errors import InvalidArgument
from otel_mcp.model import ATTR_SOURCE, ATTR_TASK_ID, AttrValue, SpanRecord, check_task_id
from otel_mcp.store.base import SpanFilter, Store
from otel_mcp.telemetry import Telemetry, ref

__all__ = [
    "ATTR_GATE_ATTEMPT",
    "ATTR_GATE_DIGEST",
    "ATTR_GATE_EVIDENCE",
    "ATTR_GATE_FAILED",
    "ATTR_GATE_REASONS",
    "MAX_CITATIONS",
    "MAX_REASONS",
    "GateDecisions",
]

ATTR_GATE_ATTEMPT = "otel_mcp.gate.attempt"
ATTR_GATE_EVIDENCE = "otel_mcp.gate.evidence"
ATTR_GATE_REASONS = "otel_mcp.gate.reasons"
ATTR_GATE_DIGEST = "otel_mcp.gate.digest"
ATTR_GATE_FAILED = "otel_mcp.gate.failed_requirements"
MAX_CITATIONS = 50
MAX_REASONS = 50
_PROOF_NS = 200_000_000  # a decision uses the proof `ready()` or `refresh()` took this recently


def _as_citations(evidence: Sequence[Citation | Mapping[str, Any] | str] | None) -> list[Citation]:
    if evidence is None:
        return []
    if isinstance(evidence, str | Mapping) or not isinstance(evidence, Sequence):
        raise InvalidArgument('evidence must be a list like [{"requirement": "scan", "span_id": "00f067aa0ba902b7"}]')
    if len(evidence) > MAX_CITATIONS:
        raise InvalidArgument(f"{len(evidence)} citations given; the limit is {MAX_CITATIONS}")
    out = []
    for i, item in enumerate(evidence):
        if isinstance(item, Citation):
            out.append(item)
        elif isinstance(item, str):
            out.append(Citation(span_id=item))
        elif isinstance(item, Mapping) and isinstance(item.get("span_id"), str):
            requirement = item.get("requirement")
            out.append(Citation(requirement=str(requirement) if requirement else None, span_id=item["span_id"]))
        else:
            raise InvalidArgument(f'evidence[{i}] must be {{"requirement": "<name>", "span_id": "<16 hex>"}}')
    return out


class GateDecisions:
    """submit_gate_evidence over one store: verify, decide, record."""

    def __init__(
        self,
        store: Store,
        telemetry: Telemetry,
        anchors: TaskAnchors,
        catalog_loader: CatalogLoader,
        workspace: WorkspaceLike | None = None,
    ) -> None:
        self.store = store
        self.telemetry = telemetry
        self.anchors = anchors
        self.catalog_loader = catalog_loader
        self.workspace = workspace
        self._proof: tuple[CodeStateLike, int] | None = None  # the events proof the next decision uses

    def ready(self, proof: Proof = "events") -> bool:
        """Whether a decision (`proof="events"`) or a guard (`"seal"`) now needs no parsing or digesting
        and no more than bounded work (callers on an event loop check first, else `refresh`).

        A decision: when the workspace proves its state by events with a bounded drain and a few
        probes (`Workspace.quick`); that proof is the one the decision then records. A guard: never
        with a workspace, since it must judge a stat seal of its own (an earlier seal, however recent,
        cannot show a write through a hard link made from outside, which sends no event)."""
        if not self.catalog_loader.fresh():
            return False
        if self.workspace is None:
            return True
        if proof == "seal":
            return False
        state = self.workspace.quick()
        if state is None:
            return False
        self._proof = (state, time.monotonic_ns())
        return True

    def refresh(self, proof: Proof = "events") -> None:
        """Bring the catalog and the code state up to date (from a worker thread), by `proof`."""
        self.catalog_loader.catalog()
        if self.workspace is not None:
            state = self.workspace.current(proof=proof)  # a fresh proof, which what follows uses
            if proof == "events":
                self._proof = (state, time.monotonic_ns())

    def latest_decision(self, gate: str, task_id: str) -> SpanRecord | None:
        return latest_decision(self.store, gate, task_id)

    def code_state(self) -> CodeStateLike | None:
        """The workspace's code state now by a stat seal (None without a workspace), as guards judge
        it; a seal the caller's refresh took a moment ago stands for now unless an event came since."""
        return self.workspace.current(reuse=True) if self.workspace is not None else None

    def _decided_state(self) -> CodeStateLike | None:
        """The state a decision judges and records: the events proof `ready()` or `refresh()` took
        just before (so a decision on the event loop never computes), else one taken now (reusing a
        proof of the last 0.2 s if no event came since: the rare decision whose proof a concurrent
        one took)."""
        if self.workspace is None:
            return None
        taken, self._proof = self._proof, None  # one decision per proof: a direct caller proves anew
        if taken is not None and time.monotonic_ns() - taken[1] <= _PROOF_NS:
            return taken[0]
        return self.workspace.current(reuse=True, proof="events")

    def standing(
        self, gate: str, task_id: str, catalog: Catalog | None = None, code: CodeStateLike | None = None
    ) -> Standing:
        """Whether `gate` stands passed for `task_id` on `code` (default: the current code; see `standing`)."""
        check_task_id(task_id)
        return standing(
            self.store,
            catalog or self.catalog_loader.catalog(),
            gate,
            task_id,
            verify=self.telemetry.attestor.verify,
            code=code if code is not None else self.code_state(),
        )

    def _required_gate_reasons(
        self, gate_name: str, task_id: str, catalog: Catalog, code: CodeStateLike | None
    ) -> list[str]:
        reasons = []
        for required in catalog.gates[gate_name].gate.requires_gates:
            # On the state this decision judges: its pass then speaks for that state only.
            verdict = self.standing(required, task_id, catalog, code)
            for why in verdict.reasons:
                reasons.append(
                    f"gate '{gate_name}' requires gate '{required}' to pass first for task '{task_id}', and {why}; "
                    f"{verdict.next_step or 'pass it first'}"
                )
        return reasons

    def submit(
        self, gate_name: str, task_id: str, evidence: Sequence[Citation | Mapping[str, Any] | str] | None
    ) -> GateDecision:
        """Verify cited spans against the gate, record the decision as a span, and return it."""
        check_task_id(task_id)
        citations = _as_citations(evidence)
        catalog = self.catalog_loader.catalog()
        loaded = catalog.gates.get(gate_name)
        if loaded is None:
            raise unknown("gate", gate_name, catalog, list(catalog.gates))
        gate = loaded.gate
        now_ns = time.time_ns()
        code = self._decided_state()

        def latest_named(name: str) -> SpanRecord | None:
            found = self.store.find_spans(SpanFilter(task_id=task_id, name=name, signed=True, limit=1))
            return found[0] if found else None

        cited = read_citations(gate, citations, self.store.get_spans)
        checks = {name: c.check for name, c in catalog.checks.items()}
        chain = chain_problems(self.store, [c.span for c in cited if c.span is not None])
        verifier = Verifier(task_id, now_ns, self.telemetry.attestor.verify, latest_named, checks, code, chain)
        results = evaluate(gate, cited, verifier)
        reasons = [c.problem for c in cited if c.problem]
        reasons += self._required_gate_reasons(gate.name, task_id, catalog, code)
        reasons += [why for r in results for why in r.reasons]
        reasons = list(dict.fromkeys(reasons))
        passed = not reasons and all(r.passed for r in results)

        previous = self.latest_decision(gate.name, task_id)
        attempt = 1
        if previous is not None:
            try:
                attempt = int(previous.attributes.get(ATTR_GATE_ATTEMPT, 0)) + 1  # type: ignore[arg-type]
            except (TypeError, ValueError):
                attempt = 1
        failed = [r.requirement for r in results if not r.passed]
        attrs: dict[str, AttrValue] = {
            ATTR_TASK_ID: task_id,
            ATTR_SOURCE: "gate",
            ATTR_GATE: gate.name,
            ATTR_GATE_ATTEMPT: attempt,
            ATTR_GATE_DECISION: "pass" if passed else "fail",
            ATTR_GATE_DIGEST: gate.digest(),
            ATTR_GATE_DEFINITION: catalog.definition(gate.name),
            ATTR_GATES_SOURCE: catalog.source,
        }
        if catalog.commit:
            attrs[ATTR_GATES_COMMIT] = catalog.commit
        if code is not None:
            attrs.update(code_attributes(code))
        if citations:
            attrs[ATTR_GATE_EVIDENCE] = tuple(clip(c.span_id, 64) for c in citations)
        if reasons:
            attrs[ATTR_GATE_REASONS] = tuple(clip(r) for r in reasons[:MAX_REASONS])
        if failed:
            attrs[ATTR_GATE_FAILED] = tuple(failed)
        # The same outcome in the OTel GenAI evaluation vocabulary, for tools that know it, not ours.
        attrs["gen_ai.evaluation.name"] = gate.name
        attrs["gen_ai.evaluation.score.label"] = "pass" if passed else "fail"
        attrs["gen_ai.evaluation.score.value"] = 1.0 if passed else 0.0
        if reasons:
            attrs["gen_ai.evaluation.explanation"] = clip(reasons[0])
        links = [(c.span.trace_id, c.span.span_id) for c in cited if c.span is not None][:32]
        decision_span = self.telemetry.spans.emit(
            DECISION_SPAN,
            attrs,
            parent=ref(self.anchors.anchor(task_id)),
            links=links,
            error=None if passed else clip(reasons[0]),
            ok=passed,
            sign=True,
        )
        decision_span_id = decision_span.span_id

        if passed:
            followers = sorted(g.gate.name for g in catalog.gates.values() if gate.name in g.gate.requires_gates)
            then = f"; gates that build on it: {', '.join(followers)}" if followers else ""
            next_step = f"gate '{gate.name}' passed for task '{task_id}'{then}"
        else:
            next_step = (
                "fix what each reason says, produce new evidence (run_check for checks, record_task for your own "
                "records), then call submit_gate_evidence again citing the new span ids"
            )
        return GateDecision(
            gate=gate.name,
            task_id=task_id,
            decision="pass" if passed else "fail",
            decision_span_id=decision_span_id,
            attempt=attempt,
            requirements=results,
            reasons=reasons,
            next_step=next_step,
            notes=list(catalog.uncommitted),
        )
