"""The git code state: the tree git would write if everything were added, from real repositories."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from otel_mcp.core.workspace import Workspace, WorkspaceError, commit_state
from otel_mcp.errors import InvalidArgument
from tests.support.workspace import digest, git, git_env, head_tree, make_repo, naive_tree, write


def test_a_clean_work_tree_is_the_head_tree(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r")
    with Workspace(repo, watch=False) as ws:
        state = ws.current()
        files = ws.file_list()
    assert state.digest == head_tree(repo)
    assert (state.kind, state.clean, state.root) == ("git", True, str(repo.resolve()))
    assert state.head == git(repo, "rev-parse", "HEAD").strip()
    assert files == [".gitignore", "app.py", "pkg/mod.py"] and state.files == 3


@pytest.mark.parametrize(
    "change",
    ["edit tracked", "add untracked", "delete tracked", "chmod +x", "replace by symlink", "add in new directory"],
)
def test_every_working_tree_change_gives_the_tree_git_would_write(tmp_path: Path, change: str) -> None:
    repo = make_repo(tmp_path / "r")
    if change == "edit tracked":
        write(repo / "app.py", "print('bye')\n")
    elif change == "add untracked":
        write(repo / "new.py", "import os\n")
    elif change == "delete tracked":
        (repo / "pkg" / "mod.py").unlink()
    elif change == "chmod +x":
        (repo / "app.py").chmod(0o755)
    elif change == "replace by symlink":
        (repo / "app.py").unlink()
        (repo / "app.py").symlink_to("/etc/hostname")
    else:
        write(repo / "a" / "b" / "f.py", "x = 1\n")
    state = Workspace(repo, watch=False).current()
    assert state.digest != head_tree(repo) and state.clean is False
    assert state.digest == naive_tree(repo)


def test_ignored_untracked_files_do_not_count_but_tracked_ignored_files_do(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r")
    write(repo / "debug.log", "noise\n")
    write(repo / ".git" / "info" / "exclude", "secret.txt\n")
    write(repo / "secret.txt", "local\n")
    assert digest(repo) == head_tree(repo)
    write(repo / "kept.log", "v1\n")
    git(repo, "add", "-f", "kept.log")
    git(repo, "commit", "-q", "-m", "track a log on purpose")
    write(repo / "kept.log", "v2\n")
    assert digest(repo) == naive_tree(repo) != head_tree(repo)


def test_the_users_index_stays_byte_identical_with_its_mtime(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r")
    write(repo / "app.py", "changed\n")
    write(repo / "untracked.py", "new\n")
    index = repo / ".git" / "index"
    before, stat_before = index.read_bytes(), os.stat(index)
    with Workspace(repo) as ws:
        ws.current()
        write(repo / "pkg" / "mod.py", "X = 2\n")
        ws.current()
    after = os.stat(index)
    assert index.read_bytes() == before
    assert (after.st_mtime_ns, after.st_ino) == (stat_before.st_mtime_ns, stat_before.st_ino)
    assert not (repo / ".git" / "index.lock").exists()
    assert git(repo, "status", "--porcelain") == " M app.py\n M pkg/mod.py\n?? untracked.py\n"


def test_a_subdirectory_root_is_the_subtree(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r")
    with Workspace(repo / "pkg", watch=False) as ws:
        clean = ws.current()
        assert clean.digest == head_tree(repo, "HEAD:pkg") and clean.clean is True
        write(repo / "app.py", "outside the root\n")
        assert ws.current() == clean
        write(repo / "pkg" / "new.py", "inside\n")
        inside = ws.current()
        assert inside.digest != clean.digest and inside.clean is False and ws.file_list() == ["mod.py", "new.py"]
    git(repo, "add", "-A")
    assert inside.digest == "git:" + git(repo, "write-tree", "--prefix=pkg/").strip()


def test_a_subdirectory_without_code_state_is_the_empty_tree(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r")
    write(repo / "logs" / "a.log", "x\n")
    state = Workspace(repo / "logs", watch=False).current()
    assert state.digest == "git:" + git(repo, "hash-object", "-t", "tree", "/dev/null").strip()
    assert (state.files, state.clean) == (0, False)


def test_an_unborn_branch_has_no_head(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r", {})
    write(repo / "a.py", "a\n")
    state = Workspace(repo, watch=False).current()
    assert (state.head, state.clean, state.files) == (None, None, 1)
    git(repo, "add", "-A")
    assert state.digest == "git:" + git(repo, "write-tree").strip()


def test_cache_and_tool_directories_are_never_code_state(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r")
    caches = ("pkg/__pycache__/m.pyc", "old.pyc", ".otel-mcp/telemetry.db", ".pytest_cache/v", ".ruff_cache/x")
    for rel in caches:
        write(repo / rel, "cache\n")
    assert digest(repo) == head_tree(repo)
    write(repo / "__pycache__", "a file with that name is code\n")
    assert digest(repo) != head_tree(repo)


def test_the_stores_directory_inside_the_workspace_is_excluded(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r")
    write(repo / "data" / "telemetry.db", "spans\n")
    assert digest(repo, extra_excluded_dirs=[repo / "data"]) == head_tree(repo)
    assert digest(repo) != head_tree(repo)
    with pytest.raises(InvalidArgument, match="contains the workspace root"):
        Workspace(repo / "pkg", extra_excluded_dirs=[repo])


def test_the_stores_directory_may_also_be_ignored_by_the_repository(tmp_path: Path) -> None:
    # The usual set-up: `.gitignore` lists the store's folder too. git refuses a pathspec naming an
    # ignored path, even an excluding one; the digest must not fail on it.
    repo = make_repo(tmp_path / "r")
    write(repo / ".gitignore", "state/\n")
    git(repo, "add", ".gitignore")
    git(repo, "commit", "-q", "-m", "ignore the state")
    write(repo / "state" / "telemetry.db", "spans\n")
    assert digest(repo, extra_excluded_dirs=[repo / "state"]) == head_tree(repo)


def test_commit_state_is_the_clean_digest_of_that_commit(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r")
    first = commit_state(repo, "HEAD")
    write(repo / "app.py", "v2\n")
    dirty = digest(repo)
    git(repo, "commit", "-q", "-am", "v2")
    assert commit_state(repo, "HEAD").digest == dirty == digest(repo)
    assert commit_state(repo, "HEAD~1") == first
    assert first.head == git(repo, "rev-parse", "HEAD~1").strip() and first.files == 3
    assert commit_state(repo / "pkg", "main").digest == head_tree(repo, "HEAD:pkg")
    with pytest.raises(WorkspaceError, match="not found"):
        commit_state(repo, "no-such-branch")
    with pytest.raises(WorkspaceError, match="not a commit name"):
        commit_state(repo, "--output=/tmp/x")


def test_commit_state_ignores_replace_objects(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r")
    old_tree = head_tree(repo)
    old = git(repo, "rev-parse", "HEAD").strip()
    write(repo / "app.py", "vulnerable\n")
    git(repo, "commit", "-q", "-am", "v2")
    real_tree = head_tree(repo)
    git(repo, "replace", "HEAD", old)  # plain git now reads the old commit (and its tree) for HEAD
    assert head_tree(repo) == old_tree
    assert commit_state(repo, "HEAD").digest == real_tree == digest(repo)


def test_a_sha256_repository_digests_with_sha256(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r", None, "--object-format=sha256")
    state = Workspace(repo, watch=False).current()
    assert state.digest == head_tree(repo) and len(state.digest) == 4 + 64


def test_a_linked_worktree_uses_its_own_index_and_head(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r")
    git(repo, "worktree", "add", "-q", "-b", "side", str(tmp_path / "side"))
    write(tmp_path / "side" / "app.py", "side edit\n")
    assert digest(repo) == head_tree(repo)
    side = Workspace(tmp_path / "side", watch=False).current()
    assert side.digest != head_tree(repo) and side.head == git(repo, "rev-parse", "side").strip()


def test_a_merge_conflict_counts_the_file_as_it_is_on_disk(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r")
    git(repo, "checkout", "-q", "-b", "other")
    write(repo / "app.py", "other\n")
    git(repo, "commit", "-q", "-am", "other")
    git(repo, "checkout", "-q", "main")
    write(repo / "app.py", "main\n")
    git(repo, "commit", "-q", "-am", "main")
    merge = subprocess.run(["git", "merge", "-q", "other"], cwd=repo, env=git_env(), capture_output=True, check=False)
    assert merge.returncode != 0 and "<<<<<<<" in (repo / "app.py").read_text()
    state = Workspace(repo, watch=False).current()
    git(repo, "add", "-A")
    assert state.digest == "git:" + git(repo, "write-tree").strip()


def test_a_nested_repository_counts_by_commit_while_clean_and_by_content_when_edited(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r")
    inner = make_repo(repo / "vendor" / "lib", {"lib.py": "def f(): ...\n"})
    with_inner = digest(repo)
    assert with_inner == naive_tree(repo) != head_tree(repo)
    write(inner / "lib.py", "def f(): return 'evil'\n")  # uncommitted: the gitlink alone would not change
    edited = digest(repo)
    assert edited != with_inner
    write(inner / "lib.py", "def f(): ...\n")
    assert digest(repo) == with_inner
    unborn = repo / "scratch"
    unborn.mkdir()
    git(unborn, "init", "-q")
    write(unborn / "s.py", "x\n")
    with Workspace(repo, watch=False) as ws:
        assert ws.current().digest not in (with_inner, edited)
        assert "scratch/s.py" in ws.file_list() and "vendor/lib/lib.py" in ws.file_list()


def test_a_submodule_counts_by_its_commit_until_its_work_tree_changes(tmp_path: Path) -> None:
    lib = make_repo(tmp_path / "lib", {"lib.py": "def f(): ...\n"})
    repo = make_repo(tmp_path / "r")
    git(repo, "-c", "protocol.file.allow=always", "submodule", "add", "-q", str(lib), "vendor/lib")
    git(repo, "commit", "-q", "-m", "add lib")
    assert digest(repo) == head_tree(repo)
    write(repo / "vendor" / "lib" / "lib.py", "def f(): return 'evil'\n")
    edited = digest(repo)
    assert edited != head_tree(repo)
    git(repo / "vendor" / "lib", "commit", "-q", "-am", "inside the submodule")
    committed = digest(repo)
    assert committed == naive_tree(repo) not in (edited, head_tree(repo))


def test_a_split_index_is_read_like_any_other(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r")
    git(repo, "update-index", "--split-index")
    assert list((repo / ".git").glob("sharedindex.*"))
    assert digest(repo) == head_tree(repo)
    write(repo / "pkg" / "mod.py", "X = 2\n")
    assert digest(repo) == naive_tree(repo) != head_tree(repo)
