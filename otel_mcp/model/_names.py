"""The attribute names a task record carries, the statuses and sources it may have, and an attribute's value type."""

from __future__ import annotations

from typing import Final

__all__ = [
    "ATTR_AGENT_ID",
    "ATTR_AGENT_NAME",
    "ATTR_ATTESTATION",
    "ATTR_BRANCH",
    "ATTR_CHAIN_PREV",
    "ATTR_CHAIN_SEQ",
    "ATTR_CHAIN_WRITER",
    "ATTR_COMMITS",
    "ATTR_DEPENDS_ON",
    "ATTR_PARENT_ID",
    "ATTR_QUALITY",
    "ATTR_SOURCE",
    "ATTR_SUMMARY",
    "ATTR_TASK_ID",
    "ATTR_TASK_STATUS",
    "ATTR_TASK_TYPE",
    "RESERVED_PREFIX",
    "SOURCES",
    "TASK_STATUSES",
    "AttrValue",
]

ATTR_TASK_ID: Final = "task.id"
ATTR_TASK_TYPE: Final = "task.type"
ATTR_TASK_STATUS: Final = "task.status"
ATTR_PARENT_ID: Final = "task.parent_id"
ATTR_DEPENDS_ON: Final = "task.depends_on"
ATTR_SUMMARY: Final = "task.summary"
ATTR_COMMITS: Final = "task.commits"  # the commit(s) a task produced (record_task's commits)
ATTR_BRANCH: Final = "vcs.ref.head.name"  # OpenTelemetry's VCS convention: the branch it is on
ATTR_QUALITY: Final = "quality.score"
ATTR_AGENT_ID: Final = "gen_ai.agent.id"
ATTR_AGENT_NAME: Final = "gen_ai.agent.name"
ATTR_SOURCE: Final = "otel_mcp.source"
ATTR_ATTESTATION: Final = "otel_mcp.attestation"
# Each signed span's place in its writer's hash chain (see otel_mcp/telemetry/chain.py).
ATTR_CHAIN_WRITER: Final = "otel_mcp.chain.writer"
ATTR_CHAIN_SEQ: Final = "otel_mcp.chain.seq"
ATTR_CHAIN_PREV: Final = "otel_mcp.chain.prev"
RESERVED_PREFIX: Final = "otel_mcp."

TASK_STATUSES: Final = ("planned", "started", "complete", "failed", "blocked")
SOURCES: Final = ("agent", "runner", "gate", "external")

# Attributes the server sets from arguments or configuration; an agent may not smuggle them in.
_ARGUMENT_ATTRIBUTES: Final = {
    ATTR_TASK_ID: "task_id",
    ATTR_TASK_TYPE: "task_type",
    ATTR_TASK_STATUS: "status",
    ATTR_PARENT_ID: "parent_task_id",
    ATTR_DEPENDS_ON: "depends_on",
    ATTR_SUMMARY: "summary",
    ATTR_COMMITS: "commits",
    ATTR_BRANCH: "branch",
    ATTR_AGENT_ID: "OTEL_MCP_AGENT_ID (server configuration)",
    ATTR_AGENT_NAME: "server configuration",
}

AttrValue = str | bool | int | float | tuple[str, ...] | tuple[bool, ...] | tuple[int, ...] | tuple[float, ...]
