"""Which directory a server treats as its workspace, and why: the worktree its agent works in.

A project's MCP config is shared by every worktree of the repository, so a path baked into it
would send every worktree's checks to one checkout. The workspace is therefore learned from the
host where it can be: `OTEL_MCP_WORKSPACE` if set, else Claude Code's `CLAUDE_PROJECT_DIR`, else
the git work tree the host started the server in, else the git work tree of a configured gates
directory, else the start directory itself unless it is `/` or the home folder (Claude Desktop
starts servers in `/`, Claude Code's desktop app in `$HOME`): there is no project there, and
guessing one would scan and record in the wrong place. There, a server asks the connected client
for its MCP roots (`offered`, the first `file://` root that is a project folder): the workspace is
then the git work tree holding it, so the store is the repository's shared one.

One `git rev-parse` per candidate that is asked, answering both the work tree's top and the
repository's common git directory (where the shared store lives).
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

from otel_mcp.core.workspace.gitcmd import GitFailed, git_program, run_git
from otel_mcp.core.workspace.state import WorkspaceError

__all__ = ["RootChoice", "find_root", "git_location", "not_a_project"]


class RootChoice(NamedTuple):
    """A workspace root (None: no sensible one), why it was chosen, and its repository's common git dir."""

    root: Path | None
    reason: str
    common_dir: Path | None = None


def not_a_project(directory: Path) -> bool:
    """True for the filesystem root and the home folder: where hosts start servers that have no project."""
    here = directory.expanduser().resolve()
    return here == Path(here.anchor) or here == Path.home().resolve()


def git_location(directory: Path) -> tuple[Path, Path] | None:
    """(work tree top, common git directory) of the work tree holding `directory`, or None outside one."""
    if git_program() is None or not directory.is_dir():
        return None
    try:
        out = run_git(["rev-parse", "--path-format=absolute", "--show-toplevel", "--git-common-dir"], directory).stdout
    except (GitFailed, WorkspaceError):
        return None  # not in a work tree (or inside a .git directory)
    lines = out.decode("utf-8", "surrogateescape").splitlines()
    if len(lines) != 2 or not lines[0] or not lines[1]:
        return None
    return Path(lines[0]).resolve(), Path(lines[1]).resolve()


def find_root(
    configured: Path | None,
    gates_dir: Path | None,
    cwd: Path,
    project_dir: Path | None = None,
    offered: Path | None = None,
) -> RootChoice:
    """The workspace root and why (see the module text for the order)."""
    if configured is not None:
        root = Path(configured).expanduser().resolve()
        where = git_location(root)
        return RootChoice(root, "set by OTEL_MCP_WORKSPACE", where[1] if where else None)
    if offered is not None and offered.is_dir() and not not_a_project(offered):
        folder = offered.expanduser().resolve()
        if (where := git_location(folder)) is not None:
            return RootChoice(where[0], f"the git work tree of the MCP root the client offered ({folder})", where[1])
        return RootChoice(folder, "the MCP root the client offered, not a git work tree", None)
    if project_dir is not None and project_dir.is_dir() and not not_a_project(project_dir):
        project = project_dir.expanduser().resolve()
        where = git_location(project)
        if where is not None:
            return RootChoice(where[0], f"CLAUDE_PROJECT_DIR={project}, set by Claude Code", where[1])
        return RootChoice(project, "CLAUDE_PROJECT_DIR, set by Claude Code", None)
    here = Path(cwd).expanduser().resolve()
    if (where := git_location(here)) is not None:
        started = "" if here == where[0] else f" (in {here})"
        return RootChoice(where[0], f"the git work tree the host started the server in{started}", where[1])
    if gates_dir is not None:
        gates = Path(gates_dir).expanduser().resolve()
        if (where := git_location(gates)) is not None:
            return RootChoice(where[0], "the git work tree of OTEL_MCP_GATES_DIR", where[1])
    if not_a_project(here):
        what = "the home folder" if here == Path.home().resolve() else "the filesystem root"
        return RootChoice(
            None,
            f"none: the server was started in {here}, {what}, and the host named no project (no "
            "OTEL_MCP_WORKSPACE, no CLAUDE_PROJECT_DIR); it does not guess one",
        )
    return RootChoice(here, "the folder the host started the server in, not a git work tree")
