"""Attribute names that runner and decision spans carry, and what the code state puts on them.

`otel_mcp.*` names are reserved: an agent's `record_task` cannot set them, so on a signed span
they are the server's word.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from otel_mcp.core.workspace.state import Proof
from otel_mcp.model import AttrValue

__all__ = [
    "ATTR_CHECK",
    "ATTR_CHECK_DIGEST",
    "ATTR_CHECK_FILES",
    "ATTR_CHECK_USER",
    "ATTR_CHECK_USER_NOTE",
    "ATTR_CODE_CLEAN",
    "ATTR_CODE_DIGEST",
    "ATTR_CODE_HEAD",
    "ATTR_CODE_ROOT",
    "ATTR_GATES_COMMIT",
    "ATTR_GATES_SOURCE",
    "ATTR_PROGRAM",
    "ATTR_PROGRAM_SHA256",
    "ATTR_RUNNER",
    "CodeStateLike",
    "WorkspaceLike",
    "code_attributes",
]

ATTR_CHECK = "otel_mcp.check"  # the check's name ('adhoc' for `otel-mcp run --span`)
ATTR_CHECK_DIGEST = "otel_mcp.check.digest"  # digest of the check's definition as it ran
ATTR_CHECK_FILES = "check.files"  # how many files the check was given ({files}); readable by `where`
ATTR_CHECK_USER = "otel_mcp.check.user"  # the account the check ran as
ATTR_CHECK_USER_NOTE = "otel_mcp.check.user_note"  # why not an unprivileged one, when the server is root
ATTR_RUNNER = "otel_mcp.runner"  # server | cli | ci
ATTR_PROGRAM = "process.executable.path"  # OpenTelemetry semantic convention
ATTR_PROGRAM_SHA256 = "otel_mcp.program.sha256"
ATTR_CODE_DIGEST = "otel_mcp.code.digest"  # 'git:<tree>' or 'files:<sha256>'
ATTR_CODE_ROOT = "otel_mcp.code.root"  # the workspace root the check ran in
ATTR_CODE_HEAD = "otel_mcp.code.head"  # HEAD commit, when in git
ATTR_CODE_CLEAN = "otel_mcp.code.clean"  # the working tree equals HEAD's tree
ATTR_GATES_SOURCE = "otel_mcp.gates.source"  # where the definitions came from: commit, directory, bundled
ATTR_GATES_COMMIT = "otel_mcp.gates.commit"  # the commit they were read from, when in git


class CodeStateLike(Protocol):
    """What the gates read of a workspace's code state."""

    @property
    def digest(self) -> str: ...
    @property
    def root(self) -> str: ...
    @property
    def head(self) -> str | None: ...
    @property
    def clean(self) -> bool | None: ...


class WorkspaceLike(Protocol):
    """A workspace whose code state can be digested (otel_mcp.core.workspace.Workspace)."""

    def current(self, *, reuse: bool = False, proof: Proof = "seal") -> CodeStateLike: ...
    def quick(self) -> CodeStateLike | None: ...
    def cached(self) -> CodeStateLike | None: ...
    def file_list(self) -> list[str]: ...
    def snapshot(self) -> tuple[CodeStateLike, list[str]]: ...
    def export(self, target: Path) -> tuple[CodeStateLike, list[str], Path]: ...


def code_attributes(state: CodeStateLike) -> dict[str, AttrValue]:
    """The code state as span attributes."""
    attrs: dict[str, AttrValue] = {ATTR_CODE_DIGEST: state.digest, ATTR_CODE_ROOT: state.root}
    if state.head:
        attrs[ATTR_CODE_HEAD] = state.head
    if state.clean is not None:
        attrs[ATTR_CODE_CLEAN] = state.clean
    return attrs
