"""What the claim tools return: pydantic models, so clients get schemas and structured output."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from otel_mcp.core.results import Result

__all__ = ["ClaimResult", "PathConflict", "ReadyTask", "ReadyTasks", "ReleaseResult"]


class PathConflict(Result):
    holder: str = Field(description="the agent whose live reservation overlaps")
    task_id: str = Field(description="the task they hold it for")
    paths: list[str] = Field(description="their reserved globs that overlap")
    overlapping: list[str] = Field(description="the globs on your side that overlap them")
    expires_at: str = Field(description="UTC time their lease lapses unless renewed")


class ClaimResult(Result):
    task_id: str
    granted: bool = Field(description="true when you hold the task now (newly granted or renewed)")
    outcome: Literal["granted", "renewed", "denied"]
    holder: str | None = Field(description="the agent holding the task after this call")
    you: str = Field(description="your agent id, from the server's configuration")
    expires_at: str | None = Field(default=None, description="UTC time the holder's lease lapses")
    lease_seconds_left: float | None = None
    span_id: str = Field(description="the claim span: the claim history is in the trace")
    task_status: str | None = Field(default=None, description="the task's latest recorded status, if any")
    paths: list[str] = Field(
        default_factory=list, description="the globs you reserve with the task now (granted or renewed)"
    )
    shared: bool = Field(default=False, description="whether your reservation is shared")
    conflicts: list[PathConflict] = Field(
        default_factory=list, description="when denied for paths: the live reservations yours overlapped"
    )
    reason: str


class ReleaseResult(Result):
    task_id: str
    released: bool
    you: str
    span_id: str
    reason: str


class ReadyTask(Result):
    task_id: str
    task_type: str | None = None
    depends_on: list[str] = Field(default_factory=list, description="all complete")
    planned_by: str | None = Field(default=None, description="agent that recorded the plan")
    planned_at: str = Field(description="UTC time of the 'planned' record")
    span_id: str = Field(description="the 'planned' record")
    held_by_you: bool = Field(default=False, description="you already hold a live claim on it")
    lease_expires_at: str | None = None
    paths: list[str] = Field(default_factory=list, description="the paths its plan declared ('task.paths')")
    conflicts_with: list[PathConflict] = Field(
        default_factory=list,
        description="other agents' live reservations its declared paths overlap: claiming it with them is denied",
    )


class ReadyTasks(Result):
    tasks: list[ReadyTask] = Field(
        description="oldest plan first, those whose paths conflict last; claim_task one before starting it"
    )
    count: int
    ready_total: int = Field(description="ready tasks before `limit` was applied")
    waiting: int = Field(description="planned tasks still waiting on dependencies")
    held_by_others: int = Field(description="ready tasks skipped because another agent holds a live claim")
    conflicting: int = Field(default=0, description="ready tasks listed with conflicts_with (they come last)")
