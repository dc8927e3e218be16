"""Claims and readiness: exactly one live holder per task, and "what can I do next".

`fold` (the lease fold over a task's appended claim history), `service` (claim_task and
release_task on transactional and append-only stores), `readiness` (find_ready, cycles) and
`results` (what the tools return).
"""

from otel_mcp.core.claims.fold import (
    DEFAULT_LEASE_S,
    MAX_LEASE_S,
    MIN_LEASE_S,
    Lease,
    LeaseFold,
    fold_claims,
)
from otel_mcp.core.claims.readiness import find_cycle
from otel_mcp.core.claims.results import ClaimResult, ReadyTask, ReadyTasks, ReleaseResult
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
    "DEFAULT_LEASE_S",
    "MAX_LEASE_S",
    "MIN_LEASE_S",
    "ClaimResult",
    "ClaimService",
    "Lease",
    "LeaseFold",
    "ReadyTask",
    "ReadyTasks",
    "ReleaseResult",
    "find_cycle",
    "fold_claims",
]
