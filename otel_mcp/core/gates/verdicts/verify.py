"""`gates status`: whether a task's gates stand passed now, as one answer a script can act on.

With gates named, those; with none, the gates guarding the completion of the task's recorded types
(its `guards:`; every type the task was recorded with counts, not only the newest). The answer lists
each gate's standing, its reasons and the next step, and passes only when every gate stands passed
on the current code. Git and host hooks ask the same question.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from otel_mcp.core.gates.verdicts.judge import Judge
from otel_mcp.core.gates.verdicts.standing import Standing
from otel_mcp.errors import InvalidArgument
from otel_mcp.model import check_task_id
from otel_mcp.store.base import Store

__all__ = ["Verification", "verify_task"]


@dataclass(frozen=True, slots=True)
class Verification:
    task_id: str
    standings: list[Standing] = field(default_factory=list)
    code: str = ""  # the code state the verdict is about

    @property
    def passed(self) -> bool:
        return bool(self.standings) and all(s.passed for s in self.standings)

    def as_dict(self) -> dict[str, Any]:
        return {
            "task_id": self.task_id,
            "passed": self.passed,
            "code_digest": self.code,
            "gates": [
                {
                    "gate": s.gate,
                    "passed": s.passed,
                    "decision_span_id": s.decision.span_id if s.decision else None,
                    "reasons": s.reasons,
                    "next_step": s.next_step,
                }
                for s in self.standings
            ],
        }

    def text(self) -> str:
        lines = []
        for s in self.standings:
            if s.passed:
                lines.append(
                    f"PASS  gate {s.gate} for {self.task_id} (decision {s.decision.span_id if s.decision else '?'})"
                )
                continue
            lines.append(f"FAIL  gate {s.gate} for {self.task_id}: " + "; ".join(s.reasons))
            if s.next_step:
                lines.append(f"      next: {s.next_step}")
        if self.code:
            lines.append(f"code state: {self.code}")
        return "\n".join(lines)


def verify_task(store: Store, gates: Judge, task_id: str, names: Sequence[str] = ()) -> Verification:
    """Each named gate's standing for the task (default: the gates guarding its completion).

    The code state is taken once, so every gate is judged on the same code (and a process without a
    watcher digests the workspace once, not once per gate).
    """
    check_task_id(task_id)
    chosen = list(dict.fromkeys(names))
    if not chosen:
        latest = store.latest_status([task_id]).get(task_id)
        chosen = gates.guarding(latest.task_type if latest else None, "complete", task_id)
        if not chosen:
            kind = f"a {latest.task_type} task" if latest and latest.task_type else "a task with no records yet"
            raise InvalidArgument(
                f"no gate guards the completion of '{task_id}' ({kind}); name the gate(s) to verify, e.g. "
                f"`otel-mcp gates status security --task {task_id}`"
            )
    state = gates.code_state()
    return Verification(task_id, gates.verdicts(task_id, chosen, state), state.digest if state else "")
