"""find_root: which directory a server treats as its workspace, and why, when the host decides where it starts."""

from __future__ import annotations

from pathlib import Path

import pytest

from otel_mcp.core.workspace import find_root
from tests.support.workspace import git, make_repo


def test_a_configured_root_wins(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r")
    choice = find_root(tmp_path / "elsewhere", repo / "gates", repo, project_dir=repo)
    assert choice.root == (tmp_path / "elsewhere").resolve()
    assert choice.reason == "set by OTEL_MCP_WORKSPACE"


def test_an_offered_mcp_root_names_its_git_work_tree_with_the_shared_common_dir(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r")
    git(repo, "worktree", "add", "-q", "-b", "wt", str(tmp_path / "wt"))
    (tmp_path / "wt" / "pkg").mkdir(exist_ok=True)
    choice = find_root(None, None, tmp_path / "home", offered=tmp_path / "wt" / "pkg")
    assert choice.root == (tmp_path / "wt").resolve() and "MCP root the client offered" in choice.reason
    assert choice.common_dir == (repo / ".git").resolve()


@pytest.mark.parametrize("where", ["/", "home"])
def test_an_offered_root_that_is_the_filesystem_root_or_home_is_no_project(
    where: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    choice = find_root(None, None, home, offered=Path("/") if where == "/" else home)
    assert choice.root is None and choice.reason.startswith("none:")


def test_claude_project_dir_comes_next_as_its_git_top_level(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r")
    (repo / "pkg").mkdir(exist_ok=True)
    other = make_repo(tmp_path / "other")
    choice = find_root(None, None, other, project_dir=repo / "pkg")
    assert choice.root == repo.resolve() and "CLAUDE_PROJECT_DIR" in choice.reason
    assert choice.common_dir == (repo / ".git").resolve()


def test_the_git_work_tree_the_server_starts_in_beats_the_gates_directory(tmp_path: Path) -> None:
    # One shared config may name the gates in the main checkout: each worktree still works on its own code.
    repo = make_repo(tmp_path / "r")
    (repo / "ops" / "gates").mkdir(parents=True)
    git(repo, "worktree", "add", "-q", "-b", "wt", str(tmp_path / "wt"))
    choice = find_root(None, repo / "ops" / "gates", tmp_path / "wt")
    assert choice.root == (tmp_path / "wt").resolve()
    assert choice.common_dir == (repo / ".git").resolve()
    assert "started the server in" in choice.reason


def test_outside_git_the_gates_directory_names_the_work_tree(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r")
    (repo / "ops" / "gates").mkdir(parents=True)
    plain = tmp_path / "plain"
    plain.mkdir()
    assert find_root(None, repo / "ops" / "gates", plain).root == repo.resolve()
    (repo / "pkg").mkdir(exist_ok=True)
    assert find_root(None, tmp_path / "missing", repo / "pkg").root == repo.resolve()


def test_outside_git_cwd_is_the_root_unless_it_is_the_filesystem_root_or_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    assert find_root(None, None, plain).root == plain.resolve()
    at_root = find_root(None, None, Path("/"))
    assert at_root.root is None and "filesystem root" in at_root.reason
    monkeypatch.setenv("HOME", str(plain))
    at_home = find_root(None, tmp_path / "missing", plain, project_dir=plain)
    assert at_home.root is None and "home folder" in at_home.reason and "does not guess" in at_home.reason
