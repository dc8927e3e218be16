"""Which directory a server treats as its workspace when nobody said."""

from __future__ import annotations

from pathlib import Path

from otel_mcp.core.workspace.gitcmd import GitFailed, git_program, run_git
from otel_mcp.core.workspace.state import WorkspaceError

__all__ = ["find_root"]


def find_root(configured: Path | None, gates_dir: Path | None, cwd: Path) -> Path | None:
    """The workspace root: `configured` if given; else the git top level of `gates_dir` (when that
    directory exists), else the git top level of `cwd`, else `cwd` itself unless it is `/` or the
    user's home directory. None means there is no sensible root: hosts such as Claude Desktop
    start servers in `/`, and checks must not scan whatever happens to be there.
    """
    if configured is not None:
        return Path(configured).expanduser().resolve()
    if gates_dir is not None:
        gates = Path(gates_dir).expanduser().resolve()
        if gates.is_dir() and (top := _git_toplevel(gates)) is not None:
            return top
    here = Path(cwd).expanduser().resolve()
    if (top := _git_toplevel(here)) is not None:
        return top
    if here == Path(here.anchor) or here == Path.home().resolve():
        return None
    return here


def _git_toplevel(directory: Path) -> Path | None:
    if git_program() is None or not directory.is_dir():
        return None
    try:
        out = run_git(["rev-parse", "--show-toplevel"], directory).stdout
    except (GitFailed, WorkspaceError):
        return None  # not in a work tree (or inside a .git directory): no git top level here
    text = out.decode("utf-8", "surrogateescape").strip()
    return Path(text).resolve() if text else None
