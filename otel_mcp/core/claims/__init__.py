"""Claims and readiness: exactly one live holder per task, and "what can I do next".

`fold` (the lease fold over the appended claim history), `globs` (path reservations' globs: validation,
matching, overlap), `path_index` (reservations by the literal start of their globs), `reservations`
(who reserves which paths now; the pre-commit check), `world` (a process's running fold of reserving
tasks on SQLite), `service` (claim_task and release_task on transactional and append-only stores),
`readiness` (find_ready, cycles), `results` and `texts` (what the tools return).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from otel_mcp._lazy import lazy_exports

if TYPE_CHECKING:
    from otel_mcp.core.claims.fold import (
        DEFAULT_LEASE_S,
        MAX_LEASE_S,
        MIN_LEASE_S,
        ClaimFold,
        Lease,
        LeaseFold,
        fold_claims,
    )
    from otel_mcp.core.claims.readiness import ATTR_TASK_PATHS, find_cycle
    from otel_mcp.core.claims.reservations import conflicts
    from otel_mcp.core.claims.results import ClaimResult, PathConflict, ReadyTask, ReadyTasks, ReleaseResult
    from otel_mcp.core.claims.service import (
        ATTR_CLAIM_EXPIRES_AT,
        ATTR_CLAIM_HOLDER,
        ATTR_CLAIM_OUTCOME,
        ClaimService,
    )

__all__ = [
    "ATTR_CLAIM_EXPIRES_AT",
    "ATTR_CLAIM_HOLDER",
    "ATTR_CLAIM_OUTCOME",
    "ATTR_TASK_PATHS",
    "DEFAULT_LEASE_S",
    "MAX_LEASE_S",
    "MIN_LEASE_S",
    "ClaimFold",
    "ClaimResult",
    "ClaimService",
    "Lease",
    "LeaseFold",
    "PathConflict",
    "ReadyTask",
    "ReadyTasks",
    "ReleaseResult",
    "conflicts",
    "find_cycle",
    "fold_claims",
]

# Imported on first use (PEP 562): the pre-commit hook reads reservations only, and must not pay for
# the result models (pydantic) and the claim service (OpenTelemetry's SDK) on every commit.
_HOME = {
    **dict.fromkeys(
        ("DEFAULT_LEASE_S", "MAX_LEASE_S", "MIN_LEASE_S", "ClaimFold", "Lease", "LeaseFold", "fold_claims"), "fold"
    ),
    **dict.fromkeys(("ATTR_TASK_PATHS", "find_cycle"), "readiness"),
    "conflicts": "reservations",
    **dict.fromkeys(("ClaimResult", "PathConflict", "ReadyTask", "ReadyTasks", "ReleaseResult"), "results"),
    **dict.fromkeys(("ATTR_CLAIM_EXPIRES_AT", "ATTR_CLAIM_HOLDER", "ATTR_CLAIM_OUTCOME", "ClaimService"), "service"),
}


__getattr__ = lazy_exports(__name__, _HOME)
