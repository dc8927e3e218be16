"""GateService: gate definitions, evidence verification, check runs and decisions over one store.

A facade over the parts: `Catalogue` (what is defined), `GateDecisions` (submit_gate_evidence)
and `CheckRunner` (run_check, `otel-mcp run`). Each process holds one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from otel_mcp.core.anchors import TaskAnchors
from otel_mcp.core.gates.catalog import Catalogue, describe
from otel_mcp.core.gates.checkspec import Check
from otel_mcp.core.gates.decisions import GateDecisions
from otel_mcp.core.gates.guards import guarded_statuses, guarding, guarding_task, refusal
from otel_mcp.core.gates.loader import Catalog, GateLoader
from otel_mcp.core.gates.names import CodeStateLike, WorkspaceLike
from otel_mcp.core.gates.process import ProgressFn
from otel_mcp.core.gates.results import CheckRun, Citation, GateDecision, GateList
from otel_mcp.core.gates.runner import CheckRunner, RunnerName
from otel_mcp.core.gates.standing import Standing
from otel_mcp.errors import Conflict
from otel_mcp.model import SpanRecord
from otel_mcp.store.base import Store
from otel_mcp.telemetry import SpanRef, Telemetry
from otel_mcp.telemetry.attestation import Attestor

__all__ = ["GateService"]


class GateService:
    """Everything about gates for one server or CLI process."""

    describe = staticmethod(describe)

    def __init__(
        self,
        store: Store,
        telemetry: Telemetry,
        anchors: TaskAnchors,
        gates_dir: Path | None,
        *,
        gates_configured: bool = True,
        workspace: WorkspaceLike | None = None,
        runner: RunnerName = "server",
        check_user: str | None = None,
        watch: bool = False,
    ) -> None:
        self.store = store
        self.telemetry = telemetry
        self.workspace = workspace
        self.catalogue = Catalogue(gates_dir, configured=gates_configured, watch=watch)
        self.decisions = GateDecisions(store, telemetry, anchors, self.catalogue, workspace)
        self.runner = CheckRunner(store, telemetry, anchors, self.catalogue, workspace, runner, check_user)
        # The statuses some gate guards, for the catalog they were computed from (asked on every record).
        self._guarded: tuple[Catalog | None, frozenset[str]] = (None, frozenset())

    @property
    def loader(self) -> GateLoader:
        return self.catalogue.loader

    @property
    def attestor(self) -> Attestor:
        return self.telemetry.attestor

    def catalog(self) -> Catalog:
        return self.catalogue.catalog()

    def problems(self) -> list[str]:
        return [str(p) for p in self.catalog().problems]

    def list_gates(self) -> GateList:
        return self.catalogue.list_gates()

    def check(self, name: str) -> Check:
        return self.catalogue.check(name)

    def ready(self) -> bool:
        """Whether a decision now needs no parsing or digesting (callers on an event loop check first).

        With a workspace never: the code state must be proven against the disk for each decision
        (a stat of every file, see `workspace.seal`), which is not work for the event loop."""
        return self.workspace is None and self.catalogue.loader.fresh()

    def refresh(self) -> None:
        """Bring the catalog and the code state up to date (from a worker thread)."""
        self.catalogue.catalog()
        if self.workspace is not None:
            self.workspace.current()  # a fresh proof, which the decision that follows uses

    def close(self) -> None:
        """Stop watching the gate definitions (see `GateLoader.close`)."""
        self.catalogue.loader.close()

    def latest_decision(self, gate: str, task_id: str) -> SpanRecord | None:
        return self.decisions.latest_decision(gate, task_id)

    def standing(self, gate: str, task_id: str) -> Standing:
        """Whether `gate` stands passed for `task_id` on the current code: the one verdict."""
        return self.decisions.standing(gate, task_id)

    def guarding(self, task_type: str | None, status: str, task_id: str | None = None) -> list[str]:
        """The gates that guard recording a task of this type with this status (and, given `task_id`,
        those guarding any type the task was recorded with before: retyping a task does not unguard it)."""
        catalog = self.catalog()
        known, statuses = self._guarded
        if known is not catalog:  # a new catalog object is made whenever the definitions change
            statuses = guarded_statuses(catalog)
            self._guarded = (catalog, statuses)
        if status not in statuses:
            return []
        if task_id is not None:
            return guarding_task(catalog, self.store, task_id, task_type, status)
        return guarding(catalog, task_type, status)

    def code_state(self) -> CodeStateLike | None:
        """The workspace's code state now (None without a workspace)."""
        return self.decisions.code_state()

    def verdicts(self, task_id: str, gates: Sequence[str], code: CodeStateLike | None = None) -> list[Standing]:
        """Each gate's standing for the task, in one catalog and on one code state (default: now)."""
        catalog = self.catalog()
        state = code if code is not None else self.code_state()
        return [self.decisions.standing(gate, task_id, catalog, state) for gate in gates]

    def check_transition(self, task_id: str, task_type: str, status: str, parent_task_id: str | None = None) -> None:
        """Refuse (Conflict) a guarded transition while a guarding gate does not stand passed.

        A gate stands for a task when it passed for the task itself or for its parent: evidence is
        usually gathered for the deliverable a subtask contributes to. The parent is the one the task
        was first recorded under (the one named now only for a task recorded for the first time): a
        parent named only when completing would let any task that passed lend its pass.
        """
        gates = self.guarding(task_type, status, task_id)
        if not gates:
            return
        failing = [v for v in self.verdicts(task_id, gates) if not v.passed]
        if failing:
            first, _ = self.store.status_bounds(task_id)
            parent_task_id = parent_task_id if first is None else self._signed_parent(first, task_id)
        if failing and parent_task_id:
            for_parent = {v.gate: v for v in self.verdicts(parent_task_id, [v.gate for v in failing])}
            failing = [v for v in failing if not for_parent[v.gate].passed]
        if failing:
            raise Conflict(refusal(task_id, task_type, status, failing))

    def _signed_parent(self, first: SpanRecord, task_id: str) -> str | None:
        """The parent a task's first record names, if the server signed that record for this task.

        The record is found by its unsigned task_id column: a row written straight into the store (or
        another task's record relabelled) must not lend the task a parent's pass. Such a task borrows
        nothing; `otel-mcp verify` reports the row.
        """
        if first.task_id != task_id or not self.attestor.verify(first):
            return None
        return first.task_parent_id

    def submit(
        self, gate_name: str, task_id: str, evidence: Sequence[Citation | Mapping[str, Any] | str] | None
    ) -> GateDecision:
        """Verify cited spans against the gate, record the decision as a span, and return it."""
        return self.decisions.submit(gate_name, task_id, evidence)

    async def run_check(
        self, name: str, task_id: str, *, progress: ProgressFn | None = None, parent: SpanRef | None = None
    ) -> CheckRun:
        """Run a check defined in the gate files and record its attested runner span."""
        return await self.runner.run_check(name, task_id, progress=progress, parent=parent)

    async def run_adhoc(
        self,
        span_name: str,
        task_id: str,
        argv: Sequence[str],
        *,
        timeout_s: float = 600,
        progress: ProgressFn | None = None,
        parent: SpanRef | None = None,
        cwd: str | None = None,
    ) -> CheckRun:
        """`otel-mcp run --span NAME -- CMD`: any command, recorded with exit code, output digest and code state."""
        return await self.runner.run_adhoc(
            span_name, task_id, argv, timeout_s=timeout_s, progress=progress, parent=parent, cwd=cwd
        )
