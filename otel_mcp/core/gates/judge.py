"""The one verdict for a one-shot process: `otel-mcp gates verify` and the git hooks.

A server answers through `GateService`, which also runs checks and records decisions. A process
that only asks "does this gate stand passed?" needs far less: the store, the gate definitions in
force, the attestation key and the code state to judge. `Judge` holds exactly that, so such a
process imports no check runner, asyncio or OpenTelemetry SDK, reads the definitions once,
computes the workspace's code state at most once, and loads the key only if a decision needs
verifying. Every answer comes from `standing`, the function `GateService` uses too.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from otel_mcp.core.gates.assemble import Catalog
from otel_mcp.core.gates.guards import guarded_statuses, guarding, guarding_task
from otel_mcp.core.gates.lineage import signed_parent, through_parent
from otel_mcp.core.gates.names import CodeStateLike
from otel_mcp.core.gates.standing import Standing, standing
from otel_mcp.model import SpanRecord, check_task_id
from otel_mcp.store.base import Store

__all__ = ["Judge"]


class Judge:
    """Gate standings over one store, one catalog and (at most) one code state of the workspace."""

    def __init__(
        self,
        store: Store,
        catalog: Callable[[], Catalog],
        verify: Callable[[SpanRecord], bool],
        code: Callable[[], CodeStateLike | None] = lambda: None,
    ) -> None:
        """`catalog` loads the definitions in force, `verify` checks a decision's attestation, and
        `code` computes the workspace's code state (None without a workspace); each is asked once."""
        self.store = store
        self._load_catalog = catalog
        self._verify = verify
        self._compute_code = code
        self._catalog: Catalog | None = None
        self._code: CodeStateLike | None = None
        self._code_known = False

    def catalog(self) -> Catalog:
        """The gate definitions in force, read once: a one-shot answer is about one moment."""
        if self._catalog is None:
            self._catalog = self._load_catalog()
        return self._catalog

    def code_state(self) -> CodeStateLike | None:
        """The workspace's code state now, computed on first use only (None without a workspace)."""
        if not self._code_known:
            self._code = self._compute_code()
            self._code_known = True
        return self._code

    def guarding(self, task_type: str | None, status: str, task_id: str | None = None) -> list[str]:
        """The gates that guard recording a task of this type with this status (and, given `task_id`,
        those guarding any type the task was recorded with before: retyping a task does not unguard it)."""
        catalog = self.catalog()
        if status not in guarded_statuses(catalog):
            return []
        if task_id is not None:
            return guarding_task(catalog, self.store, task_id, task_type, status)
        return guarding(catalog, task_type, status)

    def verdicts(
        self, task_id: str, gates: Sequence[str], code: CodeStateLike | None = None, code_label: str | None = None
    ) -> list[Standing]:
        """Each gate's standing for the task on `code` (default: the workspace's code state now), a
        pass for its parent included (see `lineage`).

        `code_label` names other code in the reasons (a pre-push hook judges a commit's: "commit 1a2b3c4d").
        """
        check_task_id(task_id)
        catalog = self.catalog()
        state = code if code is not None else self.code_state()

        def judge(task: str, names: Sequence[str]) -> list[Standing]:
            return [
                standing(self.store, catalog, gate, task, verify=self._verify, code=state, code_label=code_label)
                for gate in names
            ]

        return through_parent(
            task_id, judge(task_id, gates), lambda: signed_parent(self.store, self._verify, task_id), judge
        )
