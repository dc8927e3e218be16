"""The one verdict: does a gate stand passed for a task, and may this transition be recorded?

A server, `otel-mcp gates status` and the git and host hooks all ask through a `Judge`. It holds
exactly what the answer needs: the store, the gate definitions in force, the attestation check and
the code state to judge. A server hands it its always-current catalog and the workspace watcher; a
one-shot process hands it a catalog read once and a code state computed once, so it imports no
check runner, asyncio or OpenTelemetry SDK. Every answer comes from `standing`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from otel_mcp.core.gates.definitions.catalog import Catalog
from otel_mcp.core.gates.definitions.names import CodeStateLike
from otel_mcp.core.gates.verdicts.guards import guarded_statuses, guarding, guarding_task, refusal
from otel_mcp.core.gates.verdicts.standing import Standing, standing
from otel_mcp.errors import Conflict
from otel_mcp.model import SpanRecord, check_task_id
from otel_mcp.store.base import Store

__all__ = ["Judge"]


class Judge:
    """Gate standings over one store, the catalog in force and the workspace's code state."""

    def __init__(
        self,
        store: Store,
        catalog: Callable[[], Catalog],
        verify: Callable[[SpanRecord], bool],
        code: Callable[[], CodeStateLike | None] = lambda: None,
    ) -> None:
        """`catalog` gives the definitions in force, `verify` checks a record's attestation, and `code`
        gives the workspace's code state (None without a workspace)."""
        self.store = store
        self.catalog = catalog
        self.code_state = code
        self._verify = verify
        # The statuses some gate guards, for the catalog they were computed from (asked on every record).
        self._guarded: tuple[Catalog | None, frozenset[str]] = (None, frozenset())

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

    def verdicts(
        self, task_id: str, gates: Sequence[str], code: CodeStateLike | None = None, code_label: str | None = None
    ) -> list[Standing]:
        """Each gate's standing for the task, in one catalog and on `code` (default: the code state now).

        `code_label` names other code in the reasons (a pre-push hook judges a commit's: "commit 1a2b3c4d").
        """
        check_task_id(task_id)
        catalog = self.catalog()
        state = code if code is not None else self.code_state()
        return [
            standing(self.store, catalog, gate, task_id, verify=self._verify, code=state, code_label=code_label)
            for gate in gates
        ]

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
        nothing; `otel-mcp audit` reports the row.
        """
        if first.task_id != task_id or not self._verify(first):
            return None
        return first.task_parent_id
