"""find_root: which directory a server treats as its workspace when nobody configured one."""

from __future__ import annotations

from pathlib import Path

import pytest

from otel_mcp.core.workspace import find_root
from tests.support.workspace import make_repo


def test_a_configured_root_wins(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r")
    assert find_root(tmp_path / "elsewhere", repo / "gates", repo) == (tmp_path / "elsewhere").resolve()


def test_the_git_top_level_of_the_gates_directory_comes_next(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r")
    (repo / "ops" / "gates").mkdir(parents=True)
    other = make_repo(tmp_path / "other")
    assert find_root(None, repo / "ops" / "gates", other / "pkg") == repo.resolve()


def test_a_missing_or_unversioned_gates_directory_falls_back_to_the_git_top_level_of_cwd(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r")
    (tmp_path / "loose-gates").mkdir()
    assert find_root(None, tmp_path / "missing", repo / "pkg") == repo.resolve()
    assert find_root(None, tmp_path / "loose-gates", repo / "pkg") == repo.resolve()
    assert find_root(None, None, repo / "pkg") == repo.resolve()


def test_outside_git_cwd_is_the_root_unless_it_is_the_filesystem_root_or_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    assert find_root(None, None, plain) == plain.resolve()
    assert find_root(None, None, Path("/")) is None
    monkeypatch.setenv("HOME", str(plain))
    assert find_root(None, tmp_path / "missing", plain) is None
